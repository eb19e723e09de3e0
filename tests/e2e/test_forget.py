"""/forgetme: a member who used every feature asks to be forgotten; afterwards no table holds
their id or name, the group's ledger totals are unchanged and other members' data is intact.
Runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import JSON, Integer, String, Text, func, select
from sqlalchemy.types import BigInteger

from storage.models import Base, LedgerRow, UserRow
from storage.privacy import ERASED_USER_ID
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness, start_bot, stop_bot
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

MEMBER = 777000111  # long enough not to occur by chance in other ids or timestamps
MEMBER_NAME = "Zelda Quistorp"
MEMBER_USERNAME = "zquistorp"
INVITER = 1001
OTHER = 1002
NEWCOMER = 888000222
LINK = re.compile(r"https://t\.me/\+[\w-]+")


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    """As tests/e2e/conftest.py's harness, on SQLite and (when configured) PostgreSQL."""
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    await stop_bot(app, task)


async def invite_link_of(harness: Harness, user_id: int) -> str:
    await harness.say(user_id, "/start", chat_id=user_id)
    await harness.say(user_id, "/invite")
    found = LINK.search(harness.last_message(chat_id=user_id))
    assert found, harness.last_message(chat_id=user_id)
    return found.group(0)


def buttons(message: SentMessage) -> list[str]:
    assert message.reply_markup is not None, message.text
    return [b["callback_data"] for row in message.reply_markup["inline_keyboard"] for b in row]


async def press(
    harness: Harness, chat_id: int, message: SentMessage, user_id: int, i: int | str
) -> str:
    """Presses the i-th button under the message, or sends the callback data given."""
    data = i if isinstance(i, str) else buttons(message)[i]
    update_id = harness.api.press_button(chat_id, message.message_id, user_id, data)
    await harness.handled(update_id)
    query_id = harness.api.callback_query_id(update_id)
    answers = [a for a in harness.api.callback_answers if a["callback_query_id"] == query_id]
    return str(answers[-1].get("text", "")) if answers else ""


async def use_every_feature(harness: Harness) -> None:
    """MEMBER joins through INVITER's link, invites NEWCOMER, checks in, chats, is awarded
    and given a badge, redeems a shop item, wins a lottery, answers a quiz and a survey, and
    is congratulated on their birthday (in the group too)."""
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER, OTHER])
    api.add_user(MEMBER, MEMBER_NAME, username=MEMBER_USERNAME)
    api.add_user(NEWCOMER, "Newbie", username="newbie")
    link = await invite_link_of(harness, INVITER)
    await harness.handled(api.join(GROUP_ID, MEMBER, invite_link=link))
    own_link = await invite_link_of(harness, MEMBER)
    await harness.handled(api.join(GROUP_ID, NEWCOMER, invite_link=own_link))
    for user_id in (MEMBER, NEWCOMER, OTHER, INVITER):
        await harness.say(user_id, "/checkin")
    await harness.say(MEMBER, "hello everyone, glad to be here")
    await harness.say(OTHER, "welcome Zelda Quistorp!")  # another member's words stay theirs
    clock.advance(hours=24, minutes=1)
    await harness.run_due_work()  # both referrals qualify; private notices are queued and sent

    await harness.say(CREATOR_ID, f"/award @{MEMBER_USERNAME} 300 thanks {MEMBER_NAME}")
    assert "+300" in harness.last_reply(), harness.last_reply()
    await harness.say(CREATOR_ID, f"/award {OTHER} 100 good work")
    await harness.say(CREATOR_ID, f"/badge @{MEMBER_USERNAME} expert")

    await harness.say(CREATOR_ID, "/shop add 10 10 Sticker pack")
    await harness.say(MEMBER, "/shop")
    post = harness.replies()[-1]
    await press(harness, GROUP_ID, post, MEMBER, 0)
    await press(harness, GROUP_ID, post, OTHER, 0)

    await harness.say(CREATOR_ID, "/lottery new Quick | A pen | 2026-03-05 20:00")
    lottery_post = harness.replies()[-1]
    assert "in lottery" in await press(harness, GROUP_ID, lottery_post, MEMBER, 0)
    await harness.say(CREATOR_ID, "/lottery draw 1")

    await harness.say(ADMIN_ID, "/quiz add What is 2+2? | 3 | *4 | 5")
    await harness.say(ADMIN_ID, "/quiz start 1")
    await harness.run_due_work()
    [poll] = api.polls_in(GROUP_ID)
    await harness.handled(api.answer_poll(poll.id, MEMBER, [1]))
    await harness.handled(api.answer_poll(poll.id, OTHER, [0]))

    # A ticket with a screenshot: answered, accepted (a reward), announced with their name.
    shot = api.send_photo_message(
        GROUP_ID, MEMBER, caption=f"/bug {MEMBER_NAME} here: the shop button is broken"
    )
    await harness.posted(shot)
    assert "Ticket #1 is filed" in harness.last_reply(), harness.last_reply()
    await harness.say(ADMIN_ID, "/ticket 1 reply Thanks, we are on it")
    await harness.say(ADMIN_ID, "/ticket 1 accept")
    await harness.say(ADMIN_ID, "/ticket 1 announce")
    assert "posted" in harness.last_reply(), harness.last_reply()
    await harness.say(CREATOR_ID, "/survey nps")
    survey = harness.replies()[-1]
    assert "+5 points" in await press(harness, GROUP_ID, survey, MEMBER, 9)
    await press(harness, GROUP_ID, survey, OTHER, 7)
    await harness.say(CREATOR_ID, "/survey close 1")
    await harness.say(CREATOR_ID, "/birthdays group on")
    await harness.say(MEMBER, "/birthday 03-03", chat_id=MEMBER)  # today in Shanghai
    await harness.run_due_work()
    assert "Happy birthday" in (harness.replies(MEMBER)[-1].text or "")


