"""The private moderation console: a moderator sets up one of two groups from the private chat
with the bot, and the group receives only the posts meant for it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from storage.models import (
    AuditRow,
    CampaignRow,
    ConsoleLinkRow,
    DeadLetterRow,
    QuizQuestionRow,
    ShopItemRow,
    TicketRow,
)
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members, stored
from tests.fakes.bot_api import SentMessage

OTHER_GROUP = -1009876543210
OTHER_CREATOR = 600
MEMBER = 1001
HEADER = "📍 <b>Seed Users</b>"


def buttons(message: SentMessage) -> list[dict[str, Any]]:
    markup = message.reply_markup or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


async def add_other_group(harness: Harness) -> None:
    harness.api.add_user(OTHER_CREATOR, "Other Creator", username="othercreator")
    harness.api.add_group(OTHER_GROUP, "Other Group", creator_id=OTHER_CREATOR)
    harness.api.add_member(OTHER_GROUP, ADMIN_ID)
    await harness.handled(harness.api.add_bot_to_group(OTHER_GROUP, by_user_id=OTHER_CREATOR))
    await harness.say(ADMIN_ID, "hello", chat_id=OTHER_GROUP)


async def choose_group(
    harness: Harness, user_id: int, title: str
) -> tuple[int, list[dict[str, Any]]]:
    """The /manage message's id and the buttons it offered, after pressing `title`'s."""
    harness.api.open_private_chat(user_id)
    await harness.say(user_id, "/manage", chat_id=user_id)
    listing = harness.replies(user_id)[-1]
    offered = buttons(listing)
    chosen = [button for button in offered if title in button["text"]]
    assert chosen, f"{title} is not offered: {offered}"
    await harness.handled(
        harness.api.press_button(user_id, listing.message_id, user_id, chosen[0]["callback_data"])
    )
    return listing.message_id, offered


def question_file() -> bytes:
    entry = {
        "question": "Which option is right?",
        "options": ["Alpha", "Bravo", "Charlie"],
        "correct": 2,
    }
    return json.dumps([entry]).encode()


async def test_a_whole_set_up_from_the_private_chat(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    await add_other_group(harness)
    await harness.say(ADMIN_ID, "hi")
    await harness.say(MEMBER, "/bug the check-in button is broken")
    _listing, offered = await choose_group(harness, ADMIN_ID, "Seed Users")
    assert [button["text"] for button in offered] == ["Seed Users"]  # not the other group
    chosen = harness.api.messages_to(ADMIN_ID, include_edits=True)[-1]
    assert "Now managing <b>Seed Users</b>" in (chosen.text or "")
    in_group_before = len(harness.replies(GROUP_ID))

    await harness.say(ADMIN_ID, "/shop add 100 10 T-shirt", chat_id=ADMIN_ID)
    assert harness.last_reply(ADMIN_ID).startswith(HEADER)
    await harness.say(ADMIN_ID, "/campaign add daily 20:00 Big news tonight", chat_id=ADMIN_ID)
    assert "Campaign #1 saved" in harness.last_reply(ADMIN_ID)
    await harness.say(ADMIN_ID, "/campaign preview 1", chat_id=ADMIN_ID)
    assert "exactly as the group will see it" in harness.last_reply(ADMIN_ID)
    assert any(m.text == "Big news tonight" for m in harness.replies(ADMIN_ID))
    document = harness.api.send_document(
        ADMIN_ID, ADMIN_ID, question_file(), "bank.json", caption="/quiz import"
    )
    await harness.posted(document, ADMIN_ID)
    await harness.run_due_work()
    imported = [
        m for m in harness.replies(ADMIN_ID) if "Imported 1 new questions" in (m.text or "")
    ]
    assert imported and (imported[0].text or "").startswith(HEADER)
    await harness.say(ADMIN_ID, "/ticket 1 reject works as designed", chat_id=ADMIN_ID)
    assert "#1" in harness.last_reply(ADMIN_ID)

    assert len(harness.replies(GROUP_ID)) == in_group_before  # nothing of it in the group
    in_other_group = len(harness.replies(OTHER_GROUP))
    await harness.say(ADMIN_ID, "/checkinpost", chat_id=ADMIN_ID)
    posted = harness.replies(GROUP_ID)[in_group_before:]
    assert len(posted) == 1 and "check-in" in (posted[0].text or "").lower()
    assert len(harness.replies(OTHER_GROUP)) == in_other_group

    async with stored(harness) as session:
        items = (await session.execute(select(ShopItemRow.community_id))).scalars().all()
        campaigns = (await session.execute(select(CampaignRow.community_id))).scalars().all()
        questions = (await session.execute(select(QuizQuestionRow.community_id))).scalars().all()
        tickets = (await session.execute(select(TicketRow.status))).scalars().all()
    assert items == [GROUP_ID] and campaigns == [GROUP_ID] and questions == [GROUP_ID]
    assert tickets == ["rejected"]


async def test_a_moderator_of_one_group_cannot_act_on_another(harness: Harness) -> None:
    await add_other_group(harness)
    await harness.say(ADMIN_ID, "hi")
    listing, offered = await choose_group(harness, ADMIN_ID, "Seed Users")
    # A /manage button forged for the other group, where ADMIN is a plain member.
    other = str(offered[0]["callback_data"]).replace(str(GROUP_ID), str(OTHER_GROUP))
    press = harness.api.press_button(ADMIN_ID, listing, ADMIN_ID, other)
    await harness.handled(press)
    assert "not a moderator" in harness.api.callback_answers[-1]["text"]
    async with stored(harness) as session:
        links = (await session.execute(select(ConsoleLinkRow.community_id))).scalars().all()
    assert links == [GROUP_ID]

    # Rights lost in A between two commands: the second one does nothing.
    await harness.say(ADMIN_ID, "/shop add 100 10 T-shirt", chat_id=ADMIN_ID)
    await harness.handled(harness.api.demote(GROUP_ID, ADMIN_ID))
    harness.clock.advance(seconds=61)
    await harness.say(ADMIN_ID, "/shop add 200 10 Hoodie", chat_id=ADMIN_ID)
    assert "no longer a moderator of <b>Seed Users</b>" in harness.last_reply(ADMIN_ID)
    async with stored(harness) as session:
        titles = (await session.execute(select(ShopItemRow.title))).scalars().all()
    assert titles == ["T-shirt"]


async def test_a_console_button_of_someone_else_is_refused(harness: Harness) -> None:
    await harness.say(ADMIN_ID, "hi")
    await choose_group(harness, ADMIN_ID, "Seed Users")
    await harness.say(ADMIN_ID, "/orders", chat_id=ADMIN_ID)
    async with stored(harness) as session:
        link_id = await session.scalar(select(ConsoleLinkRow.id))
    # CREATOR forges a press carrying ADMIN's console link in their own private chat.
    await harness.say(CREATOR_ID, "hi")
    harness.api.open_private_chat(CREATOR_ID)
    await harness.say(CREATOR_ID, "/manage", chat_id=CREATOR_ID)
    message = harness.replies(CREATOR_ID)[-1]
    forged = f"~{link_id}|v1mg:{GROUP_ID}"
    await harness.handled(
        harness.api.press_button(CREATOR_ID, message.message_id, CREATOR_ID, forged)
    )
    assert "someone else" in harness.api.callback_answers[-1]["text"]


async def test_set_up_typed_in_the_group_is_answered_privately(harness: Harness) -> None:
    await harness.say(ADMIN_ID, "hi")
    harness.api.open_private_chat(ADMIN_ID)
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    await harness.say(ADMIN_ID, "/campaign add daily 09:00 Good morning")
    assert "private chat" in harness.last_reply()
    assert "Campaign #1 saved" not in harness.last_reply()
    private = harness.replies(ADMIN_ID)[-1].text or ""
    assert private.startswith(HEADER) and "Campaign #1 saved" in private
    # A refusal of such a command goes the same way.
    await harness.say(ADMIN_ID, "/campaign show 99")
    assert "private chat" in harness.last_reply()
    # Without a private chat with the bot, the answer stays in the group.
    await harness.say(CREATOR_ID, "/campaign list")
    assert "Campaigns" in harness.last_reply()


async def test_refusals_are_spoken_once_a_minute(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    for command in ("/stats", "/export", "/churn", "/keymembers", "/tickets", "/quiz start"):
        harness.clock.advance(seconds=61)
        await harness.say(MEMBER, command)
        assert "Only moderators" in harness.last_reply(), command
    before = len(harness.replies(GROUP_ID))
    await harness.say(MEMBER, "/stats")
    await harness.say(MEMBER, "/winback")
    await harness.say(MEMBER, "/lifecycle")
    assert len(harness.replies(GROUP_ID)) == before
    harness.clock.advance(seconds=61)
    await harness.say(MEMBER, "/lifecycle")
    assert "Only moderators" in harness.last_reply()
    harness.clock.advance(seconds=61)
    await harness.say(MEMBER, "/mydata")
    assert "private chat" in harness.last_reply()


async def test_settings_from_the_console_change_once_under_a_double_press(
    harness: Harness,
) -> None:
    await harness.say(ADMIN_ID, "hi")
    await choose_group(harness, ADMIN_ID, "Seed Users")
    in_group_before = len(harness.replies(GROUP_ID))
    await harness.say(ADMIN_ID, "/settings", chat_id=ADMIN_ID)
    shown = harness.replies(ADMIN_ID)[-1]
    assert (shown.text or "").startswith(HEADER) and "Win-back" in (shown.text or "")
    data = next(
        str(button["callback_data"])
        for button in buttons(shown)
        if button["text"].removeprefix("✅ ") == "Win-back: on"
    )
    assert data.startswith("~") and len(data.encode()) <= 64
    presses = [
        harness.api.press_button(ADMIN_ID, shown.message_id, ADMIN_ID, data) for _ in range(2)
    ]
    for press in presses:
        await harness.handled(press)
    answers = [str(answer.get("text")) for answer in harness.api.callback_answers[-2:]]
    assert answers == ["✅ Saved.", "Already set."]
    edits = [
        m
        for m in harness.api.messages_to(ADMIN_ID, include_edits=True)
        if m.kind == "edit" and m.message_id == shown.message_id
    ]
    assert len(edits) == 1 and (edits[0].text or "").startswith(HEADER)
    async with stored(harness) as session:
        details = (await session.execute(select(AuditRow.detail))).scalars().all()
    assert details.count("winback on") == 1
    assert len(harness.replies(GROUP_ID)) == in_group_before


async def test_a_console_command_is_not_mistaken_for_a_group_message(harness: Harness) -> None:
    """A private message's id may equal one of the group's: an award keyed by the message
    must still be paid once from each."""
    add_members(harness, [MEMBER])
    await harness.say(MEMBER, "hello")
    await harness.say(ADMIN_ID, "hi")
    await choose_group(harness, ADMIN_ID, "Seed Users")
    group_award = await harness.say(CREATOR_ID, "/award @user1001 5")
    taken = harness.api.message_id_of(group_award)
    harness.api._next_message_id[ADMIN_ID] = taken  # the next private message gets that id
    await harness.say(ADMIN_ID, "/award @user1001 7", chat_id=ADMIN_ID)
    assert harness.last_said[ADMIN_ID] == taken
    assert "Balance: 13" in harness.last_reply(ADMIN_ID)


async def test_the_guided_lottery_dialog_runs_in_the_private_chat(harness: Harness) -> None:
    await harness.say(ADMIN_ID, "hi")
    await choose_group(harness, ADMIN_ID, "Seed Users")
    in_group_before = len(harness.replies(GROUP_ID))

    async def answer(text: str) -> str:
        question = harness.replies(ADMIN_ID)[-1]
        await harness.say(ADMIN_ID, text, chat_id=ADMIN_ID, reply_to_message_id=question.message_id)
        return harness.replies(ADMIN_ID)[-1].text or ""

    await harness.say(ADMIN_ID, "/lottery new", chat_id=ADMIN_ID)
    assert "What is its title?" in harness.last_reply(ADMIN_ID)
    assert "What is the prize?" in await answer("Member day")
    assert "When is the draw?" in await answer("A tote bag")
    assert "How many winners?" in await answer("2026-03-04 20:00")
    assert "cost in points" in await answer("2")
    assert "How many entries" in await answer("0")
    assert "Who may enter?" in await answer("-")
    await answer("-")
    posted = harness.replies(GROUP_ID)[in_group_before:]
    assert len(posted) == 1 and "A tote bag" in (posted[0].text or "")  # the post, in the group
    # An ordinary private text is not taken for the dialog.
    await harness.say(ADMIN_ID, "thanks", chat_id=ADMIN_ID)
    assert len(harness.replies(GROUP_ID)) == in_group_before + 1


async def test_stats_from_the_console_are_the_chosen_groups(harness: Harness) -> None:
    await add_other_group(harness)
    await harness.say(ADMIN_ID, "hi")
    await choose_group(harness, ADMIN_ID, "Seed Users")
    await harness.say(ADMIN_ID, "/stats 7", chat_id=ADMIN_ID)
    summary = [m for m in harness.replies(ADMIN_ID) if m.method == "sendMessage"][-1]
    assert (summary.text or "").startswith(HEADER)
    albums = [call for call in harness.api.calls("sendMediaGroup")]
    assert albums and all(int(call["chat_id"]) == ADMIN_ID for call in albums)


async def test_ticket_buttons_pressed_in_the_console_act_on_the_group(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    await harness.say(ADMIN_ID, "hi")
    await harness.say(MEMBER, "/idea a weekly quiz")
    await choose_group(harness, ADMIN_ID, "Seed Users")
    in_group_before = len(harness.replies(GROUP_ID))
    await harness.say(ADMIN_ID, "/ticket 1", chat_id=ADMIN_ID)
    shown = [m for m in harness.replies(ADMIN_ID) if buttons(m)][-1]
    accept = next(b for b in buttons(shown) if "Accept" in b["text"])
    assert str(accept["callback_data"]).startswith("~")
    presses = [
        harness.api.press_button(ADMIN_ID, shown.message_id, ADMIN_ID, accept["callback_data"])
        for _ in range(2)
    ]
    for press in presses:
        await harness.handled(press)
    async with stored(harness) as session:
        statuses = (await session.execute(select(TicketRow.status))).scalars().all()
    assert statuses == ["accepted"]
    assert "is accepted" in str(harness.api.callback_answers[-2].get("text"))
    assert len(harness.replies(GROUP_ID)) == in_group_before


async def test_an_order_rejected_from_the_console_asks_a_reason_and_refunds_once(
    harness: Harness,
) -> None:
    from tests.e2e.test_shop import award, balance_of, ledger_count, press, shop_post, toast_of

    add_members(harness, [MEMBER])
    await award(harness, MEMBER, 300)
    await harness.say(CREATOR_ID, "/shop add 100 3 T-shirt")
    await press(harness, await shop_post(harness), MEMBER)
    assert await balance_of(harness, MEMBER) == 200
    await harness.say(ADMIN_ID, "hi")
    await choose_group(harness, ADMIN_ID, "Seed Users")
    in_group_before = len(harness.replies(GROUP_ID))
    await harness.say(ADMIN_ID, "/orders", chat_id=ADMIN_ID)
    listing = harness.replies(ADMIN_ID)[-1]
    assert (listing.text or "").startswith(HEADER) and "T-shirt" in (listing.text or "")

    def current(message_id: int) -> SentMessage:
        return [
            m
            for m in harness.api.messages_to(ADMIN_ID, include_edits=True)
            if m.message_id == message_id
        ][-1]

    async def press_private(text: str) -> str:
        shown = current(listing.message_id)
        data = next(b["callback_data"] for b in buttons(shown) if text in b["text"])
        update = harness.api.press_button(ADMIN_ID, listing.message_id, ADMIN_ID, data)
        await harness.handled(update)
        return toast_of(harness, update)

    assert "Reject order #1?" in await press_private("Reject")
    await harness.say(
        ADMIN_ID, "wrong colour", chat_id=ADMIN_ID, reply_to_message_id=listing.message_id
    )
    assert "Reason noted for order #1" in harness.last_reply(ADMIN_ID)
    await press_private("Confirm")
    assert await ledger_count(harness, "shop_refund") == 1
    assert await balance_of(harness, MEMBER) == 300
    shown = current(listing.message_id)
    assert (shown.text or "").startswith(HEADER) and "rejected" in (shown.text or "")
    assert len(harness.replies(GROUP_ID)) == in_group_before


async def test_forged_console_links_are_refused_and_change_nothing(harness: Harness) -> None:
    await harness.say(ADMIN_ID, "hi")
    listing, _offered = await choose_group(harness, ADMIN_ID, "Seed Users")
    for forged in ("~99999999999999999999|v1mg:1", "~٣|v1mg:1", "~|v1mg:1", "~1|", "~x"):
        await harness.handled(harness.api.press_button(ADMIN_ID, listing, ADMIN_ID, forged))
        assert "someone else" in harness.api.callback_answers[-1]["text"], forged
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(DeadLetterRow)) == 0
