"""Community metrics for /stats and the digests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from bot.domain.insights import (
    ActivityDay,
    ActivityTotals,
    JoinDayRetention,
    LedgerDayKind,
    MembershipDay,
)


class InsightsRepository(Protocol):
    """Community metrics aggregated in SQL from the raw records: a few rows per local day or
    per kind, never a row per member (storage/insights.py). `zone` is the community's
    timezone; `since` a UTC instant (the period's first local midnight), `until` now."""

    async def membership_days(
        self, community_id: int, zone: str, since: datetime, until: datetime
    ) -> Sequence[MembershipDay]:
        """Join and leave events per local day."""
        ...

    async def activity_days(
        self, community_id: int, first: date, last: date
    ) -> Sequence[ActivityDay]:
        """Per day: the members with an activity day, and those who checked in."""
        ...

    async def activity_totals(
        self, community_id: int, first: date, last: date, week_from: date, month_from: date
    ) -> ActivityTotals:
        """One pass over the members' activity days (grouped by member)."""
        ...

    async def join_day_retention(
        self,
        community_id: int,
        zone: str,
        since: datetime,
        until: datetime,
        after_days: Sequence[int],
    ) -> Sequence[JoinDayRetention]: ...
    async def referral_statuses(self, community_id: int, since: datetime) -> dict[str, int]:
        """Referrals by status among those whose invitee joined since then."""
        ...

    async def ledger_days(
        self, community_id: int, zone: str, since: datetime, until: datetime
    ) -> Sequence[LedgerDayKind]:
        """Points issued and spent per local day and ledger kind."""
        ...

    async def kept_ledger_days(
        self, community_id: int, zone: str, first: date, last: date
    ) -> tuple[set[date], Sequence[LedgerDayKind]]:
        """The daily ledger aggregates kept for ended days: the days covered, their rows."""
        ...

    async def keep_ledger_days(
        self, community_id: int, zone: str, days: Sequence[date], rows: Sequence[LedgerDayKind]
    ) -> None: ...


class InsightsPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def insights(self) -> InsightsRepository: ...
