"""The one path for messages the bot sends on its own: a database queue drained at a pace
that stays inside Telegram's limits (per group per minute, overall per second)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage, SendPhoto, TelegramMethod
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import OutgoingMessage, RunOutcome
from bot.ports import Clock
from bot.services import chat_moves
from handlers.retry import Sleeper
from storage.campaigns import BLOCKED, FAILED, SENT, UNCERTAIN
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

MAX_MOVES = 5
BLOCKED_CHAT = "chat is blocked"
BATCH = 100
FIRST_BACKOFF = timedelta(seconds=5)
MAX_BACKOFF = timedelta(minutes=5)
RUN_OUTCOMES = {
    SENT: RunOutcome.POSTED,
    FAILED: RunOutcome.FAILED,
    BLOCKED: RunOutcome.FAILED,
    UNCERTAIN: RunOutcome.UNCERTAIN,
}
# Failures to open the connection: the request was never written, so sending again is safe.
NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
)
NOT_SENT_MODULES = ("python_socks",)  # a SOCKS proxy that refused or failed the handshake


@dataclass(frozen=True)
class SendLimits:
    per_second: int = 30
    per_group_per_minute: int = 20
    per_private_chat_per_second: int = 1


class RateWindows:
    """Rolling windows: how long until one more message to a chat stays inside the limits.
    Replies sent directly by handlers are noted here too, since Telegram counts them."""

    def __init__(self, limits: SendLimits, clock: Clock) -> None:
        self._limits = limits
        self._clock = clock
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

    def note(self, chat_id: int) -> None:
        self.record(chat_id, self._clock.now())

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
    return SendMessage(
        chat_id=message.chat_id,
        text=payload["text"],
        reply_markup=markup,
        message_thread_id=payload.get("thread_id"),
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
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        windows: RateWindows | None = None,
        sleep: Sleeper = asyncio.sleep,
    ) -> None:
        self._bot = bot
        self._session_factory = session_factory
        self._clock = clock
        self._sleep = sleep
        self.windows = windows or RateWindows(SendLimits(), clock)

    async def recover(self) -> None:
        """At start: messages a stopped sender was sending may have gone out; drop them."""
        async with unit_of_work(self._session_factory) as uow:
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
            busy = self.windows.busy_chats(now)
            async with unit_of_work(self._session_factory) as uow:
                batch = await uow.outgoing.due(now, BATCH, skip_chats=busy, per_chat=per_chat)
                waiting = [] if batch else await uow.outgoing.chats_with_due(now, busy)
            if not batch:
                if not waiting:
                    return sent
                await self._sleep(min(self.windows.chat_wait(chat, now) for chat in waiting))
                continue
            for message in batch:
                overall = self.windows.overall_wait(self._clock.now())
                if overall > 0:
                    await self._sleep(overall)
                now = self._clock.now()
                if self.windows.chat_wait(message.chat_id, now) > 0:
                    continue  # its turn comes in a later pass
                if await self._send(message, now):
                    sent += 1

    async def run(self, poll_seconds: float = 1.0) -> None:
        await self.recover()
        while True:
            try:
                await self.drain()
            except Exception:
                logger.exception("The sender failed; trying again shortly")
            await self._sleep(poll_seconds)

    async def _claim(self, message: OutgoingMessage, now: datetime) -> bool:
        """Takes the message for sending; False if another sender took it or the chat is
        blocked (then it ends here)."""
        async with unit_of_work(self._session_factory) as uow:
            if not await uow.outgoing.claim(message.id):
                return False
            if not await uow.outgoing.is_blocked(message.chat_id):
                return True
            await uow.outgoing.finish(message.id, BLOCKED, now, BLOCKED_CHAT)
            if message.campaign_run_id is not None:
                await uow.campaigns.settle_run(
                    message.campaign_run_id, RunOutcome.FAILED, BLOCKED_CHAT, now
                )
            return False

    async def _send(self, message: OutgoingMessage, now: datetime) -> bool:
        if not await self._claim(message, now):
            return False
        self.windows.record(message.chat_id, now)
        try:
            await self._bot(method_for(message))
        except TelegramRetryAfter as error:
            await self._retry(message, now + timedelta(seconds=error.retry_after), error.message)
            return False
        except TelegramMigrateToChat as error:
            await self._follow_move(message, error.migrate_to_chat_id, now)
            return False
        except TelegramForbiddenError as error:
            await self._block(message, now, error.message)
            return False
        except TelegramEntityTooLarge as error:
            await self._finish(message, FAILED, now, error.message)
            return False
        except TelegramNetworkError as error:
            if never_reached_telegram(error):
                await self._retry(message, now + backoff(message.attempts), error.message)
            else:
                await self._finish(message, UNCERTAIN, now, error.message)
            return False
        except TelegramServerError as error:
            await self._finish(message, UNCERTAIN, now, error.message)
            return False
        except TelegramAPIError as error:
            logger.error("Queued message %d was refused: %s", message.id, error.message)
            await self._finish(message, FAILED, now, error.message)
            return False
        except Exception as error:
            logger.exception("Sending queued message %d failed unexpectedly", message.id)
            await self._finish(message, UNCERTAIN, now, f"{type(error).__name__}: {error}")
            return False
        await self._finish(message, SENT, self._clock.now(), None)
        return True

    async def _finish(
        self, message: OutgoingMessage, status: str, now: datetime, error: str | None
    ) -> None:
        """The message's end, and with it its campaign run's outcome, in one transaction."""
        if status == UNCERTAIN:
            logger.warning(
                "Queued message %d may or may not have reached chat %d (%s); not resent",
                message.id,
                message.chat_id,
                error,
            )
        async with unit_of_work(self._session_factory) as uow:
            await uow.outgoing.finish(message.id, status, now, error)
            if message.campaign_run_id is not None:
                await uow.campaigns.settle_run(
                    message.campaign_run_id, RUN_OUTCOMES[status], error, now
                )

    async def _retry(self, message: OutgoingMessage, not_before: datetime, error: str) -> None:
        async with unit_of_work(self._session_factory) as uow:
            await uow.outgoing.retry_later(message.id, not_before, error)

    async def _follow_move(self, message: OutgoingMessage, new_chat_id: int, now: datetime) -> None:
        """The group became a supergroup: its community moves to the new chat id, and this
        message (with every other one queued for the group) is sent there."""
        if new_chat_id == message.chat_id or message.attempts + 1 >= MAX_MOVES:
            await self._finish(message, FAILED, now, f"the group moved to {new_chat_id}")
            return
        async with unit_of_work(self._session_factory) as uow:
            await chat_moves.move_community(uow, message.chat_id, new_chat_id, now)
            await uow.outgoing.retry_later(message.id, now, f"moved to chat {new_chat_id}")

    async def _block(self, message: OutgoingMessage, now: datetime, reason: str) -> None:
        """403: the user blocked the bot or the bot left the group; skip that chat from now on."""
        logger.warning(
            "Chat %d refuses messages (%s); skipping it from now on", message.chat_id, reason
        )
        async with unit_of_work(self._session_factory) as uow:
            await uow.outgoing.block(message.chat_id, reason, now)
            await uow.outgoing.finish(message.id, BLOCKED, now, reason)
            if message.campaign_run_id is not None:
                await uow.campaigns.settle_run(
                    message.campaign_run_id, RunOutcome.FAILED, reason, now
                )
            if message.chat_id > 0:
                await uow.users.set_can_message(message.chat_id, False)
