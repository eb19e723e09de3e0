"""Satisfaction surveys and their schedules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.domain.care import Survey, SurveyKind, SurveySchedule, SurveyStatus


class SurveyRepository(Protocol):
    """Satisfaction surveys, their answers and schedules."""

    async def add(self, survey: Survey, actor_id: int | None) -> int: ...
    async def get(self, community_id: int, survey_id: int) -> Survey | None: ...
    async def recent(self, community_id: int, limit: int) -> Sequence[Survey]: ...
    async def answer(
        self, survey_id: int, community_id: int, user_id: int, score: int, now: datetime
    ) -> bool:
        """Stores the member's answer, replacing an earlier one; True for a first answer."""
        ...

    async def scores(self, survey_id: int) -> Sequence[int]: ...
    async def communities_due(self, now: datetime) -> Sequence[int]:
        """Communities with a survey to close or a scheduled survey to open."""
        ...

    async def due(self, community_id: int, now: datetime, limit: int) -> Sequence[Survey]: ...
    async def close(
        self,
        survey_id: int,
        status: SurveyStatus,
        answer_count: int,
        score_hundredths: int | None,
        now: datetime,
    ) -> bool:
        """Closes or cancels an open survey (a conditional update): True once."""
        ...

    async def closed_before(
        self, community_id: int, kind: SurveyKind, survey_id: int
    ) -> Survey | None: ...
    async def survey_trend(
        self, community_id: int, kind: SurveyKind, limit: int
    ) -> Sequence[Survey]:
        """The latest closed surveys of a kind, newest first (for /stats)."""
        ...

    async def add_schedule(
        self, planned: SurveySchedule, actor_id: int | None, now: datetime
    ) -> int: ...
    async def schedules_of(self, community_id: int) -> Sequence[SurveySchedule]: ...
    async def get_schedule(self, community_id: int, schedule_id: int) -> SurveySchedule | None: ...
    async def due_schedules(
        self, community_id: int, now: datetime, limit: int
    ) -> Sequence[SurveySchedule]: ...
    async def move_schedule(
        self,
        schedule_id: int,
        expected_next: datetime | None,
        status: str,
        next_run_at: datetime | None,
    ) -> bool:
        """Moves a schedule on from the moment it was read at: False when another worker
        did it first."""
        ...


class SurveysPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def surveys(self) -> SurveyRepository: ...
