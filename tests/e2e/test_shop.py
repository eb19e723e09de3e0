"""The points shop end to end: moderators stock items, members redeem them by button (never
oversold, however many press at once), moderators fulfil or reject the orders."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from storage.models import LedgerRow, MemberRow, ShopItemRow, ShopOrderRow
from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    start_bot,
    stop_bot,
)
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

BUYER = 1001
OTHER = 1002
BYSTANDER = 1003


@pytest.fixture
async def any_db_harness(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> AsyncIterator[Harness]:
    """As tests/e2e/conftest.py's harness, on SQLite and (when configured) PostgreSQL."""
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    await stop_bot(app, task)


async def shop_post(harness: Harness, user_id: int = BUYER) -> SentMessage:
    await harness.say(user_id, "/shop")
    post = [m for m in harness.replies() if m.reply_to_message_id == harness.last_said[GROUP_ID]]
    assert post, "no reply to /shop"
    return post[-1]


def buttons(message: SentMessage) -> list[dict[str, str]]:
    assert message.reply_markup is not None, message.text
    return [button for row in message.reply_markup["inline_keyboard"] for button in row]


async def press(harness: Harness, message: SentMessage, user_id: int, index: int = 0) -> str:
    """The user presses a button under the message; the toast they saw."""
    data = buttons(message)[index]["callback_data"]
    update = harness.api.press_button(GROUP_ID, message.message_id, user_id, data)
    await harness.handled(update)
    return toast_of(harness, update)


def toast_of(harness: Harness, update: int) -> str:
    query_id = harness.api.callback_query_id(update)
    answers = [a for a in harness.api.callback_answers if a["callback_query_id"] == query_id]
    assert len(answers) == 1, answers
    return str(answers[0].get("text", ""))


async def award(harness: Harness, user_id: int, points: int) -> None:
    await harness.say(user_id, "/myorders")  # registers the member; commands earn nothing
    await harness.say(OWNER_ID, f"/award {user_id} {points} seed points")
    assert f"+{points}" in harness.last_reply(), harness.last_reply()


async def orders(harness: Harness) -> list[tuple[int, str, int]]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(ShopOrderRow.user_id, ShopOrderRow.status, ShopOrderRow.price).order_by(
                ShopOrderRow.id
            )
        )
        return [(user, status, price) for user, status, price in rows]


async def stock_of(harness: Harness, item_id: int) -> int:
    async with stored(harness) as session:
        return int(
            await session.scalar(select(ShopItemRow.stock).where(ShopItemRow.id == item_id)) or 0
        )


async def balance_of(harness: Harness, user_id: int) -> int:
    async with stored(harness) as session:
        return int(
            await session.scalar(select(MemberRow.balance).where(MemberRow.user_id == user_id)) or 0
        )


async def ledger_count(harness: Harness, kind: str) -> int:
    async with stored(harness) as session:
        query = select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == kind)
        return int(await session.scalar(query) or 0)


async def test_100_members_press_at_once_for_10_items_and_exactly_10_get_one(
    any_db_harness: Harness,
) -> None:
    harness, api = any_db_harness, any_db_harness.api
    members = list(range(3001, 3101))
    add_members(harness, members)
    checkins = api.send_messages(GROUP_ID, members, "/checkin")  # 10 points each, one page
    for update in checkins:
        await api.wait_until_handled(update)
    await harness.app.replies.idle()
    await harness.say(CREATOR_ID, "/shop add 10 10 Sticker pack")
    assert "Sticker pack" in harness.last_reply()
    post = await shop_post(harness, members[0])
    data = buttons(post)[0]["callback_data"]

    presses = api.press_buttons(GROUP_ID, post.message_id, members, data)  # one page of 100
    assert len(presses) == 100
    for update in presses:
        await api.wait_until_handled(update)
    await harness.app.replies.idle()

    placed = await orders(harness)
    assert len(placed) == 10
    assert len({user for user, _, _ in placed}) == 10
    assert await stock_of(harness, 1) == 0
    assert await ledger_count(harness, "shop") == 10
    toasts = [toast_of(harness, update) for update in presses]
    assert sum("You redeemed" in toast for toast in toasts) == 10
    assert sum("sold out" in toast for toast in toasts) == 90
    buyers = {user for user, _, _ in placed}
    for user in members:
        assert await balance_of(harness, user) == (0 if user in buyers else 10)
    await ledger_matches_balances(harness)


