"""The one path for messages the bot sends on its own: a database queue drained at a pace
that stays inside Telegram's limits (per group per minute, overall per second)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple, Protocol

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import EditMessageText, SendMessage, SendPhoto, TelegramMethod
from aiogram.types import InlineKeyboardMarkup, Message, ReplyParameters

from bot.domain.models import OutgoingMessage, QueuedOriginal
from bot.ports import (
    BLOCKED,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    UNCERTAIN,
    Clock,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bot.services import chat_moves
from runtime.outbox import BLOCKED_CHAT, EDIT_TEXT, FAILURE_NOTICE, queue_failure_notice
from runtime.retry import Backoff, Sleeper, call_without_waiting, is_transient

logger = logging.getLogger(__name__)

MAX_MOVES = 5
UNREADABLE = "the stored message could not be read"
BATCH = 100
FIRST_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(minutes=5)
WRITE_BACKOFF = Backoff(first=0.5, cap=30.0)  # the database locked or failing over
# Failures to open the connection: the request was never written, so sending again is safe.
NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)
NOT_SENT_MODULES = ("python_socks",)  # a SOCKS proxy that refused or failed the handshake
# A stored payload that cannot become a Bot API call (pydantic's errors are ValueErrors).
UNREADABLE_ERRORS = (KeyError, TypeError, ValueError, AttributeError)
NOT_MODIFIED = "message is not modified"  # an edit that was made already: done
WAIT_FOR_ORIGINAL = timedelta(seconds=1)


@dataclass(frozen=True)
class SendLimits:
    per_second: int = 30
    per_group_per_minute: int = 20
    per_private_chat_per_second: int = 1


class Wait(NamedTuple):
    """Seconds until a message may go: for the overall limit, and for its chat's own."""

    overall: float
    chat: float


RESERVED = Wait(0.0, 0.0)


class RateBudget(Protocol):
    """Telegram's limits as the paced sender and the reply path spend them: in this process
    (RateWindows), or shared by every worker of the bot (runtime/shared_limits.py)."""

    @property
    def limits(self) -> SendLimits: ...

    async def reserve(self, chat_id: int, now: datetime) -> Wait:
        """Takes a slot for one message to the chat now (RESERVED), or takes nothing and
        tells how long to wait."""
        ...

    async def release(self, chat_id: int, now: datetime) -> None:
        """Gives back the slot just reserved for the chat at `now`: nothing was sent."""
        ...

    async def free_slots(self, chat_id: int, now: datetime) -> int:
        """How many more messages the chat may get in its window right now."""
        ...

    async def chats_at_limit(self, now: datetime) -> dict[int, float]:
        """Chats known to be at their own limit, with the seconds until they have room."""
        ...


class RateWindows:
    """Rolling windows: how long until one more message to a chat stays inside the limits.
    Replies sent after each batch's commit are recorded here too, since Telegram counts them.
    The RateBudget of a single process: its coroutines never wait on anything."""

    def __init__(self, limits: SendLimits) -> None:
        self._limits = limits
        self._overall: deque[datetime] = deque()
        self._per_chat: dict[int, deque[datetime]] = defaultdict(deque)

    @property
    def limits(self) -> SendLimits:
        return self._limits

    def wait(self, chat_id: int, now: datetime) -> float:
        return max(self.overall_wait(now), self.chat_wait(chat_id, now))

    def overall_wait(self, now: datetime) -> float:
        return self._wait_in(self._overall, self._limits.per_second, timedelta(seconds=1), now)

    def chat_wait(self, chat_id: int, now: datetime) -> float:
        sent = self._per_chat.get(chat_id)
        if not sent:
            return 0.0
        return self._wait_in(sent, *self._chat_limit(chat_id), now)

    def room(self, chat_id: int, now: datetime) -> int:
        """How many more messages the chat may get in its window right now."""
        limit, window = self._chat_limit(chat_id)
        sent = self._per_chat.get(chat_id)
        if not sent:
            return limit
        self._wait_in(sent, limit, window, now)
        return max(limit - len(sent), 0)

    def busy_chats(self, now: datetime) -> list[int]:
        """Chats at their own limit right now (forgetting chats with nothing recent)."""
        busy = []
        for chat_id in list(self._per_chat):
            if self.chat_wait(chat_id, now) > 0:
                busy.append(chat_id)
            elif not self._per_chat[chat_id]:
                del self._per_chat[chat_id]
        return busy

    def _chat_limit(self, chat_id: int) -> tuple[int, timedelta]:
        if chat_id < 0:
            return self._limits.per_group_per_minute, timedelta(minutes=1)
        return self._limits.per_private_chat_per_second, timedelta(seconds=1)

    def record(self, chat_id: int, now: datetime) -> None:
        self._overall.append(now)
        self._per_chat[chat_id].append(now)

    async def reserve(self, chat_id: int, now: datetime) -> Wait:
        overall = self.overall_wait(now)
        chat = self.chat_wait(chat_id, now)
        if overall > 0 or chat > 0:
            return Wait(overall, chat)
        self.record(chat_id, now)
        return RESERVED

    async def release(self, chat_id: int, now: datetime) -> None:
        self.forget(chat_id, now)

    def forget(self, chat_id: int, now: datetime) -> None:
        for sent in (self._overall, self._per_chat.get(chat_id)):
            if sent is not None and now in sent:
                sent.remove(now)

    async def free_slots(self, chat_id: int, now: datetime) -> int:
        return self.room(chat_id, now)

    async def chats_at_limit(self, now: datetime) -> dict[int, float]:
        return {chat_id: self.chat_wait(chat_id, now) for chat_id in self.busy_chats(now)}

    @staticmethod
    def _wait_in(sent: deque[datetime], limit: int, window: timedelta, now: datetime) -> float:
        while sent and now - sent[0] >= window:
            sent.popleft()
        if len(sent) < limit:
            return 0.0
        return (sent[0] + window - now).total_seconds()


