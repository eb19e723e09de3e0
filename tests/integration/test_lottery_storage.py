"""Lottery storage on SQLite and PostgreSQL: two workers drawing at once, who is drawn from,
entries charged and refunded exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.errors import LotteryClosed
from bot.domain.lotteries import LotteryStatus, Ticket, parse_entries
from bot.domain.models import Community, LedgerEntry, LedgerKind, UserInfo
from bot.parsing.lotteries import parse_new
from bot.services import lotteries
from bot.services.lotteries import DrawResult
from bot.services.membership import CommunityDefaults, ensure_community, member_joined, member_left
from bot.services.points import apply_points
from storage.models import LedgerRow, MemberRow
from storage.uow import unit_of_work

CHAT = -100701
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
USERS = [UserInfo(id=20 + index, first_name=f"U{index}") for index in range(5)]

Factory = async_sessionmaker[AsyncSession]


async def setup_lottery(factory: Factory, spec: str) -> Community:
    async with unit_of_work(factory) as uow:
        community, _ = await ensure_community(
            uow, CHAT, "Seeds", START, CommunityDefaults("Asia/Shanghai", "en")
        )
        for user in USERS:
            await member_joined(uow, community, user, START - timedelta(days=30))
            await apply_points(
                uow,
                community,
                LedgerEntry(CHAT, user.id, 10, LedgerKind.AWARD, f"seed:{user.id}", START),
            )
        draft = parse_new(spec, START, community.timezone)
        await lotteries.create(uow, community, draft, None, START)
    return community


async def test_two_workers_draw_a_lottery_once(session_factory: Factory) -> None:
    community = await setup_lottery(session_factory, "Race | Pen | 2026-03-02 20:00 | winners=2")
    async with unit_of_work(session_factory) as uow:
        for user in USERS:
            await lotteries.enter(uow, community, user, 1, START)
        await member_left(uow, community, USERS[0], START)
        stale = await uow.lotteries.get(CHAT, 1)
    assert stale is not None and stale.status == LotteryStatus.OPEN
    at = START + timedelta(hours=12)

    async def worker() -> DrawResult | None:
        async with unit_of_work(session_factory) as uow:
            return await lotteries.draw(uow, community, stale, at)

    results = await asyncio.gather(worker(), worker())
    drawn = [result for result in results if result is not None]
    assert len(drawn) == 1
    lottery = drawn[0].lottery
    assert lottery.entries_count == 4  # the member who left is not drawn from
    assert Ticket(USERS[0].id, 1) not in parse_entries(lottery.drawn_entries or "")
    assert len(drawn[0].winners) == 2
    async with unit_of_work(session_factory) as uow:
        assert await uow.lotteries.communities_due(at) == []
        assert len(await uow.lotteries.winners(1)) == 2


async def test_paid_entries_are_refunded_once(session_factory: Factory) -> None:
    community = await setup_lottery(session_factory, "Paid | Mug | 2026-03-02 20:00 | cost=4 max=2")
    async with unit_of_work(session_factory) as uow:
        await lotteries.enter(uow, community, USERS[1], 1, START)
        await lotteries.enter(uow, community, USERS[1], 1, START)
        await lotteries.enter(uow, community, USERS[2], 1, START)
    async with unit_of_work(session_factory) as uow:
        cancelled = await lotteries.cancel(uow, community, 1, None, START)
    assert (cancelled.refunded_entries, cancelled.refunded_points) == (3, 12)
    async with unit_of_work(session_factory) as uow:
        try:
            await lotteries.cancel(uow, community, 1, None, START)
        except LotteryClosed:
            pass
        else:
            raise AssertionError("a second cancel must be refused")
    async with session_factory() as session:
        rows = (await session.execute(select(MemberRow.user_id, MemberRow.balance))).all()
        balances = {user_id: balance for user_id, balance in rows}
        assert balances[USERS[1].id] == 10 and balances[USERS[2].id] == 10
        lifetime = await session.scalar(
            select(MemberRow.lifetime_earned).where(MemberRow.user_id == USERS[1].id)
        )
        assert lifetime == 10  # a refund is not new earnings
        refunds = await session.scalar(
            select(func.count()).where(LedgerRow.kind == str(LedgerKind.LOTTERY_REFUND))
        )
        assert refunds == 3
