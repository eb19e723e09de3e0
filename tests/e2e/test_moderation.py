"""Moderator commands, rights checks, tiers and badges, languages."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import AuditRow, LedgerRow, MemberRow
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, OWNER_ID, Harness
from tests.e2e.helpers import add_members, ledger_matches_balances, stored


async def balance_of(harness: Harness, user_id: int) -> int | None:
    async with stored(harness) as session:
        return await session.scalar(select(MemberRow.balance).where(MemberRow.user_id == user_id))


async def test_non_moderator_award_is_refused_and_moderators_apply(harness: Harness) -> None:
    add_members(harness, [1001, 1002])
    await harness.say(1002, "hello")  # known to the bot, 1 point
    await harness.say(1001, "/award @user1002 100 for me")
    assert "Only moderators" in harness.last_reply()
    assert await balance_of(harness, 1002) == 1

    await harness.say(CREATOR_ID, "/award @user1002 100 great answer")
    assert "+100 points. Balance: 101." in harness.last_reply()
    assert "Reason: great answer" in harness.last_reply()
    await harness.say(ADMIN_ID, "/award 1002 10")
    await harness.say(OWNER_ID, "/deduct @user1002 11 spam")
    assert "−11 points. Balance: 100." in harness.last_reply()
    # An anonymous administrator posts as the group itself: nobody's quota, so no award;
    # a deduction uses no quota and still works.
    await harness.posted(harness.api.send_anonymous_admin_message(GROUP_ID, "/award @user1002 5"))
    assert "Anonymous admins cannot award points" in harness.last_reply()
    assert "Remain anonymous" in harness.last_reply()
    assert await balance_of(harness, 1002) == 100
    await harness.posted(harness.api.send_anonymous_admin_message(GROUP_ID, "/deduct @user1002 5"))
    assert "Balance: 95." in harness.last_reply()

    async with stored(harness) as session:
        audit = (await session.execute(select(AuditRow.action, AuditRow.actor_id))).all()
        kinds = (
            (await session.execute(select(LedgerRow.kind).where(LedgerRow.user_id == 1002)))
            .scalars()
            .all()
        )
    assert [a for a, _ in audit] == ["award", "award", "deduct", "deduct"]
    assert [actor for _, actor in audit] == [CREATOR_ID, ADMIN_ID, OWNER_ID, None]
    assert kinds == ["activity", "award", "award", "deduct", "deduct"]
    await ledger_matches_balances(harness)


async def test_award_by_reply(harness: Harness) -> None:
    add_members(harness, [1001])
    doc = harness.api.message_id_of(await harness.say(1001, "here is my design doc"))
    await harness.say(CREATOR_ID, "/award 20 thorough design doc", reply_to_message_id=doc)
    assert "<b>User 1001</b>: +20 points. Balance: 21." in harness.last_reply()
    await harness.say(CREATOR_ID, "/deduct 1", reply_to_message_id=doc)
    assert "Balance: 20." in harness.last_reply()
    # When replying, numbers are amounts, and the rest is the reason.
    await harness.say(CREATOR_ID, "/award 10 100 comments answered", reply_to_message_id=doc)
    assert "+10 points. Balance: 30." in harness.last_reply()
    assert "Reason: 100 comments answered" in harness.last_reply()
    await harness.say(CREATOR_ID, "/deduct 10", reply_to_message_id=doc)
    await harness.say(CREATOR_ID, "/award -5", reply_to_message_id=doc)
    assert "whole number greater than 0" in harness.last_reply()
    # Replying without an amount is a usage error.
    await harness.say(CREATOR_ID, "/award", reply_to_message_id=doc)
    assert "Usage" in harness.last_reply()
    assert await balance_of(harness, 1001) == 20


async def test_bad_input_changes_nothing(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    cases = {
        "/award": "Usage",
        "/award @user1001": "Usage",
        "/award @user1001 abc": "whole number greater than 0",
        "/award @user1001 0": "whole number greater than 0",
        "/award @user1001 -5": "whole number greater than 0",
        "/award @user1001 1000000": "may not exceed 10000",
        "/award @ghost 5": "don't know that member: @ghost",
        "/award 424242 5": "don't know that member: 424242",
        "/deduct @user1001 50": "has only 1 points; cannot deduct 50",
        "/award @user1001 5 " + "x" * 201: "reason is too long",
        "/award @user1001 ²": "whole number greater than 0",
        "/award 99999999999999999999999 5": "don't know that member",
        "/badge @user1001 wizard": "Unknown badge",
        "/lang fr": "Usage: /lang zh|en",
    }
    for command, expected in cases.items():
        await harness.say(CREATOR_ID, command)
        assert expected in harness.last_reply(), (command, harness.last_reply())
    assert await balance_of(harness, 1001) == 1
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(AuditRow)) == 0


async def test_promotion_is_announced_once(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    await harness.say(CREATOR_ID, "/award @user1001 60")
    await harness.say(CREATOR_ID, "/award @user1001 10")
    await harness.say(CREATOR_ID, "/deduct @user1001 65")
    await harness.say(CREATOR_ID, "/award @user1001 5")
    announcements = [m.text for m in harness.replies() if m.text and "reached the" in m.text]
    assert announcements == ["🎉 <b>User 1001</b> reached the Member tier!"]


async def test_badges_and_the_pyramid(harness: Harness) -> None:
    add_members(harness, [1001, 1002, 1003])
    for user_id in (1001, 1002, 1003):
        await harness.say(user_id, "hi")
    await harness.say(CREATOR_ID, "/award @user1001 1000")
    await harness.say(CREATOR_ID, "/badge @user1002 expert")
    assert "now has the 🎓 Expert badge" in harness.last_reply()
    await harness.say(CREATOR_ID, "/badge @user1002 expert")
    assert "already has" in harness.last_reply()
    await harness.say(CREATOR_ID, "/badge @user1003 star")
    await harness.say(CREATOR_ID, "/unbadge @user1003 star")
    assert "no longer has the ⭐ Star badge" in harness.last_reply()
    await harness.say(1001, "/badge @user1001 star")
    assert "Only moderators" in harness.last_reply()

    await harness.say(1002, "/tiers")
    pyramid = harness.last_reply()
    assert "⭐ Star: 0" in pyramid and "🎓 Expert: 1" in pyramid
    assert "Contributor (1000+): 1" in pyramid and "Newcomer (0+): 2" in pyramid
    await harness.say(1002, "/me")
    assert "Badges: 🎓 Expert" in harness.last_reply()


async def test_language_switch_and_help(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "/help")
    member_help = harness.last_reply()
    assert "/checkin" in member_help and "/award" not in member_help
    await harness.say(ADMIN_ID, "/help")
    assert "/award" in harness.last_reply() and "&lt;@user|id&gt;" in harness.last_reply()

    await harness.say(1001, "/lang en")
    assert "Only moderators" in harness.last_reply()
    await harness.say(CREATOR_ID, "/lang zh")
    assert harness.last_reply() == "语言已设为中文。"
    await harness.say(1001, "/checkin")
    assert "签到成功" in harness.last_reply() and "+10 积分" in harness.last_reply()
    await harness.say(1001, "/help")
    assert "今日签到" in harness.last_reply()


async def test_private_chat_follows_the_user_language(harness: Harness) -> None:
    harness.api.add_user(2001, "Li", language_code="zh-hans")
    harness.api.add_user(2002, "Ann", language_code="en")
    await harness.say(2001, "/start", chat_id=2001)
    assert "你好" in harness.last_reply(chat_id=2001)
    await harness.say(2002, "/help", chat_id=2002)
    assert "Commands:" in harness.last_reply(chat_id=2002)


async def test_bots_anonymous_admins_and_channels_are_never_members(harness: Harness) -> None:
    harness.api.add_user(3001, "Helper Bot", username="helper_bot", is_bot=True)
    harness.api.add_member(GROUP_ID, 3001)
    await harness.say(3001, "/checkin")
    await harness.say(3001, "beep")
    await harness.handled(harness.api.send_anonymous_admin_message(GROUP_ID, "签到"))
    await harness.handled(harness.api.send_anonymous_admin_message(GROUP_ID, "hello from admins"))
    harness.api.add_channel(-1009999, "News")
    await harness.handled(harness.api.send_channel_post_in_group(GROUP_ID, -1009999, "news!"))
    async with stored(harness) as session:
        user_ids = set((await session.execute(select(MemberRow.user_id))).scalars().all())
        assert await session.scalar(select(func.count()).select_from(LedgerRow)) == 0
    assert not user_ids & {3001, 1087968824, 777000, 136817688}


async def test_group_commands_in_a_private_chat_are_explained(harness: Harness) -> None:
    harness.api.add_user(2002, "Ann", language_code="en")
    await harness.say(2002, "/checkin", chat_id=2002)
    assert "inside a community group" in harness.last_reply(chat_id=2002)


async def test_joins_leaves_and_new_administrators(harness: Harness) -> None:
    harness.api.add_user(1001, "Mia", username="mia")
    await harness.handled(harness.api.join(GROUP_ID, 1001))
    async with stored(harness) as session:
        joined = (
            await session.execute(select(MemberRow).where(MemberRow.user_id == 1001))
        ).scalar_one()
        assert joined.is_member and joined.joined_at is not None

    await harness.say(ADMIN_ID, "hello")
    await harness.say(1001, "/award @admin 5")
    assert "Only moderators" in harness.last_reply()
    # Promotion reaches the bot as a chat_member update, so the cached admin list is refreshed.
    await harness.handled(harness.api.promote(GROUP_ID, 1001))
    await harness.say(1001, "/award @admin 5")
    assert "+5 points" in harness.last_reply()

    await harness.handled(harness.api.leave(GROUP_ID, 1001))
    async with stored(harness) as session:
        left = (
            await session.execute(select(MemberRow).where(MemberRow.user_id == 1001))
        ).scalar_one()
        assert not left.is_member and left.left_at is not None
    await harness.say(ADMIN_ID, "/top")
    assert "Mia" not in harness.last_reply()  # boards show current members only


async def test_names_with_markup_are_shown_safely(harness: Harness) -> None:
    harness.api.add_user(1001, "A <b> & C", username="ab")
    harness.api.add_member(GROUP_ID, 1001)
    await harness.say(1001, "/checkin")
    assert "<b>A &lt;b&gt; &amp; C</b> checked in" in harness.last_reply()
    await harness.say(CREATOR_ID, "/award @ab 100 <great> & kind")
    assert "Reason: &lt;great&gt; &amp; kind" in harness.last_reply()
    await harness.say(1001, "/top")
    assert "A &lt;b&gt; &amp; C" in harness.last_reply()


async def test_replies_stay_in_the_forum_topic(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi", message_thread_id=77)
    await harness.say(CREATOR_ID, "/checkinpost", message_thread_id=77)
    post = harness.replies()[-1]
    assert post.message_thread_id == 77
    await harness.say(CREATOR_ID, "/award @ghost 5", message_thread_id=77)
    refusal = harness.replies()[-1]
    assert "don't know that member" in (refusal.text or "") and refusal.message_thread_id == 77
    await harness.say(CREATOR_ID, "/award @user1001 60", message_thread_id=77)
    promotion = harness.replies()[-1]
    assert "reached the Member tier" in (promotion.text or "")
    assert promotion.message_thread_id == 77


async def test_tied_members_rank_as_the_board_shows(harness: Harness) -> None:
    add_members(harness, [1001, 1002])
    await harness.say(1001, "/checkin")
    await harness.say(1002, "/checkin")
    await harness.say(1002, "/me")
    assert "Rank: #2" in harness.last_reply()
    await harness.say(1002, "/top")
    assert "2. <b>User 1002</b> — 10" in harness.last_reply()


async def test_stale_buttons_are_answered(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(CREATOR_ID, "/checkinpost")
    post = harness.replies()[-1]
    await harness.handled(harness.api.press_button(GROUP_ID, post.message_id, 1001, "v0old:1"))
    assert harness.api.callback_answers[-1]["text"] == "This button is no longer valid."