async def balances(harness: Harness) -> dict[int, int]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(LedgerRow.user_id, func.sum(LedgerRow.amount)).group_by(LedgerRow.user_id)
        )
        return {user_id: int(total) for user_id, total in rows}


async def ledger_by_kind(harness: Harness) -> dict[str, int]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(LedgerRow.kind, func.sum(LedgerRow.amount))
            .where(LedgerRow.community_id == GROUP_ID)
            .group_by(LedgerRow.kind)
        )
        return {kind: int(total) for kind, total in rows}


def _mentions(value: Any, needles: tuple[str, ...]) -> bool:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return any(needle.lower() in text.lower() for needle in needles)


async def traces_of(harness: Harness, user_id: int, names: tuple[str, ...]) -> list[str]:
    """Every table, every column, read as stored: where the id (a whole number in an integer
    column, a substring of text or JSON) or a name still is."""
    found: list[str] = []
    needles = (str(user_id), *names)
    async with stored(harness) as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                for column in table.columns:
                    value = row[column.name]
                    if value is None:
                        continue
                    if isinstance(column.type, Integer | BigInteger) and value == user_id:
                        found.append(f"{table.name}.{column.name}={value}")
                    elif isinstance(column.type, String | Text | JSON) and _mentions(
                        value, needles
                    ):
                        found.append(f"{table.name}.{column.name}: {str(value)[:80]}")
    return found


async def rows_about(harness: Harness, user_id: int, unless: tuple[str, ...] = ()) -> set[str]:
    """Rows holding the id in an integer column, as text, leaving out those that mention any
    of `unless`: to check that others' data is intact."""
    found: set[str] = set()
    async with stored(harness) as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                if any(
                    isinstance(c.type, Integer | BigInteger) and row[c.name] == user_id
                    for c in table.columns
                ) and not any(_mentions(value, unless) for value in row.values() if value):
                    found.add(f"{table.name}: {sorted(row.items())}")
    return found


def mydata_sections(harness: Harness) -> dict[str, list[dict[str, Any]]]:
    chat, _name, content = harness.api.sent_documents[-1]
    assert chat == MEMBER
    sections: dict[str, list[dict[str, Any]]] = json.loads(content)["sections"]
    return sections


