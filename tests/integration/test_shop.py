"""The shop's redemption as concurrent transactions, on SQLite and PostgreSQL: 100 members
redeem an item with stock 10 at the same moment, each in a transaction of their own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.errors import DomainError, ItemSoldOut, MemberLimitReached
from bot.domain.models import Community, LedgerEntry, LedgerKind, UserInfo
from bot.parsing.shop import parse_new_item
from bot.services import shop
from bot.services.membership import CommunityDefaults, ensure_community, member_joined
from bot.services.points import apply_points
from storage.models import LedgerRow, MemberRow, ShopItemRow, ShopOrderRow
from storage.uow import unit_of_work

GROUP = -100888
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MEMBERS = [UserInfo(id=5000 + n, first_name=f"Buyer {n}") for n in range(100)]

Factory = async_sessionmaker[AsyncSession]


async def stocked_shop(factory: Factory, stock: int) -> tuple[Community, int]:
    async with unit_of_work(factory) as uow:
        community, _ = await ensure_community(
            uow, GROUP, "Shop", START, CommunityDefaults(timezone="Asia/Shanghai", language="en")
        )
        for member in MEMBERS:
            await member_joined(uow, community, member, START)
            await apply_points(
                uow,
                community,
                LedgerEntry(GROUP, member.id, 30, LedgerKind.AWARD, f"seed:{member.id}", START),
            )
        item = await shop.add_item(
            uow, community, parse_new_item(f"25 {stock} Hoodie"), None, START
        )
    return community, item.id


async def test_100_concurrent_redemptions_of_stock_10_make_exactly_10_orders(
    session_factory: Factory,
) -> None:
    community, item_id = await stocked_shop(session_factory, 10)

    async def redeem(user: UserInfo) -> str:
        try:
            async with unit_of_work(session_factory) as uow:
                await shop.redeem(uow, community, user, item_id, f"press:{user.id}", START)
        except ItemSoldOut:
            return "sold out"
        except DomainError as refused:
            return type(refused).__name__
        return "ordered"

    outcomes = await asyncio.gather(*(redeem(member) for member in MEMBERS))
    assert outcomes.count("ordered") == 10
    assert outcomes.count("sold out") == 90

    async with session_factory() as session:
        stock = await session.scalar(select(ShopItemRow.stock))
        orders = (await session.execute(select(ShopOrderRow.user_id))).scalars().all()
        debits = await session.scalar(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "shop")
        )
        members = (await session.execute(select(MemberRow))).scalars().all()
        sums = dict(
            (
                await session.execute(
                    select(LedgerRow.user_id, func.sum(LedgerRow.amount)).group_by(
                        LedgerRow.user_id
                    )
                )
            ).all()
        )
    assert stock == 0
    assert len(orders) == len(set(orders)) == 10
    assert debits == 10
    for member in members:
        assert member.balance == sums[member.user_id]
        assert member.balance == (5 if member.user_id in orders else 30)


async def test_a_press_handled_again_later_finds_its_order(session_factory: Factory) -> None:
    community, item_id = await stocked_shop(session_factory, 10)
    buyer = MEMBERS[0]
    async with unit_of_work(session_factory) as uow:
        first = await shop.redeem(uow, community, buyer, item_id, "press:same", START)
    later = START + timedelta(minutes=5)  # well past the double-press window
    async with unit_of_work(session_factory) as uow:
        again = await shop.redeem(uow, community, buyer, item_id, "press:same", later)
    assert first.order_id is not None and not first.repeated
    assert again.repeated and again.order_id is None
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ShopOrderRow)) == 1
        assert await session.scalar(select(ShopItemRow.stock)) == 9
        balance = await session.scalar(
            select(MemberRow.balance).where(MemberRow.user_id == buyer.id)
        )
    assert balance == 5


async def test_the_per_member_limit_holds_for_concurrent_redemptions(
    session_factory: Factory, database_url: str
) -> None:
    """Two presses of one member, far enough apart not to be one double tap, in transactions
    that overlap: the member's row is locked while their orders are counted, so the second
    sees the first and the limit of 1 holds. (SQLite serialises writers anyway.)"""
    if not database_url.startswith("postgresql"):
        pytest.skip("overlapping write transactions exist only on PostgreSQL")
    community, _ = await stocked_shop(session_factory, 10)
    async with unit_of_work(session_factory) as uow:
        limited = await shop.add_item(
            uow, community, parse_new_item("5 10 Pin limit=1"), None, START
        )
    buyer = MEMBERS[0]

    async def second_press() -> str:
        try:
            async with unit_of_work(session_factory) as uow:
                later = START + timedelta(seconds=30)
                await shop.redeem(uow, community, buyer, limited.id, "press:second", later)
        except MemberLimitReached:
            return "limit"
        return "ordered"

    async with unit_of_work(session_factory) as first:
        await shop.redeem(first, community, buyer, limited.id, "press:first", START)
        second = asyncio.create_task(second_press())
        await wait_until_someone_waits_for_a_lock(session_factory)
    assert await second == "limit"
    async with session_factory() as session:
        count = select(func.count()).select_from(ShopOrderRow)
        assert await session.scalar(count.where(ShopOrderRow.item_id == limited.id)) == 1


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


async def test_a_drafted_rejection_refunds_once_on_confirmation_and_details_attach(
    session_factory: Factory,
) -> None:
    buyer = MEMBERS[0]
    async with unit_of_work(session_factory) as uow:
        community, _ = await ensure_community(
            uow, GROUP, "Shop", START, CommunityDefaults(timezone="Asia/Shanghai", language="en")
        )
        await member_joined(uow, community, buyer, START)
        await apply_points(
            uow, community, LedgerEntry(GROUP, buyer.id, 100, LedgerKind.AWARD, "seed", START)
        )
        item = await shop.add_item(
            uow, community, parse_new_item("25 3 Hoodie details=yes"), None, START
        )
        first = await shop.redeem(uow, community, buyer, item.id, "a", START, seen_price=25)
        later = START + timedelta(seconds=10)
        second = await shop.redeem(uow, community, buyer, item.id, "b", later, seen_price=25)
        changed = await shop.redeem(uow, community, buyer, item.id, "c", later, seen_price=20)
    assert first.asks_details and changed.price_changed and changed.order_id is None
    assert first.order_id is not None and second.order_id is not None

    async with unit_of_work(session_factory) as uow:
        await shop.start_rejection(uow, community, first.order_id, 77)
        await shop.start_rejection(uow, community, second.order_id, 77)  # moves the draft
        assert await shop.give_rejection_reason(uow, community, 78, "no") is None
        assert await shop.give_rejection_reason(uow, community, 77, " too  big ") == second.order_id
        listed = await shop.listed_orders(uow, community, [second.order_id, first.order_id])
        assert [order.rejecting_message_id for order in listed] == [77, None]
        assert listed[0].note == "too big"
        with pytest.raises(DomainError):
            await shop.confirm_rejection(uow, community, first.order_id, 77, None, later)
        done = await shop.confirm_rejection(uow, community, second.order_id, 77, None, later)
        assert done.order.note == "too big" and done.refund is not None
    with pytest.raises(DomainError):
        async with unit_of_work(session_factory) as uow:
            await shop.confirm_rejection(uow, community, second.order_id, 77, None, later)

    async with unit_of_work(session_factory) as uow:
        attached = await shop.attach_details(uow, buyer, "Room 5", later)
        assert attached is not None and attached.order.id == first.order_id
        assert attached.next_order is None  # the rejected order waits for nothing
        assert await shop.attach_details(uow, buyer, "again", later) is None
    async with session_factory() as session:
        refunds = await session.scalar(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "shop_refund")
        )
        details = await session.scalar(
            select(ShopOrderRow.details).where(ShopOrderRow.id == first.order_id)
        )
    assert refunds == 1 and details == "Room 5"
