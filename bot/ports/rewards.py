"""The memory of one-time rewards, kept through /forgetme."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from bot.domain.rewards import OneTimeReward

RewardKey = tuple[int, int, str]  # (community id, user id, occasion)


class RewardMemory(Protocol):
    """One-time rewards already given, kept through /forgetme under a keyed hash of the user
    id (never the id itself): a forgotten member who comes back is not rewarded again."""

    async def remember(
        self, reward: OneTimeReward, community_id: int, user_id: int, occasion: str = ""
    ) -> None: ...

    async def given(self, reward: OneTimeReward, keys: Collection[RewardKey]) -> set[RewardKey]:
        """Those of the keys whose reward was given (and remembered) already."""
        ...


class RewardsPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def reward_memory(self) -> RewardMemory: ...