async def test_forgetme_erases_every_trace_and_keeps_the_totals(harness: Harness) -> None:
    await use_every_feature(harness)
    await harness.say(MEMBER, "/mydata", chat_id=MEMBER)
    sections = mydata_sections(harness)
    for section in (
        "user",
        "memberships",
        "checkins",
        "ledger",
        "badges",
        "audit",
        "invite_links",
        "referrals",
        "outgoing_messages",
        "shop_orders",
        "lottery_entries",
        "lottery_wins",
        "quiz_answers",
        "tickets",
        "survey_answers",
        "birthdays",
        "birthday_greetings",
    ):
        assert sections[section], f"/mydata has no {section}"
    assert await traces_of(harness, MEMBER, (MEMBER_NAME, MEMBER_USERNAME))
    totals = await ledger_by_kind(harness)
    kept = {user: total for user, total in (await balances(harness)).items() if user != MEMBER}
    about_member = (str(MEMBER), MEMBER_NAME, MEMBER_USERNAME)
    others = {
        user: await rows_about(harness, user, about_member) for user in (INVITER, OTHER, NEWCOMER)
    }

    await harness.say(MEMBER, "/forgetme", chat_id=MEMBER)
    prompt = harness.replies(MEMBER)[-1]
    assert "ledger" in (prompt.text or "") and len(buttons(prompt)) == 2
    yes, _no = buttons(prompt)
    assert all(len(data.encode()) <= 64 and str(MEMBER) not in data for data in buttons(prompt))

    # Somebody else pressing the button (a forwarded or stale prompt) changes nothing.
    assert "Only the person who asked" in await press(harness, MEMBER, prompt, OTHER, yes)
    assert await traces_of(harness, MEMBER, (MEMBER_NAME,))

    confirm = harness.api.press_button(MEMBER, prompt.message_id, MEMBER, yes)
    await harness.handled(confirm)
    assert "your personal data is deleted" in harness.api.callback_answers[-1]["text"]
    answers = len(harness.api.callback_answers)
    harness.api.redeliver(confirm)  # the same press again: handled once
    await harness.say(INVITER, "/me")  # a later update, so the redelivery has been seen
    assert len(harness.api.callback_answers) == answers
    assert "Nothing about you is stored" in await press(harness, MEMBER, prompt, MEMBER, yes)
    assert "Nothing about you is stored" in (harness.replies(MEMBER)[-1].text or "")

    assert await traces_of(harness, MEMBER, (MEMBER_NAME, MEMBER_USERNAME)) == []
    assert await ledger_by_kind(harness) == totals
    after = await balances(harness)
    assert after.pop(ERASED_USER_ID) > 0 and after == kept
    for user, before in others.items():  # what did not concern the member is untouched
        assert before <= await rows_about(harness, user), user
    async with stored(harness) as session:
        placeholder = await session.get(UserRow, ERASED_USER_ID)
        assert placeholder is not None and placeholder.first_name == ""
        assert placeholder.username is None
    await ledger_matches_balances(harness)

    # Coming back later is a fresh start: their next update stores what it needs again.
    await harness.say(MEMBER, "/checkin")
    assert "checked in" in harness.last_reply()
    async with stored(harness) as session:
        assert (await session.get(UserRow, MEMBER)) is not None


