"""Services against real repositories (SQLite, and PostgreSQL when configured), with fixed times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.errors import InsufficientBalance, UnknownTarget
from bot.domain.models import Community, LeaderboardPeriod, Tier, UserInfo
from bot.services import moderation, standings
from bot.services.activity import record_message
from bot.services.checkin import check_in
from bot.services.membership import CommunityDefaults, ensure_community, member_joined
from bot.services.moderation import TargetRef
from storage.models import LedgerRow, MemberRow
from storage.uow import unit_of_work

GROUP = -100123
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
ALICE = UserInfo(id=11, first_name="Alice", username="alice")
BOB = UserInfo(id=12, first_name="Bob", username="bob")

Factory = async_sessionmaker[AsyncSession]


async def make_community(factory: Factory, timezone: str = "Asia/Shanghai") -> Community:
    async with unit_of_work(factory) as uow:
        community, created = await ensure_community(
            uow, GROUP, "Seeds", START, CommunityDefaults(timezone=timezone, language="en")
        )
        assert created
        for user in (ALICE, BOB):
            await member_joined(uow, community, user, START)
        return community


async def assert_ledger_matches_balances(factory: Factory) -> None:
    async with factory() as session:
        members = (await session.execute(select(MemberRow))).scalars().all()
        for member in members:
            total = await session.scalar(
                select(func.coalesce(func.sum(LedgerRow.amount), 0)).where(
                    LedgerRow.community_id == member.community_id,
                    LedgerRow.user_id == member.user_id,
                )
            )
            assert member.balance == total
            assert member.balance >= 0


async def test_checkin_once_per_local_day_with_streaks(session_factory: Factory) -> None:
    community = await make_community(session_factory)
    points = []
    for day in range(8):
        at = START + timedelta(days=day)
        async with unit_of_work(session_factory) as uow:
            outcome = await check_in(uow, community, ALICE, at)
        assert outcome.checked_in and outcome.streak == day + 1
        points.append(outcome.points)
        async with unit_of_work(session_factory) as uow:
            again = await check_in(uow, community, ALICE, at + timedelta(hours=5))
        assert not again.checked_in and again.streak == day + 1 and again.points == 0
    assert points == [10, 12, 14, 16, 18, 20, 52, 24]
    async with unit_of_work(session_factory) as uow:
        member = await uow.members.get(GROUP, ALICE.id)
    assert member is not None and member.balance == sum(points)
    await assert_ledger_matches_balances(session_factory)


async def test_missed_day_restarts_the_streak(session_factory: Factory) -> None:
    community = await make_community(session_factory)
    for day in (0, 1, 3):
        async with unit_of_work(session_factory) as uow:
            outcome = await check_in(uow, community, BOB, START + timedelta(days=day))
    assert outcome.streak == 1 and outcome.points == 10


async def test_local_midnight_separates_days(session_factory: Factory) -> None:
    community = await make_community(session_factory)
    before_midnight = datetime(2026, 3, 2, 15, 59, tzinfo=UTC)  # 23:59 Shanghai
    after_midnight = datetime(2026, 3, 2, 16, 1, tzinfo=UTC)  # 00:01 next day
    async with unit_of_work(session_factory) as uow:
        first = await check_in(uow, community, ALICE, before_midnight)
    async with unit_of_work(session_factory) as uow:
        second = await check_in(uow, community, ALICE, after_midnight)
    assert first.checked_in and second.checked_in and second.streak == 2


async def test_daylight_saving_day_still_counts_once(session_factory: Factory) -> None:
    community = await make_community(session_factory, timezone="America/New_York")
    # 7 March 23:30 EST, then 8 March 00:30 and 23:30 EDT (the clocks jump on 8 March).
    moments = [
        datetime(2026, 3, 8, 4, 30, tzinfo=UTC),
        datetime(2026, 3, 8, 5, 30, tzinfo=UTC),
        datetime(2026, 3, 9, 3, 30, tzinfo=UTC),
        datetime(2026, 3, 9, 4, 30, tzinfo=UTC),
    ]
    results = []
    for moment in moments:
        async with unit_of_work(session_factory) as uow:
            results.append(await check_in(uow, community, ALICE, moment))
    assert [r.checked_in for r in results] == [True, True, False, True]
    assert [r.streak for r in results] == [1, 2, 2, 3]


async def test_award_is_idempotent_and_deduction_cannot_go_negative(
    session_factory: Factory,
) -> None:
    community = await make_community(session_factory)
    for _ in range(2):
        async with unit_of_work(session_factory) as uow:
            await moderation.change_points(
                uow,
                community,
                actor_id=1,
                target=TargetRef(username="Alice"),
                amount=40,
                reason="helpful answer",
                operation_key="m1",
                now=START,
            )
    with pytest.raises(InsufficientBalance):
        async with unit_of_work(session_factory) as uow:
            await moderation.change_points(
                uow,
                community,
                actor_id=1,
                target=TargetRef(user_id=ALICE.id),
                amount=-41,
                reason=None,
                operation_key="m2",
                now=START,
            )
    async with unit_of_work(session_factory) as uow:
        change = await moderation.change_points(
            uow,
            community,
            actor_id=1,
            target=TargetRef(user_id=ALICE.id),
            amount=-15,
            reason="spam",
            operation_key="m3",
            now=START,
        )
    assert change is not None and change.balance == 25
    # Deductions lower the balance, not the lifetime points that set the tier.
    assert change.lifetime_earned == 40
    await assert_ledger_matches_balances(session_factory)


async def test_unknown_targets_are_refused(session_factory: Factory) -> None:
    community = await make_community(session_factory)
    for target in (TargetRef(username="nobody"), TargetRef(user_id=999)):
        with pytest.raises(UnknownTarget):
            async with unit_of_work(session_factory) as uow:
                await moderation.change_points(
                    uow,
                    community,
                    actor_id=1,
                    target=target,
                    amount=5,
                    reason=None,
                    operation_key=f"x{target}",
                    now=START,
                )


async def test_promotion_reported_once(session_factory: Factory) -> None:
    community = await make_community(session_factory)
    changes = []
    for key, amount in (("a", 45), ("b", 10), ("c", 10)):
        async with unit_of_work(session_factory) as uow:
            changes.append(
                await moderation.change_points(
                    uow,
                    community,
                    actor_id=1,
                    target=TargetRef(user_id=BOB.id),
                    amount=amount,
                    reason=None,
                    operation_key=key,
                    now=START,
                )
            )
    assert [c.promoted for c in changes if c] == [False, True, False]
    assert changes[-1] is not None and changes[-1].tier_after == Tier.MEMBER


async def test_conversation_points_respect_cooldown_and_daily_cap(session_factory: Factory) -> None:
    community = await make_community(session_factory)
    awarded = 0
    # A message every 30 s for an hour: the 60 s cooldown halves them, the cap stops at 20.
    for step in range(120):
        async with unit_of_work(session_factory) as uow:
            change = await record_message(
                uow, community, ALICE, START + timedelta(seconds=30 * step), step + 1
            )
        awarded += change.amount if change else 0
    assert awarded == 20
    async with unit_of_work(session_factory) as uow:
        next_day = await record_message(uow, community, ALICE, START + timedelta(days=1), 10_000)
    assert next_day is not None and next_day.amount == 1


async def test_profile_rank_and_leaderboards(session_factory: Factory) -> None:
    community = await make_community(session_factory)
    async with unit_of_work(session_factory) as uow:
        await check_in(uow, community, ALICE, START)
        await check_in(uow, community, BOB, START)
        await moderation.change_points(
            uow,
            community,
            actor_id=1,
            target=TargetRef(user_id=BOB.id),
            amount=100,
            reason=None,
            operation_key="k",
            now=START - timedelta(days=40),
        )
    async with unit_of_work(session_factory) as uow:
        alice = await standings.profile(uow, community, ALICE, START)
        everyone = await standings.leaderboard(uow, community, LeaderboardPeriod.ALL, START)
        week = await standings.leaderboard(uow, community, LeaderboardPeriod.WEEK, START)
    assert (alice.balance, alice.rank, alice.streak, alice.tier) == (10, 2, 1, Tier.NEWCOMER)
    assert alice.next_tier == Tier.MEMBER and alice.points_to_next_tier == 40
    assert [(row.display_name, row.points) for row in everyone] == [("Bob", 110), ("Alice", 10)]
    # The award 40 days ago is outside this week.
    assert [(row.display_name, row.points) for row in week] == [("Alice", 10), ("Bob", 10)]
