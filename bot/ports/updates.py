"""The intake's records: updates that took effect, and dead letters."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol


class ProcessedUpdateRepository(Protocol):
    """Which updates took effect, claimed in the same transaction as their effects."""

    async def claim_many(self, bot_id: int, update_ids: Iterable[int], now: datetime) -> set[int]:
        """The ids newly claimed (those not handled before)."""
        ...

    async def remember_answers(
        self, bot_id: int, answers: Mapping[int, dict[str, Any]]
    ) -> None: ...
    async def answers(self, bot_id: int, update_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The answers remembered for those handled button presses."""
        ...

    async def release(self, bot_id: int, update_id: int) -> None: ...
    async def forget_before(self, cutoff: datetime) -> None: ...


class DeadLetterRepository(Protocol):
    """Updates that failed for a non-transient reason (a bug), kept for a replay after a fix."""

    async def add(
        self, bot_id: int, update_id: int, payload: dict[str, Any], error: str, now: datetime
    ) -> None: ...
    async def mark_replayed(self, bot_id: int, update_id: int, now: datetime) -> bool: ...
    async def discard(self, bot_id: int, update_id: int) -> bool: ...
    async def discard_before(self, bot_id: int, cutoff: datetime) -> int: ...


class UpdatesPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def processed_updates(self) -> ProcessedUpdateRepository: ...

    @property
    def dead_letters(self) -> DeadLetterRepository: ...
