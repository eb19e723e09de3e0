"""SQL implementation of the ledger repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, cast, exists, func, literal, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.bounds import QUOTA_KINDS
from bot.domain.models import (
    Activity,
    Booking,
    CheckinBooking,
    CheckinMark,
    HistoryEntry,
    LeaderboardRow,
    LedgerEntry,
    LedgerKind,
    PointsTotals,
    QuotaUse,
    Tier,
)
from storage.members import SqlCheckinRepository, SqlMemberRepository
from storage.models import ActivityDayRow, CheckinRow, LedgerRow, MemberRow, UserRow
from storage.prepared import PerDialect, Prepared, is_asyncpg
from storage.sql import _table


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


_LEDGER = _table(LedgerRow)
_MEMBERS = _table(MemberRow)
_ENTRY_COLUMNS = (
    "community_id",
    "user_id",
    "amount",
    "kind",
    "reason",
    "actor_id",
    "idempotency_key",
    "created_at",
)


def _booking_statement(checkin: bool) -> Prepared:
    """PostgreSQL: the ledger row and the balance change in one statement (one round trip);
    the member is changed only when the row was written."""
    entry = (
        postgresql.insert(_LEDGER)
        .values({name: bindparam(name) for name in _ENTRY_COLUMNS})
        .on_conflict_do_nothing()
        .returning(_LEDGER.c.id)
        .cte("entry")
    )
    changes: dict[str, Any] = {
        "balance": _MEMBERS.c.balance + bindparam("amount"),
        "lifetime_earned": _MEMBERS.c.lifetime_earned + bindparam("lifetime_change"),
    }
    if checkin:
        changes |= {
            "streak": bindparam("new_streak"),
            "last_checkin_day": bindparam("new_day"),
            "last_active_at": bindparam("active_at"),
        }
    totals = (
        update(_MEMBERS)
        .where(
            _MEMBERS.c.community_id == bindparam("key_community"),
            _MEMBERS.c.user_id == bindparam("key_user"),
            _MEMBERS.c.balance + bindparam("amount") >= 0,
            exists(select(entry.c.id)),
        )
        .values(changes)
        .returning(_MEMBERS.c.balance, _MEMBERS.c.lifetime_earned, _MEMBERS.c.tier)
        .cte("totals")
    )
    return Prepared(
        select(entry.c.id, totals.c.balance, totals.c.lifetime_earned, totals.c.tier).select_from(
            entry.outerjoin(totals, true())
        )
    )


_BOOK = _booking_statement(checkin=False)
_BOOK_CHECKIN = _booking_statement(checkin=True)


def _checkin_booking_statement() -> Prepared:
    """PostgreSQL: the check-in, its count in the day's activity, its ledger row and the
    member's change in one statement (one round trip); each written only when the check-in
    before it was."""
    checkins = _table(CheckinRow)
    days = _table(ActivityDayRow)
    added = (
        postgresql.insert(checkins)
        .values(
            community_id=bindparam("community_id"),
            user_id=bindparam("user_id"),
            day=bindparam("new_day"),
            streak=bindparam("new_streak"),
            points=bindparam("amount"),
            created_at=bindparam("active_at"),
        )
        .on_conflict_do_nothing()
        .returning(checkins.c.community_id, checkins.c.user_id, checkins.c.day)
        .cte("added")
    )
    others = {a.value: literal(0) for a in Activity if a is not Activity.CHECKIN}
    total = sum((days.c[a.value] for a in Activity), start=literal(0))
    noted = (
        postgresql.insert(days)
        .from_select(
            ["community_id", "user_id", "day", Activity.CHECKIN.value, *others],
            select(
                added.c.community_id, added.c.user_id, added.c.day, literal(1), *others.values()
            ),
        )
        .on_conflict_do_update(
            index_elements=[days.c.community_id, days.c.user_id, days.c.day],
            set_={Activity.CHECKIN.value: days.c[Activity.CHECKIN.value] + 1},
        )
        .returning(total.label("total"))
        .cte("noted")
    )
    entry = (
        postgresql.insert(_LEDGER)
        .from_select(
            list(_ENTRY_COLUMNS),
            select(*(bindparam(name, type_=_LEDGER.c[name].type) for name in _ENTRY_COLUMNS)).where(
                exists(select(added.c.day))
            ),
        )
        .on_conflict_do_nothing()
        .returning(_LEDGER.c.id)
        .cte("entry")
    )
    totals = (
        update(_MEMBERS)
        .where(
            _MEMBERS.c.community_id == bindparam("key_community"),
            _MEMBERS.c.user_id == bindparam("key_user"),
            _MEMBERS.c.balance + bindparam("amount") >= 0,
            exists(select(entry.c.id)),
        )
        .values(
            balance=_MEMBERS.c.balance + bindparam("amount"),
            lifetime_earned=_MEMBERS.c.lifetime_earned + bindparam("lifetime_change"),
            streak=bindparam("new_streak"),
            last_checkin_day=bindparam("new_day"),
            last_active_at=bindparam("active_at"),
        )
        .returning(_MEMBERS.c.balance, _MEMBERS.c.lifetime_earned, _MEMBERS.c.tier)
        .cte("totals")
    )
    return Prepared(
        select(
            select(func.count()).select_from(added).scalar_subquery().label("added"),
            select(noted.c.total).scalar_subquery().label("total"),
            select(entry.c.id).scalar_subquery().label("entry_id"),
            select(totals.c.balance).scalar_subquery().label("balance"),
            select(totals.c.lifetime_earned).scalar_subquery().label("lifetime_earned"),
            select(totals.c.tier).scalar_subquery().label("tier"),
        )
    )


_BOOK_CHECKIN_WITH_ENTRY = _checkin_booking_statement()


def _history_entry(row: LedgerRow, revoked_by: int | None) -> HistoryEntry:
    entry = _ledger_entry_from_row(row)
    reverses = None
    if entry.kind == LedgerKind.REVOKE:
        target = entry.idempotency_key.removeprefix(f"{LedgerKind.REVOKE}:")
        reverses = int(target) if target.isdecimal() else None
    return HistoryEntry(entry, revoked_by=revoked_by, reverses=reverses)


def _entry_parameters(entry: LedgerEntry) -> dict[str, Any]:
    """A ledger row's columns as the statements' parameters."""
    return {
        "community_id": entry.community_id,
        "user_id": entry.user_id,
        "amount": entry.amount,
        "kind": str(entry.kind),
        "reason": entry.reason,
        "actor_id": entry.actor_id,
        "idempotency_key": entry.idempotency_key,
        "created_at": entry.created_at,
    }


class SqlLedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, entry: LedgerEntry) -> int | None:
        added = (
            await _ADD_LEDGER_ENTRY.run(
                self._session,
                _entry_parameters(entry),
            )
        ).one_or_none()
        return int(added[0]) if added is not None else None

    async def book_checkin(
        self, entry: LedgerEntry, lifetime_change: int, checkin: CheckinMark
    ) -> CheckinBooking | None:
        dialect = self._session.bind.dialect if self._session.bind is not None else None
        if not is_asyncpg(dialect):
            first_activity = await SqlCheckinRepository(self._session).add_noting_activity(
                entry.community_id,
                entry.user_id,
                checkin.day,
                checkin.streak,
                entry.amount,
                checkin.at,
            )
            if first_activity is None:
                return None
            return CheckinBooking(first_activity, await self.book(entry, lifetime_change, checkin))
        found = (
            await _BOOK_CHECKIN_WITH_ENTRY.run(
                self._session,
                {
                    **_entry_parameters(entry),
                    "key_community": entry.community_id,
                    "key_user": entry.user_id,
                    "lifetime_change": lifetime_change,
                    "new_streak": checkin.streak,
                    "new_day": checkin.day,
                    "active_at": checkin.at,
                },
            )
        ).one_or_none()
        if found is None or not found.added:
            return None
        first_activity = found.total is not None and int(found.total) == 1
        if found.entry_id is None:
            return CheckinBooking(first_activity, None)
        if found.balance is None:
            return CheckinBooking(first_activity, Booking(int(found.entry_id), None))
        totals = PointsTotals(
            balance=found.balance, lifetime_earned=found.lifetime_earned, tier=Tier(found.tier)
        )
        return CheckinBooking(first_activity, Booking(int(found.entry_id), totals))

    async def book(
        self, entry: LedgerEntry, lifetime_change: int, checkin: CheckinMark | None = None
    ) -> Booking | None:
        dialect = self._session.bind.dialect if self._session.bind is not None else None
        if not is_asyncpg(dialect):
            entry_id = await self.add(entry)
            if entry_id is None:
                return None
            totals = await SqlMemberRepository(self._session).apply_points(
                entry.community_id, entry.user_id, entry.amount, lifetime_change, checkin
            )
            return Booking(entry_id, totals)
        parameters: dict[str, Any] = {
            **_entry_parameters(entry),
            "key_community": entry.community_id,
            "key_user": entry.user_id,
            "lifetime_change": lifetime_change,
        }
        statement = _BOOK
        if checkin is not None:
            statement = _BOOK_CHECKIN
            parameters |= {
                "new_streak": checkin.streak,
                "new_day": checkin.day,
                "active_at": checkin.at,
            }
        found = (await statement.run(self._session, parameters)).one_or_none()
        if found is None:
            return None
        if found[1] is None:
            return Booking(int(found[0]), None)
        return Booking(
            int(found[0]),
            PointsTotals(balance=found[1], lifetime_earned=found[2], tier=Tier(found[3])),
        )

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
