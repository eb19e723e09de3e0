from __future__ import annotations

from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.filters import Filter
from aiogram.types import CallbackQuery, ChatMemberAdministrator, ChatMemberOwner, Message

from bot.ports import Clock


class ModeratorDirectory:
    """Who moderates which chat: the owners from settings, and each chat's creator and
    administrators as the Bot API reports them, cached for a short time per chat."""

    def __init__(self, owner_ids: frozenset[int], clock: Clock, ttl_seconds: int = 60) -> None:
        self._owner_ids = owner_ids
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._admins: dict[int, tuple[datetime, frozenset[int]]] = {}

    def is_owner(self, user_id: int) -> bool:
        return user_id in self._owner_ids

    async def is_moderator(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        if user_id in self._owner_ids:
            return True
        return user_id in await self._administrators(bot, chat_id)

    def forget(self, chat_id: int) -> None:
        self._admins.pop(chat_id, None)

    async def _administrators(self, bot: Bot, chat_id: int) -> frozenset[int]:
        now = self._clock.now()
        cached = self._admins.get(chat_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        members = await bot.get_chat_administrators(chat_id)
        admins = frozenset(
            member.user.id
            for member in members
            if isinstance(member, ChatMemberOwner | ChatMemberAdministrator)
        )
        self._admins[chat_id] = (now, admins)
        return admins


async def is_moderator_message(message: Message, bot: Bot, moderators: ModeratorDirectory) -> bool:
    """From an administrator of that very chat, an owner, or the chat's anonymous admin."""
    if message.chat.type == "private":
        return False
    if message.sender_chat is not None:
        return message.sender_chat.id == message.chat.id
    if message.from_user is None:
        return False
    return await moderators.is_moderator(bot, message.chat.id, message.from_user.id)


class IsModerator(Filter):
    """Passes for moderators of the chat the event comes from; used by every moderator command."""

    async def __call__(
        self, event: Message | CallbackQuery, bot: Bot, moderators: ModeratorDirectory
    ) -> bool:
        if isinstance(event, CallbackQuery):
            message = event.message
            if not isinstance(message, Message) or message.chat.type == "private":
                return False
            return await moderators.is_moderator(bot, message.chat.id, event.from_user.id)
        return await is_moderator_message(event, bot, moderators)
