"""Concurrent paths on PostgreSQL: a tier is never lowered and the daily referral cap holds.

SQLite serialises writers (BEGIN IMMEDIATE), so these races exist only on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import Community, LedgerEntry, LedgerKind, Tier, UserInfo
from bot.services import referrals
from bot.services.checkin import check_in
from bot.services.membership import CommunityDefaults, ensure_community, member_joined
from bot.services.points import apply_points
from storage.engine import build_engine, build_session_factory
from storage.migrate import downgrade_to_base, upgrade_to_head
from storage.models import LedgerRow, MemberRow, ReferralRow
from storage.uow import unit_of_work
from tests.conftest import POSTGRES_URL

GROUP = -100777
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
INVITER = UserInfo(id=11, first_name="Inviter")
NEWCOMERS = (UserInfo(id=21, first_name="First"), UserInfo(id=22, first_name="Second"))

Factory = async_sessionmaker[AsyncSession]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("these races need PostgreSQL: set TEST_DATABASE_URL")
    downgrade_to_base(POSTGRES_URL)
    upgrade_to_head(POSTGRES_URL)
    yield POSTGRES_URL
    downgrade_to_base(POSTGRES_URL)


@pytest.fixture
async def factory(postgres_url: str) -> AsyncIterator[Factory]:
    engine = build_engine(postgres_url)
    yield build_session_factory(engine)
    await engine.dispose()


async def make_community(factory: Factory) -> Community:
    async with unit_of_work(factory) as uow:
        community, _ = await ensure_community(
            uow, GROUP, "Races", START, CommunityDefaults(timezone="Asia/Shanghai", language="en")
        )
        await member_joined(uow, community, INVITER, START)
        return community


def entry(amount: int, key: str) -> LedgerEntry:
    return LedgerEntry(
        community_id=GROUP,
        user_id=INVITER.id,
        amount=amount,
        kind=LedgerKind.AWARD,
        idempotency_key=key,
        created_at=START,
    )


async def wait_until_someone_waits_for_a_lock(factory: Factory) -> None:
    for _ in range(1000):
        async with factory() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no transaction ever waited for a lock")


async def test_a_stale_read_never_lowers_a_tier(factory: Factory) -> None:
    community = await make_community(factory)
    async with unit_of_work(factory) as uow:
        await apply_points(uow, community, entry(40, "setup"))

    async with unit_of_work(factory) as slow:
        stale = await slow.members.get(GROUP, INVITER.id)  # as a check-in reads it first
        async with unit_of_work(factory) as fast:
            change = await apply_points(fast, community, entry(20, "fast"))
            assert change is not None and change.tier_after == Tier.MEMBER
        await apply_points(slow, community, entry(5, "slow"), stale)

    async with factory() as session:
        member = (await session.execute(select(MemberRow))).scalar_one()
    assert (member.balance, member.lifetime_earned, member.tier) == (65, 65, int(Tier.MEMBER))


async def test_the_daily_referral_cap_holds_for_concurrent_settlements(factory: Factory) -> None:
    community = await make_community(factory)
    community = replace(community, growth=replace(community.growth, daily_referral_cap=1))
    async with unit_of_work(factory) as uow:
        await uow.communities.save_settings(community)
        link = await referrals.personal_link(uow, FakeIssuer(), community, INVITER, START)
        for newcomer in NEWCOMERS:
            await referrals.record_join(uow, community, newcomer, START, link_url=link.url)
            await check_in(uow, community, newcomer, START)
    later = START + timedelta(hours=25)

    async def settle_alone(invitee_id: int) -> None:
        async with unit_of_work(factory) as uow:
            await referrals.try_qualify(uow, community, invitee_id, later)

    async with unit_of_work(factory) as first:
        assert await referrals.try_qualify(first, community, NEWCOMERS[0].id, later)
        second = asyncio.create_task(settle_alone(NEWCOMERS[1].id))
        await wait_until_someone_waits_for_a_lock(factory)
    await second

    async with factory() as session:
        rewards = await session.scalar(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "referral")
        )
        states = dict(
            (await session.execute(select(ReferralRow.invitee_id, ReferralRow.reason))).all()
        )
    assert rewards == 1
    assert states == {NEWCOMERS[0].id: None, NEWCOMERS[1].id: "daily_cap"}


class FakeIssuer:
    async def create(self, community_id: int, name: str) -> str:
        return f"https://t.me/+{name}"

    async def revoke(self, community_id: int, url: str) -> None:
        return None
