"""Members' activity per local day."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from bot.domain.models import Activity


class ActivityRepository(Protocol):
    """Activity per member per local day, the raw record behind community metrics (joins and
    leaves are recorded as membership_events by the members repository)."""

    async def note(self, community_id: int, user_id: int, day: date, activity: Activity) -> bool:
        """Counts one activity of the member on their community's local `day`; True when it
        is their first of that day."""
        ...


class ActivityPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def activity(self) -> ActivityRepository: ...
