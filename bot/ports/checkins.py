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

    async def add_noting_activity(
        self, community_id: int, user_id: int, day: date, streak: int, points: int, at: datetime
    ) -> bool | None:
        """`add`, and when the check-in was inserted the day's activity counted with it
        (`ActivityRepository.note`, one step): None if that member already checked in on
        that day, else whether it is the member's first activity of the day."""
        ...


class CheckinsPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def checkins(self) -> CheckinRepository: ...