async def test_forgetme_in_a_group_or_cancelled_changes_nothing(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    await harness.say(MEMBER, "/checkin")
    await harness.say(MEMBER, "/forgetme")
    assert "private chat" in harness.last_reply()
    await harness.say(MEMBER, "/forgetme", chat_id=MEMBER)
    prompt = harness.replies(MEMBER)[-1]
    assert "Cancelled" in await press(harness, MEMBER, prompt, MEMBER, 1)
    assert await rows_about(harness, MEMBER)
    async with stored(harness) as session:
        assert (await session.get(UserRow, MEMBER)) is not None


async def test_a_moderator_is_forgotten_and_what_they_made_stays(harness: Harness) -> None:
    """What a moderator created or settled stays without their id; their own drafts, a
    referral remembered for them and a dead letter holding their id go. (A blocked private
    chat is unblocked by the very /forgetme message.)"""
    api = harness.api
    add_members(harness, [OTHER, INVITER])
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    await harness.say(ADMIN_ID, "/shop add 10 10 Sticker pack")
    await harness.say(OTHER, "/checkin")
    await harness.say(CREATOR_ID, f"/award {OTHER} 100 seed")
    await harness.say(OTHER, "/shop")
    await press(harness, GROUP_ID, harness.replies()[-1], OTHER, 0)
    async with stored(harness) as session:
        order_id = await session.scalar(select(func.max(Base.metadata.tables["shop_orders"].c.id)))
    await harness.say(ADMIN_ID, f"/orders fulfil {order_id}")
    assert "fulfilled" in harness.last_reply(), harness.last_reply()
    await harness.say(ADMIN_ID, "/lottery new Quick | A pen | 2026-03-05 20:00")
    await harness.say(ADMIN_ID, "/lottery new")  # a guided dialog left half-way: a draft
    await harness.say(ADMIN_ID, "/quiz add What is 2+2? | 3 | *4 | 5")
    await harness.say(ADMIN_ID, "/quiz start 1")
    await harness.say(ADMIN_ID, "/quiz schedule daily 21:00 3")
    await harness.say(ADMIN_ID, "/campaign add daily 09:00 Good morning {community}!")
    await harness.say(OTHER, "/idea More stickers")
    await harness.say(ADMIN_ID, "/ticket 1 accept")
    assert "accepted" in harness.last_reply(), harness.last_reply()
    await harness.say(ADMIN_ID, "/survey nps")
    await harness.say(ADMIN_ID, "/survey schedule daily 21:00 csat How are we doing?")
    link = await invite_link_of(harness, INVITER)
    code = api.calls("createChatInviteLink")[-1]["name"].removeprefix("ref_")
    api.add_user(NEWCOMER, "Newbie", username="newbie")
    await harness.say(NEWCOMER, f"/start ref_{code}", chat_id=NEWCOMER)  # remembered referral
    assert link
    async with stored(harness) as session:
        tables = Base.metadata.tables
        await session.execute(
            tables["dead_letters"]
            .insert()
            .values(
                bot_id=1,
                update_id=99,
                payload={"message": {"from": {"id": ADMIN_ID, "first_name": "Admin"}}},
                error="boom",
                failed_at=harness.clock.now(),
            )
        )
        await session.execute(
            tables["dead_letters"]
            .insert()
            .values(
                bot_id=1,
                update_id=100,
                payload={"message": {"chat": {"id": GROUP_ID}, "from": {"id": OTHER}}},
                error="boom",
                failed_at=harness.clock.now(),
            )
        )
        await session.commit()
    for user_id in (ADMIN_ID, NEWCOMER):
        await harness.say(user_id, "/mydata", chat_id=user_id)
    admin_data = [s for c, _n, s in api.sent_documents if c == ADMIN_ID][-1]
    sections = json.loads(admin_data)["sections"]
    for section in (
        "shop_items_created",
        "shop_orders",
        "lotteries_created",
        "lottery_drafts",
        "quiz_sessions_started",
        "quiz_schedules_created",
        "campaigns_created",
        "surveys_created",
        "survey_schedules_created",
        "audit",
        "ticket_events",
    ):
        assert sections[section], section
    newcomer_data = [s for c, _n, s in api.sent_documents if c == NEWCOMER][-1]
    assert json.loads(newcomer_data)["sections"]["remembered_referrals"]
    counts_before = await table_sizes(harness)

    for user_id in (ADMIN_ID, NEWCOMER):
        await harness.say(user_id, "/forgetme", chat_id=user_id)
        prompt = harness.replies(user_id)[-1]
        assert "deleted" in await press(harness, user_id, prompt, user_id, 0)
    for user_id, names in ((ADMIN_ID, ("Admin",)), (NEWCOMER, ("Newbie", "newbie"))):
        assert await traces_of(harness, user_id, names) == [], user_id
    counts = await table_sizes(harness)
    for table in (
        "shop_items",
        "lotteries",
        "quiz_sessions",
        "quiz_schedules",
        "campaigns",
        "tickets",
        "ticket_events",
        "surveys",
        "survey_schedules",
    ):
        assert counts[table] == counts_before[table], table  # kept, without their creator
    assert counts["dead_letters"] == 1  # the other member's failed update stays
    assert counts["remembered_referrals"] == counts["lottery_drafts"] == 0


async def table_sizes(harness: Harness) -> dict[str, int]:
    async with stored(harness) as session:
        return {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
        }
