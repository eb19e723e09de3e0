"""A member's own data: everything stored about them, feature by feature (/mydata)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.errors import UsageError
from bot.ports import UnitOfWork

FORMAT_VERSION = 1


@dataclass(frozen=True)
class MyData:
    content: bytes
    timezone: str  # the timezone of the group the user joined last, for the caption's time


async def my_data_file(uow: UnitOfWork, user_id: int, now: datetime) -> MyData:
    """One UTF-8 JSON document: the user id, when it was made, and one section per feature
    (storage.privacy.PARTS), each a list of the stored rows that name the user."""
    sections = await uow.privacy.export_user(user_id)
    document = {
        "format": FORMAT_VERSION,
        "user_id": user_id,
        "exported_at": now.isoformat(),
        "sections": sections,
    }
    content = json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")
    timezone = "UTC"
    groups = sorted(
        sections.get("memberships", []),
        key=lambda row: (bool(row.get("is_member")), str(row.get("joined_at") or "")),
    )
    if groups and (community := await uow.communities.get(int(groups[-1]["community_id"]))):
        timezone = community.timezone
    return MyData(content, timezone)


async def my_data(uow: UnitOfWork, user_id: int, now: datetime) -> bytes:
    return (await my_data_file(uow, user_id, now)).content


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


# Turns the stored header and rows into what the reader of the file sees (their language,
# their group's time); the rows as stored when none is given.
Presenter = Callable[
    [list[str], Sequence[tuple[Any, ...]]], tuple[list[str], Sequence[tuple[Any, ...]]]
]


async def export_csv(
    uow: UnitOfWork,
    community_id: int,
    kind: str,
    now: datetime,
    limit: int = CSV_ROW_LIMIT,
    present: Presenter | None = None,
) -> CsvExport:
    """The group's table as CSV, UTF-8 with a byte order mark (so that spreadsheet programs
    read Chinese names correctly); at most `limit` rows, the oldest first."""
    stored_header, stored = await uow.privacy.community_rows(community_id, kind, limit + 1)
    truncated = len(stored) > limit
    header: list[str] = stored_header
    rows: Sequence[tuple[Any, ...]] = stored[:limit]
    if present is not None:
        header, rows = present(header, rows)
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
