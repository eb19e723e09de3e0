"""Badges moderators grant."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.domain.models import Badge


class BadgeRepository(Protocol):
    async def grant(self, community_id: int, user_id: int, badge: Badge, now: datetime) -> bool: ...
    async def revoke(self, community_id: int, user_id: int, badge: Badge) -> bool: ...
    async def of_member(self, community_id: int, user_id: int) -> frozenset[Badge]: ...
    async def count_by_badge(self, community_id: int) -> dict[Badge, int]: ...


class BadgesPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def badges(self) -> BadgeRepository: ...