async def test_a_double_press_and_a_redelivered_press_place_one_order(harness: Harness) -> None:
    add_members(harness, [BUYER])
    await award(harness, BUYER, 500)
    await harness.say(CREATOR_ID, "/shop add 100 5 T-shirt")
    post = await shop_post(harness)
    data = buttons(post)[0]["callback_data"]
    first, second = (
        harness.api.press_button(GROUP_ID, post.message_id, BUYER, data) for _ in range(2)
    )
    await harness.handled(first)
    await harness.handled(second)
    harness.api.redeliver(first, even_if_pending=True)
    await harness.handled(first)
    assert await orders(harness) == [(BUYER, "pending", 100)]
    assert "You redeemed T-shirt for 100 points (order #1). Balance: 400." in toast_of(
        harness, first
    )
    assert "You just redeemed T-shirt" in toast_of(harness, second)
    assert await balance_of(harness, BUYER) == 400
    assert await stock_of(harness, 1) == 4

    # Pressing again later is a real second purchase.
    harness.clock.advance(seconds=30)
    assert "order #2" in await press(harness, post, BUYER)
    assert await balance_of(harness, BUYER) == 300
    await ledger_matches_balances(harness)


async def test_limits_tiers_points_and_stock_refuse_and_change_nothing(harness: Harness) -> None:
    add_members(harness, [BUYER, OTHER])
    await award(harness, BUYER, 250)  # lifetime 250: the Member tier, not Active
    await harness.say(CREATOR_ID, "/shop add 50 1 Mug limit=2")
    await harness.say(CREATOR_ID, "/shop add 10 5 VIP badge tier=active")
    await harness.say(CREATOR_ID, "/shop add 1000 5 Laptop")
    await harness.say(CREATOR_ID, "/shop add 10 5 Pen limit=1")
    post = await shop_post(harness)
    assert "Mug" in (post.text or "") and "at most 2 per member" in (post.text or "")
    assert "Active tier and above" in (post.text or "")

    assert "order #1" in await press(harness, post, BUYER, 0)
    harness.clock.advance(seconds=10)
    assert "sold out" in await press(harness, post, BUYER, 0)
    assert "for members of the Active tier" in await press(harness, post, BUYER, 1)
    assert "Laptop costs 1000 points; you have 200" in await press(harness, post, BUYER, 2)
    assert "order #2" in await press(harness, post, BUYER, 3)
    harness.clock.advance(seconds=10)
    assert "at most 1 times" in await press(harness, post, BUYER, 3)
    assert "costs 10 points; you have 0" in await press(harness, post, OTHER, 3)
    assert [user for user, _, _ in await orders(harness)] == [BUYER, BUYER]
    assert await balance_of(harness, BUYER) == 190
    assert await stock_of(harness, 1) == 0
    assert await stock_of(harness, 4) == 4
    await ledger_matches_balances(harness)


async def test_moderators_manage_items_and_members_cannot(harness: Harness) -> None:
    add_members(harness, [BUYER])
    await harness.say(BUYER, "/shop add 10 10 Free stuff")
    assert "Only moderators" in harness.last_reply()
    await harness.say(BUYER, "/shop")
    assert "empty" in harness.last_reply()

    await harness.say(ADMIN_ID, "/shop add 100 10 T-shirt size L")
    assert "#1 <b>T-shirt size L</b> — 100 points, 10 left" in harness.last_reply()
    for bad, expected in (
        ("/shop add 0 10 Nothing", "between 1 and 1000000"),
        ("/shop add ten 10 Nothing", "Usage"),
        ("/shop add 10 10", "Usage"),
        ("/shop add 10 10 Thing tier=king", "Unknown tier"),
        ("/shop edit 1 colour red", "Usage"),
        ("/shop edit 9 price 5", "no item #9"),
        ("/shop remove x", "Usage"),
    ):
        await harness.say(ADMIN_ID, bad)
        assert expected in harness.last_reply(), (bad, harness.last_reply())
    await harness.say(ADMIN_ID, "/shop edit 1 price 80")
    assert "80 points" in harness.last_reply()
    await harness.say(ADMIN_ID, "/shop edit 1 limit 3")
    assert "at most 3 per member" in harness.last_reply()
    await harness.say(ADMIN_ID, "/shop edit 1 tier core")
    assert "Core tier and above" in harness.last_reply()
    await harness.say(ADMIN_ID, "/shop edit 1 title Hoodie")
    assert "Hoodie" in harness.last_reply()
    await harness.say(ADMIN_ID, "/shop edit 1 stock 0")
    assert "0 left" in harness.last_reply()
    post = await shop_post(harness)
    assert post.reply_markup is None  # nothing in stock: no button
    await harness.say(ADMIN_ID, "/shop edit 1 stock 2")
    await harness.say(ADMIN_ID, "/shop edit 1 tier newcomer")
    post = await shop_post(harness)
    await harness.say(ADMIN_ID, "/shop remove 1")
    assert "Removed #1" in harness.last_reply()
    assert "no item #1" in await press(harness, post, BUYER)
    await harness.say(BUYER, "/shop")
    assert "empty" in harness.last_reply()
    assert await orders(harness) == []


