"""Self-tests of FakeBotAPI's webhook delivery, received by a small aiohttp endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.fakes.bot_api import WEBHOOK_SECRET_HEADER, FakeBotAPI

GROUP = -1001234567890
ALICE, BOB = 1001, 1002
USERS = range(2001, 2011)
HANG = "hang"  # the receiver never answers that request

JSONDict = dict[str, Any]


def chat_of(update: JSONDict) -> int:
    """The update's chat id (0 for an update without a chat)."""
    if "callback_query" in update:
        return int(update["callback_query"]["message"]["chat"]["id"])
    kind = next(key for key in update if key != "update_id")
    return int(update[kind].get("chat", {}).get("id", 0))


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records every request and answers as told:
    the statuses in `answers` first (or HANG), then 200; each request waits for `gate`."""

    def __init__(self) -> None:
        self.received: list[JSONDict] = []
        self.secrets: list[str | None] = []
        self.answers: deque[int | str] = deque()
        self.reply: JSONDict = {}
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.max_in_flight = 0
        self.in_flight_by_chat: Counter[int] = Counter()
        self.max_in_flight_per_chat = 0
        self.url = ""
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/hook"

    async def stop(self) -> None:
        self._stopped.set()
        self.gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def update_ids(self, chat_id: int | None = None) -> list[int]:
        return [
            int(update["update_id"])
            for update in self.received
            if chat_id is None or chat_of(update) == chat_id
        ]

    async def wait_for(self, check: Callable[[], bool], timeout: float = 10) -> None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not check():
            if loop.time() > deadline:
                raise TimeoutError(f"not reached in {timeout}s; received {self.update_ids()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.02)

    async def _handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        self.received.append(update)
        self.secrets.append(request.headers.get(WEBHOOK_SECRET_HEADER))
        answer = self.answers.popleft() if self.answers else 200
        if answer == HANG:
            self._changed.set()
            await self._stopped.wait()
            return web.json_response({})
        chat_id = chat_of(update)
        self.in_flight += 1
        self.in_flight_by_chat[chat_id] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_in_flight_per_chat = max(
            self.max_in_flight_per_chat, self.in_flight_by_chat[chat_id]
        )
        self._changed.set()
        try:
            await self.gate.wait()
            for _ in range(3):
                await asyncio.sleep(0)  # other requests in flight get their turn
            headers = {"Location": "/hook"} if 300 <= int(answer) < 400 else None
            return web.json_response(self.reply, status=int(answer), headers=headers)
        finally:
            self.in_flight -= 1
            self.in_flight_by_chat[chat_id] -= 1
            self._changed.set()


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI(webhook_retry_delay=0.01)
    await api.start()
    api.add_user(ALICE, "Alice", username="alice")
    api.add_user(BOB, "Bob")
    for user_id in USERS:
        api.add_user(user_id, f"User {user_id}")
    yield api
    await api.stop()
    assert api.internal_errors == []


@pytest_asyncio.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    async with Bot(fake.token, session=session) as bot:
        yield bot


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    await endpoint.start()
    yield endpoint
    await endpoint.stop()


def make_group(fake: FakeBotAPI) -> None:
    fake.add_group(GROUP, "Seeds", creator_id=ALICE)
    fake.add_member(GROUP, BOB)
    fake.add_bot_to_group(GROUP, by_user_id=ALICE)


async def until(check: Callable[[], bool], timeout: float = 10) -> None:  # noqa: ASYNC109
    """Waits for the fake's network I/O (short waits, bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise TimeoutError(f"not reached within {timeout}s")
        await asyncio.sleep(0.01)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


