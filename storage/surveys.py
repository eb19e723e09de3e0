"""Surveys, their answers and schedules. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.care import Survey, SurveyKind, SurveySchedule, SurveyStatus
from storage.models import SurveyAnswerRow, SurveyRow, SurveyScheduleRow
from storage.sql import insert_ignoring_conflict

ACTIVE = "active"


class SqlSurveyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, survey: Survey, actor_id: int | None) -> int:
        row = SurveyRow(
            community_id=survey.community_id,
            kind=survey.kind.value,
            question=survey.question,
            status=survey.status.value,
            opened_at=survey.opened_at,
            closes_at=survey.closes_at,
            closed_at=None,
            thanks_points=survey.thanks_points,
            created_by=actor_id,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def get(self, community_id: int, survey_id: int) -> Survey | None:
        row = (
            await self._session.execute(
                select(SurveyRow).where(
                    SurveyRow.community_id == community_id, SurveyRow.id == survey_id
                )
            )
        ).scalar_one_or_none()
        return _survey(row) if row is not None else None

    async def recent(self, community_id: int, limit: int) -> Sequence[Survey]:
        statement = (
            select(SurveyRow)
            .where(SurveyRow.community_id == community_id)
            .order_by(SurveyRow.id.desc())
            .limit(limit)
        )
        return [_survey(row) for row in (await self._session.execute(statement)).scalars()]

    async def answer(
        self, survey_id: int, community_id: int, user_id: int, score: int, now: datetime
    ) -> bool:
        """Stores the member's answer, replacing an earlier one; True for a first answer."""
        inserted = await insert_ignoring_conflict(
            self._session,
            SurveyAnswerRow,
            {
                "survey_id": survey_id,
                "community_id": community_id,
                "user_id": user_id,
                "score": score,
                "answered_at": now,
            },
        )
        if not inserted:
            await self._session.execute(
                update(SurveyAnswerRow)
                .where(SurveyAnswerRow.survey_id == survey_id, SurveyAnswerRow.user_id == user_id)
                .values(score=score, changed_at=now)
            )
        return inserted

    async def scores(self, survey_id: int) -> Sequence[int]:
        statement = select(SurveyAnswerRow.score).where(SurveyAnswerRow.survey_id == survey_id)
        return list((await self._session.execute(statement)).scalars())

    async def communities_due(self, now: datetime) -> Sequence[int]:
        surveys = select(SurveyRow.community_id).where(
            SurveyRow.status == SurveyStatus.OPEN.value, SurveyRow.closes_at <= now
        )
        schedules = select(SurveyScheduleRow.community_id).where(
            SurveyScheduleRow.status == ACTIVE, SurveyScheduleRow.next_run_at <= now
        )
        found = set((await self._session.execute(surveys)).scalars())
        found.update((await self._session.execute(schedules)).scalars())
        return sorted(found)

    async def due(self, community_id: int, now: datetime, limit: int) -> Sequence[Survey]:
        statement = (
            select(SurveyRow)
            .where(
                SurveyRow.community_id == community_id,
                SurveyRow.status == SurveyStatus.OPEN.value,
                SurveyRow.closes_at <= now,
            )
            .order_by(SurveyRow.closes_at, SurveyRow.id)
            .limit(limit)
        )
        return [_survey(row) for row in (await self._session.execute(statement)).scalars()]

    async def close(
        self,
        survey_id: int,
        status: SurveyStatus,
        answer_count: int,
        score_hundredths: int | None,
        now: datetime,
    ) -> bool:
        """Closes (or cancels) an open survey, keeping its result; False when another worker
        or an earlier pass did it already."""
        result = await self._session.execute(
            update(SurveyRow)
            .where(SurveyRow.id == survey_id, SurveyRow.status == SurveyStatus.OPEN.value)
            .values(
                status=status.value,
                closed_at=now,
                answer_count=answer_count,
                score_hundredths=score_hundredths,
            )
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def closed_before(
        self, community_id: int, kind: SurveyKind, survey_id: int
    ) -> Survey | None:
        statement = (
            select(SurveyRow)
            .where(
                SurveyRow.community_id == community_id,
                SurveyRow.kind == kind.value,
                SurveyRow.status == SurveyStatus.CLOSED.value,
                SurveyRow.id < survey_id,
            )
            .order_by(SurveyRow.closed_at.desc(), SurveyRow.id.desc())
            .limit(1)
        )
        row = (await self._session.execute(statement)).scalar_one_or_none()
        return _survey(row) if row is not None else None

    async def survey_trend(
        self, community_id: int, kind: SurveyKind, limit: int
    ) -> Sequence[Survey]:
        statement = (
            select(SurveyRow)
            .where(
                SurveyRow.community_id == community_id,
                SurveyRow.kind == kind.value,
                SurveyRow.status == SurveyStatus.CLOSED.value,
            )
            .order_by(SurveyRow.closed_at.desc(), SurveyRow.id.desc())
            .limit(limit)
        )
        return [_survey(row) for row in (await self._session.execute(statement)).scalars()]

    async def add_schedule(
        self, planned: SurveySchedule, actor_id: int | None, now: datetime
    ) -> int:
        row = SurveyScheduleRow(
            community_id=planned.community_id,
            schedule=planned.schedule,
            kind=planned.kind.value,
            question=planned.question,
            status=planned.status,
            next_run_at=planned.next_run_at,
            created_by=actor_id,
            created_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def schedules_of(self, community_id: int) -> Sequence[SurveySchedule]:
        statement = (
            select(SurveyScheduleRow)
            .where(
                SurveyScheduleRow.community_id == community_id, SurveyScheduleRow.status == ACTIVE
            )
            .order_by(SurveyScheduleRow.id)
        )
        return [_schedule(row) for row in (await self._session.execute(statement)).scalars()]

    async def get_schedule(self, community_id: int, schedule_id: int) -> SurveySchedule | None:
        row = (
            await self._session.execute(
                select(SurveyScheduleRow).where(
                    SurveyScheduleRow.community_id == community_id,
                    SurveyScheduleRow.id == schedule_id,
                )
            )
        ).scalar_one_or_none()
        return _schedule(row) if row is not None else None

    async def due_schedules(
        self, community_id: int, now: datetime, limit: int
    ) -> Sequence[SurveySchedule]:
        statement = (
            select(SurveyScheduleRow)
            .where(
                SurveyScheduleRow.community_id == community_id,
                SurveyScheduleRow.status == ACTIVE,
                SurveyScheduleRow.next_run_at <= now,
            )
            .order_by(SurveyScheduleRow.next_run_at, SurveyScheduleRow.id)
            .limit(limit)
        )
        return [_schedule(row) for row in (await self._session.execute(statement)).scalars()]

    async def move_schedule(
        self,
        schedule_id: int,
        expected_next: datetime | None,
        status: str,
        next_run_at: datetime | None,
    ) -> bool:
        """Moves a schedule on from the moment it was read at (a claim: False when another
        worker moved it first)."""
        statement = update(SurveyScheduleRow).where(SurveyScheduleRow.id == schedule_id)
        if expected_next is not None:
            statement = statement.where(SurveyScheduleRow.next_run_at == expected_next)
        result = await self._session.execute(
            statement.values(status=status, next_run_at=next_run_at)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def _survey(row: SurveyRow) -> Survey:
    return Survey(
        id=row.id,
        community_id=row.community_id,
        kind=SurveyKind(row.kind),
        question=row.question,
        status=SurveyStatus(row.status),
        opened_at=row.opened_at,
        closes_at=row.closes_at,
        closed_at=row.closed_at,
        thanks_points=row.thanks_points,
        answer_count=row.answer_count,
        score_hundredths=row.score_hundredths,
        created_by=row.created_by,
    )


def _schedule(row: SurveyScheduleRow) -> SurveySchedule:
    return SurveySchedule(
        id=row.id,
        community_id=row.community_id,
        schedule=row.schedule,
        kind=SurveyKind(row.kind),
        question=row.question,
        status=row.status,
        next_run_at=row.next_run_at,
        created_by=row.created_by,
    )
