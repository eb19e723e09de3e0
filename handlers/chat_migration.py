"""A basic group upgraded to a supergroup: Telegram gives it a new chat id, and tells the bot
in both chats (`migrate_to_chat_id` in the old one, `migrate_from_chat_id` in the new one).
The community, with all its data, moves to the new id on whichever arrives first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import Message

from bot.ports import UnitOfWork
from bot.services import chat_moves
from runtime.features import Feature


class ChatMigrated(Filter):
    """Matches the service message of an upgrade; gives the old and the new chat id."""

    async def __call__(self, message: Message) -> bool | dict[str, Any]:
        if message.migrate_to_chat_id:
            return {"old_chat_id": message.chat.id, "new_chat_id": message.migrate_to_chat_id}
        if message.migrate_from_chat_id:
            return {"old_chat_id": message.migrate_from_chat_id, "new_chat_id": message.chat.id}
        return False


def setup() -> Router:
    router = Router(name="chat_migration")

    @router.message(ChatMigrated())
    async def chat_migrated(
        message: Message, old_chat_id: int, new_chat_id: int, uow: UnitOfWork, now: datetime
    ) -> None:
        await chat_moves.move_community(uow, old_chat_id, new_chat_id, now)

    return router


FEATURE = Feature(
    "chat_migration",
    setup,
)
