"""The one path for messages the bot sends on its own: a database queue drained at a pace
that stays inside Telegram's limits (per group per minute, overall per second)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import SendMessage, SendPhoto, TelegramMethod
from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import OutgoingMessage
from bot.ports import Clock
from handlers.retry import Sleeper
from storage.campaigns import BLOCKED, FAILED, SENT
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 100


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

    def wait(self, chat_id: int, now: datetime) -> float:
        overall = self._wait_in(self._overall, self._limits.per_second, timedelta(seconds=1), now)
        if chat_id < 0:
            chat_limit, window = self._limits.per_group_per_minute, timedelta(minutes=1)
        else:
            chat_limit, window = self._limits.per_private_chat_per_second, timedelta(seconds=1)
        per_chat = self._wait_in(self._per_chat[chat_id], chat_limit, window, now)
        return max(overall, per_chat)

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


class Sender:
    """Drains the outgoing queue. Each message is claimed before it is sent and never sent
    again once claimed, so a restart or a second sender cannot post it twice."""

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
        """Sends every message that is due, pacing as it goes; returns how many were sent."""
        sent = 0
        while True:
            now = self._clock.now()
            async with unit_of_work(self._session_factory) as uow:
                batch = await uow.outgoing.due(now, BATCH)
            if not batch:
                return sent
            shortest_wait: float | None = None
            for message in batch:
                now = self._clock.now()
                wait = self.windows.wait(message.chat_id, now)
                if wait > 0:
                    shortest_wait = wait if shortest_wait is None else min(shortest_wait, wait)
                    continue
                if await self._send(message, now):
                    sent += 1
                shortest_wait = 0.0
            if shortest_wait:
                await self._sleep(shortest_wait)

    async def run(self, poll_seconds: float = 1.0) -> None:
        await self.recover()
        while True:
            try:
                await self.drain()
            except Exception:
                logger.exception("The sender failed; trying again shortly")
            await self._sleep(poll_seconds)

    async def _send(self, message: OutgoingMessage, now: datetime) -> bool:
        async with unit_of_work(self._session_factory) as uow:
            if not await uow.outgoing.claim(message.id):
                return False
            if await uow.outgoing.is_blocked(message.chat_id):
                await uow.outgoing.finish(message.id, BLOCKED, now, "chat is blocked")
                return False
        self.windows.record(message.chat_id, now)
        try:
            await self._bot(method_for(message))
        except TelegramRetryAfter as error:
            await self._retry(message, now + timedelta(seconds=error.retry_after), error.message)
            return False
        except TelegramForbiddenError as error:
            await self._block(message, now, error.message)
            return False
        except TelegramBadRequest as error:
            logger.error("Queued message %d was refused: %s", message.id, error.message)
            await self._finish(message, FAILED, now, error.message)
            return False
        except (TelegramNetworkError, TelegramServerError) as error:
            if message.attempts + 1 >= MAX_ATTEMPTS:
                await self._finish(message, FAILED, now, str(error))
            else:
                backoff = timedelta(seconds=5 * 2**message.attempts)
                await self._retry(message, now + backoff, str(error))
            return False
        await self._finish(message, SENT, self._clock.now(), None)
        return True

    async def _finish(
        self, message: OutgoingMessage, status: str, now: datetime, error: str | None
    ) -> None:
        async with unit_of_work(self._session_factory) as uow:
            await uow.outgoing.finish(message.id, status, now, error)

    async def _retry(self, message: OutgoingMessage, not_before: datetime, error: str) -> None:
        async with unit_of_work(self._session_factory) as uow:
            await uow.outgoing.retry_later(message.id, not_before, error)

    async def _block(self, message: OutgoingMessage, now: datetime, reason: str) -> None:
        """403: the user blocked the bot or the bot left the group; skip that chat from now on."""
        logger.warning(
            "Chat %d refuses messages (%s); skipping it from now on", message.chat_id, reason
        )
        async with unit_of_work(self._session_factory) as uow:
            await uow.outgoing.block(message.chat_id, reason, now)
            await uow.outgoing.finish(message.id, BLOCKED, now, reason)
            if message.chat_id > 0:
                await uow.users.set_can_message(message.chat_id, False)
