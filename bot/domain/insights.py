"""Plain data behind /stats: rows the insights repository returns and the assembled report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.domain.care import Survey
from bot.domain.models import Tier
from bot.domain.tickets import TicketStats


@dataclass(frozen=True)
class ActivityDay:
    """Members with an activity day on `day`, and those of them who checked in."""

    day: date
    active: int
    checkins: int


@dataclass(frozen=True)
class MembershipDay:
    day: date
    joined: int
    left: int


@dataclass(frozen=True)
class LedgerDayKind:
    """Points issued (positive ledger amounts) and spent (negative ones, as a positive sum)
    on a local day, of one ledger kind."""

    day: date
    kind: str
    issued: int
    spent: int


@dataclass(frozen=True)
class LedgerKindTotal:
    kind: str
    issued: int
    spent: int


@dataclass(frozen=True)
class ActivityTotals:
    """Sums over the period's activity days, the members with at least one of each, and the
    distinct active members of the period, of its last 7 and of its last 30 days."""

    period_members: int
    weekly_members: int
    monthly_members: int
    quiz_answers: int
    quiz_members: int
    lottery_entries: int
    lottery_members: int
    orders: int
    order_members: int


@dataclass(frozen=True)
class JoinDayRetention:
    """The members whose first join of the period fell on `day`, and for each N how many of
    them were active exactly N local days later."""

    day: date
    joined: int
    retained: dict[int, int]


@dataclass(frozen=True)
class DayStats:
    day: date
    members: int  # at the end of the local day
    joined: int
    left: int
    active: int
    checkins: int
    issued: int
    spent: int


@dataclass(frozen=True)
class Cohort:
    """Members whose first join of the period fell in the local week starting `week`.
    `retained[N]` is None while no member of the cohort has reached day N yet; otherwise
    (retained, members who reached day N)."""

    week: date
    members: int
    retained: dict[int, tuple[int, int] | None]


@dataclass(frozen=True)
class Referrals:
    pending: int
    qualified: int
    rejected: int

    @property
    def invited(self) -> int:
        return self.pending + self.qualified + self.rejected


@dataclass(frozen=True)
class InsightsReport:
    community_id: int
    title: str
    first_day: date
    last_day: date
    members_now: int
    days: list[DayStats]
    daily_active: int  # on the last day (today)
    weekly_active: int  # distinct active members on the last 7 days
    monthly_active: int  # distinct active members on the last 30 days
    period_active: int  # distinct active members over the whole period
    checkins: int
    member_days: int  # the sum over the period's days of the members at each day's end
    cohorts: list[Cohort]
    referrals: Referrals
    quiz_answers: int
    quiz_members: int
    lottery_entries: int
    lottery_members: int
    orders: int
    order_members: int
    ledger: list[LedgerKindTotal]
    tiers: dict[Tier, int]
    winbacks_sent: int = 0  # win-back messages sent in the period
    winbacks_won: int = 0  # of those, members active again within the window
    tickets: TicketStats | None = None
    nps_trend: tuple[Survey, ...] = ()  # the latest closed surveys, newest first
    csat_trend: tuple[Survey, ...] = ()
    # Daily ledger aggregates computed for ended days not kept yet (bot.services.insights).
    zone: str = ""
    new_ledger_days: tuple[date, ...] = ()
    new_ledger_rows: tuple[LedgerDayKind, ...] = ()

    @property
    def joined(self) -> int:
        return sum(day.joined for day in self.days)

    @property
    def left(self) -> int:
        return sum(day.left for day in self.days)

    @property
    def issued(self) -> int:
        return sum(total.issued for total in self.ledger)

    @property
    def spent(self) -> int:
        return sum(total.spent for total in self.ledger)
