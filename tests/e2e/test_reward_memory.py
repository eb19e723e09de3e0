"""/forgetme does not re-open one-time rewards: a forgotten member who comes back is a
rejoiner. Their inviter is not paid again for them, nor are they given a second welcome bonus,
a second birthday gift in the same year or a second thank-you for the same survey. A photo of
theirs that someone else attached to a ticket is erased with them. Runs on SQLite and, when
TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from storage.models import Base, LedgerRow, ReferralRow, RewardMemoryRow, TicketRow
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness, start_bot, stop_bot
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

INVITER = 1001
OTHER = 1002
FRIEND = 777000333
LINK = re.compile(r"https://t\.me/\+[\w-]+")


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    await stop_bot(app, task)


def buttons(message: SentMessage) -> list[str]:
    assert message.reply_markup is not None, message.text
    return [b["callback_data"] for row in message.reply_markup["inline_keyboard"] for b in row]


async def press(harness: Harness, chat_id: int, message: SentMessage, user_id: int, i: int) -> str:
    update_id = harness.api.press_button(chat_id, message.message_id, user_id, buttons(message)[i])
    await harness.handled(update_id)
    query_id = harness.api.callback_query_id(update_id)
    answers = [a for a in harness.api.callback_answers if a["callback_query_id"] == query_id]
    return str(answers[-1].get("text", "")) if answers else ""


async def forget(harness: Harness, user_id: int) -> None:
    await harness.say(user_id, "/forgetme", chat_id=user_id)
    prompt = harness.replies(user_id)[-1]
    assert "deleted" in await press(harness, user_id, prompt, user_id, 0)


async def paid(harness: Harness, kind: str) -> list[int]:
    """The amounts of one ledger kind paid in the group, whoever holds them now."""
    async with stored(harness) as session:
        rows = await session.execute(
            select(LedgerRow.amount)
            .where(LedgerRow.community_id == GROUP_ID, LedgerRow.kind == kind)
            .order_by(LedgerRow.id)
        )
        return list(rows.scalars())


async def remembered(harness: Harness, kind: str) -> int:
    """Rows of the reward memory of one kind: written when the reward is given."""
    async with stored(harness) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(RewardMemoryRow)
            .where(RewardMemoryRow.kind == kind, RewardMemoryRow.community_id == GROUP_ID)
        )
        return int(count or 0)


async def test_forget_and_rejoin_three_times_pays_the_inviter_and_the_bonus_once(
    harness: Harness,
) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER])
    api.add_user(FRIEND, "Friend", username="friend")
    await harness.say(INVITER, "/start", chat_id=INVITER)
    await harness.say(INVITER, "/invite")
    found = LINK.search(harness.last_message(chat_id=INVITER))
    assert found
    link = found.group(0)
    for round_number in range(4):
        if round_number:
            await harness.handled(api.leave(GROUP_ID, FRIEND))
            await forget(harness, FRIEND)
        await harness.handled(api.join(GROUP_ID, FRIEND, invite_link=link))
        await harness.say(FRIEND, "/start", chat_id=FRIEND)
        await harness.say(FRIEND, "/checkin")
        clock.advance(hours=24, minutes=1)
        await harness.run_due_work()
        assert await paid(harness, "referral") == [50], round_number
        assert await paid(harness, "welcome_bonus") == [20], round_number
        assert await remembered(harness, "referral") == 1

    async with stored(harness) as session:
        referral = await session.scalar(select(ReferralRow).where(ReferralRow.invitee_id == FRIEND))
        assert referral is not None
        assert (referral.status, referral.reason) == ("rejected", "rejoin")
    await harness.say(INVITER, "/invites")
    assert "0 pending" in harness.last_reply(), harness.last_reply()
    await ledger_matches_balances(harness)


async def test_a_member_who_joined_without_a_link_is_a_rejoiner_after_forgetme(
    harness: Harness,
) -> None:
    """Nothing was paid for them, but they were a member: coming back by an invite link after
    /forgetme does not make them someone's new referral."""
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER])
    api.add_user(FRIEND, "Friend", username="friend")
    await harness.handled(api.join(GROUP_ID, FRIEND))
    await harness.say(FRIEND, "hello")
    await harness.handled(api.leave(GROUP_ID, FRIEND))
    await harness.say(FRIEND, "/start", chat_id=FRIEND)
    await forget(harness, FRIEND)

    await harness.say(INVITER, "/start", chat_id=INVITER)
    await harness.say(INVITER, "/invite")
    found = LINK.search(harness.last_message(chat_id=INVITER))
    assert found
    await harness.handled(api.join(GROUP_ID, FRIEND, invite_link=found.group(0)))
    await harness.say(FRIEND, "/checkin")
    clock.advance(hours=24, minutes=1)
    await harness.run_due_work()
    assert await paid(harness, "referral") == []
    assert await paid(harness, "welcome_bonus") == []
    async with stored(harness) as session:
        referral = await session.scalar(select(ReferralRow).where(ReferralRow.invitee_id == FRIEND))
        assert referral is not None
        assert (referral.status, referral.reason) == ("rejected", "rejoin")
    await ledger_matches_balances(harness)


