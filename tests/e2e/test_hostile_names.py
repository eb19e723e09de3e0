"""Names, titles and texts full of HTML (`&`, `<`, `>`, quotes, a right-to-left override) in
every message: Telegram (the fake Bot API, with its HTML rules) accepts each one, every command
gets its reply, and what members read is the name as it was written, escaped exactly once."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    start_bot,
    stop_bot,
)
from tests.fakes.bot_api import HTML_TAGS, FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

TITLE = 'R&D <Beta> "testers" \u202e'
EVE = 2001
EVE_NAME = 'Eve & <Ann> "Q" \u202e'
EVE_USERNAME = "eve_and_ann"
BOB = 2002
CAROL = 2003
CAROL_NAME = "</b>Carol & <3"
DAVE = 2004
INVITE_LINK = re.compile(r"https://t\.me/\+[\w-]+")
TEXT = 'Mug & <cup> "x" \u202e'
TAGS = re.compile(rf"</?({HTML_TAGS})(\s[^<>]*)?>")


def shown(message: SentMessage) -> str:
    """What a member reads: the text with its markup applied."""
    text = message.text or ""
    if message.parse_mode == "HTML":
        return html.unescape(TAGS.sub("", text))
    return text


@pytest.fixture
async def hostile(api: FakeBotAPI, sqlite_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_user(EVE, EVE_NAME, last_name="<i>Smith & co", username=EVE_USERNAME)
    api.add_user(BOB, 'Bob "<b>"', username="bob")
    api.add_user(CAROL, CAROL_NAME, username="carol")
    api.add_user(DAVE, "Dave &amp; <u>", username="dave")
    api.add_group(GROUP_ID, TITLE, creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    api.add_member(GROUP_ID, OWNER_ID)
    api.add_member(GROUP_ID, BOB)
    sleeps: list[float] = []
    app, task = await start_bot(api, sqlite_url, clock, sleeps)
    harness = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await harness.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield harness
    await stop_bot(app, task)


def answered(harness: Harness) -> int:
    api = harness.api
    return len(api.sent_messages) + len(api.callback_answers) + len(api.sent_albums)


async def step(harness: Harness, user_id: int, text: str, chat_id: int = GROUP_ID) -> None:
    before = answered(harness)
    await harness.say(user_id, text, chat_id=chat_id)
    assert answered(harness) > before, f"no answer to {text!r}"
    assert not parse_errors(harness), (text, parse_errors(harness))


async def press(harness: Harness, message: SentMessage, user_id: int, row: int = 0) -> None:
    assert message.reply_markup is not None, message.text
    data = message.reply_markup["inline_keyboard"][row][0]["callback_data"]
    before = answered(harness)
    await harness.handled(
        harness.api.press_button(message.chat_id, message.message_id, user_id, data)
    )
    assert answered(harness) > before, f"no answer to the press of {data!r}"


def parse_errors(harness: Harness) -> list[tuple[str, int, str]]:
    return [refusal for refusal in harness.api.refusals if refusal[1] == 400]


def last_with_button(harness: Harness, chat_id: int = GROUP_ID) -> SentMessage:
    return [m for m in harness.api.messages_to(chat_id) if m.reply_markup][-1]


async def test_stats_of_a_group_with_html_in_its_title(harness: Harness) -> None:
    harness.api.add_group(-1005555, "R&D <Beta> testers", creator_id=ADMIN_ID)
    await harness.handled(harness.api.add_bot_to_group(-1005555, by_user_id=ADMIN_ID))
    await harness.say(ADMIN_ID, "/stats", chat_id=-1005555)

    summary = harness.last_reply(chat_id=-1005555)
    assert "R&amp;D &lt;Beta&gt; testers" in summary
    assert "Members now:" in summary
    assert not parse_errors(harness)


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_every_message_takes_hostile_names_titles_and_texts(  # noqa: PLR0915 - one sweep
    hostile: Harness, language: str
) -> None:
    h = hostile
    api = h.api
    await step(h, ADMIN_ID, f"/lang {language}")
    for user_id in (EVE, ADMIN_ID, BOB):
        await step(h, user_id, "/start", chat_id=user_id)
    await step(h, ADMIN_ID, "/setwelcome Hi {names}, welcome to {group}!")
    await h.handled(api.join(GROUP_ID, EVE))
    h.clock.advance(seconds=61)
    await h.run_due_work()

    await step(h, EVE, "/checkin")
    await step(h, ADMIN_ID, "/checkinpost")
    post = last_with_button(h)
    h.clock.advance(days=1)
    for update_id in api.press_buttons(GROUP_ID, post.message_id, [EVE, BOB], post_data(post)):
        await h.handled(update_id)
    await step(h, ADMIN_ID, f"/award @{EVE_USERNAME} 600 {TEXT}")
    await step(h, ADMIN_ID, f"/badge @{EVE_USERNAME} expert")
    for command in ("/me", "/top", "/top week", "/tiers", "/invite", "/invites", "/topinviters"):
        await step(h, EVE, command)
    link = INVITE_LINK.search(h.last_message(chat_id=EVE))
    assert link, h.last_message(chat_id=EVE)
    for invitee in (CAROL, DAVE):
        await h.handled(api.join(GROUP_ID, invitee, invite_link=link.group(0)))
        await step(h, invitee, "/checkin")
    h.clock.advance(hours=25)
    await h.run_due_work()
    for update_id in api.send_messages(GROUP_ID, [EVE, BOB, CAROL], "check in"):
        await h.handled(update_id)
    await step(h, EVE, "/help")
    await step(h, ADMIN_ID, "/help")
    await step(h, ADMIN_ID, f"/referrals @{EVE_USERNAME}")
    await step(h, ADMIN_ID, "/quota")

    await step(h, ADMIN_ID, f"/shop add 10 5 {TEXT}")
    await step(h, EVE, "/shop")
    await press(h, last_with_button(h), EVE)
    await step(h, ADMIN_ID, f"/shop add 100000 5 {TEXT}")
    await step(h, EVE, "/shop")
    await press(h, last_with_button(h), EVE, row=1)
    assert TEXT in str(api.callback_answers[-1]["text"]), api.callback_answers[-1]
    await step(h, EVE, "/myorders")
    await step(h, ADMIN_ID, "/orders")
    await step(h, ADMIN_ID, "/orders fulfil 1")

    await step(h, ADMIN_ID, f"/lottery new {TEXT} | {TEXT} | 2026-03-10 20:00")
    await press(h, last_with_button(h), EVE)
    await step(h, EVE, "/lottery list")
    await step(h, EVE, "/lottery show 1")
    await step(h, ADMIN_ID, "/lottery draw 1")
    await step(h, EVE, "/lottery show 1")

    await step(h, ADMIN_ID, f"/quiz add {TEXT}? | {TEXT} | *yes & <no> | no")
    await step(h, ADMIN_ID, "/quiz start 1")
    await h.run_due_work()
    [poll] = api.polls_in(GROUP_ID)
    await h.handled(api.answer_poll(poll.id, EVE, [1]))
    h.clock.advance(minutes=2)
    await h.run_due_work()
    await h.run_due_work()
    await step(h, EVE, "/quiz top")

    await step(h, EVE, f"/bug {TEXT}")
    await step(h, EVE, f"/feedback {TEXT}", chat_id=EVE)
    await step(h, EVE, "/mytickets")
    await step(h, ADMIN_ID, "/tickets all")
    await step(h, ADMIN_ID, "/ticket 1")
    await step(h, ADMIN_ID, f"/ticket 1 reply {TEXT}")
    await step(h, ADMIN_ID, "/ticket 1 accept")
    await step(h, ADMIN_ID, "/ticket 1 announce")
    await step(h, EVE, f"/idea {TEXT}")
    await step(h, ADMIN_ID, f"/ticket 2 reject {TEXT}")

    await step(h, ADMIN_ID, f"/survey csat {TEXT}")
    await press(h, last_with_button(h), EVE)
    await step(h, ADMIN_ID, "/survey list")
    await step(h, ADMIN_ID, "/survey close 1")
    await step(h, ADMIN_ID, "/survey nps")

    await step(h, ADMIN_ID, "/campaign add daily 09:00 <b>News</b> for {community}")
    await step(h, ADMIN_ID, "/campaign list")
    await step(h, ADMIN_ID, "/campaign test 1")

    await step(h, EVE, "/birthday 03-05", chat_id=EVE)
    await step(h, ADMIN_ID, "/birthdays group on")
    await step(h, ADMIN_ID, "/birthdays")
    h.clock.advance(days=1, hours=1)
    await h.run_due_work()

    for command in ("/churn", "/keymembers", "/lifecycle", "/stats", "/growth", "/settings"):
        await step(h, ADMIN_ID, command)
    await step(h, ADMIN_ID, "/stats", chat_id=ADMIN_ID)
    await step(h, ADMIN_ID, "/winback on")
    h.clock.advance(days=9)
    await h.run_due_work()
    await step(h, ADMIN_ID, "/churn")

    assert not parse_errors(h), parse_errors(h)
    assert not api.internal_errors
    messages = [m for m in api.sent_messages if m.text]
    for needle in (EVE_NAME, CAROL_NAME, TITLE, TEXT):
        with_it = [m for m in messages if needle.split()[0] in shown(m)]
        assert with_it, needle
        for message in with_it:
            assert needle in shown(message), (needle, message.text)


def post_data(post: SentMessage) -> str:
    assert post.reply_markup is not None
    return str(post.reply_markup["inline_keyboard"][0][0]["callback_data"])


async def test_merged_check_ins_take_hostile_names(hostile: Harness) -> None:
    members = list(range(3001, 3031))
    for user_id in members:
        hostile.api.add_user(user_id, f"<{user_id}> & \u202e", username=f"user{user_id}")
        hostile.api.add_member(GROUP_ID, user_id)

    update_ids = hostile.api.send_messages(GROUP_ID, [BOB, *members], "/checkin")
    await hostile.handled(update_ids[-1])

    merged = [m for m in hostile.replies() if "members checked in" in (m.text or "")]
    assert merged
    said = "\n".join(shown(m) for m in merged)
    for user_id in members:
        assert f"<{user_id}> & \u202e +10 (streak 1)" in said
    assert 'Bob "<b>" +10' in said
    assert not parse_errors(hostile)
