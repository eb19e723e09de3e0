"""Community metrics computed in SQL from the raw records (membership events, activity days,
check-ins, the ledger, referrals, members): every query returns a few rows per day or per kind,
never a row per member. It never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, case, exists, func, insert, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.domain.insights import (
    ActivityDay,
    ActivityTotals,
    JoinDayRetention,
    LedgerDayKind,
    MembershipDay,
)
from storage.models import (
    ActivityDayRow,
    LedgerDayRow,
    LedgerRow,
    MembershipEventRow,
    ReferralRow,
)


class _LocalDay(FunctionElement[date]):
    """The calendar day of a UTC timestamp column in a timezone. PostgreSQL converts with the
    zone itself; SQLite shifts by the zone's offset, which is constant on each of the given
    segments (`offsets`: (segment start, minutes), oldest first, covering the period)."""

    type = Date()
    inherit_cache = False
    name = "local_day"

    def __init__(
        self, column: ColumnElement[Any], zone: str, offsets: Sequence[tuple[datetime, int]]
    ) -> None:
        self.zone = zone
        self.offsets = list(offsets)
        self.column = column
        super().__init__(column)


@compiles(_LocalDay, "postgresql")
def _local_day_postgresql(element: _LocalDay, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    zone = "'" + element.zone.replace("'", "''") + "'"  # inline: GROUP BY repeats it
    return f"CAST(timezone({zone}, {column}) AS DATE)"


@compiles(_LocalDay)
def _local_day_sqlite(element: _LocalDay, compiler: Any, **kw: Any) -> str:
    shift: ColumnElement[Any]
    modifiers = [(start, f"{minutes:+d} minutes") for start, minutes in element.offsets]
    if len(modifiers) == 1:
        shift = literal_column("'" + modifiers[0][1] + "'")
    else:
        shift = case(
            *(
                (element.column < start, literal_column("'" + modifier + "'"))
                for (start, _), (_, modifier) in zip(modifiers[1:], modifiers, strict=False)
            ),
            else_=literal_column("'" + modifiers[-1][1] + "'"),
        )
    return f"date({compiler.process(element.column, **kw)}, {compiler.process(shift, **kw)})"


class _DatePlus(FunctionElement[date]):
    """A date column plus a number of days."""

    type = Date()
    inherit_cache = False
    name = "date_plus"

    def __init__(self, column: ColumnElement[Any], days: int) -> None:
        self.column = column
        self.days = days
        super().__init__(column)


@compiles(_DatePlus, "postgresql")
def _date_plus_postgresql(element: _DatePlus, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.column, **kw)} + {int(element.days)})"


@compiles(_DatePlus)
def _date_plus_sqlite(element: _DatePlus, compiler: Any, **kw: Any) -> str:
    return f"date({compiler.process(element.column, **kw)}, '+{int(element.days)} days')"


def zone_offsets(zone: str, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset in minutes on [since, until]: (from when, minutes), oldest first;
    a new segment at every change (found hour by hour, then to the minute)."""
    tz = ZoneInfo(zone)

    def offset(at: datetime) -> int:
        delta = at.astimezone(tz).utcoffset() or timedelta()
        return int(delta.total_seconds() // 60)

    segments = [(since, offset(since))]
    at = since
    while at < until:
        step = min(at + timedelta(hours=1), until)
        if offset(step) != segments[-1][1]:
            low, high = at, step
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if offset(middle) == segments[-1][1]:
                    low = middle
                else:
                    high = middle
            segments.append((high, offset(step)))
        at = step
    return segments


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


class SqlInsightsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @staticmethod
    def _local_day(column: Any, zone: str, since: datetime, until: datetime) -> ColumnElement[date]:
        return _LocalDay(column, zone, zone_offsets(zone, since, until))

    async def membership_days(
        self, community_id: int, zone: str, since: datetime, until: datetime
    ) -> Sequence[MembershipDay]:
        events = MembershipEventRow
        day = self._local_day(events.at, zone, since, until).label("day")
        query = (
            select(
                day,
                func.sum(case((events.kind == "join", 1), else_=0)),
                func.sum(case((events.kind == "leave", 1), else_=0)),
            )
            .where(events.community_id == community_id, events.at >= since)
            .group_by(day)
            .order_by(day)
        )
        rows = await self._session.execute(query)
        return [MembershipDay(_day(d), int(j or 0), int(left or 0)) for d, j, left in rows]

    async def activity_days(
        self, community_id: int, first: date, last: date
    ) -> Sequence[ActivityDay]:
        days = ActivityDayRow
        query = (
            select(days.day, func.count(), func.sum(case((days.checkins > 0, 1), else_=0)))
            .where(days.community_id == community_id, days.day.between(first, last))
            .group_by(days.day)
            .order_by(days.day)
        )
        return [
            ActivityDay(_day(d), int(n), int(checked or 0))
            for d, n, checked in await self._session.execute(query)
        ]

    async def activity_totals(
        self, community_id: int, first: date, last: date, week_from: date, month_from: date
    ) -> ActivityTotals:
        """Separate queries, each a range of the covering index ix_activity_days_metrics (a
        single pass grouped by member measured slower)."""
        days = ActivityDayRow

        async def members(since: date, column: Any = None) -> tuple[int, int]:
            query = select(
                func.count(func.distinct(days.user_id)),
                func.coalesce(func.sum(column), 0) if column is not None else func.count(),
            ).where(days.community_id == community_id, days.day.between(since, last))
            if column is not None:
                query = query.where(column > 0)
            row = (await self._session.execute(query)).one()
            return int(row[0] or 0), int(row[1] or 0)

        period, _ = await members(first)
        weekly = period if week_from == first else (await members(week_from))[0]
        monthly = period if month_from == first else (await members(month_from))[0]
        quiz_members, quiz_answers = await members(first, days.quiz_answers)
        lottery_members, lottery_entries = await members(first, days.lottery_entries)
        order_members, orders = await members(first, days.orders)
        return ActivityTotals(
            period_members=period,
            weekly_members=weekly,
            monthly_members=monthly,
            quiz_answers=quiz_answers,
            quiz_members=quiz_members,
            lottery_entries=lottery_entries,
            lottery_members=lottery_members,
            orders=orders,
            order_members=order_members,
        )

    async def join_day_retention(
        self,
        community_id: int,
        zone: str,
        since: datetime,
        until: datetime,
        after_days: Sequence[int],
    ) -> Sequence[JoinDayRetention]:
        """Per local join day: the members whose first join of the period fell on it, and how
        many of them were active exactly N days later, for each N in `after_days`."""
        events = MembershipEventRow
        joined = (
            select(
                events.user_id.label("user_id"),
                func.min(self._local_day(events.at, zone, since, until)).label("join_day"),
            )
            .where(
                events.community_id == community_id,
                events.kind == "join",
                events.at >= since,
            )
            .group_by(events.user_id)
            .subquery("joined")
        )
        join_day = joined.c.join_day
        days = ActivityDayRow
        retained = [
            func.sum(
                case(
                    (
                        exists().where(
                            days.community_id == community_id,
                            days.user_id == joined.c.user_id,
                            days.day == _DatePlus(join_day, n),
                        ),
                        1,
                    ),
                    else_=0,
                )
            )
            for n in after_days
        ]
        query = (
            select(joined.c.join_day, func.count(), *retained)
            .group_by(joined.c.join_day)
            .order_by(joined.c.join_day)
        )
        result = []
        for row in await self._session.execute(query):
            result.append(
                JoinDayRetention(
                    _day(row[0]),
                    int(row[1]),
                    {n: int(row[2 + i] or 0) for i, n in enumerate(after_days)},
                )
            )
        return result

    async def referral_statuses(self, community_id: int, since: datetime) -> dict[str, int]:
        query = (
            select(ReferralRow.status, func.count())
            .where(ReferralRow.community_id == community_id, ReferralRow.joined_at >= since)
            .group_by(ReferralRow.status)
        )
        return {str(status): int(n) for status, n in await self._session.execute(query)}

    async def ledger_days(
        self, community_id: int, zone: str, since: datetime, until: datetime
    ) -> Sequence[LedgerDayKind]:
        ledger = LedgerRow
        day = self._local_day(ledger.created_at, zone, since, until).label("day")
        query = (
            select(
                day,
                ledger.kind,
                func.coalesce(func.sum(case((ledger.amount > 0, ledger.amount), else_=0)), 0),
                func.coalesce(func.sum(case((ledger.amount < 0, -ledger.amount), else_=0)), 0),
            )
            .where(
                ledger.community_id == community_id,
                ledger.created_at >= since,
                ledger.created_at <= until,
            )
            .group_by(day, ledger.kind)
            .order_by(day, ledger.kind)
        )
        return [
            LedgerDayKind(_day(d), str(kind), int(issued), int(spent))
            for d, kind, issued, spent in await self._session.execute(query)
        ]

    async def kept_ledger_days(
        self, community_id: int, zone: str, first: date, last: date
    ) -> tuple[set[date], Sequence[LedgerDayKind]]:
        """The days of [first, last] whose aggregates are kept (computed in `zone`), and
        their rows."""
        kept = LedgerDayRow
        rows = await self._session.execute(
            select(kept.day, kept.kind, kept.issued, kept.spent).where(
                kept.community_id == community_id,
                kept.timezone == zone,
                kept.day.between(first, last),
            )
        )
        days: set[date] = set()
        totals: list[LedgerDayKind] = []
        for day, kind, issued, spent in rows:
            days.add(_day(day))
            if kind:
                totals.append(LedgerDayKind(_day(day), str(kind), int(issued), int(spent)))
        return days, totals

    async def keep_ledger_days(
        self, community_id: int, zone: str, days: Sequence[date], rows: Sequence[LedgerDayKind]
    ) -> None:
        """Keeps the aggregates of ended days (a marker row per day); days kept already are
        left as they are."""
        if not days:
            return
        kept = LedgerDayRow
        existing = {
            _day(day)
            for (day,) in await self._session.execute(
                select(kept.day).where(
                    kept.community_id == community_id,
                    kept.timezone == zone,
                    kept.day.in_(list(days)),
                    kept.kind == "",
                )
            )
        }
        fresh = set(days) - existing
        values = [
            {
                "community_id": community_id,
                "timezone": zone,
                "day": day,
                "kind": "",
                "issued": 0,
                "spent": 0,
            }
            for day in sorted(fresh)
        ] + [
            {
                "community_id": community_id,
                "timezone": zone,
                "day": row.day,
                "kind": row.kind,
                "issued": row.issued,
                "spent": row.spent,
            }
            for row in rows
            if row.day in fresh
        ]
        if values:
            await self._session.execute(insert(kept), values)
