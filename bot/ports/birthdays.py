"""Birthdays and their greetings."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from bot.domain.care import BirthdayCandidate


class BirthdayRepository(Protocol):
    """Users' birthdays (month and day only) and the once-a-year greeting claims."""

    async def save(self, user_id: int, month: int, day: int, now: datetime) -> None: ...
    async def remove(self, user_id: int) -> bool: ...
    async def get(self, user_id: int) -> tuple[int, int] | None: ...
    async def candidates(self, days: Collection[tuple[int, int]]) -> Sequence[BirthdayCandidate]:
        """Members still in their group whose birthday is one of the month-days."""
        ...

    async def greeted(
        self, user_ids: Collection[int], years: Collection[int]
    ) -> set[tuple[int, int, int]]: ...
    async def claim(
        self, community_id: int, user_id: int, year: int, gift: int, now: datetime
    ) -> bool:
        """The member's greeting in that community for that year: True once, ever."""
        ...


class BirthdaysPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def birthdays(self) -> BirthdayRepository: ...
