"""Check-ins, points and leaderboards as members use them, through real polling."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from storage.models import CheckinRow, LedgerRow, MemberRow
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members, ledger_matches_balances, stored

MEMBERS = list(range(1001, 1021))


async def test_bot_registers_the_group_and_greets_it(harness: Harness) -> None:
    greeting = harness.replies()[0].text or ""
    assert "/checkinpost" in greeting and "/checkin" in greeting
    menus = harness.api.commands
    assert any(key[0] == "all_group_chats" for key in menus)
    admin_menu = next(v for k, v in menus.items() if k[0] == "all_chat_administrators")
    assert {"award", "deduct", "badge"} <= {c["command"] for c in admin_menu}


async def test_twenty_members_check_in_over_three_days(harness: Harness) -> None:
    add_members(harness, MEMBERS)
    expected_points = {0: 10, 1: 12, 2: 14}
    for day in range(3):
        for user_id in MEMBERS:
            harness.clock.advance(seconds=7)
            await harness.say(user_id, "/checkin")
            reply = harness.last_reply()
            assert f"+{expected_points[day]} points" in reply
            assert f"Streak: {day + 1} days" in reply
        # A second attempt the same day is refused and shows the streak.
        await harness.say(MEMBERS[0], "/checkin")
        assert "already checked in today" in harness.last_reply()
        assert f"Streak: {day + 1} days" in harness.last_reply()
        harness.clock.advance(days=1)

    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(CheckinRow)) == 60
        balances = set(
            (await session.execute(select(MemberRow.balance).where(MemberRow.user_id.in_(MEMBERS))))
            .scalars()
            .all()
        )
    assert balances == {36}
    await ledger_matches_balances(harness)


async def test_keywords_and_the_button_check_in_too(harness: Harness) -> None:
    add_members(harness, [1001, 1002, 1003])
    await harness.say(1001, "签到")
    assert "+10 points" in harness.last_reply()
    await harness.say(1002, "  Check   In ")
    assert "+10 points" in harness.last_reply()
    replies = len(harness.replies())
    await harness.say(1003, "签到啦")  # not exactly a keyword: ordinary conversation
    assert len(harness.replies()) == replies

    await harness.say(CREATOR_ID, "/checkinpost")
    post = harness.replies()[-1]
    assert post.reply_markup is not None
    data = post.reply_markup["inline_keyboard"][0][0]["callback_data"]
    sent_before = len(harness.replies())
    for presser in (1003, 1003, 1001):
        await harness.handled(harness.api.press_button(GROUP_ID, post.message_id, presser, data))
    answers = [a.get("text", "") for a in harness.api.callback_answers]
    assert "+10 points" in answers[0]
    assert "already checked in" in answers[1] and "already checked in" in answers[2]
    assert len(harness.replies()) == sent_before  # button presses never post in the group


async def test_redelivered_update_changes_nothing(harness: Harness) -> None:
    add_members(harness, [1001])
    update_id = await harness.say(1001, "/checkin")
    replies = len(harness.replies())
    harness.api.redeliver(update_id)
    await harness.handled(update_id)
    # Let one more update through so that the redelivery has certainly been processed.
    await harness.say(1001, "hello")
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(CheckinRow)) == 1
        assert (
            await session.scalar(select(MemberRow.balance).where(MemberRow.user_id == 1001)) == 11
        )
    assert len(harness.replies()) == replies


async def test_me_and_top_show_correct_numbers(harness: Harness) -> None:
    add_members(harness, [1001, 1002, 1003])
    for user_id in (1001, 1002):
        await harness.say(user_id, "/checkin")
    harness.clock.advance(days=1)
    await harness.say(1001, "/checkin")  # streak 2: 12 points, total 22
    await harness.say(CREATOR_ID, "/award @user1003 5 welcome")
    assert "don't know that member: @user1003" in harness.last_reply()  # never seen yet
    await harness.say(1003, "hi all")  # now known, and 1 point for talking
    await harness.say(CREATOR_ID, "/award @user1003 5 welcome")
    assert "+5 points. Balance: 6." in harness.last_reply()

    await harness.say(1001, "/me")
    me = harness.last_reply()
    for line in (
        "Balance: 22 points",
        "Lifetime earned: 22",
        "Streak: 2 days",
        "Tier: Newcomer",
        "Rank: #1",
        "Next tier: Member in 28 points",
    ):
        assert line in me, (line, me)

    await harness.say(1003, "/top")
    top = harness.last_reply().splitlines()
    assert top[1:] == [
        "1. <b>User 1001</b> — 22",
        "2. <b>User 1002</b> — 10",
        "3. <b>User 1003</b> — 6",
    ]
    await harness.say(1003, "/top week")
    assert "this week" in harness.last_reply()
    await harness.say(1003, "/top month")
    assert "this month" in harness.last_reply() and "22" in harness.last_reply()
    await harness.say(1003, "/top year")
    assert "Usage" in harness.last_reply()


async def test_conversation_earns_one_point_with_cooldown(harness: Harness) -> None:
    add_members(harness, [1001])
    base = harness.clock.now()
    for offset in (0, 30, 61, 200):
        await harness.say(1001, "hello there", date=base + timedelta(seconds=offset))
    # Commands and edits earn nothing.
    await harness.say(1001, "/unknowncommand", date=base + timedelta(seconds=400))
    await harness.handled(harness.api.edit_message(GROUP_ID, 2, 1001, "edited"))
    async with stored(harness) as session:
        kinds = (
            (await session.execute(select(LedgerRow.kind).where(LedgerRow.user_id == 1001)))
            .scalars()
            .all()
        )
    assert kinds == ["activity", "activity", "activity"]