async def test_updates_reach_the_webhook_with_the_secret_token(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    make_group(fake)  # update 1: the bot joins, queued before the webhook is set
    assert await bot.set_webhook(receiver.url, secret_token="s3cret_-X")
    fake.send_message(ALICE, ALICE, "/start")
    sent = await bot.send_message(GROUP, "press")
    press = fake.press_button(GROUP, sent.message_id, BOB, "v1ci")

    await fake.wait_until_delivered()

    assert receiver.update_ids() == [1, 2, press]
    assert receiver.received[-1] == fake.update_of(press).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    assert receiver.secrets == ["s3cret_-X"] * 3
    assert fake.is_handled(press)
    assert [(d.update_id, d.attempt, d.outcome) for d in fake.webhook_deliveries] == [
        (1, 1, 200),
        (2, 1, 200),
        (press, 1, 200),
    ]
    info = await bot.get_webhook_info()
    assert info.url == receiver.url
    assert (info.pending_update_count, info.max_connections) == (0, 40)
    assert info.last_error_message is None and not info.has_custom_certificate


async def test_without_a_secret_token_no_header_is_sent(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    assert await bot.set_webhook(receiver.url)
    fake.send_message(ALICE, ALICE, "hi")
    await fake.wait_until_delivered()
    assert receiver.secrets == [None]


async def test_the_secret_token_and_the_url_are_checked_like_telegram(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    for secret in ("has space", "ü", "x" * 257):
        with pytest.raises(TelegramBadRequest, match="secret token contains unallowed"):
            await bot.set_webhook(receiver.url, secret_token=secret)
    with pytest.raises(TelegramBadRequest, match="HTTPS URL must be provided"):
        await bot.set_webhook("http://example.org/hook")
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.set_webhook(receiver.url, secret_token="x" * 256, max_connections=500)
    assert (await bot.get_webhook_info()).max_connections == 100


async def test_no_more_than_max_connections_requests_are_in_flight(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    receiver.gate.clear()
    assert await bot.set_webhook(receiver.url, max_connections=2)
    for user_id in USERS:
        fake.send_message(user_id, user_id, "hi")

    await receiver.wait_for(lambda: receiver.in_flight == 2 == fake.webhook_in_flight)
    assert (await bot.get_webhook_info()).pending_update_count == len(USERS)
    receiver.gate.set()
    await fake.wait_until_delivered()

    assert sorted(receiver.update_ids()) == list(range(1, len(USERS) + 1))
    assert receiver.max_in_flight == 2 == fake.webhook_max_in_flight


async def test_each_chat_gets_its_updates_one_at_a_time_in_order_while_chats_run_together(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    receiver.gate.clear()
    assert await bot.set_webhook(receiver.url)
    queued: dict[int, list[int]] = {user_id: [] for user_id in USERS}
    for _ in range(5):
        for user_id in USERS:
            queued[user_id].append(fake.send_message(user_id, user_id, "hi"))

    await receiver.wait_for(lambda: receiver.in_flight == len(USERS) == fake.webhook_in_flight)
    assert receiver.max_in_flight_per_chat == 1
    receiver.gate.set()
    await fake.wait_until_delivered()

    for user_id in USERS:
        assert receiver.update_ids(user_id) == queued[user_id]
    assert receiver.max_in_flight_per_chat == 1 == fake.webhook_max_in_flight_per_chat
    assert receiver.max_in_flight == len(USERS)


async def test_an_update_answered_500_is_delivered_again_before_the_next_of_its_chat(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    receiver.answers.extend([500, 401])
    assert await bot.set_webhook(receiver.url)
    first = fake.send_message(ALICE, ALICE, "one")
    second = fake.send_message(ALICE, ALICE, "two")

    await fake.wait_until_delivered()

    assert receiver.update_ids() == [first, first, first, second]
    assert [(d.update_id, d.attempt, d.outcome) for d in fake.webhook_deliveries] == [
        (first, 1, 500),
        (first, 2, 401),
        (first, 3, 200),
        (second, 1, 200),
    ]
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"
    assert info.last_error_date is not None and info.pending_update_count == 0


async def test_a_redirect_is_a_wrong_response(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    receiver.answers.append(302)
    assert await bot.set_webhook(receiver.url)
    update_id = fake.send_message(ALICE, ALICE, "one")

    await fake.wait_until_delivered()

    assert [(d.update_id, d.outcome) for d in fake.webhook_deliveries] == [
        (update_id, 302),
        (update_id, 200),
    ]
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 302 Found"


async def test_an_update_not_answered_in_time_is_delivered_again(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    fake.webhook_timeout, fake.webhook_retry_delay = 0.2, 0.5
    receiver.answers.append(HANG)
    assert await bot.set_webhook(receiver.url)
    first = fake.send_message(ALICE, ALICE, "one")
    second = fake.send_message(ALICE, ALICE, "two")
    await until(lambda: bool(fake.webhook_deliveries))
    fake.webhook_timeout = 10  # the next requests are not timed out by a busy machine

    await fake.wait_until_delivered()

    assert receiver.update_ids() == [first, first, second]
    assert fake.webhook_deliveries[0].outcome == "Read timeout expired"
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Read timeout expired"


async def test_a_refused_connection_keeps_updates_pending(fake: FakeBotAPI, bot: Bot) -> None:
    assert await bot.set_webhook(closed_port_url())
    update_id = fake.send_message(ALICE, ALICE, "hi")

    await until(lambda: len(fake.webhook_deliveries) >= 2)

    info = await bot.get_webhook_info()
    assert [d.outcome for d in fake.webhook_deliveries[:2]] == ["Connection refused"] * 2
    assert info.last_error_message == "Connection refused"
    assert info.pending_update_count == 1
    assert not fake.is_handled(update_id)


async def test_get_updates_conflicts_while_a_webhook_is_set(fake: FakeBotAPI, bot: Bot) -> None:
    long_poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_call("getUpdates")
    assert await bot.set_webhook(closed_port_url())
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await long_poll
    with pytest.raises(TelegramConflictError) as raised:
        await bot.get_updates()
    assert raised.value.message == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )


async def test_delete_webhook_stops_delivery_and_keeps_or_drops_what_is_pending(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    receiver.gate.clear()
    assert await bot.set_webhook(receiver.url)
    first = fake.send_message(ALICE, ALICE, "one")
    second = fake.send_message(ALICE, ALICE, "two")
    await receiver.wait_for(lambda: receiver.in_flight == 1)

    assert await bot.delete_webhook()
    third = fake.send_message(ALICE, ALICE, "three")
    receiver.gate.set()

    assert [u.update_id for u in await bot.get_updates()] == [first, second, third]
    assert receiver.update_ids() == [first]
    assert await bot.set_webhook(closed_port_url())
    assert (await bot.get_webhook_info()).pending_update_count == 3
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == []
    assert fake.is_handled(third)


async def test_only_allowed_updates_are_delivered(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    make_group(fake)
    assert await bot.set_webhook(receiver.url)
    await fake.wait_until_delivered()
    promoted = fake.promote(GROUP, BOB)  # chat_member: only when asked for
    assert await bot.set_webhook(receiver.url, allowed_updates=["callback_query"])
    message = fake.send_message(GROUP, BOB, "hi")
    sent = await bot.send_message(GROUP, "press")
    press = fake.press_button(GROUP, sent.message_id, BOB, "v1ci")

    await fake.wait_until_delivered()

    assert receiver.update_ids() == [1, press]
    assert {promoted, message} <= fake.dropped_updates
    info = await bot.get_webhook_info()
    assert info.allowed_updates == ["callback_query"]


async def test_a_method_in_the_answer_is_carried_out(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    receiver.reply = {"method": "sendMessage", "chat_id": ALICE, "text": "from the answer"}
    assert await bot.set_webhook(receiver.url)
    fake.send_message(ALICE, ALICE, "hi")

    found = await fake.wait_for_message(lambda m: m.chat_id == ALICE)

    assert found.text == "from the answer"
    assert fake.calls("sendMessage")[-1]["text"] == "from the answer"


async def test_aiogram_webhook_handler_answers_with_a_method_call(
    fake: FakeBotAPI, bot: Bot
) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message(Command("ping"))
    async def pong(message: Message) -> SendMessage:
        return message.answer("pong")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False, secret_token="tok").register(
        app, path="/hook"
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        assert await bot.set_webhook(f"http://{host}:{port}/hook", secret_token="tok")
        fake.send_message(ALICE, ALICE, "/ping")
        found = await fake.wait_for_message(lambda m: m.chat_id == ALICE)
        await fake.wait_until_delivered()
    finally:
        await fake.stop()  # no delivery outlives the endpoint
        await runner.cleanup()
    assert found.text == "pong"
    assert [d.outcome for d in fake.webhook_deliveries] == [200]


async def test_setting_the_same_webhook_again_lets_deliveries_in_flight_go_on(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    receiver.gate.clear()
    assert await bot.set_webhook(receiver.url, secret_token="tok")
    update_id = fake.send_message(ALICE, ALICE, "one")
    await receiver.wait_for(lambda: receiver.in_flight == 1)

    assert await bot.set_webhook(receiver.url, secret_token="tok")
    receiver.gate.set()
    await fake.wait_until_delivered()

    assert receiver.update_ids() == [update_id]
    assert [d.outcome for d in fake.webhook_deliveries] == [200]


async def test_nothing_is_delivered_while_telegram_is_offline(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    assert await bot.set_webhook(receiver.url)
    await fake.go_offline()
    update_id = fake.send_message(ALICE, ALICE, "one")
    for _ in range(20):
        await asyncio.sleep(0)  # the delivery loop takes the update and starts its lane

    assert fake.webhook_in_flight == 0 and fake.webhook_deliveries == []
    assert fake.pending_update_count == 1
    await fake.come_back()
    await fake.wait_until_delivered()
    assert receiver.update_ids() == [update_id]


async def test_updates_without_a_chat_go_in_the_lane_of_their_user_or_their_own(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    make_group(fake)
    sent = await bot.send_poll(GROUP, "Tea?", ["yes", "no"], is_anonymous=False)
    assert sent.poll is not None
    assert await bot.set_webhook(receiver.url, allowed_updates=["poll", "poll_answer", "message"])
    message = fake.send_message(GROUP, BOB, "hi")
    answer = fake.answer_poll(sent.poll.id, BOB, [0])
    poll = fake.emit_poll_state(sent.poll.id)

    await fake.wait_until_delivered()

    lanes = {d.update_id: d.lane for d in fake.webhook_deliveries}
    assert lanes[message] == ("chat", GROUP)
    assert lanes[answer] == ("user", BOB)
    assert lanes[poll] == ("update", poll)


async def test_an_update_redelivered_after_its_answer_comes_again(
    fake: FakeBotAPI, bot: Bot, receiver: Receiver
) -> None:
    assert await bot.set_webhook(receiver.url)
    update_id = fake.send_message(ALICE, ALICE, "one")
    await fake.wait_until_handled(update_id)

    fake.redeliver(update_id)
    assert not fake.is_handled(update_id)
    await fake.wait_until_handled(update_id)

    assert receiver.update_ids() == [update_id, update_id]