async def test_orders_are_fulfilled_or_rejected_once_and_the_buyer_is_told(
    harness: Harness,
) -> None:
    add_members(harness, [BUYER, OTHER])
    await harness.say(BUYER, "/start", chat_id=BUYER)  # the buyer can be told privately
    await award(harness, BUYER, 300)
    await award(harness, OTHER, 300)
    await harness.say(CREATOR_ID, "/shop add 100 3 T-shirt")
    post = await shop_post(harness)
    for user in (BUYER, OTHER):
        await press(harness, post, user)
    harness.clock.advance(seconds=10)
    await press(harness, post, BUYER)
    assert await stock_of(harness, 1) == 0

    await harness.say(BUYER, "/orders")
    assert "Only moderators" in harness.last_reply()
    await harness.say(CREATOR_ID, "/orders")
    listing = harness.replies()[-1]
    assert "#1 T-shirt" in (listing.text or "") and "User 1001" in (listing.text or "")
    assert len(buttons(listing)) == 6

    # A member presses a moderator's button: refused, nothing changes.
    assert "Only moderators" in await press(harness, listing, BUYER, 1)
    # Reject the newest order (#3, listed first) by button, twice: one refund, the unit back.
    await reject_by_button_with_a_reason(harness, listing)
    assert await ledger_count(harness, "shop_refund") == 1
    assert await balance_of(harness, BUYER) == 200
    assert await stock_of(harness, 1) == 1
    private = harness.api.messages_to(BUYER)
    assert "order #3" in (private[-1].text or "") and "refunded" in (private[-1].text or "")
    assert "Reason: wrong colour" in (private[-1].text or "")

    # Fulfil #2 by button (the other member never started the bot: not told): the listing
    # shows it fulfilled, with no buttons left for it.
    told_before = len(harness.api.messages_to(BUYER))
    assert "Order #2 is fulfilled" in await press(harness, now_shown(harness, listing), ADMIN_ID, 0)
    shown = now_shown(harness, listing)
    assert "#2 T-shirt" in (shown.text or "") and "fulfilled" in (shown.text or "")
    assert [b["text"] for b in buttons(shown)] == ["✅ Fulfil #1", "❌ Reject #1"]
    assert harness.api.messages_to(OTHER) == []
    await harness.say(ADMIN_ID, "/orders reject 1 out of stock in your size")
    assert "Order #1 is rejected" in harness.last_reply()
    await harness.say(ADMIN_ID, "/orders reject 1")
    assert "already settled" in harness.last_reply()
    await harness.say(ADMIN_ID, "/orders fulfil 1")
    assert "already settled" in harness.last_reply()
    await harness.say(ADMIN_ID, "/orders fulfil 99")
    assert "no order #99" in harness.last_reply()
    told = harness.api.messages_to(BUYER)[told_before:]
    assert len(told) == 1 and "Reason: out of stock in your size" in (told[0].text or "")
    assert await ledger_count(harness, "shop_refund") == 2
    assert await balance_of(harness, BUYER) == 300
    assert await balance_of(harness, OTHER) == 200

    await listings_after_settling(harness)
    await ledger_matches_balances(harness)


