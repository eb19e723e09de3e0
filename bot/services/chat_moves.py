"""A group upgraded to a supergroup gets a new chat id; its community follows it."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.ports import UnitOfWork

logger = logging.getLogger(__name__)


async def move_community(uow: UnitOfWork, old_id: int, new_id: int, now: datetime) -> bool:
    """Moves the community of chat `old_id` with all its data (members, points, campaigns,
    queued messages...) to chat `new_id`. Safe to repeat: False when it had already moved."""
    moved = await uow.chat_moves.move_community(old_id, new_id)
    if moved:
        logger.info("Community %d moved to chat %d (upgraded to a supergroup)", old_id, new_id)
        await uow.audit.add(new_id, None, "chat_migrated", None, f"{old_id} -> {new_id}", now)
    return moved
