"""The moderation console: the groups a moderator manages from the private chat with the bot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ConsoleLink:
    """A moderator's link to a group they manage privately; `id` travels in the console's
    buttons, `chosen_at` is when /manage last chose it."""

    id: int
    user_id: int
    community_id: int
    chosen_at: datetime | None


class ConsoleRepository(Protocol):
    async def link(self, user_id: int, community_id: int) -> ConsoleLink:
        """The user's link to that group, made if missing (it is not chosen by this)."""
        ...

    async def choose(self, link_id: int, now: datetime) -> None: ...

    async def by_id(self, link_id: int) -> ConsoleLink | None: ...

    async def chosen(self, user_id: int) -> ConsoleLink | None:
        """The group the user chose last, if any."""
        ...


class ConsolePart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def console(self) -> ConsoleRepository: ...
