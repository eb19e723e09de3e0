"""Whether a user is in a group right now, as Telegram says (getChatMember)."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError
from aiogram.types import ChatMemberRestricted

logger = logging.getLogger(__name__)

MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})
GONE_STATUSES = frozenset({"left", "kicked"})
NEVER_THERE = ("user not found", "participant_id_invalid", "user_not_participant")


class BotMembershipChecker:
    """The MembershipChecker of bot.ports over the Bot API; never called in a transaction."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def is_member(self, community_id: int, user_id: int) -> bool | None:
        try:
            member = await self._bot.get_chat_member(community_id, user_id)
        except TelegramBadRequest as error:
            if any(words in error.message.lower() for words in NEVER_THERE):
                return False
            logger.warning("getChatMember(%d, %d) refused: %s", community_id, user_id, error)
            return None
        except (TelegramAPIError, TelegramNetworkError) as error:
            logger.warning("getChatMember(%d, %d) failed: %s", community_id, user_id, error)
            return None
        if isinstance(member, ChatMemberRestricted):
            return member.is_member
        if member.status in MEMBER_STATUSES:
            return True
        if member.status in GONE_STATUSES:
            return False
        return None
