"""The audit log of what moderators and the bot did."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class AuditRepository(Protocol):
    async def add(
        self,
        community_id: int,
        actor_id: int | None,
        action: str,
        target_user_id: int | None,
        detail: str,
        now: datetime,
    ) -> None: ...


class AuditPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def audit(self) -> AuditRepository: ...
