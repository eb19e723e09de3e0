"""Campaigns (scheduled posts) and their runs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.domain.models import Campaign, CampaignKind, CampaignRun, CampaignStatus, RunOutcome


class CampaignRepository(Protocol):
    async def add(self, campaign: Campaign, now: datetime) -> int: ...
    async def get(self, community_id: int, campaign_id: int) -> Campaign | None: ...
    async def of_community(self, community_id: int) -> Sequence[Campaign]: ...
    async def builtin(self, community_id: int, kind: CampaignKind) -> Campaign | None: ...
    async def set_state(
        self, campaign_id: int, status: CampaignStatus, next_run_at: datetime | None
    ) -> None: ...
    async def set_grace(self, campaign_id: int, minutes: int) -> None: ...
    async def due(
        self, now: datetime, limit: int, community_id: int | None = None
    ) -> Sequence[Campaign]: ...
    async def communities_due(self, now: datetime) -> Sequence[int]: ...
    async def scheduled(self) -> Sequence[Campaign]: ...
    async def record_run(
        self,
        campaign_id: int,
        scheduled_at: datetime,
        outcome: RunOutcome,
        detail: str | None,
        now: datetime,
    ) -> int | None:
        """The new run's id; None when that run was already recorded."""
        ...

    async def settle_run(
        self, run_id: int, outcome: RunOutcome, detail: str | None, now: datetime
    ) -> None: ...
    async def recent_runs(self, campaign_id: int, limit: int) -> Sequence[CampaignRun]: ...


class CampaignsPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def campaigns(self) -> CampaignRepository: ...
