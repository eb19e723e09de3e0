"""Feedback tickets end to end: members file bugs, ideas and complaints in the group and
privately (with a photo, too long, over the daily limit); moderators triage them by buttons and
commands (a double press and two moderators at once pay one reward), merge duplicates, answer
and announce; reporters hear privately through the paced queue, except one who blocked the
bot; /mytickets; a stranger's press changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from storage.models import ActivityDayRow, LedgerRow, MemberRow, TicketRow
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
from tests.e2e.test_shop import buttons, toast_of
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

REPORTER = 1001
OTHER = 1002
BLOCKER = 1003
STRANGER = 1004


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
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


async def press(harness: Harness, message: SentMessage, user_id: int, index: int = 0) -> str:
    data = buttons(message)[index]["callback_data"]
    update = harness.api.press_button(message.chat_id, message.message_id, user_id, data)
    await harness.handled(update)
    return toast_of(harness, update)


def reply_to_last(harness: Harness, chat_id: int = GROUP_ID) -> SentMessage:
    said = harness.last_said[chat_id]
    found = [m for m in harness.api.messages_to(chat_id) if m.reply_to_message_id == said]
    assert found, f"no reply in {chat_id}"
    return found[-1]


async def ticket_rows(harness: Harness) -> list[tuple[int, int, str, str, str | None]]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(
                TicketRow.number,
                TicketRow.user_id,
                TicketRow.kind,
                TicketRow.status,
                TicketRow.photo_file_id,
            ).order_by(TicketRow.number)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def balance(harness: Harness, user_id: int) -> int:
    async with stored(harness) as session:
        value = await session.scalar(select(MemberRow.balance).where(MemberRow.user_id == user_id))
    return int(value or 0)


async def ticket_rewards(harness: Harness) -> int:
    async with stored(harness) as session:
        count = await session.scalar(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "ticket")
        )
    return int(count or 0)


def private_texts(harness: Harness, user_id: int) -> list[str]:
    return [m.text or "" for m in harness.api.messages_to(user_id)]


async def test_tickets_from_filing_to_triage_rewards_notices_and_mytickets(  # noqa: PLR0915
    harness: Harness,
) -> None:
    api = harness.api
    add_members(harness, [REPORTER, OTHER, BLOCKER, STRANGER])
    for user_id in (REPORTER, OTHER, BLOCKER):
        api.open_private_chat(user_id)
        await harness.say(user_id, "/start", chat_id=user_id)

    # 1. A bug in the group: a brief answer there, the id privately.
    await harness.say(REPORTER, "/bug The check-in button does nothing")
    assert "Ticket #1 is filed" in harness.last_reply()
    assert "does nothing" not in harness.last_reply()
    assert (
        "Ticket #1 (🐞 bug) is filed in <b>Seed Users</b>" in private_texts(harness, REPORTER)[-1]
    )

    # 2. An idea privately: the member is in one group, so it is filed there.
    await harness.say(REPORTER, "/idea A weekly quiz about our product", chat_id=REPORTER)
    assert "Ticket #2 (💡 idea) is filed" in harness.last_reply(REPORTER)

    # 3. A screenshot with the command as its caption.
    shot = api.send_photo_message(
        GROUP_ID, REPORTER, caption="/bug Broken layout", file_id="AgACshot1"
    )
    await harness.posted(shot)
    assert "Ticket #3 is filed" in harness.last_reply()

    # 4. A reply to a photo attaches that photo.
    photo = api.send_photo_message(GROUP_ID, OTHER, file_id="AgACphoto2")
    await harness.handled(photo)
    await harness.say(
        REPORTER, "/idea Use this banner", reply_to_message_id=api.message_id_of(photo)
    )
    assert "Ticket #4 is filed" in harness.last_reply()

    # 5. A complaint: nothing of its text in the group.
    await harness.say(REPORTER, "/complaint Someone keeps spamming me")
    assert "Ticket #5 is filed" in harness.last_reply()
    assert "spamming" not in "".join(m.text or "" for m in harness.replies())

    # 6. Plain /feedback asks for the kind; a stranger's press changes nothing; a double
    # press of the author files once.
    await harness.say(REPORTER, "/feedback Points should expire")
    prompt = reply_to_last(harness)
    assert "bug, an idea or a complaint" in (prompt.text or "")
    assert "Only the member who wrote this" in await press(harness, prompt, STRANGER, 1)
    idea = buttons(prompt)[1]["callback_data"]
    for _press in range(2):  # the second press, on a slow client, before the edit arrives
        update = api.press_button(GROUP_ID, prompt.message_id, REPORTER, idea)
        await harness.handled(update)
        assert "Ticket #6 is filed" in toast_of(harness, update)

    # Too long, and no text: a clear message, nothing filed.
    await harness.say(REPORTER, "/bug " + "x" * 2001)
    assert "at most 2000" in harness.last_reply()
    await harness.say(REPORTER, "/bug")
    assert "Nothing was filed" in harness.last_reply()

    # Up to ten a day: tickets 7 to 10, then the eleventh is refused.
    for n in range(7, 11):
        await harness.say(REPORTER, f"/idea Idea number {n}")
        assert f"Ticket #{n} is filed" in harness.last_reply()
    await harness.say(REPORTER, "/idea One more")
    assert "daily limit" in harness.last_reply()

    # Another member's duplicate, and a reporter who then blocks the bot.
    await harness.say(OTHER, "/bug The check-in button is dead")
    assert "Ticket #11 is filed" in harness.last_reply()
    await harness.say(BLOCKER, "/bug Leaderboard is empty")
    assert "Ticket #12 is filed" in harness.last_reply()
    await harness.handled(api.block_bot(BLOCKER) or 0)

    rows = await ticket_rows(harness)
    assert len(rows) == 12
    assert [kind for _n, _u, kind, _s, _p in rows].count("complaint") == 1
    assert rows[2][4] == "AgACshot1" and rows[3][4] == "AgACphoto2"
    assert all(status == "new" for _n, _u, _k, status, _p in rows)

    # Members cannot triage.
    await harness.say(OTHER, "/tickets")
    assert "Only moderators" in harness.last_reply()

    # The moderators' list: a complaint shows neither its reporter nor its text.
    await harness.say(ADMIN_ID, "/tickets")
    listed = harness.last_reply()
    assert "#12" in listed and "#1 🐞 bug" in listed
    assert "spamming" not in listed and "details only privately" in listed
    await harness.say(ADMIN_ID, "/tickets all complaint")
    assert "#5" in harness.last_reply() and "#1 " not in harness.last_reply()

    # /ticket 3 shows the ticket, its buttons and its screenshot.
    await harness.say(ADMIN_ID, "/ticket 3")
    shown = [m for m in harness.replies() if m.reply_to_message_id == harness.last_said[GROUP_ID]]
    assert any(m.method == "sendPhoto" and m.photo == "AgACshot1" for m in shown)
    card = next(m for m in shown if m.method == "sendMessage")
    assert "Broken layout" in (card.text or "") and "History:" in (card.text or "")

    # Accept by button; a double press and a second moderator pay nothing more; a stranger's
    # press changes nothing.
    await harness.say(ADMIN_ID, "/ticket 1")
    card = reply_to_last(harness)
    assert "Only moderators" in await press(harness, card, STRANGER, 0)
    assert "accepted" in await press(harness, card, ADMIN_ID, 0)
    first_update = api.press_button(
        GROUP_ID, card.message_id, ADMIN_ID, buttons(card)[0]["callback_data"]
    )
    second_update = api.press_button(
        GROUP_ID, card.message_id, CREATOR_ID, buttons(card)[0]["callback_data"]
    )
    await harness.handled(first_update)
    await harness.handled(second_update)
    assert "already" in toast_of(harness, first_update)
    assert "already" in toast_of(harness, second_update)
    assert await balance(harness, REPORTER) == 30
    assert await ticket_rewards(harness) == 1
    assert (
        "✅ Your ticket #1 in <b>Seed Users</b> was accepted"
        in private_texts(harness, REPORTER)[-1]
    )
    assert "+30 points" in private_texts(harness, REPORTER)[-1]

    # The duplicate is merged into #1; its reporter is told, and paid nothing.
    other_before = await balance(harness, OTHER)  # a point for the photo they posted
    await harness.say(ADMIN_ID, "/ticket 11 merge 1")
    assert "merged into #1" in harness.last_reply()
    assert "same as #1" in private_texts(harness, OTHER)[-1]
    assert await balance(harness, OTHER) == other_before

    # Done by command: both reporters hear it; no second reward.
    await harness.say(ADMIN_ID, "/ticket 1 done")
    assert "is done" in harness.last_reply()
    assert "is done" in private_texts(harness, REPORTER)[-1]
    assert "#11 (merged into #1)" in private_texts(harness, OTHER)[-1]
    assert await balance(harness, REPORTER) == 30

    # A moderator chooses to pay the duplicate's reporter too, once.
    await harness.say(ADMIN_ID, "/ticket 11 reward")
    assert "got 30 points" in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticket 11 reward")
    assert "paid before" in harness.last_reply()
    assert await balance(harness, OTHER) == other_before + 30

    # An idea accepted by command pays 20; rejecting needs a reason.
    await harness.say(ADMIN_ID, "/ticket 2 accept")
    assert await balance(harness, REPORTER) == 50
    await harness.say(ADMIN_ID, "/ticket 7 reject")
    assert "Usage" in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticket 7 reject We have this already")
    assert "rejected" in harness.last_reply()
    assert "Reason: We have this already" in private_texts(harness, REPORTER)[-1]
    await harness.say(ADMIN_ID, "/ticket 7 accept")
    assert "already" in harness.last_reply()
    assert await balance(harness, REPORTER) == 50

    # A complaint accepted pays nothing, and is never announced.
    await harness.say(ADMIN_ID, "/ticket 5 accept")
    assert await balance(harness, REPORTER) == 50
    await harness.say(ADMIN_ID, "/ticket 5 announce")
    assert "never shown to other members" in harness.last_reply()

    # A private answer to the reporter.
    await harness.say(ADMIN_ID, "/ticket 3 reply Which phone do you use?")
    assert "Which phone do you use?" in private_texts(harness, REPORTER)[-1]

    # The blocked reporter's ticket is accepted (and paid) but no notice is queued for them.
    await harness.say(ADMIN_ID, "/ticket 12 accept")
    assert await balance(harness, BLOCKER) == 30
    assert not any("was accepted" in text for text in private_texts(harness, BLOCKER))

    # The public thank-you credits the reporter by name.
    await harness.say(ADMIN_ID, "/ticket 1 announce")
    assert "posted" in harness.last_reply()
    thanks = harness.last_message()
    assert "Thanks to <b>User 1001</b>" in thanks and "It is done!" in thanks

    # /mytickets: in the group without the complaint; privately with it.
    await harness.say(REPORTER, "/mytickets")
    mine = harness.last_reply()
    assert "#1 🐞 bug" in mine and "done" in mine and "#5" not in mine
    assert "only in a private chat" in mine
    await harness.say(REPORTER, "/mytickets", chat_id=REPORTER)
    assert "#5 😠 complaint" in harness.last_reply(REPORTER)

    # /stats carries the tickets' numbers.
    await harness.say(ADMIN_ID, "/stats")
    summary = harness.last_reply()
    assert "🎫 Tickets:" in summary and "Median time to a first answer:" in summary
    assert "Accepted: " in summary

    # Filing tickets is not activity: no message counted, no active day for the reporter.
    async with stored(harness) as session:
        days = await session.scalar(
            select(func.count())
            .select_from(ActivityDayRow)
            .where(ActivityDayRow.user_id == REPORTER)
        )
    assert days == 0
    await ledger_matches_balances(harness)


async def test_private_feedback_asks_for_the_group_when_the_member_is_in_several(
    harness: Harness,
) -> None:
    api = harness.api
    second_group = -1009876543210
    add_members(harness, [REPORTER, STRANGER])
    api.add_group(second_group, "Beta Users", creator_id=CREATOR_ID, admins=[ADMIN_ID])
    api.add_member(second_group, REPORTER)
    await harness.handled(api.add_bot_to_group(second_group, by_user_id=CREATOR_ID))
    await harness.say(REPORTER, "hello")  # known in both groups
    await harness.say(REPORTER, "hello", chat_id=second_group)
    await harness.say(REPORTER, "/feedback Dark mode please", chat_id=REPORTER)
    prompt = reply_to_last(harness, REPORTER)
    assert "Which group" in (prompt.text or "")
    assert [b["text"] for b in buttons(prompt)] == ["Beta Users", "Seed Users"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons(prompt))
    # Someone else pressing (a forwarded prompt) chooses nothing.
    assert "Only the member who wrote this" in await press(harness, prompt, STRANGER, 0)
    assert "choose the kind" in await press(harness, prompt, REPORTER, 0)
    edited = api.messages_to(REPORTER, include_edits=True)[-1]
    assert "bug, an idea or a complaint" in (edited.text or "")
    assert edited.reply_markup is not None
    kind_data = edited.reply_markup["inline_keyboard"][0][1]["callback_data"]
    update = api.press_button(REPORTER, prompt.message_id, REPORTER, kind_data)
    await harness.handled(update)
    assert "Ticket #1 is filed" in toast_of(harness, update)
    rows = await ticket_rows(harness)
    assert rows == [(1, REPORTER, "idea", "new", None)]
    async with stored(harness) as session:
        assert await session.scalar(select(TicketRow.community_id)) == second_group


async def test_ticket_rules_set_rewards_and_the_daily_limit(harness: Harness) -> None:
    add_members(harness, [REPORTER])
    await harness.say(REPORTER, "/ticketrules limit 1")
    assert "Only moderators" in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticketrules limit 1")
    assert "at most 1 tickets a day" in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticketrules bug 45")
    assert "bug pays 45 points" in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticketrules bug -3")
    assert "Usage" in harness.last_reply()
    await harness.say(REPORTER, "/bug First")
    await harness.say(REPORTER, "/bug Second")
    assert "limit" in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticket 1 accept")
    assert await balance(harness, REPORTER) == 45


async def test_a_ticket_longer_than_a_message_is_shown_cut(harness: Harness) -> None:
    """The longest ticket (2,000 characters) with a dozen long replies in its history is more
    than Telegram takes in one message: /ticket still answers, cut at a line, ending "…"."""
    add_members(harness, [REPORTER])
    await harness.say(REPORTER, "/bug " + "长" * 2000)
    for _ in range(12):
        harness.clock.advance(seconds=30)
        await harness.say(ADMIN_ID, "/ticket 1 reply " + "好" * 300)
    await harness.say(ADMIN_ID, "/ticket 1")
    shown = harness.last_reply()
    assert shown.startswith("🐞") or "#1" in shown
    assert len(shown) <= 4096 and shown.endswith("\n…")
    assert "长" * 2000 in shown
    await harness.say(ADMIN_ID, "/ticket ²")  # a digit to str.isdigit, not to int()
    assert "Usage" in harness.last_reply()