async def test_a_birthday_gift_is_given_once_in_a_year_after_forgetme(harness: Harness) -> None:
    add_members(harness, [FRIEND])
    for _round in range(2):
        await harness.say(FRIEND, "hello")
        await harness.say(FRIEND, "/start", chat_id=FRIEND)
        await harness.say(FRIEND, "/birthday 03-02", chat_id=FRIEND)  # today in Shanghai
        await harness.run_due_work()
        assert await paid(harness, "birthday_gift") == [20]
        assert await remembered(harness, "birthday") == 1
        await forget(harness, FRIEND)
    wishes = [m for m in harness.replies(FRIEND) if "Happy birthday" in (m.text or "")]
    assert len(wishes) == 1

    harness.clock.advance(days=365)  # the same day a year later: a gift again
    await harness.say(FRIEND, "hello")
    await harness.say(FRIEND, "/start", chat_id=FRIEND)
    await harness.say(FRIEND, "/birthday 03-02", chat_id=FRIEND)
    await harness.run_due_work()
    assert await paid(harness, "birthday_gift") == [20, 20]


async def test_a_survey_thanks_once_after_forgetme(harness: Harness) -> None:
    add_members(harness, [FRIEND, OTHER])
    for user_id in (FRIEND, OTHER):
        await harness.say(user_id, "hello")
    await harness.say(CREATOR_ID, "/survey nps")
    survey = harness.replies()[-1]
    assert "+5 points" in await press(harness, GROUP_ID, survey, FRIEND, 9)
    assert await remembered(harness, "survey") == 1
    await harness.say(FRIEND, "/start", chat_id=FRIEND)
    await forget(harness, FRIEND)
    await harness.say(FRIEND, "hello again")
    answer = await press(harness, GROUP_ID, survey, FRIEND, 8)
    assert answer and "points" not in answer, answer
    assert "+5 points" in await press(harness, GROUP_ID, survey, OTHER, 7)
    assert await paid(harness, "survey_thanks") == [5, 5]

    await harness.say(CREATOR_ID, "/survey nps")  # another survey thanks them again
    second = harness.replies()[-1]
    assert "+5 points" in await press(harness, GROUP_ID, second, FRIEND, 10)
    await ledger_matches_balances(harness)


async def test_a_photo_of_a_forgotten_member_attached_by_someone_else_is_erased(
    harness: Harness,
) -> None:
    api = harness.api
    add_members(harness, [FRIEND, OTHER])
    await harness.say(FRIEND, "/start", chat_id=FRIEND)
    photo = api.send_photo_message(GROUP_ID, FRIEND, file_id="AgACfriendsface")
    await harness.handled(photo)
    await harness.say(OTHER, "/bug Look at this", reply_to_message_id=api.message_id_of(photo))
    assert "Ticket #1 is filed" in harness.last_reply()
    await harness.say(OTHER, "/idea A banner of my own")
    own = api.send_photo_message(GROUP_ID, OTHER, caption="/bug Mine", file_id="AgACotherphoto")
    await harness.posted(own)
    assert "Ticket #3 is filed" in harness.last_reply()

    await harness.say(FRIEND, "/mydata", chat_id=FRIEND)
    exported = api.sent_documents[-1][2].decode()
    assert "AgACfriendsface" in exported
    assert "Look at this" not in exported  # the reporter's words are theirs, not the friend's
    await forget(harness, FRIEND)

    async with stored(harness) as session:
        tickets = {
            row.number: (row.user_id, row.text, row.photo_file_id)
            for row in (await session.execute(select(TicketRow))).scalars()
        }
        ticket_count = await session.scalar(
            select(func.count()).select_from(Base.metadata.tables["tickets"])
        )
    assert ticket_count == 3
    assert tickets[1] == (OTHER, "Look at this", None)  # the ticket stays, the photo goes
    assert tickets[3] == (OTHER, "Mine", "AgACotherphoto")
    await harness.say(ADMIN_ID, "/ticket 1")
    assert "Look at this" in harness.last_reply()
    assert not [call for call in api.calls("sendPhoto") if call["photo"] == "AgACfriendsface"]