def method_for(message: OutgoingMessage) -> TelegramMethod[Any]:
    payload = message.payload
    markup = (
        InlineKeyboardMarkup.model_validate(payload["markup"]) if payload.get("markup") else None
    )
    if payload.get("photo"):
        return SendPhoto(
            chat_id=message.chat_id,
            photo=payload["photo"],
            caption=payload.get("text") or None,
            reply_markup=markup,
            message_thread_id=payload.get("thread_id"),
        )
    reply_to = payload.get("reply_to")
    return SendMessage(
        chat_id=message.chat_id,
        text=payload["text"],
        reply_markup=markup,
        message_thread_id=payload.get("thread_id"),
        reply_parameters=(
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if isinstance(reply_to, int)
            else None
        ),
    )


def edit_method_for(
    message: OutgoingMessage, original: QueuedOriginal | None
) -> TelegramMethod[Any]:
    """An edit of the original message when the queue knows its id; otherwise (never sent,
    or sent before ids were recorded) its text as a new message."""
    if original is None or original.status != SENT or original.sent_message_id is None:
        return method_for(message)
    payload = message.payload
    markup = (
        InlineKeyboardMarkup.model_validate(payload["markup"]) if payload.get("markup") else None
    )
    return EditMessageText(
        chat_id=original.chat_id,
        message_id=original.sent_message_id,
        text=payload["text"],
        reply_markup=markup,
    )


def never_reached_telegram(error: BaseException) -> bool:
    """True only when the request surely never reached Telegram: the connection could not be
    opened (refused, unreachable, DNS, proxy, TLS handshake, connect timeout). A timeout or a
    broken connection after the request went out may hide a message Telegram accepted."""
    current: BaseException | None = error
    seen: list[BaseException] = []
    while current is not None and current not in seen:
        if isinstance(current, NOT_SENT_ERRORS):
            return True
        if type(current).__module__.startswith(NOT_SENT_MODULES):
            return True
        seen.append(current)
        current = current.__cause__ or current.__context__
    return False


async def tell_moderator(
    uow: UnitOfWork, message: OutgoingMessage, status: str, reason: str | None, now: datetime
) -> None:
    """A post that carried a failure notice ended without arriving: its moderator is told."""
    notice = message.payload.get(FAILURE_NOTICE)
    if isinstance(notice, dict):
        key = f"{message.dedup_key}:failed"
        await queue_failure_notice(uow, notice, status == UNCERTAIN, reason, key, now)


def backoff(attempts: int) -> timedelta:
    doubled: timedelta = FIRST_BACKOFF * 2 ** min(attempts, 10)
    return min(doubled, MAX_BACKOFF)


