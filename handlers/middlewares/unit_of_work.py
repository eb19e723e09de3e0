from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ports import Clock
from handlers.outbox import Outbox
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)


class UnitOfWorkMiddleware(BaseMiddleware):
    """One transaction per update: the update is claimed by its id in the same transaction as
    its effects, so a redelivered update changes nothing; replies go out after the commit."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        outbox = Outbox()
        async with unit_of_work(self._session_factory) as uow:
            if not await uow.processed_updates.claim(bot.id, event.update_id, self._clock.now()):
                logger.info(
                    "Update %d was already handled; ignoring the redelivery", event.update_id
                )
                return UNHANDLED
            data["uow"] = uow
            data["outbox"] = outbox
            result = await handler(event, data)
        await outbox.flush(bot)
        return result
