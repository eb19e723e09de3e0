"""/stats metrics on a synthetic community (bench.history: a few hundred members over 90 days
of known behaviour), each checked against the same figure computed here, independently, in
Python from the raw rows; and the charts are valid PNG files."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench import history
from bot.domain.errors import UsageError
from bot.domain.insights import InsightsReport
from bot.domain.models import Tier
from bot.services import insights
from runtime.charts import ChartLabels, render_all
from storage.uow import unit_of_work

NOW = datetime(2026, 6, 1, 3, 30, tzinfo=UTC)  # 11:30 in Shanghai


def local_in(at: Any, zone: ZoneInfo) -> date:
    moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def rows(session: AsyncSession, sql: str) -> list[Any]:
    return list((await session.execute(text(sql), {"c": history.COMMUNITY_ID})).all())


async def report_for(factory: async_sessionmaker[AsyncSession], days: int) -> InsightsReport:
    async with unit_of_work(factory, read_only=True) as uow:
        community = await uow.communities.get(history.COMMUNITY_ID)
        assert community is not None
        return await insights.community_report(uow, community, days, NOW)


@pytest.mark.parametrize(
    ("days", "timezone"),
    [
        (30, "Asia/Shanghai"),
        (90, "Asia/Shanghai"),
        (90, "Europe/Berlin"),
    ],  # Berlin: DST on 29 March
)
async def test_every_metric_matches_an_independent_count_of_the_raw_records(  # noqa: PLR0912, PLR0915 - one recount per metric
    database_url: str,
    session_factory: async_sessionmaker[AsyncSession],
    days: int,
    timezone: str,
) -> None:
    await history.generate(database_url, members=300, days=95, now=NOW, seed=3, timezone=timezone)
    report = await report_for(session_factory, days)
    zone = ZoneInfo(timezone)

    def local(at: Any) -> date:
        return local_in(at, zone)

    today = local(NOW)
    first = today - timedelta(days=days - 1)
    async with session_factory() as session:
        members = await rows(session, "SELECT is_member, tier FROM members WHERE community_id=:c")
        events = await rows(
            session, "SELECT user_id, kind, at FROM membership_events WHERE community_id=:c"
        )
        activity = await rows(
            session,
            "SELECT user_id, day, messages, checkins, quiz_answers, lottery_entries, orders "
            "FROM activity_days WHERE community_id=:c",
        )
        checkins = await rows(session, "SELECT day FROM checkins WHERE community_id=:c")
        ledger = await rows(
            session, "SELECT amount, kind, created_at FROM points_ledger WHERE community_id=:c"
        )
        referrals = await rows(
            session, "SELECT status, joined_at FROM referrals WHERE community_id=:c"
        )

    period = [first + timedelta(days=i) for i in range(days)]
    assert [row.day for row in report.days] == period
    members_now = sum(1 for is_member, _ in members if is_member)
    assert report.members_now == members_now

    joins = Counter(local(at) for _, kind, at in events if kind == "join")
    leaves = Counter(local(at) for _, kind, at in events if kind == "leave")
    assert [(r.joined, r.left) for r in report.days] == [(joins[d], leaves[d]) for d in period]
    # Members at each day's end: those whose last event by then is a join.
    expected_members = []
    for day in period:
        state: dict[int, tuple[datetime, str]] = {}
        for user_id, kind, at in events:
            if local(at) <= day:
                moment = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
                if user_id not in state or state[user_id][0] <= moment:
                    state[user_id] = (moment, kind)
        expected_members.append(sum(1 for _, kind in state.values() if kind == "join"))
    assert [r.members for r in report.days] == expected_members
    assert report.days[-1].members == members_now

    active_by_day: dict[date, set[int]] = defaultdict(set)
    for user_id, day, *_ in activity:
        active_by_day[as_date(day)].add(user_id)
    assert [r.active for r in report.days] == [len(active_by_day[d]) for d in period]
    assert report.daily_active == len(active_by_day[today])

    def distinct(since: date) -> int:
        return len(
            set().union(
                *(active_by_day[since + timedelta(days=i)] for i in range((today - since).days + 1))
            )
        )

    assert report.weekly_active == distinct(today - timedelta(days=6))
    assert report.monthly_active == distinct(today - timedelta(days=29))
    assert report.period_active == distinct(first)

    checkin_days = Counter(as_date(day) for (day,) in checkins)
    assert [r.checkins for r in report.days] == [checkin_days[d] for d in period]
    assert report.checkins == sum(checkin_days[d] for d in period)
    assert report.member_days == sum(expected_members)

    # Cohorts: the week (Monday) of each member's first join in the period; retained after N
    # = active exactly on join day + N, among the members whose day N has come.
    first_join: dict[int, date] = {}
    for user_id, kind, at in events:
        if kind == "join" and local(at) >= first:
            first_join[user_id] = min(first_join.get(user_id, local(at)), local(at))
    expected_cohorts: dict[date, dict[str, Any]] = {}
    for user_id, joined in first_join.items():
        week = joined - timedelta(days=joined.weekday())
        entry = expected_cohorts.setdefault(
            week, {"members": 0, "kept": Counter(), "reached": Counter()}
        )
        entry["members"] += 1
        for n in (1, 7, 30):
            if joined + timedelta(days=n) <= today:
                entry["reached"][n] += 1
                if user_id in active_by_day[joined + timedelta(days=n)]:
                    entry["kept"][n] += 1
    assert [c.week for c in report.cohorts] == sorted(expected_cohorts)
    for cohort in report.cohorts:
        expected = expected_cohorts[cohort.week]
        assert cohort.members == expected["members"]
        for n in (1, 7, 30):
            share = (
                (expected["kept"][n], expected["reached"][n]) if expected["reached"][n] else None
            )
            assert cohort.retained[n] == share, (cohort.week, n)
    assert any(c.retained[7] and c.retained[7][0] for c in report.cohorts)

    in_period = Counter(status for status, joined_at in referrals if local(joined_at) >= first)
    assert (report.referrals.pending, report.referrals.qualified, report.referrals.rejected) == (
        in_period["pending"],
        in_period["qualified"],
        in_period["rejected"],
    )
    assert report.referrals.qualified > 0

    window = [row for row in activity if first <= as_date(row[1]) <= today]
    assert report.quiz_answers == sum(row[4] for row in window)
    assert report.quiz_members == len({row[0] for row in window if row[4]})
    assert report.lottery_entries == sum(row[5] for row in window)
    assert report.lottery_members == len({row[0] for row in window if row[5]})
    assert report.orders == sum(row[6] for row in window)
    assert report.order_members == len({row[0] for row in window if row[6]})

    issued: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    by_day_issued: Counter[date] = Counter()
    by_day_spent: Counter[date] = Counter()
    for amount, kind, created_at in ledger:
        if local(created_at) < first:
            continue
        if amount > 0:
            issued[kind] += amount
            by_day_issued[local(created_at)] += amount
        else:
            spent[kind] += -amount
            by_day_spent[local(created_at)] += -amount
    assert {t.kind: t.issued for t in report.ledger if t.issued} == dict(issued)
    assert {t.kind: t.spent for t in report.ledger if t.spent} == dict(spent)
    assert spent["shop"] > 0 and spent["lottery_entry"] > 0 and issued["checkin"] > 0
    assert [(r.issued, r.spent) for r in report.days] == [
        (by_day_issued[d], by_day_spent[d]) for d in period
    ]

    tiers = Counter(Tier(tier) for is_member, tier in members if is_member)
    assert {t: n for t, n in report.tiers.items() if n} == dict(tiers)


async def test_the_charts_are_valid_png_images(
    sqlite_url: str,
) -> None:
    from storage.engine import build_engine, build_session_factory

    await history.generate(sqlite_url, members=120, days=60, now=NOW, seed=4)
    engine = build_engine(sqlite_url)
    try:
        report = await report_for(build_session_factory(engine), 60)
    finally:
        await engine.dispose()
    images = render_all(report, ChartLabels())
    assert len(images) == 4
    for image in images:
        assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 5_000
    chinese = render_all(report, ChartLabels(members_title="成员与活跃成员"))
    assert all(image.startswith(b"\x89PNG") for image in chinese)


def test_the_period_is_one_to_365_days() -> None:
    assert insights.parse_days(None) == 30
    assert insights.parse_days(" 7 ") == 7
    assert insights.parse_days("365") == 365
    for bad in ("0", "366", "-3", "week", "1.5"):
        with pytest.raises(UsageError):
            insights.parse_days(bad)


async def test_kept_daily_aggregates_give_the_same_report_and_follow_the_timezone(
    database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await history.generate(database_url, members=200, days=40, now=NOW, seed=5)
    first = await report_for(session_factory, 30)
    assert len(first.new_ledger_days) == 30 - insights.KEEP_AFTER_DAYS
    async with unit_of_work(session_factory) as uow:
        await insights.keep_aggregates(uow, first)
        await insights.keep_aggregates(uow, first)  # twice: kept once
    again = await report_for(session_factory, 30)
    assert again.new_ledger_days == ()
    assert (again.days, again.ledger) == (first.days, first.ledger)
    async with session_factory() as session:
        kept = await rows(
            session, "SELECT COUNT(*) FROM ledger_days WHERE community_id=:c AND kind=''"
        )
        assert kept[0][0] == 30 - insights.KEEP_AFTER_DAYS
    # A longer period computes only the days not kept yet.
    longer = await report_for(session_factory, 40)
    assert len(longer.new_ledger_days) == 10
    # Kept aggregates belong to a timezone: another one computes its own days again.
    async with unit_of_work(session_factory) as uow:
        await uow.communities.set_timezone(history.COMMUNITY_ID, "Europe/Berlin")
    moved = await report_for(session_factory, 30)
    assert len(moved.new_ledger_days) == 30 - insights.KEEP_AFTER_DAYS