class Sender:
    """Drains the outgoing queue. Each message is claimed before it is sent and never sent
    again once claimed, unless the request surely never reached Telegram; so a restart, a
    second sender or a lost answer cannot post it twice. Chats take turns, so one busy group
    never holds up the others."""

    def __init__(
        self,
        bot: Bot,
        open_uow: UnitOfWorkFactory,
        clock: Clock,
        *,
        windows: RateBudget | None = None,
        sleep: Sleeper = asyncio.sleep,
        poll_seconds: float = 1.0,
        write_backoff: Backoff = WRITE_BACKOFF,
    ) -> None:
        self._bot = bot
        self._open_uow = open_uow
        self._clock = clock
        self._sleep = sleep
        self._poll_seconds = poll_seconds
        self._write_backoff = write_backoff
        self.windows: RateBudget = windows or RateWindows(SendLimits())

    async def recover(self) -> None:
        """At start: messages a stopped sender was sending may have gone out; drop them."""
        async with self._open_uow() as uow:
            dropped = await uow.outgoing.abandon_interrupted()
        if dropped:
            logger.warning(
                "%d queued messages were in flight at the last stop; not resent", dropped
            )

    async def drain(self) -> int:
        """Sends every message that is due, pacing as it goes; returns how many were sent.
        Each pass takes the due messages of the chats under their limit, in turns."""
        sent = 0
        per_chat = self.windows.limits.per_group_per_minute
        while True:
            now = self._clock.now()
            busy = await self.windows.chats_at_limit(now)
            async with self._open_uow() as uow:
                batch = await uow.outgoing.due(now, BATCH, skip_chats=list(busy), per_chat=per_chat)
                waiting = [] if batch else await uow.outgoing.chats_with_due(now, list(busy))
            if not batch:
                if not waiting:
                    return sent
                # Never longer than a poll: a message for an idle chat may become due meanwhile.
                window = min(busy.get(chat, 0.0) for chat in waiting)
                await self._sleep(min(window, self._poll_seconds))
                continue
            for message in batch:
                if await self._send(message, self._clock.now()):
                    sent += 1

    async def run(self, poll_seconds: float | None = None) -> None:
        """Recovers, then drains every poll; while the database fails, waits that grow."""
        recovered = False
        failures = self._write_backoff.delays()
        while True:
            try:
                if not recovered:
                    await self.recover()
                    recovered = True
                await self.drain()
            except Exception:
                delay = next(failures)
                logger.exception("The sender failed; trying again in %s s", delay)
                await self._sleep(delay)
                continue
            failures = self._write_backoff.delays()
            await self._sleep(poll_seconds if poll_seconds is not None else self._poll_seconds)

    async def _claim(self, message: OutgoingMessage, now: datetime) -> bool:
        """Takes the message for sending; False if another sender took it or the chat is
        blocked (then it ends here)."""
        async with self._open_uow() as uow:
            if not await uow.outgoing.claim(message.id):
                return False
            if not await uow.outgoing.is_blocked(message.chat_id):
                return True
            await uow.outgoing.finish(message.id, BLOCKED, now, BLOCKED_CHAT)
            if message.campaign_run_id is not None:
                await uow.outgoing.settle_run_by_messages(
                    message.campaign_run_id, BLOCKED_CHAT, now
                )
            await tell_moderator(uow, message, BLOCKED, BLOCKED_CHAT, now)
            return False

    async def _original(self, message: OutgoingMessage) -> QueuedOriginal | None:
        key = message.payload.get("edit_of")
        if not isinstance(key, str):
            return None
        async with self._open_uow() as uow:
            return await uow.outgoing.original(key)

    async def _send(self, message: OutgoingMessage, now: datetime) -> bool:
        original = await self._original(message) if message.kind == EDIT_TEXT else None
        if original is not None and original.status in (PENDING, SENDING):
            # The original is still on its way: the edit comes after it.
            async with self._open_uow() as uow:
                not_before = max(original.not_before, now) + WAIT_FOR_ORIGINAL
                await uow.outgoing.retry_later(message.id, not_before, "waiting for the original")
            return False
        try:
            if message.kind == EDIT_TEXT:
                method = edit_method_for(message, original)
            else:
                method = method_for(message)
        except UNREADABLE_ERRORS:
            logger.exception("Queued message %d cannot be read; it is dropped", message.id)
            if await self._claim(message, now):
                await self._recorded(partial(self._finish, message, FAILED, now, UNREADABLE))
            return False
        reserved_at = await self._slot_for(message.chat_id)
        if reserved_at is None:
            return False  # the chat is at its limit: its turn comes in a later pass
        now = reserved_at
        if not await self._claim(message, now):
            await self.windows.release(message.chat_id, now)  # another sender took it
            return False
        try:
            result = await self._call(method)
        except Exception as error:
            if not (
                isinstance(method, EditMessageText)
                and isinstance(error, TelegramBadRequest)
                and NOT_MODIFIED in error.message
            ):
                await self._recorded(partial(self._settle_error, message, error, now))
                return False
            result = None
        sent_id = result.message_id if isinstance(result, Message) else None
        done = self._clock.now()
        await self._recorded(partial(self._finish, message, SENT, done, None, sent_id))
        return True

    async def _slot_for(self, chat_id: int) -> datetime | None:
        """Waits for the overall limit and takes a slot for the chat; the moment it was taken,
        or None when the chat itself is at its limit."""
        while True:
            now = self._clock.now()
            wait = await self.windows.reserve(chat_id, now)
            if wait.chat > 0:
                return None
            if wait.overall <= 0:
                return now
            await self._sleep(wait.overall)

    async def _call(self, method: TelegramMethod[Any]) -> Any:
        """The request through the session's middlewares except RetryAfterMiddleware: a 429
        puts back only that chat's message (retry_later) while the other chats go on."""
        return await call_without_waiting(self._bot, method)

    async def _recorded(self, write: Callable[[], Awaitable[None]]) -> None:
        """Records what Telegram made of a claimed message. The message is out of our hands
        by now, so a database that is locked or failing over is waited for, not given up on
        (which would leave the message `sending` until the next start)."""
        delays = self._write_backoff.delays()
        while True:
            try:
                await write()
                return
            except Exception as error:
                if not is_transient(error):
                    raise
                delay = next(delays)
                logger.warning("Recording a sent message failed (%s); again in %s s", error, delay)
                await self._sleep(delay)

    async def _settle_error(
        self, message: OutgoingMessage, error: Exception, now: datetime
    ) -> None:
        if isinstance(error, TelegramRetryAfter):
            await self._retry(message, now + timedelta(seconds=error.retry_after), error.message)
        elif isinstance(error, TelegramMigrateToChat):
            await self._follow_move(message, error.migrate_to_chat_id, now)
        elif isinstance(error, TelegramForbiddenError):
            await self._block(message, now, error.message)
        elif isinstance(error, TelegramEntityTooLarge):
            await self._finish(message, FAILED, now, error.message)
        elif isinstance(error, TelegramNetworkError):
            if never_reached_telegram(error):
                await self._retry(message, now + backoff(message.attempts), error.message)
            else:
                await self._finish(message, UNCERTAIN, now, error.message)
        elif isinstance(error, TelegramServerError):
            await self._finish(message, UNCERTAIN, now, error.message)
        elif isinstance(error, TelegramAPIError):
            logger.error("Queued message %d was refused: %s", message.id, error.message)
            await self._finish(message, FAILED, now, error.message)
        else:
            logger.error(
                "Sending queued message %d failed unexpectedly", message.id, exc_info=error
            )
            await self._finish(message, UNCERTAIN, now, f"{type(error).__name__}: {error}")

    async def _finish(
        self,
        message: OutgoingMessage,
        status: str,
        now: datetime,
        error: str | None,
        sent_message_id: int | None = None,
    ) -> None:
        """The message's end, and with it its campaign run's outcome, in one transaction."""
        if status == UNCERTAIN:
            logger.warning(
                "Queued message %d may or may not have reached chat %d (%s); not resent",
                message.id,
                message.chat_id,
                error,
            )
        async with self._open_uow() as uow:
            await uow.outgoing.finish(
                message.id, status, now, error, sent_message_id=sent_message_id
            )
            if message.campaign_run_id is not None:
                await uow.outgoing.settle_run_by_messages(message.campaign_run_id, error, now)
            if status != SENT:
                await tell_moderator(uow, message, status, error, now)

    async def _retry(self, message: OutgoingMessage, not_before: datetime, error: str) -> None:
        async with self._open_uow() as uow:
            await uow.outgoing.retry_later(message.id, not_before, error)

    async def _follow_move(self, message: OutgoingMessage, new_chat_id: int, now: datetime) -> None:
        """The group became a supergroup: its community moves to the new chat id, and this
        message (with every other one queued for the group) is sent there."""
        if new_chat_id == message.chat_id or message.attempts + 1 >= MAX_MOVES:
            await self._finish(message, FAILED, now, f"the group moved to {new_chat_id}")
            return
        async with self._open_uow() as uow:
            await chat_moves.move_community(uow, message.chat_id, new_chat_id, now)
            await uow.outgoing.retry_later(message.id, now, f"moved to chat {new_chat_id}")

    async def _block(self, message: OutgoingMessage, now: datetime, reason: str) -> None:
        """403: the user blocked the bot or the bot left the group; skip that chat from now on."""
        logger.warning(
            "Chat %d refuses messages (%s); skipping it from now on", message.chat_id, reason
        )
        async with self._open_uow() as uow:
            await uow.outgoing.block(message.chat_id, reason, now)
            await uow.outgoing.finish(message.id, BLOCKED, now, reason)
            if message.campaign_run_id is not None:
                await uow.outgoing.settle_run_by_messages(message.campaign_run_id, reason, now)
            if message.chat_id > 0:
                await uow.users.set_can_message(message.chat_id, False)
            await tell_moderator(uow, message, BLOCKED, reason, now)
