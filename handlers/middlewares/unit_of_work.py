from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from aiogram.types import Chat, Message, TelegramObject, Update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ports import Clock
from handlers.outbox import Outbox, SentLog
from handlers.retry import Sleeper
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, TelegramNetworkError, TelegramServerError)


class UnitOfWorkMiddleware(BaseMiddleware):
    """One transaction per update: the update is claimed by its id in the same transaction as
    its effects, so a redelivered update changes nothing; replies go out after the commit.

    A transient failure (database busy or gone, Telegram unreachable) rolls the attempt back
    and the whole update is tried again, a bounded number of times.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        attempts: int = 3,
        sleep: Sleeper = asyncio.sleep,
        sent_log: SentLog | None = None,
    ) -> None:
        self._sent_log = sent_log
        self._session_factory = session_factory
        self._clock = clock
        self._attempts = attempts
        self._sleep = sleep

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        for attempt in range(1, self._attempts + 1):
            outbox = self._outbox_for(event, data)
            try:
                async with unit_of_work(self._session_factory) as uow:
                    claimed = await uow.processed_updates.claim(
                        bot.id, event.update_id, self._clock.now()
                    )
                    if not claimed:
                        logger.info("Update %d was already handled; ignored", event.update_id)
                        return UNHANDLED
                    data["uow"] = uow
                    data["outbox"] = outbox
                    result = await handler(event, data)
                    await outbox.queue_announcements(uow.outgoing, self._clock.now())
            except TRANSIENT_ERRORS as error:
                if attempt == self._attempts:
                    raise
                logger.warning(
                    "Update %d failed (%s: %s); trying again",
                    event.update_id,
                    type(error).__name__,
                    error,
                )
                await self._sleep(0.5 * attempt)
                continue
            await outbox.flush(bot, self._sent_log)
            return result
        return UNHANDLED

    @staticmethod
    def _outbox_for(update: Update, data: dict[str, Any]) -> Outbox:
        outbox = Outbox()
        chat: Chat | None = data.get("event_chat")
        thread_id = data.get("event_thread_id") or _callback_thread(update)
        if chat is not None and thread_id is not None:
            outbox.use_thread(chat.id, thread_id)
        return outbox


def _callback_thread(update: Update) -> int | None:
    message = update.callback_query.message if update.callback_query else None
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None
