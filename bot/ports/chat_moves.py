"""A group that became a supergroup: its community moves to the new chat id."""

from __future__ import annotations

from typing import Protocol


class ChatMoveRepository(Protocol):
    async def move_community(self, old_id: int, new_id: int) -> bool:
        """Moves a community and all its data to another chat id; False if nothing to move."""
        ...


class ChatMovesPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def chat_moves(self) -> ChatMoveRepository: ...
