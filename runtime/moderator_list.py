"""A group's administrators as Telegram lists them (getChatAdministrators)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
)

logger = logging.getLogger(__name__)


class BotModeratorList:
    """The ModeratorList of bot.ports over the Bot API; never called in a transaction."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def moderators(self, community_id: int) -> Sequence[int] | None:
        """The group's human admins; none when Telegram refuses for good (the bot was removed,
        the chat is gone), None when it could not tell now (asked again on a later pass)."""
        try:
            admins = await self._bot.get_chat_administrators(community_id)
        except (TelegramForbiddenError, TelegramBadRequest) as error:
            logger.info("getChatAdministrators(%d) refused: %s", community_id, error)
            return []
        except (TelegramAPIError, TelegramNetworkError) as error:
            logger.warning("getChatAdministrators(%d) failed: %s", community_id, error)
            return None
        return [admin.user.id for admin in admins if not admin.user.is_bot]
