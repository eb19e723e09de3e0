"""Each update of a batch in its own savepoint of the batch's transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import CancelHandler, SkipHandler
from aiogram.methods import TelegramMethod
from aiogram.types import Chat, Message, TelegramObject, Update

from bot.domain.errors import DomainError
from bot.ports import Clock, UnitOfWork
from runtime.outbox import Outbox

MAX_ERROR_LENGTH = 2000


@dataclass
class UpdateOutcome:
    """What became of one update of a batch; the intake gives it to `Dispatcher.feed_update`
    as `outcome=`, with the batch's unit of work as `uow=`. Its outbox holds the replies to
    send after the commit; `failure` is the error that undid the update (a bug, or a transient
    failure that undoes the whole batch)."""

    outbox: Outbox = field(default_factory=Outbox)
    refused: bool = False
    failure: BaseException | None = None


class SavepointMiddleware(BaseMiddleware):
    """Runs the update inside a SAVEPOINT of the batch's transaction: a refusal (DomainError)
    or a failure undoes this update only. After a refusal the replies planned so far are
    dropped, and the errors router plans its explanation into the fresh `outbox`."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        uow: UnitOfWork = data["uow"]
        outcome: UpdateOutcome = data["outcome"]
        outcome.outbox = data["outbox"] = self._outbox_for(event, data)
        try:
            async with uow.savepoint():
                result = await handler(event, data)
                await outcome.outbox.queue_announcements(uow.outgoing, self._clock.now())
        except (DomainError, SkipHandler, CancelHandler):
            outcome.refused = True
            route = outcome.outbox.route
            outcome.outbox = data["outbox"] = self._outbox_for(event, data)
            if route is not None:  # the explanation goes where the answer would have
                outcome.outbox.route_privately(route)
            raise
        except Exception as error:
            outcome.failure = error
            raise
        if isinstance(result, TelegramMethod):
            outcome.outbox.call(result)
        return result

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


def raw_payload(update: Update) -> str:
    try:
        return update.model_dump_json(exclude_none=True, by_alias=True)
    except Exception:
        return repr(update)


def _callback_thread(update: Update) -> int | None:
    message = update.callback_query.message if update.callback_query else None
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None
