"""Self-tests of FakeBotAPI, driven by a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BufferedInputFile,
    ChatMemberAdministrator,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from tests.fakes.bot_api import FakeBotAPI

GROUP = -1001234567890
ALICE, BOB, CAROL = 1001, 1002, 1003


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    api.add_user(ALICE, "Alice", username="alice")
    api.add_user(BOB, "Bob")
    api.add_user(CAROL, "Carol")
    yield api
    await api.stop()
    assert api.internal_errors == []


@pytest_asyncio.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    async with Bot(fake.token, session=session) as bot:
        yield bot


def make_group(fake: FakeBotAPI, *, bot_admin: bool = True) -> None:
    fake.add_group(GROUP, "Seeds", creator_id=ALICE)
    fake.add_member(GROUP, BOB)
    fake.add_bot_to_group(GROUP, by_user_id=ALICE, as_admin=bot_admin)


@pytest.mark.asyncio
async def test_get_me(fake: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == fake.bot_id == 123456789
    assert me.is_bot and me.username == "seedbot_test"


@pytest.mark.asyncio
async def test_raw_http_errors_and_unix_dates(fake: FakeBotAPI) -> None:
    fake.send_message(ALICE, ALICE, "hi")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{fake.base_url}/botWRONG:token/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        async with http.post(f"{fake.base_url}/bot{fake.token}/noSuchMethod") as resp:
            assert resp.status == 404
            assert (await resp.json())["description"] == "Not Found"
        async with http.post(f"{fake.base_url}/bot{fake.token}/getUpdates", json={}) as resp:
            body = await resp.json()
    message = body["result"][0]["message"]
    assert isinstance(message["date"], int)
    assert message["from"]["id"] == ALICE
    assert "from_user" not in message


@pytest.mark.asyncio
async def test_user_command_is_parsed_by_aiogram(fake: FakeBotAPI, bot: Bot) -> None:
    update_id = fake.send_message(ALICE, ALICE, "/start@seedbot_test ref42")
    updates = await bot.get_updates()
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert isinstance(message, Message)
    assert message.text == "/start@seedbot_test ref42"
    assert message.from_user is not None and message.from_user.id == ALICE
    assert message.chat.type == "private"
    assert isinstance(message.date, datetime)
    assert message.entities is not None
    entity = message.entities[0]
    assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 19)


@pytest.mark.asyncio
async def test_offset_confirms_updates_forever(fake: FakeBotAPI, bot: Bot) -> None:
    first = fake.send_message(ALICE, ALICE, "one")
    second = fake.send_message(ALICE, ALICE, "two")
    assert [u.update_id for u in await bot.get_updates()] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=first + 1)] == [second]
    assert [u.update_id for u in await bot.get_updates()] == [second]
    assert await bot.get_updates(offset=second + 1) == []
    assert fake.is_handled(first) and fake.is_handled(second)


@pytest.mark.asyncio
async def test_limit(fake: FakeBotAPI, bot: Bot) -> None:
    ids = [fake.send_message(ALICE, ALICE, str(i)) for i in range(5)]
    assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]


@pytest.mark.asyncio
async def test_long_poll_returns_as_soon_as_update_is_pushed(fake: FakeBotAPI, bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    poll = asyncio.create_task(bot.get_updates(timeout=20))
    await fake.wait_for_call("getUpdates")
    assert not poll.done()
    update_id = fake.send_message(ALICE, ALICE, "wake up")
    updates = await asyncio.wait_for(poll, 5)
    assert [u.update_id for u in updates] == [update_id]
    assert loop.time() - started < 5


@pytest.mark.asyncio
async def test_long_poll_times_out_empty(bot: Bot) -> None:
    assert await bot.get_updates(timeout=1) == []


@pytest.mark.asyncio
async def test_stop_wakes_pending_long_poll(fake: FakeBotAPI, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call("getUpdates")
    await fake.stop()
    assert await asyncio.wait_for(poll, 5) == []


@pytest.mark.asyncio
async def test_allowed_updates_filters_chat_member(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    joined = fake.join(GROUP, CAROL)
    updates = await bot.get_updates()  # default: chat_member is not delivered
    assert [u.my_chat_member is not None for u in updates] == [True]
    new_member = updates[0].my_chat_member.new_chat_member  # type: ignore[union-attr]
    assert isinstance(new_member, ChatMemberAdministrator) and new_member.can_invite_users
    assert joined in fake.dropped_updates
    await fake.wait_until_handled(joined, timeout=1)

    await bot.get_updates(offset=updates[-1].update_id + 1, allowed_updates=["chat_member"])
    left = fake.leave(GROUP, CAROL)
    message = fake.send_message(GROUP, BOB, "hello")
    updates = await bot.get_updates()  # the last allowed_updates list is remembered
    assert [u.update_id for u in updates] == [left]
    event = updates[0].chat_member
    assert event is not None and event.new_chat_member.status == "left"
    assert message in fake.dropped_updates


@pytest.mark.asyncio
async def test_retry_after_from_fail_next(fake: FakeBotAPI, bot: Bot) -> None:
    fake.send_message(ALICE, ALICE, "/start")
    fake.fail_next("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(ALICE, "hi")
    assert info.value.retry_after == 7
    sent = await bot.send_message(ALICE, "hi")
    assert sent.text == "hi" and fake.messages_to(ALICE)[0].message_id == sent.message_id
    fake.fail_next("sendMessage", error_code=400, description="Bad Request: boom")
    with pytest.raises(TelegramBadRequest, match="boom"):
        await bot.send_message(ALICE, "hi")


@pytest.mark.asyncio
async def test_text_validation(fake: FakeBotAPI, bot: Bot) -> None:
    fake.send_message(ALICE, ALICE, "/start")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ALICE, "x" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ALICE, "")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(-100999, "hi")
    assert (await bot.send_message(ALICE, "x" * 4096)).message_id == 2


@pytest.mark.asyncio
async def test_callback_data_limit_and_button_press(fake: FakeBotAPI, bot: Bot) -> None:
    fake.send_message(ALICE, ALICE, "/start")

    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data=data)]]
        )

    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ALICE, "pick", reply_markup=keyboard("x" * 65))
    sent = await bot.send_message(ALICE, "pick", reply_markup=keyboard("é" * 32))
    record = fake.messages_to(ALICE)[-1]
    assert record.reply_markup is not None
    assert record.reply_markup["inline_keyboard"][0][0]["callback_data"] == "é" * 32

    update_id = fake.press_button(ALICE, sent.message_id, ALICE, "é" * 32)
    updates = await bot.get_updates(offset=update_id)
    query = updates[0].callback_query
    assert query is not None and query.data == "é" * 32
    assert isinstance(query.message, Message) and query.message.message_id == sent.message_id
    with pytest.raises(TelegramBadRequest, match="MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(query.id, text="x" * 201)
    assert await bot.answer_callback_query(query.id, text="ok", show_alert=True)
    assert fake.callback_answers == [
        {"callback_query_id": query.id, "text": "ok", "show_alert": True}
    ]
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)


@pytest.mark.asyncio
async def test_private_chat_permissions(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(BOB, "hi")
    fake.send_message(BOB, BOB, "/start")
    await bot.send_message(BOB, "hi")
    fake.block_bot(BOB)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(BOB, "hi")
    updates = await bot.get_updates()
    blocked = updates[-1].my_chat_member
    assert blocked is not None and blocked.new_chat_member.status == "kicked"


@pytest.mark.asyncio
async def test_group_send_and_kick(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    update_id = fake.send_message(GROUP, BOB, "hello")
    reply = await bot.send_message(GROUP, "welcome", reply_to_message_id=1)
    assert reply.reply_to_message is not None and reply.reply_to_message.text == "hello"
    assert reply.message_id == 2
    assert fake.messages_to(GROUP)[0].reply_to_message_id == 1
    assert update_id > 0
    member = await bot.get_chat_member(GROUP, BOB)
    assert isinstance(member, ChatMemberMember)
    assert await bot.get_chat_member_count(GROUP) == 3
    with pytest.raises(TelegramBadRequest, match="user not found"):
        await bot.get_chat_member(GROUP, 424242)
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Seeds" and chat.type == "supergroup"
    fake.remove_bot_from_group(GROUP, by_user_id=ALICE)
    with pytest.raises(TelegramForbiddenError, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "hi")


@pytest.mark.asyncio
async def test_invite_links(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    link = await bot.create_chat_invite_link(GROUP, name="spring", member_limit=5)
    assert link.invite_link.startswith("https://t.me/+") and len(link.invite_link) == 30
    assert link.creator.id == fake.bot_id and link.name == "spring"
    assert fake.invite_links[0]["chat_id"] == GROUP
    human_link = fake.add_invite_link(GROUP, creator_id=ALICE)

    await bot.get_updates(offset=-1, allowed_updates=["chat_member", "chat_join_request"])
    first = fake.join(GROUP, CAROL, invite_link=link.invite_link)
    fake.leave(GROUP, CAROL)
    second = fake.join(GROUP, CAROL, invite_link=human_link)
    updates = {u.update_id: u for u in await bot.get_updates()}
    via_bot_link = updates[first].chat_member
    assert via_bot_link is not None and via_bot_link.invite_link is not None
    assert via_bot_link.invite_link.invite_link == link.invite_link
    via_human_link = updates[second].chat_member
    assert via_human_link is not None and via_human_link.invite_link is not None
    assert via_human_link.invite_link.invite_link.endswith("...")
    assert via_human_link.invite_link.invite_link != human_link

    revoked = await bot.revoke_chat_invite_link(GROUP, link.invite_link)
    assert revoked.is_revoked
    fake.deny_right(GROUP, "can_invite_users")
    with pytest.raises(TelegramBadRequest, match="not enough rights to manage chat invite link"):
        await bot.create_chat_invite_link(GROUP)


@pytest.mark.asyncio
async def test_join_request_approval(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    link = await bot.create_chat_invite_link(GROUP, creates_join_request=True)
    await bot.get_updates(offset=-1, allowed_updates=["chat_member", "chat_join_request"])
    request_id = fake.join_request(GROUP, CAROL, invite_link=link.invite_link)
    updates = await bot.get_updates(offset=request_id)
    request = updates[0].chat_join_request
    assert request is not None and request.user_chat_id == CAROL
    await bot.send_message(CAROL, "tell us about you")  # allowed while the request is pending
    assert await bot.approve_chat_join_request(GROUP, CAROL)
    updates = await bot.get_updates(offset=request_id + 1)
    event = updates[0].chat_member
    assert event is not None and event.new_chat_member.status == "member"
    assert event.invite_link is not None and event.invite_link.invite_link == link.invite_link
    with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
        await bot.decline_chat_join_request(GROUP, CAROL)


@pytest.mark.asyncio
async def test_edit_and_commands(fake: FakeBotAPI, bot: Bot) -> None:
    fake.send_message(ALICE, ALICE, "/start")
    sent = await bot.send_message(ALICE, "v1")
    edited = await bot.edit_message_text("v2", chat_id=ALICE, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.text == "v2" and edited.edit_date
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("v2", chat_id=ALICE, message_id=sent.message_id)
    assert [m.text for m in fake.messages_to(ALICE)] == ["v2"]
    assert [m.kind for m in fake.messages_to(ALICE, include_edits=True)] == ["send", "edit"]
    assert await bot.delete_message(ALICE, sent.message_id)
    assert fake.messages_to(ALICE)[0].deleted

    commands = [BotCommand(command="checkin", description="Daily check-in")]
    await bot.set_my_commands(commands, scope=BotCommandScopeAllGroupChats(), language_code="de")
    assert fake.commands[("all_group_chats", "de")] == [
        {"command": "checkin", "description": "Daily check-in"}
    ]
    got = await bot.get_my_commands(scope=BotCommandScopeAllGroupChats(), language_code="de")
    assert [(c.command, c.description) for c in got] == [("checkin", "Daily check-in")]


@pytest.mark.asyncio
async def test_wait_until_handled_and_redeliver_with_dispatcher(fake: FakeBotAPI, bot: Bot) -> None:
    dp = Dispatcher()
    seen: list[tuple[int, str]] = []

    @dp.message()
    async def echo(message: Message) -> None:
        seen.append((message.message_id, message.text or ""))
        await message.answer(f"echo: {message.text}")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_as_tasks=False, handle_signals=False, polling_timeout=5)
    )
    try:
        update_id = fake.send_message(ALICE, ALICE, "ping")
        await fake.wait_until_handled(update_id)
        assert seen == [(1, "ping")]
        reply = await fake.wait_for_message(lambda m: m.chat_id == ALICE)
        assert reply.text == "echo: ping"

        fake.redeliver(update_id)
        assert not fake.is_handled(update_id)
        await fake.wait_until_handled(update_id)
        assert seen == [(1, "ping"), (1, "ping")]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)


@pytest.mark.asyncio
async def test_wait_until_handled_times_out(fake: FakeBotAPI) -> None:
    update_id = fake.send_message(ALICE, ALICE, "nobody polls")
    with pytest.raises(TimeoutError, match=f"update {update_id} \\(message\\)"):
        await fake.wait_until_handled(update_id, timeout=0.2)


@pytest.mark.asyncio
async def test_redeliver_raw(fake: FakeBotAPI, bot: Bot) -> None:
    update_id = fake.send_message(ALICE, ALICE, "once")
    await bot.get_updates()
    assert await bot.get_updates(offset=update_id + 1) == []
    fake.redeliver(update_id)
    again = await bot.get_updates(offset=update_id + 1)
    assert [u.update_id for u in again] == [update_id]
    assert await bot.get_updates(offset=update_id + 1) == []
    assert fake.is_handled(update_id)


@pytest.mark.asyncio
async def test_rate_limits_with_controllable_clock(fake: FakeBotAPI, bot: Bot) -> None:
    now = [1000.0]
    fake.time_source = lambda: now[0]
    fake.enforce_rate_limits = True
    make_group(fake)
    for i in range(20):
        await bot.send_message(GROUP, f"m{i}")
        now[0] += 0.5
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(GROUP, "one too many")
    assert info.value.retry_after == 50  # the first send (t=1000) leaves the window at t=1060
    assert fake.rate_limit_violations == 1
    now[0] = 1060.0
    await bot.send_message(GROUP, "allowed again")

    fake.send_message(ALICE, ALICE, "/start")
    now[0] = 2000.0
    for _ in range(30):
        await bot.send_message(ALICE, "burst")
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(ALICE, "burst")
    assert info.value.retry_after == 1
    assert fake.rate_limit_violations == 2
    now[0] += 1.0
    await bot.send_message(ALICE, "after a second")


@pytest.mark.asyncio
async def test_anonymous_admin_and_channel_messages(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    anonymous = fake.send_anonymous_admin_message(GROUP, "/rules")
    forwarded = fake.send_channel_post_in_group(GROUP, -1009876543210, "news")
    edited_source = fake.send_message(GROUP, BOB, "typo")
    edited = fake.edit_message(GROUP, 3, BOB, "fixed")
    updates = {u.update_id: u for u in await bot.get_updates()}
    message = updates[anonymous].message
    assert message is not None and message.from_user is not None
    assert message.from_user.id == 1087968824 and message.from_user.is_bot
    assert message.sender_chat is not None and message.sender_chat.id == GROUP
    post = updates[forwarded].message
    assert post is not None and post.is_automatic_forward
    assert post.from_user is not None and post.from_user.id == 777000
    assert post.sender_chat is not None and post.sender_chat.type == "channel"
    assert post.forward_origin is not None
    assert updates[edited_source].message is not None
    edit = updates[edited].edited_message
    assert edit is not None and edit.text == "fixed" and edit.edit_date


@pytest.mark.asyncio
async def test_photos(fake: FakeBotAPI, bot: Bot) -> None:
    fake.send_message(ALICE, ALICE, "/start")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(ALICE, "https://example.org/a.jpg", caption="x" * 1025)
    by_url = await bot.send_photo(ALICE, "https://example.org/a.jpg", caption="look")
    assert by_url.photo and by_url.caption == "look"
    uploaded = await bot.send_photo(ALICE, BufferedInputFile(b"\x89PNG", filename="card.png"))
    assert uploaded.photo
    assert [m.photo for m in fake.messages_to(ALICE)] == [
        "https://example.org/a.jpg",
        "upload:card.png",
    ]
    with pytest.raises(TelegramBadRequest, match="there is no text in the message to edit"):
        await bot.edit_message_text("x", chat_id=ALICE, message_id=by_url.message_id)


@pytest.mark.asyncio
async def test_users_photo_messages_carry_their_file_id_command_and_reply(
    fake: FakeBotAPI, bot: Bot
) -> None:
    """A user's photo keeps a given file id, a command caption gets its caption entity (so a
    bot in privacy mode still receives it), and it may reply to another message; the bot can
    send the photo again by its file id."""
    make_group(fake, bot_admin=False)
    fake.privacy_mode = True
    first = fake.update_of(fake.send_photo_message(GROUP, BOB, file_id="AgACscreen1")).message
    assert first is not None and first.photo and first.photo[-1].file_id == "AgACscreen1"
    command = fake.send_photo_message(GROUP, BOB, caption="/bug it breaks", file_id="AgACshot")
    message = fake.update_of(command).message
    assert message is not None and message.caption == "/bug it breaks"
    assert message.caption_entities and message.caption_entities[0].type == "bot_command"
    assert command not in fake.dropped_updates
    replied = fake.update_of(
        fake.send_photo_message(GROUP, BOB, reply_to_message_id=first.message_id)
    ).message
    assert replied is not None and replied.reply_to_message is not None
    assert replied.reply_to_message.photo
    assert replied.reply_to_message.photo[-1].file_id == "AgACscreen1"
    fake.send_message(ALICE, ALICE, "/start")
    again = await bot.send_photo(ALICE, "AgACshot", caption="#1")
    assert again.photo and again.photo[-1].file_id == "AgACshot"
    sent = fake.messages_to(ALICE)[-1]
    assert sent.method == "sendPhoto" and sent.photo == "AgACshot" and sent.text == "#1"


@pytest.mark.asyncio
async def test_admin_methods(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    promoted = fake.promote(GROUP, BOB)
    admins = await bot.get_chat_administrators(GROUP)
    assert {a.user.id: a.status for a in admins} == {
        ALICE: "creator",
        fake.bot_id: "administrator",
        BOB: "administrator",
    }
    primary = await bot.export_chat_invite_link(GROUP)
    assert (await bot.get_chat(GROUP)).invite_link == primary
    sent = await bot.send_message(GROUP, "pin me")
    assert await bot.pin_chat_message(GROUP, sent.message_id)
    assert fake.pinned_messages == [(GROUP, sent.message_id)]
    assert await bot.send_chat_action(GROUP, "typing")
    assert await bot.leave_chat(GROUP)
    updates = await bot.get_updates(allowed_updates=["my_chat_member", "chat_member"])
    assert promoted in {u.update_id for u in updates}
    left = updates[-1].my_chat_member
    assert left is not None and left.new_chat_member.status == "left"
    with pytest.raises(TelegramForbiddenError, match="not a member of the supergroup"):
        await bot.send_message(GROUP, "hi")


@pytest.mark.asyncio
async def test_webhook_blocks_get_updates_and_json_bodies(fake: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_webhook("https://example.org/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert (await bot.get_webhook_info()).url == "https://example.org/hook"
    assert await bot.delete_webhook(drop_pending_updates=True)
    fake.send_message(ALICE, ALICE, "/start")
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake.base_url}/bot{fake.token}/sendMessage",
            json={"chat_id": ALICE, "text": "json", "reply_markup": {"inline_keyboard": []}},
        ) as resp,
    ):
        body = await resp.json()
    assert body["ok"] and body["result"]["text"] == "json"
    assert fake.calls("SENDMESSAGE")[-1]["chat_id"] == ALICE


async def test_quiz_polls_answers_and_closing(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    sent = await bot.send_poll(
        GROUP,
        "2 + 2?",
        ["3", "4", "5"],
        type="quiz",
        is_anonymous=False,
        correct_option_id=1,
        explanation="Sums.",
        open_period=30,
    )
    poll = sent.poll
    assert poll is not None and poll.type == "quiz" and poll.is_anonymous is False
    assert poll.correct_option_id == 1 and poll.open_period == 30
    assert poll.close_date is not None
    answer_update = fake.answer_poll(poll.id, BOB, [1])
    with pytest.raises(ValueError, match="already answered"):
        fake.answer_poll(poll.id, BOB, [0])
    with pytest.raises(ValueError, match="not a member"):
        fake.answer_poll(poll.id, CAROL, [1])
    updates = await bot.get_updates(offset=answer_update, timeout=0)
    answer = updates[0].poll_answer
    assert answer is not None and answer.poll_id == poll.id and answer.option_ids == [1]
    assert answer.user is not None and answer.user.id == BOB
    stopped = await bot.stop_poll(GROUP, sent.message_id)
    assert stopped.is_closed and stopped.total_voter_count == 1
    assert stopped.options[1].voter_count == 1
    with pytest.raises(TelegramBadRequest, match="poll has already been closed"):
        await bot.stop_poll(GROUP, sent.message_id)
    with pytest.raises(ValueError, match="is closed"):
        fake.answer_poll(poll.id, ALICE, [1])
    state = await bot.get_updates(offset=fake.emit_poll_state(poll.id), timeout=0)
    assert state[0].poll is not None and state[0].poll.is_closed


async def test_send_poll_keeps_telegrams_limits(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    with pytest.raises(TelegramBadRequest, match="at least 2 option"):
        await bot.send_poll(GROUP, "Q?", ["only"])
    with pytest.raises(TelegramBadRequest, match="more than 12 options"):
        await bot.send_poll(GROUP, "Q?", [str(n) for n in range(13)])
    with pytest.raises(TelegramBadRequest, match="question length must not exceed 300"):
        await bot.send_poll(GROUP, "Q" * 301, ["a", "b"])
    with pytest.raises(TelegramBadRequest, match="options length must not exceed 100"):
        await bot.send_poll(GROUP, "Q?", ["a", "b" * 101])
    with pytest.raises(TelegramBadRequest, match="correct option id"):
        await bot.send_poll(GROUP, "Q?", ["a", "b"], type="quiz", correct_option_id=2)
    with pytest.raises(TelegramBadRequest, match="explanation is too long"):
        await bot.send_poll(
            GROUP, "Q?", ["a", "b"], type="quiz", correct_option_id=0, explanation="e" * 201
        )
    with pytest.raises(TelegramBadRequest, match="open period"):
        await bot.send_poll(GROUP, "Q?", ["a", "b"], open_period=601)
    anonymous = await bot.send_poll(GROUP, "Q?", ["a", "b"])
    assert anonymous.poll is not None and anonymous.poll.is_anonymous
    with pytest.raises(ValueError, match="anonymous"):
        fake.answer_poll(anonymous.poll.id, BOB, [0])


async def test_documents_are_fetched_with_get_file(fake: FakeBotAPI, bot: Bot) -> None:
    make_group(fake)
    update_id = fake.send_document(GROUP, BOB, b'{"hello": 1}', "data.json")
    updates = await bot.get_updates(offset=update_id, timeout=0)
    message = updates[0].message
    assert message is not None and message.document is not None
    assert message.document.file_name == "data.json" and message.document.file_size == 12
    file = await bot.get_file(message.document.file_id)
    assert file.file_path is not None and file.file_path.endswith(".json")
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b'{"hello": 1}'
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_albums_of_uploaded_photos_are_sent_as_one_message_per_photo(
    fake: FakeBotAPI, bot: Bot
) -> None:
    from aiogram.types import BufferedInputFile, InputMediaPhoto

    make_group(fake)
    sent = await bot.send_media_group(
        GROUP,
        media=[
            InputMediaPhoto(media=BufferedInputFile(b"first", "a.png"), caption="<b>two</b>"),
            InputMediaPhoto(media=BufferedInputFile(b"second", "b.png")),
        ],
    )
    assert len(sent) == 2 and all(message.photo for message in sent)
    assert sent[0].caption == "two" or sent[0].caption == "<b>two</b>"
    assert fake.sent_albums == [(GROUP, [b"first", b"second"])]
    assert [m.method for m in fake.messages_to(GROUP)] == ["sendMediaGroup", "sendMediaGroup"]
    with pytest.raises(TelegramBadRequest, match="between 2 and 10"):
        await bot.send_media_group(
            GROUP, media=[InputMediaPhoto(media=BufferedInputFile(b"only", "c.png"))]
        )
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_media_group(
            GROUP,
            media=[
                InputMediaPhoto(media="attach://missing"),
                InputMediaPhoto(media=BufferedInputFile(b"x", "d.png")),
            ],
        )


ACCEPTED_HTML = [
    "plain > text",
    "<b>bold</b> <strong>s</strong> <i>i</i> <em>e</em> <u>u</u> <ins>i</ins> <s>s</s>",
    "<strike>s</strike> <del>d</del> <tg-spoiler>x</tg-spoiler>",
    '<span class="tg-spoiler">x</span> <a href="https://t.me/x?a=1&amp;b=2">link</a>',
    '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> <code>c</code>',
    '<pre><code class="language-python">x</code></pre> <blockquote expandable>q</blockquote>',
    "R&amp;D &lt;Beta&gt; &quot;x&quot; &#38; &#x26; \u202eevil",
    "<b><i>nested</i></b>",
]
REFUSED_HTML = [
    "R&D testers",
    "<Beta> testers",
    "a < b",
    "&nbsp;",
    "<b>open",
    "</b>",
    "<b><i>crossed</b></i>",
    "<span>not a spoiler</span>",
    "<a>no link</a>",
    "<div>x</div>",
    "<b",
]


@pytest.mark.asyncio
@pytest.mark.parametrize("text", ACCEPTED_HTML)
async def test_html_that_telegram_accepts(fake: FakeBotAPI, bot: Bot, text: str) -> None:
    make_group(fake)
    await bot.send_message(GROUP, text, parse_mode="HTML")
    assert fake.messages_to(GROUP)[-1].text == text


@pytest.mark.asyncio
@pytest.mark.parametrize("text", REFUSED_HTML)
async def test_html_that_telegram_refuses(fake: FakeBotAPI, bot: Bot, text: str) -> None:
    make_group(fake)
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(GROUP, text, parse_mode="HTML")
    await bot.send_message(GROUP, text)
    assert fake.messages_to(GROUP)[-1].text == text
