from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError

from bot.domain.errors import MissingInviteRight

logger = logging.getLogger(__name__)

MISSING_RIGHT_MARKERS = ("not enough rights", "chat_admin_required", "need administrator rights")


class BotInviteLinkIssuer:
    """Creates members' invite links through the Bot API."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def create(self, community_id: int, name: str) -> str:
        try:
            link = await self._bot.create_chat_invite_link(community_id, name=name)
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            if any(marker in error.message.lower() for marker in MISSING_RIGHT_MARKERS):
                raise MissingInviteRight() from error
            raise
        return link.invite_link

    async def revoke(self, community_id: int, url: str) -> None:
        try:
            await self._bot.revoke_chat_invite_link(community_id, url)
        except TelegramBadRequest as error:
            logger.info("Could not revoke an old invite link: %s", error.message)
