"""Conversation: every ordinary message registers its author and may earn a point."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import Message

from bot.domain.models import Community, UserInfo
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.services.activity import record_message
from bot.services.membership import member_seen
from handlers.filters.chat import InGroup
from handlers.render import announce_promotion
from runtime.features import Feature
from runtime.outbox import Outbox

CONVERSATION_CONTENT = frozenset(
    {
        "text",
        "photo",
        "video",
        "animation",
        "audio",
        "voice",
        "video_note",
        "document",
        "sticker",
        "poll",
        "location",
        "contact",
        "dice",
    }
)


class IsConversation(Filter):
    """An ordinary message by a person: not a command, not a service message, not on
    behalf of a chat."""

    async def __call__(self, message: Message) -> bool:
        if message.sender_chat is not None or message.from_user is None:
            return False
        if message.content_type not in CONVERSATION_CONTENT:
            return False
        return not (message.text or "").startswith("/")


def setup() -> Router:
    router = Router(name="activity")
    router.message.filter(InGroup())

    @router.message(IsConversation())
    async def conversation(
        message: Message,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        change = await record_message(uow, community, user, message.date, message.message_id)
        announce_promotion(outbox, _, community, change)

    @router.message()
    async def any_other_message(
        message: Message, uow: UnitOfWork, community: Community, user: UserInfo | None
    ) -> None:
        """Commands nobody handles still show their author is here; service messages (a
        member leaving, say) do not."""
        if user is None or message.sender_chat is not None:
            return
        if message.content_type in CONVERSATION_CONTENT:
            await member_seen(uow, community, user, message.date)

    return router


FEATURE = Feature(
    "activity",
    setup,
)