def now_shown(harness: Harness, message: SentMessage) -> SentMessage:
    """The message as it stands now, after the bot's edits."""
    versions = [
        m
        for m in harness.api.messages_to(message.chat_id, include_edits=True)
        if m.message_id == message.message_id
    ]
    return versions[-1]


async def reject_by_button_with_a_reason(harness: Harness, listing: SentMessage) -> None:
    """❌ Reject asks for a reason and a confirmation; only the confirmation refunds, once."""
    assert "Reject order #3?" in await press(harness, listing, CREATOR_ID, 1)
    assert await ledger_count(harness, "shop_refund") == 0
    asking = now_shown(harness, listing)
    assert [b["text"] for b in buttons(asking)][:2] == ["☑️ Confirm rejection #3", "↩️ Keep #3"]
    assert "reply to this message with a reason" in (asking.text or "")
    # Keep: back as it was; Reject again.
    assert "stays waiting" in await press(harness, asking, ADMIN_ID, 1)
    assert [b["text"] for b in buttons(now_shown(harness, listing))][:2] == [
        "✅ Fulfil #3",
        "❌ Reject #3",
    ]
    await press(harness, now_shown(harness, listing), CREATOR_ID, 1)
    # A member's reply is no reason; a moderator's is.
    add_members(harness, [BYSTANDER])
    await harness.say(BYSTANDER, "please no", reply_to_message_id=listing.message_id)
    await harness.say(ADMIN_ID, "wrong colour", reply_to_message_id=listing.message_id)
    assert "Reason noted for order #3" in harness.last_reply()
    asking = now_shown(harness, listing)
    assert "(wrong colour)" in (asking.text or "") and "please no" not in (asking.text or "")
    confirm = buttons(asking)[0]["callback_data"]
    presses = [
        harness.api.press_button(GROUP_ID, listing.message_id, user, confirm)
        for user in (CREATOR_ID, ADMIN_ID)
    ]
    for update_id in presses:
        await harness.handled(update_id)
    toasts = [toast_of(harness, update_id) for update_id in presses]
    assert "rejected; 100 points refunded" in toasts[0] and "already settled" in toasts[1]
    harness.api.redeliver(presses[0])
    await harness.handled(presses[0])
    shown = now_shown(harness, listing)
    assert "#3 T-shirt" in (shown.text or "") and "rejected, refunded" in (shown.text or "")
    assert "Confirm" not in str(shown.reply_markup) and "#3" not in str(shown.reply_markup)


