"""Community metrics for /stats, assembled from the insights repository's per-day and per-kind
aggregates (no Telegram here). The definitions are the README's ("Community metrics")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.care import SurveyKind
from bot.domain.errors import UsageError
from bot.domain.insights import (
    Cohort,
    DayStats,
    InsightsReport,
    JoinDayRetention,
    LedgerDayKind,
    LedgerKindTotal,
    Referrals,
)
from bot.domain.models import Community
from bot.domain.rules import local_day
from bot.ports import UnitOfWork

DEFAULT_DAYS = 30
MAX_DAYS = 365
RETENTION_AFTER = (1, 7, 30)
KEEP_AFTER_DAYS = 2  # a day's ledger aggregate is kept once it ended this many days ago
COHORT_LINES = 8  # the latest weekly cohorts in the summary text (the heatmap shows all)
STATS_USAGE = "/stats [1-365]"


def parse_days(args: str | None) -> int:
    """The period in days: 30 when not given, otherwise a whole number from 1 to 365."""
    text = (args or "").strip()
    if not text:
        return DEFAULT_DAYS
    if not text.isdecimal() or not 1 <= int(text) <= MAX_DAYS:
        raise UsageError(usage=STATS_USAGE)
    return int(text)


def week_start(day: date) -> date:
    """The Monday of the day's week."""
    return day - timedelta(days=day.weekday())


def _local_midnight(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone))


async def community_report(
    uow: UnitOfWork, community: Community, days: int, now: datetime
) -> InsightsReport:
    """The community's metrics over its last `days` local days, today included."""
    zone = community.timezone
    today = local_day(now, zone)
    first = today - timedelta(days=days - 1)
    since = _local_midnight(first, zone)
    repo = uow.insights
    tiers = await uow.members.count_by_tier(community.id)
    members_now = sum(tiers.values())
    membership = {
        row.day: row for row in await repo.membership_days(community.id, zone, since, now)
    }
    activity = {row.day: row for row in await repo.activity_days(community.id, first, today)}
    ledger_rows, new_days, new_rows = await _ledger_days(uow, community, first, today, now)
    issued: dict[date, int] = defaultdict(int)
    spent: dict[date, int] = defaultdict(int)
    kinds: dict[str, tuple[int, int]] = {}
    for row in ledger_rows:
        issued[row.day] += row.issued
        spent[row.day] += row.spent
        before = kinds.get(row.kind, (0, 0))
        kinds[row.kind] = (before[0] + row.issued, before[1] + row.spent)

    # Members at each day's end, walking back from now through the day's joins and leaves.
    series: list[DayStats] = []
    members = members_now
    day = today
    while day >= first:
        moves = membership.get(day)
        joined, left = (moves.joined, moves.left) if moves else (0, 0)
        on_day = activity.get(day)
        series.append(
            DayStats(
                day=day,
                members=members,
                joined=joined,
                left=left,
                active=on_day.active if on_day else 0,
                checkins=on_day.checkins if on_day else 0,
                issued=issued[day],
                spent=spent[day],
            )
        )
        members = max(members - joined + left, 0)
        day -= timedelta(days=1)
    series.reverse()

    retention = await repo.join_day_retention(community.id, zone, since, now, RETENTION_AFTER)
    totals = await repo.activity_totals(
        community.id,
        first,
        today,
        week_from=today - timedelta(days=6),
        month_from=today - timedelta(days=29),
    )
    statuses = await repo.referral_statuses(community.id, since)
    winbacks_sent, winbacks_won = await uow.lifecycle.winback_rate(community.id, since)
    tickets = await uow.tickets.ticket_stats(community.id, since)
    nps_trend = await uow.surveys.survey_trend(community.id, SurveyKind.NPS, 2)
    csat_trend = await uow.surveys.survey_trend(community.id, SurveyKind.CSAT, 2)
    return InsightsReport(
        community_id=community.id,
        title=community.title,
        first_day=first,
        last_day=today,
        members_now=members_now,
        days=series,
        daily_active=series[-1].active,
        weekly_active=totals.weekly_members,
        monthly_active=totals.monthly_members,
        period_active=totals.period_members,
        checkins=sum(row.checkins for row in series),
        member_days=sum(row.members for row in series),
        cohorts=_cohorts(retention, today),
        referrals=Referrals(
            pending=statuses.get("pending", 0),
            qualified=statuses.get("qualified", 0),
            rejected=statuses.get("rejected", 0),
        ),
        quiz_answers=totals.quiz_answers,
        quiz_members=totals.quiz_members,
        lottery_entries=totals.lottery_entries,
        lottery_members=totals.lottery_members,
        orders=totals.orders,
        order_members=totals.order_members,
        ledger=[LedgerKindTotal(kind, *kinds[kind]) for kind in sorted(kinds)],
        tiers=tiers,
        winbacks_sent=winbacks_sent,
        winbacks_won=winbacks_won,
        tickets=tickets,
        nps_trend=tuple(nps_trend),
        csat_trend=tuple(csat_trend),
        zone=zone,
        new_ledger_days=tuple(new_days),
        new_ledger_rows=tuple(new_rows),
    )


async def _ledger_days(
    uow: UnitOfWork, community: Community, first: date, today: date, now: datetime
) -> tuple[list[LedgerDayKind], list[date], list[LedgerDayKind]]:
    """Points per local day and kind over [first, today]: the kept aggregates of ended days,
    the rest from the ledger itself; and the ended days computed here, to keep."""
    zone = community.timezone
    repo = uow.insights
    last_kept = today - timedelta(days=KEEP_AFTER_DAYS)
    covered: set[date] = set()
    kept: list[LedgerDayKind] = []
    if first <= last_kept:
        covered, found = await repo.kept_ledger_days(community.id, zone, first, last_kept)
        kept = list(found)
    missing = [
        first + timedelta(days=offset)
        for offset in range((last_kept - first).days + 1)
        if first + timedelta(days=offset) not in covered
    ]
    live_from = min(missing) if missing else max(first, last_kept + timedelta(days=1))
    live = [
        row
        for row in await repo.ledger_days(community.id, zone, _local_midnight(live_from, zone), now)
        if row.day not in covered
    ]
    new_rows = [row for row in live if row.day in set(missing)]
    return kept + live, missing, new_rows


async def keep_aggregates(uow: UnitOfWork, report: InsightsReport) -> None:
    """Keeps the daily ledger aggregates the report computed for ended days."""
    await uow.insights.keep_ledger_days(
        report.community_id, report.zone, report.new_ledger_days, report.new_ledger_rows
    )


def _cohorts(retention: Sequence[JoinDayRetention], today: date) -> list[Cohort]:
    """Join days grouped by local week (Monday first). Day N counts for a member once it has
    come (join day + N <= today): those members make the share's denominator."""
    members: dict[date, int] = defaultdict(int)
    reached: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    kept: dict[date, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for row in retention:
        week = week_start(row.day)
        members[week] += row.joined
        for n in RETENTION_AFTER:
            if row.day + timedelta(days=n) <= today:
                reached[week][n] += row.joined
                kept[week][n] += row.retained.get(n, 0)
    return [
        Cohort(
            week=week,
            members=members[week],
            retained={
                n: (kept[week][n], reached[week][n]) if reached[week][n] else None
                for n in RETENTION_AFTER
            },
        )
        for week in sorted(members)
    ]
