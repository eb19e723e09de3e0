from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import CallbackQuery, ChatJoinRequest, ChatMemberUpdated, Message

GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})


class InGroup(Filter):
    """The event comes from a group or supergroup (an async filter: cheap on hot paths)."""

    async def __call__(
        self, event: Message | CallbackQuery | ChatMemberUpdated | ChatJoinRequest
    ) -> bool:
        if isinstance(event, CallbackQuery):
            message = event.message
            return isinstance(message, Message) and message.chat.type in GROUP_CHAT_TYPES
        return event.chat.type in GROUP_CHAT_TYPES


class InPrivate(Filter):
    async def __call__(self, event: Message | ChatMemberUpdated) -> bool:
        return event.chat.type == "private"
