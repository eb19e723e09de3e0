from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.event.bases import UNHANDLED, CancelHandler, SkipHandler
from aiogram.types import Chat, Message, TelegramObject, Update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.errors import DomainError
from bot.ports import Clock
from handlers.outbox import Outbox, SentLog
from handlers.retry import Backoff, Sleeper, is_transient
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


@dataclass
class Replay:
    """Given as `replay=` to `Dispatcher.feed_raw_update` to run a dead letter again: one
    attempt, every failure raised to the caller, and what happened recorded here."""

    already_handled: bool = False
    refused: bool = False


class UnitOfWorkMiddleware(BaseMiddleware):
    """One transaction per update: the update is claimed by its id in the same transaction as
    its effects, so a redelivered update changes nothing; replies go out after the commit.

    A transient failure (database locked, unreachable or failing over; Telegram unreachable)
    rolls the attempt back and the update is tried again, with growing waits, for as long as
    it takes: polling handles updates one after another, so the later ones wait, and none is
    confirmed to Telegram before it took effect. Any other failure (a bug) is rolled back,
    stored as a dead letter for `seedbot replay`, and the bot goes on with the next update.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        sleep: Sleeper = asyncio.sleep,
        backoff: Backoff | None = None,
        sent_log: SentLog | None = None,
    ) -> None:
        self._sent_log = sent_log
        self._session_factory = session_factory
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff or Backoff()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        bot: Bot = data["bot"]
        replay: Replay | None = data.get("replay")
        delays = self._backoff.delays()
        waited = 0.0
        while True:
            outbox = self._outbox_for(event, data)
            try:
                result = await self._attempt(handler, event, data, bot, outbox, replay)
            except (DomainError, SkipHandler, CancelHandler):
                if replay is not None:
                    replay.refused = True
                raise
            except Exception as error:
                if replay is not None:
                    raise
                if not is_transient(error):
                    await self._store_dead_letter(bot, event, error)
                    return UNHANDLED
                delay = next(delays)
                logger.warning(
                    "Update %d could not be handled (%s: %s); it stays unconfirmed and is "
                    "tried again in %s s",
                    event.update_id,
                    type(error).__name__,
                    error,
                    delay,
                )
                await self._sleep(delay)
                waited += delay
                continue
            if waited:
                logger.info("Update %d handled after %s s of waiting", event.update_id, waited)
            await outbox.flush(bot, self._sent_log)
            return result

    async def _attempt(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: Update,
        data: dict[str, Any],
        bot: Bot,
        outbox: Outbox,
        replay: Replay | None,
    ) -> Any:
        async with unit_of_work(self._session_factory) as uow:
            claimed = await uow.processed_updates.claim(bot.id, event.update_id, self._clock.now())
            if not claimed:
                logger.info("Update %d was already handled; ignored", event.update_id)
                if replay is not None:
                    replay.already_handled = True
                return UNHANDLED
            data["uow"] = uow
            data["outbox"] = outbox
            result = await handler(event, data)
            await outbox.queue_announcements(uow.outgoing, self._clock.now())
        return result

    async def _store_dead_letter(self, bot: Bot, update: Update, error: Exception) -> None:
        """Never raises: an update is confirmed after this, so when its payload cannot be
        stored, a row with just its id and both errors is, and the payload goes to the log."""
        logger.error(
            "Update %d failed (%s: %s); kept as a dead letter (see `seedbot deadletters`)",
            update.update_id,
            type(error).__name__,
            error,
            exc_info=error,
        )
        text = describe_error(error, bot.token)
        try:
            payload = update.model_dump(mode="json", exclude_none=True, by_alias=True)
            await self._add_dead_letter(bot, update.update_id, payload, text)
            return
        except Exception as store_error:
            store_text = describe_error(store_error, bot.token)
        logger.error(
            "The dead letter of update %d could not be stored (%s); storing its id only. "
            "Its payload: %s",
            update.update_id,
            store_text,
            _raw_payload(update),
        )
        minimal = {"update_id": update.update_id}
        both = f"{text}\n(payload not stored: {store_text})"[:MAX_ERROR_LENGTH]
        try:
            await self._add_dead_letter(bot, update.update_id, minimal, both)
        except Exception as minimal_error:
            logger.error(
                "Not even the id of update %d could be stored as a dead letter (%s)",
                update.update_id,
                describe_error(minimal_error, bot.token),
            )

    async def _add_dead_letter(
        self, bot: Bot, update_id: int, payload: dict[str, Any], error: str
    ) -> None:
        """Stores it, waiting out transient failures; raises any other failure."""
        delays = self._backoff.delays()
        while True:
            try:
                async with unit_of_work(self._session_factory) as uow:
                    await uow.dead_letters.add(bot.id, update_id, payload, error, self._clock.now())
                return
            except Exception as store_error:
                if not is_transient(store_error):
                    raise
                delay = next(delays)
                logger.warning(
                    "Dead letter of update %d could not be stored (%s); trying again in %s s",
                    update_id,
                    type(store_error).__name__,
                    delay,
                )
                await self._sleep(delay)

    @staticmethod
    def _outbox_for(update: Update, data: dict[str, Any]) -> Outbox:
        outbox = Outbox()
        chat: Chat | None = data.get("event_chat")
        thread_id = data.get("event_thread_id") or _callback_thread(update)
        if chat is not None and thread_id is not None:
            outbox.use_thread(chat.id, thread_id)
        return outbox


def describe_error(error: BaseException, secret: str) -> str:
    """The exception's type and message, without the token, for operators."""
    text = f"{type(error).__name__}: {error}".replace(secret, "<BOT_TOKEN>")
    return text[:MAX_ERROR_LENGTH]


def _raw_payload(update: Update) -> str:
    try:
        return update.model_dump_json(exclude_none=True, by_alias=True)
    except Exception:
        return repr(update)


def _callback_thread(update: Update) -> int | None:
    message = update.callback_query.message if update.callback_query else None
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None
