"""Daily check-ins."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol


class CheckinRepository(Protocol):
    async def add(
        self, community_id: int, user_id: int, day: date, streak: int, points: int, at: datetime
    ) -> bool:
        """Insert the check-in; False if that member already checked in on that day."""
        ...


class CheckinsPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def checkins(self) -> CheckinRepository: ...
