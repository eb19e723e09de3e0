from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, Message

GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})


class InGroup(Filter):
    """The event comes from a group or supergroup (an async filter: cheap on hot paths)."""

    async def __call__(self, event: Message | CallbackQuery) -> bool:
        message = event.message if isinstance(event, CallbackQuery) else event
        return isinstance(message, Message) and message.chat.type in GROUP_CHAT_TYPES


class InPrivate(Filter):
    async def __call__(self, event: Message) -> bool:
        return event.chat.type == "private"
