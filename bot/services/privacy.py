"""A member's own data: everything stored about them, feature by feature (/mydata)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime

from bot.domain.errors import UsageError
from bot.ports import UnitOfWork

FORMAT_VERSION = 1


async def my_data(uow: UnitOfWork, user_id: int, now: datetime) -> bytes:
    """One UTF-8 JSON document: the user id, when it was made, and one section per feature
    (storage.privacy.PARTS), each a list of the stored rows that name the user."""
    sections = await uow.privacy.export_user(user_id)
    document = {
        "format": FORMAT_VERSION,
        "user_id": user_id,
        "exported_at": now.isoformat(),
        "sections": sections,
    }
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")


EXPORT_KINDS = ("members", "ledger", "checkins", "referrals", "tickets")
EXPORT_USAGE = "/export members|ledger|checkins|referrals|tickets"
CSV_ROW_LIMIT = 50_000  # rows per /export file, oldest first; the caption says when cut


@dataclass(frozen=True)
class CsvExport:
    file_name: str
    content: bytes
    rows: int
    truncated: bool


def parse_kind(args: str | None) -> str:
    kind = (args or "").strip().lower()
    if kind not in EXPORT_KINDS:
        raise UsageError(usage=EXPORT_USAGE)
    return kind


async def export_csv(
    uow: UnitOfWork, community_id: int, kind: str, now: datetime, limit: int = CSV_ROW_LIMIT
) -> CsvExport:
    """The group's table as CSV, UTF-8 with a byte order mark (so that spreadsheet programs
    read Chinese names correctly); at most `limit` rows, the oldest first."""
    header, rows = await uow.privacy.community_rows(community_id, kind, limit + 1)
    truncated = len(rows) > limit
    rows = rows[:limit]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    content = ("\ufeff" + buffer.getvalue()).encode("utf-8")
    name = f"{kind}-{abs(community_id)}-{now:%Y%m%d-%H%M}.csv"
    return CsvExport(name, content, len(rows), truncated)


@dataclass(frozen=True)
class Erasure:
    """What /forgetme did: rows changed per section; none when nothing was stored any more
    (a second press of the button)."""

    rows: dict[str, int]

    @property
    def erased(self) -> bool:
        return any(self.rows.values())


async def forget_me(uow: UnitOfWork, user_id: int) -> Erasure:
    """Deletes the user's personal data from every feature in this transaction; the ledger
    keeps their amounts under an anonymous placeholder so that group totals stay right."""
    return Erasure(await uow.privacy.erase_user(user_id))
