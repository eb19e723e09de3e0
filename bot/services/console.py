"""The private moderation console: which group a moderator manages from the private chat."""

from __future__ import annotations

from datetime import datetime

from bot.ports import ConsoleLink, UnitOfWork


async def choose(uow: UnitOfWork, user_id: int, community_id: int, now: datetime) -> ConsoleLink:
    """The group the user's commands in the private chat act on from now, until changed (the
    caller has checked they moderate it)."""
    link = await uow.console.link(user_id, community_id)
    await uow.console.choose(link.id, now)
    return link
