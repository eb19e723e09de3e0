"""SQL implementation of the ledger repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, bindparam, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.bounds import QUOTA_KINDS
from bot.domain.models import HistoryEntry, LeaderboardRow, LedgerEntry, LedgerKind, QuotaUse
from storage.models import LedgerRow, MemberRow, UserRow
from storage.prepared import PerDialect


def _ledger_entry_from_row(row: LedgerRow) -> LedgerEntry:
    return LedgerEntry(
        community_id=row.community_id,
        user_id=row.user_id,
        amount=row.amount,
        kind=LedgerKind(row.kind),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
        reason=row.reason,
        actor_id=row.actor_id,
        id=row.id,
    )


_ADD_LEDGER_ENTRY = PerDialect(
    lambda dialect: (
        dialect.insert(LedgerRow.__table__)
        .values(
            {
                name: bindparam(name)
                for name in (
                    "community_id",
                    "user_id",
                    "amount",
                    "kind",
                    "reason",
                    "actor_id",
                    "idempotency_key",
                    "created_at",
                )
            }
        )
        .on_conflict_do_nothing()
        .returning(LedgerRow.__table__.c.id)
    )
)


def _history_entry(row: LedgerRow, revoked_by: int | None) -> HistoryEntry:
    entry = _ledger_entry_from_row(row)
    reverses = None
    if entry.kind == LedgerKind.REVOKE:
        target = entry.idempotency_key.removeprefix(f"{LedgerKind.REVOKE}:")
        reverses = int(target) if target.isdecimal() else None
    return HistoryEntry(entry, revoked_by=revoked_by, reverses=reverses)


class SqlLedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, entry: LedgerEntry) -> int | None:
        added = (
            await _ADD_LEDGER_ENTRY.run(
                self._session,
                {
                    "community_id": entry.community_id,
                    "user_id": entry.user_id,
                    "amount": entry.amount,
                    "kind": str(entry.kind),
                    "reason": entry.reason,
                    "actor_id": entry.actor_id,
                    "idempotency_key": entry.idempotency_key,
                    "created_at": entry.created_at,
                },
            )
        ).one_or_none()
        return int(added[0]) if added is not None else None

    async def get(self, entry_id: int) -> LedgerEntry | None:
        row = await self._session.get(LedgerRow, entry_id)
        return _ledger_entry_from_row(row) if row else None

    async def has_key(self, idempotency_key: str) -> bool:
        found = await self._session.scalar(
            select(LedgerRow.id).where(LedgerRow.idempotency_key == idempotency_key)
        )
        return found is not None

    async def awards_since(self, community_id: int, since: datetime) -> Sequence[QuotaUse]:
        award, revoke = aliased(LedgerRow), aliased(LedgerRow)
        used = func.sum(award.amount).label("used")
        rows = (
            await self._session.execute(
                select(award.actor_id, UserRow.first_name, used)
                .outerjoin(UserRow, UserRow.id == award.actor_id)
                .outerjoin(
                    revoke,
                    revoke.idempotency_key
                    == literal(f"{LedgerKind.REVOKE}:") + cast(award.id, String),
                )
                .where(
                    award.community_id == community_id,
                    award.kind.in_([str(kind) for kind in sorted(QUOTA_KINDS)]),
                    award.created_at >= since,
                    revoke.id.is_(None),
                )
                .group_by(award.actor_id, UserRow.first_name)
                .order_by(used.desc(), award.actor_id)
            )
        ).all()
        return [
            QuotaUse(
                actor_id=actor_id,
                display_name=first_name or (str(actor_id) if actor_id else ""),
                used=int(total),
            )
            for actor_id, first_name, total in rows
        ]

    async def recent_moderation(
        self, community_id: int, user_id: int, limit: int
    ) -> Sequence[HistoryEntry]:
        entry, revoke = aliased(LedgerRow), aliased(LedgerRow)
        kinds = [str(LedgerKind.AWARD), str(LedgerKind.DEDUCT), str(LedgerKind.REVOKE)]
        rows = await self._session.execute(
            select(entry, revoke.id)
            .outerjoin(
                revoke,
                (revoke.community_id == entry.community_id)
                & (
                    revoke.idempotency_key
                    == literal(f"{LedgerKind.REVOKE}:") + cast(entry.id, String)
                ),
            )
            .where(
                entry.community_id == community_id,
                entry.user_id == user_id,
                entry.kind.in_(kinds),
            )
            .order_by(entry.id.desc())
            .limit(limit)
        )
        return [_history_entry(row, revoked_by) for row, revoked_by in rows]

    async def top_earners_since(
        self, community_id: int, since: datetime, limit: int, until: datetime | None = None
    ) -> Sequence[LeaderboardRow]:
        earned = func.sum(LedgerRow.amount).label("earned")
        before = LedgerRow.created_at < until if until is not None else literal(True)
        rows = (
            await self._session.execute(
                select(LedgerRow.user_id, UserRow.first_name, earned)
                .join(UserRow, UserRow.id == LedgerRow.user_id)
                .join(
                    MemberRow,
                    (MemberRow.community_id == LedgerRow.community_id)
                    & (MemberRow.user_id == LedgerRow.user_id),
                )
                .where(
                    LedgerRow.community_id == community_id,
                    LedgerRow.created_at >= since,
                    before,
                    LedgerRow.amount > 0,
                    MemberRow.is_member.is_(True),
                )
                .group_by(LedgerRow.user_id, UserRow.first_name)
                .order_by(earned.desc(), LedgerRow.user_id)
                .limit(limit)
            )
        ).all()
        return [
            LeaderboardRow(rank=index, user_id=user_id, display_name=name, points=int(points))
            for index, (user_id, name, points) in enumerate(rows, start=1)
        ]