async def listings_after_settling(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/orders")
    assert "No orders waiting" in harness.last_reply()
    await harness.say(CREATOR_ID, "/orders all")
    assert "fulfilled" in harness.last_reply() and "out of stock" in harness.last_reply()
    await harness.say(BUYER, "/myorders")
    mine = harness.last_reply()
    assert "#3 T-shirt" in mine and "#1 T-shirt" in mine and "#2" not in mine
    assert "rejected" in mine
    await harness.say(OTHER, "/myorders")
    assert "fulfilled" in harness.last_reply()


async def test_a_press_after_a_price_change_charges_nothing_and_shows_the_new_price(
    harness: Harness,
) -> None:
    add_members(harness, [BUYER])
    await award(harness, BUYER, 300)
    await harness.say(ADMIN_ID, "/shop add 100 5 Mug")
    post = await shop_post(harness)
    assert buttons(post)[0]["text"].endswith("· 100")
    await harness.say(ADMIN_ID, "/shop edit 1 price 150")

    toast = await press(harness, post, BUYER)
    assert "now 150 points" in toast and "nothing was charged" in toast
    assert await orders(harness) == [] and await balance_of(harness, BUYER) == 300
    redrawn = now_shown(harness, post)
    assert buttons(redrawn)[0]["text"].endswith("· 150")
    assert "150 points" in (redrawn.text or "")

    assert "for 150 points" in await press(harness, redrawn, BUYER)
    assert await orders(harness) == [(BUYER, "pending", 150)]
    assert await balance_of(harness, BUYER) == 150
    await ledger_matches_balances(harness)


async def test_an_old_button_without_its_price_charges_nothing(harness: Harness) -> None:
    add_members(harness, [BUYER])
    await award(harness, BUYER, 300)
    await harness.say(ADMIN_ID, "/shop add 100 5 Mug")
    post = await shop_post(harness)
    update = harness.api.press_button(GROUP_ID, post.message_id, BUYER, "v1sr:1")
    await harness.handled(update)
    assert "press again" in toast_of(harness, update)
    assert await orders(harness) == []


async def test_an_item_asks_the_buyer_privately_for_delivery_details(
    harness: Harness,
) -> None:
    add_members(harness, [BUYER, OTHER])
    await harness.say(BUYER, "/start", chat_id=BUYER)
    await award(harness, BUYER, 300)
    await award(harness, OTHER, 300)
    await harness.say(ADMIN_ID, "/shop add 50 5 Hoodie details=maybe")
    assert "details=yes" in harness.last_reply()
    await harness.say(ADMIN_ID, "/shop add 50 5 Hoodie details=yes")
    assert "asks for delivery details" in harness.last_reply()
    await harness.say(ADMIN_ID, "/shop add 10 5 Sticker")
    await harness.say(ADMIN_ID, "/shop edit 2 details yes")
    assert "asks for delivery details" in harness.last_reply()
    await harness.say(ADMIN_ID, "/shop edit 2 details no")
    assert "asks for delivery details" not in harness.last_reply()
    post = await shop_post(harness)

    # A buyer who started the bot is asked privately; the answer is kept with the order.
    assert "asked you privately" in await press(harness, post, BUYER, 0)
    await harness.run_due_work()
    asked = harness.api.messages_to(BUYER)[-1].text or ""
    assert "order #1" in asked and "delivery details" in asked
    await harness.say(BUYER, "/help", chat_id=BUYER)  # a command is not the answer
    await harness.say(BUYER, "Room 5, Main Street 1", chat_id=BUYER)
    assert "attached to order #1" in harness.last_reply(BUYER)
    before = len(harness.api.messages_to(BUYER))
    await harness.say(BUYER, "thanks!", chat_id=BUYER)  # nothing waits any more: no answer
    assert len(harness.api.messages_to(BUYER)) == before
    async with stored(harness) as session:
        details = await session.scalar(select(ShopOrderRow.details))
    assert details == "Room 5, Main Street 1"

    # A buyer the bot cannot write to is told in the group to start it.
    assert "private chat" in await press(harness, post, OTHER, 0)
    told = harness.replies()[-1].text or ""
    assert "order #2" in told and "open a private chat with me" in told
    # A sticker without the question asks nothing.
    await press(harness, post, OTHER, 1)

    await harness.say(ADMIN_ID, "/orders")
    listing = harness.last_reply()
    assert "details: Room 5, Main Street 1" in listing
    assert "delivery details awaited" in listing
    await harness.say(OTHER, "/start", chat_id=OTHER)
    await harness.say(OTHER, "PO Box 7", chat_id=OTHER)
    assert "attached to order #2" in harness.last_reply(OTHER)
    await harness.say(ADMIN_ID, "/orders")
    assert "details: PO Box 7" in harness.last_reply()


async def test_a_moderator_who_lost_rights_cannot_confirm_a_rejection(harness: Harness) -> None:
    add_members(harness, [BUYER])
    await award(harness, BUYER, 300)
    await harness.say(ADMIN_ID, "/shop add 100 5 Mug")
    await press(harness, await shop_post(harness), BUYER)
    await harness.say(ADMIN_ID, "/orders")
    listing = harness.replies()[-1]
    assert "Reject order #1?" in await press(harness, listing, ADMIN_ID, 1)
    await harness.handled(harness.api.demote(GROUP_ID, ADMIN_ID))
    assert "Only moderators" in await press(harness, now_shown(harness, listing), ADMIN_ID, 0)
    await harness.say(ADMIN_ID, "too late", reply_to_message_id=listing.message_id)
    assert await orders(harness) == [(BUYER, "pending", 100)]
    assert await ledger_count(harness, "shop_refund") == 0
    async with stored(harness) as session:
        assert await session.scalar(select(ShopOrderRow.note)) is None
    # A confirmation pressed on another /orders message than the one asked on settles nothing.
    await harness.say(CREATOR_ID, "/orders")
    other = harness.replies()[-1]
    update = harness.api.press_button(GROUP_ID, other.message_id, CREATOR_ID, "v1so:c:1")
    await harness.handled(update)
    assert "Press ❌ Reject" in toast_of(harness, update)
    assert await ledger_count(harness, "shop_refund") == 0
