from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, TelegramObject, User

from bot.domain.models import UserInfo
from bot.i18n import language_of_user, translator
from bot.ports import Clock, UnitOfWork
from bot.services.membership import CommunityDefaults, ensure_community, note_sender
from handlers.filters.chat import GROUP_CHAT_TYPES


def user_info(user: User) -> UserInfo:
    return UserInfo(
        id=user.id,
        first_name=user.first_name,
        username=user.username,
        language_code=user.language_code,
        is_bot=user.is_bot,
    )


class CommunityContextMiddleware(BaseMiddleware):
    """Puts the event's community (registered on first sight), its user and a translator
    for the chat's language into the handler data."""

    def __init__(self, defaults: CommunityDefaults, clock: Clock) -> None:
        self._defaults = defaults
        self._clock = clock

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat: Chat | None = data.get("event_chat")
        user: User | None = data.get("event_from_user")
        uow: UnitOfWork = data["uow"]
        data["now"] = self._clock.now()
        data["user"] = user_info(user) if user else None
        data["community"] = None
        if chat is not None and chat.type in GROUP_CHAT_TYPES:
            if data["user"] is not None:
                await note_sender(uow, data["user"])  # whoever acts in a group, by name
            community, created = await ensure_community(
                uow, chat.id, chat.title or "", data["now"], self._defaults
            )
            data["community"] = community
            data["community_created"] = created
            data["_"] = translator(community.language)
        else:
            code = user.language_code if user else None
            data["_"] = translator(language_of_user(code, self._defaults.language))
        return await handler(event, data)
