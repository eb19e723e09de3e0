"""The queries behind per-community timed work and timezone moves (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import Community, UserInfo
from bot.parsing.campaigns import parse_draft
from bot.services import campaigns
from bot.services.checkin import check_in
from bot.services.membership import CommunityDefaults, ensure_community, member_joined
from storage.uow import unit_of_work

FIRST, SECOND = -100601, -100602
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
ALICE = UserInfo(id=11, first_name="Alice")
BOB = UserInfo(id=12, first_name="Bob")

Factory = async_sessionmaker[AsyncSession]


async def make_community(factory: Factory, chat_id: int, timezone: str) -> Community:
    async with unit_of_work(factory) as uow:
        community, _ = await ensure_community(
            uow, chat_id, "Seeds", START, CommunityDefaults(timezone, "en")
        )
        for user in (ALICE, BOB):
            await member_joined(uow, community, user, START)
        return community


async def test_due_campaigns_are_found_and_claimed_per_community(session_factory: Factory) -> None:
    for chat_id in (FIRST, SECOND):
        community = await make_community(session_factory, chat_id, "Asia/Shanghai")
        async with unit_of_work(session_factory) as uow:
            draft = parse_draft("daily 09:00 Morning", None)
            await campaigns.create(uow, community, draft, 1, START)
    at = START + timedelta(hours=1, minutes=5)
    async with unit_of_work(session_factory) as uow:
        assert sorted(await uow.campaigns.communities_due(at)) == [SECOND, FIRST]
        assert await uow.campaigns.communities_due(START) == []
        runs = await campaigns.claim_due_runs(uow, at, FIRST)
    assert [run.community.id for run in runs] == [FIRST]
    async with unit_of_work(session_factory) as uow:
        assert await uow.campaigns.communities_due(at) == [SECOND]


async def test_a_move_east_carries_a_late_checkin_to_its_real_day(session_factory: Factory) -> None:
    community = await make_community(session_factory, FIRST, "America/Los_Angeles")
    late_evening = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)  # 23:30 on 2 March there
    async with unit_of_work(session_factory) as uow:
        assert (await check_in(uow, community, ALICE, late_evening)).checked_in
        assert (await check_in(uow, community, BOB, START)).checked_in  # 1 March there
        recent = await uow.members.last_checkins_since(FIRST, date(2026, 3, 1))
    assert sorted(recent) == [
        (ALICE.id, date(2026, 3, 2), late_evening, 1),
        (BOB.id, date(2026, 3, 1), START, 1),
    ]
    async with unit_of_work(session_factory) as uow:
        await campaigns.set_timezone(uow, community, "Asia/Shanghai", 1, late_evening)
    moved = await _community(session_factory, FIRST)
    async with unit_of_work(session_factory) as uow:
        alice = await uow.members.get(FIRST, ALICE.id)
        bob = await uow.members.get(FIRST, BOB.id)
        again = await check_in(uow, moved, ALICE, late_evening + timedelta(minutes=10))
    assert alice is not None and alice.last_checkin_day == date(2026, 3, 3)
    assert bob is not None and bob.last_checkin_day == date(2026, 3, 2)  # 08:00 on 2 March
    assert not again.checked_in


async def _community(factory: Factory, chat_id: int) -> Community:
    async with unit_of_work(factory) as uow:
        community = await uow.communities.get(chat_id)
    assert community is not None
    return community
