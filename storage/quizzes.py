"""Question banks, quiz sessions, their polls and answers. Repositories never commit."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import (
    LeaderboardRow,
    QuizAnswer,
    QuizImport,
    QuizImportStatus,
    QuizQuestion,
    QuizSchedule,
    QuizSession,
    QuizSlot,
    QuizSlotStatus,
)
from storage.models import (
    MemberRow,
    QuizAnswerRow,
    QuizImportRow,
    QuizPollRow,
    QuizQuestionRow,
    QuizScheduleRow,
    QuizSessionRow,
    UserRow,
)
from storage.sql import insert_ignoring_conflict

RUNNING = "running"
ACTIVE = "active"
IMPORT_PENDING = str(QuizImportStatus.PENDING)
IMPORT_WORKING = str(QuizImportStatus.WORKING)


def fingerprint(question: QuizQuestion) -> str:
    """The same question (text and options, case and spacing aside) has the same print."""
    parts = [question.text, *question.options]
    normal = "\n".join(" ".join(part.split()).casefold() for part in parts)
    return hashlib.sha256(normal.encode()).hexdigest()


def _question(row: QuizQuestionRow) -> QuizQuestion:
    return QuizQuestion(
        id=row.id,
        text=row.text,
        options=tuple(str(option) for option in row.options),
        correct=tuple(int(index) for index in row.correct),
        explanation=row.explanation,
        topic=row.topic,
        difficulty=row.difficulty,
    )


def _session(row: QuizSessionRow) -> QuizSession:
    return QuizSession(
        id=row.id,
        community_id=row.community_id,
        topic=row.topic,
        status=row.status,
        open_period=row.open_period,
        next_step_at=row.next_step_at,
        created_by=row.created_by,
    )


def _slot(row: QuizPollRow, question: QuizQuestionRow) -> QuizSlot:
    return QuizSlot(
        id=row.id,
        session_id=row.session_id,
        position=row.position,
        question=_question(question),
        status=QuizSlotStatus(row.status),
        poll_id=row.poll_id,
        message_id=row.message_id,
        claimed_at=row.claimed_at,
        closes_at=row.closes_at,
    )


def _board(rows: Sequence[Any]) -> list[LeaderboardRow]:
    return [
        LeaderboardRow(rank=rank, user_id=user_id, display_name=name, points=int(points))
        for rank, (user_id, name, points) in enumerate(rows, start=1)
    ]


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(QuizQuestionRow)


QUESTIONS_PER_STATEMENT = 100  # 9 columns each: well under SQLite's 32,766 variables


class SqlQuizRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_question(self, community_id: int, question: QuizQuestion, now: datetime) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            QuizQuestionRow,
            {
                "community_id": community_id,
                "fingerprint": fingerprint(question),
                "text": question.text,
                "options": list(question.options),
                "correct": list(question.correct),
                "explanation": question.explanation,
                "topic": question.topic,
                "difficulty": question.difficulty,
                "created_at": now,
            },
        )

    async def add_questions(
        self, community_id: int, questions: Sequence[QuizQuestion], now: datetime
    ) -> int:
        """The questions the bank does not hold yet, added a few hundred to a statement;
        returns how many were added."""
        rows = [
            {
                "community_id": community_id,
                "fingerprint": fingerprint(question),
                "text": question.text,
                "options": list(question.options),
                "correct": list(question.correct),
                "explanation": question.explanation,
                "topic": question.topic,
                "difficulty": question.difficulty,
                "created_at": now,
            }
            for question in questions
        ]
        added = 0
        for start in range(0, len(rows), QUESTIONS_PER_STATEMENT):
            chunk = rows[start : start + QUESTIONS_PER_STATEMENT]
            statement = (
                _insert(self._session)
                .values(chunk)
                .on_conflict_do_nothing()
                .returning(QuizQuestionRow.id)
            )
            added += len((await self._session.execute(statement)).all())
        return added

    def _in_bank(self, community_id: int, topic: str | None) -> list[Any]:
        conditions: list[Any] = [QuizQuestionRow.community_id == community_id]
        if topic is not None:
            conditions.append(func.lower(QuizQuestionRow.topic) == topic.lower())
        return conditions

    async def pick_questions(
        self, community_id: int, topic: str | None, count: int, now: datetime
    ) -> Sequence[QuizQuestion]:
        statement = (
            select(QuizQuestionRow)
            .where(*self._in_bank(community_id, topic))
            .order_by(
                QuizQuestionRow.last_used_at.is_not(None),
                QuizQuestionRow.last_used_at,
                QuizQuestionRow.id,
            )
            .limit(count)
        )
        rows = (await self._session.execute(statement)).scalars().all()
        if rows:
            await self._session.execute(
                update(QuizQuestionRow)
                .where(QuizQuestionRow.id.in_([row.id for row in rows]))
                .values(last_used_at=now)
            )
        return [_question(row) for row in rows]

    async def running_session(self, community_id: int) -> QuizSession | None:
        row = await self._session.scalar(
            select(QuizSessionRow).where(
                QuizSessionRow.community_id == community_id, QuizSessionRow.status == RUNNING
            )
        )
        return None if row is None else _session(row)

    async def add_session(
        self,
        community_id: int,
        topic: str | None,
        open_period: int,
        question_ids: Sequence[int],
        actor_id: int | None,
        now: datetime,
    ) -> int:
        row = QuizSessionRow(
            community_id=community_id,
            topic=topic,
            status=RUNNING,
            open_period=open_period,
            created_by=actor_id,
            created_at=now,
            next_step_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        for position, question_id in enumerate(question_ids, start=1):
            self._session.add(
                QuizPollRow(
                    session_id=row.id,
                    position=position,
                    question_id=question_id,
                    status=str(QuizSlotStatus.PENDING),
                )
            )
        await self._session.flush()
        return row.id

    async def due_sessions(self, now: datetime, limit: int) -> Sequence[QuizSession]:
        statement = (
            select(QuizSessionRow)
            .where(QuizSessionRow.status == RUNNING, QuizSessionRow.next_step_at <= now)
            .order_by(QuizSessionRow.next_step_at, QuizSessionRow.id)
            .limit(limit)
            # One worker at a time moves a session on; the others skip it (PostgreSQL).
            .with_for_update(skip_locked=True)
        )
        return [_session(row) for row in (await self._session.execute(statement)).scalars()]

    async def next_steps(self) -> Sequence[tuple[int, datetime]]:
        statement = select(QuizSessionRow.id, QuizSessionRow.next_step_at).where(
            QuizSessionRow.status == RUNNING, QuizSessionRow.next_step_at.is_not(None)
        )
        rows = await self._session.execute(statement)
        return [(session_id, at) for session_id, at in rows if at is not None]

    async def set_next_step(self, session_id: int, at: datetime | None) -> None:
        await self._session.execute(
            update(QuizSessionRow).where(QuizSessionRow.id == session_id).values(next_step_at=at)
        )

    async def finish_session(self, session_id: int, status: str) -> bool:
        result = await self._session.execute(
            update(QuizSessionRow)
            .where(QuizSessionRow.id == session_id, QuizSessionRow.status == RUNNING)
            .values(status=status, next_step_at=None)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def slots(self, session_id: int) -> Sequence[QuizSlot]:
        statement = (
            select(QuizPollRow, QuizQuestionRow)
            .join(QuizQuestionRow, QuizQuestionRow.id == QuizPollRow.question_id)
            .where(QuizPollRow.session_id == session_id)
            .order_by(QuizPollRow.position)
        )
        return [
            _slot(slot, question) for slot, question in (await self._session.execute(statement))
        ]

    async def move_slot(
        self,
        slot_id: int,
        expected: QuizSlotStatus,
        status: QuizSlotStatus,
        *,
        claimed_at: datetime | None = None,
        poll_id: str | None = None,
        message_id: int | None = None,
        closes_at: datetime | None = None,
    ) -> bool:
        values: dict[str, Any] = {"status": str(status)}
        for key, value in (
            ("claimed_at", claimed_at),
            ("poll_id", poll_id),
            ("message_id", message_id),
            ("closes_at", closes_at),
        ):
            if value is not None:
                values[key] = value
        result = await self._session.execute(
            update(QuizPollRow)
            .where(QuizPollRow.id == slot_id, QuizPollRow.status == str(expected))
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def slot_by_poll(self, poll_id: str) -> tuple[QuizSlot, int] | None:
        statement = (
            select(QuizPollRow, QuizQuestionRow, QuizSessionRow.community_id)
            .join(QuizQuestionRow, QuizQuestionRow.id == QuizPollRow.question_id)
            .join(QuizSessionRow, QuizSessionRow.id == QuizPollRow.session_id)
            .where(QuizPollRow.poll_id == poll_id)
        )
        found = (await self._session.execute(statement)).first()
        if found is None:
            return None
        slot, question, community_id = found
        return _slot(slot, question), community_id

    async def add_answer(
        self,
        slot_id: int,
        community_id: int,
        user_id: int,
        option_ids: Sequence[int],
        correct: bool,
        on_time: bool,
        now: datetime,
    ) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            QuizAnswerRow,
            {
                "quiz_poll_id": slot_id,
                "community_id": community_id,
                "user_id": user_id,
                "option_ids": list(option_ids),
                "correct": correct,
                "on_time": on_time,
                "points": 0,
                "answered_at": now,
            },
        )

    async def poll_communities(self, poll_ids: Sequence[str]) -> dict[str, int]:
        if not poll_ids:
            return {}
        statement = (
            select(QuizPollRow.poll_id, QuizSessionRow.community_id)
            .join(QuizSessionRow, QuizSessionRow.id == QuizPollRow.session_id)
            .where(QuizPollRow.poll_id.in_(sorted(set(poll_ids))))
        )
        return {
            str(poll_id): community_id for poll_id, community_id in await self._execute(statement)
        }

    async def with_member_rows(self, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        if not pairs:
            return set()
        statement = select(MemberRow.community_id, MemberRow.user_id).where(
            tuple_(MemberRow.community_id, MemberRow.user_id).in_(sorted(set(pairs)))
        )
        return {(community_id, user_id) for community_id, user_id in await self._execute(statement)}

    async def _execute(self, statement: Any) -> list[Any]:
        return list((await self._session.execute(statement)).all())

    async def answers(self, slot_id: int) -> Sequence[QuizAnswer]:
        statement = (
            select(QuizAnswerRow)
            .join(
                MemberRow,
                (MemberRow.community_id == QuizAnswerRow.community_id)
                & (MemberRow.user_id == QuizAnswerRow.user_id),
            )
            .where(QuizAnswerRow.quiz_poll_id == slot_id, MemberRow.is_member.is_(True))
            .order_by(QuizAnswerRow.id)
        )
        return [
            QuizAnswer(
                id=row.id,
                slot_id=row.quiz_poll_id,
                user_id=row.user_id,
                correct=row.correct,
                on_time=row.on_time,
            )
            for row in (await self._session.execute(statement)).scalars()
        ]

    async def set_points(self, answer_id: int, points: int) -> None:
        await self._session.execute(
            update(QuizAnswerRow).where(QuizAnswerRow.id == answer_id).values(points=points)
        )

    async def session_scores(self, session_id: int, limit: int) -> Sequence[LeaderboardRow]:
        total = func.sum(QuizAnswerRow.points)
        statement = (
            select(QuizAnswerRow.user_id, UserRow.first_name, total)
            .join(QuizPollRow, QuizPollRow.id == QuizAnswerRow.quiz_poll_id)
            .join(UserRow, UserRow.id == QuizAnswerRow.user_id)
            .where(QuizPollRow.session_id == session_id, QuizAnswerRow.points > 0)
            .group_by(QuizAnswerRow.user_id, UserRow.first_name)
            .order_by(total.desc(), func.min(QuizAnswerRow.id))
            .limit(limit)
        )
        return _board((await self._session.execute(statement)).all())

    async def top_scorers(self, community_id: int, limit: int) -> Sequence[LeaderboardRow]:
        total = func.sum(QuizAnswerRow.points)
        statement = (
            select(QuizAnswerRow.user_id, UserRow.first_name, total)
            .join(UserRow, UserRow.id == QuizAnswerRow.user_id)
            .where(QuizAnswerRow.community_id == community_id, QuizAnswerRow.points > 0)
            .group_by(QuizAnswerRow.user_id, UserRow.first_name)
            .order_by(total.desc(), QuizAnswerRow.user_id)
            .limit(limit)
        )
        return _board((await self._session.execute(statement)).all())

    async def add_schedule(
        self, schedule: QuizSchedule, actor_id: int | None, now: datetime
    ) -> int:
        row = QuizScheduleRow(
            community_id=schedule.community_id,
            schedule=schedule.schedule,
            count=schedule.count,
            topic=schedule.topic,
            status=schedule.status,
            next_run_at=schedule.next_run_at,
            created_by=actor_id,
            created_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def schedules_of(self, community_id: int) -> Sequence[QuizSchedule]:
        statement = (
            select(QuizScheduleRow)
            .where(QuizScheduleRow.community_id == community_id, QuizScheduleRow.status == ACTIVE)
            .order_by(QuizScheduleRow.next_run_at, QuizScheduleRow.id)
        )
        return [_schedule(row) for row in (await self._session.execute(statement)).scalars()]

    async def get_schedule(self, community_id: int, schedule_id: int) -> QuizSchedule | None:
        row = await self._session.scalar(
            select(QuizScheduleRow).where(
                QuizScheduleRow.community_id == community_id, QuizScheduleRow.id == schedule_id
            )
        )
        return None if row is None else _schedule(row)

    async def set_schedule(
        self,
        schedule_id: int,
        status: str,
        next_run_at: datetime | None,
        expected_next: datetime | None = None,
    ) -> bool:
        """Sets the schedule; with `expected_next`, only if its next moment is still that one
        (the conditional UPDATE that claims a scheduled start: False for every other worker)."""
        statement = update(QuizScheduleRow).where(QuizScheduleRow.id == schedule_id)
        if expected_next is not None:
            statement = statement.where(QuizScheduleRow.next_run_at == expected_next)
        result = await self._session.execute(
            statement.values(status=status, next_run_at=next_run_at)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def due_schedules(self, now: datetime, limit: int) -> Sequence[QuizSchedule]:
        statement = (
            select(QuizScheduleRow)
            .where(QuizScheduleRow.status == ACTIVE, QuizScheduleRow.next_run_at <= now)
            .order_by(QuizScheduleRow.next_run_at, QuizScheduleRow.id)
            .limit(limit)
        )
        return [_schedule(row) for row in (await self._session.execute(statement)).scalars()]

    async def add_import(self, request: QuizImport, now: datetime) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            QuizImportRow,
            {
                "community_id": request.community_id,
                "command_message_id": request.command_message_id,
                "answer_chat_id": request.answer_chat_id,
                "thread_id": request.thread_id,
                "file_id": request.file_id,
                "file_name": request.file_name,
                "file_size": request.file_size,
                "status": IMPORT_PENDING,
                "attempts": 0,
                "due_at": now,
                "created_by": request.created_by,
                "created_at": now,
            },
        )

    async def claim_import(self, now: datetime, lease_until: datetime) -> QuizImport | None:
        statement = (
            select(QuizImportRow)
            .where(
                or_(
                    QuizImportRow.status == IMPORT_PENDING,
                    QuizImportRow.status == IMPORT_WORKING,
                ),
                QuizImportRow.due_at <= now,
            )
            .order_by(QuizImportRow.due_at, QuizImportRow.id)
            .limit(1)
        )
        row = (await self._session.execute(statement)).scalars().first()
        if row is None:
            return None
        claimed = await self._session.execute(
            update(QuizImportRow)
            .where(QuizImportRow.id == row.id, QuizImportRow.attempts == row.attempts)
            .values(status=IMPORT_WORKING, attempts=row.attempts + 1, due_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return None
        return QuizImport(
            id=row.id,
            community_id=row.community_id,
            command_message_id=row.command_message_id,
            thread_id=row.thread_id,
            file_id=row.file_id,
            file_name=row.file_name,
            file_size=row.file_size,
            attempt=row.attempts + 1,
            created_by=row.created_by,
            answer_chat_id=row.answer_chat_id,
        )

    async def retry_import(self, claim: QuizImport, due_at: datetime) -> bool:
        return await self._move_import(claim, IMPORT_PENDING, due_at=due_at)

    async def finish_import(
        self, claim: QuizImport, status: QuizImportStatus, now: datetime
    ) -> bool:
        return await self._move_import(claim, str(status), finished_at=now)

    async def _move_import(self, claim: QuizImport, status: str, **values: Any) -> bool:
        result = await self._session.execute(
            update(QuizImportRow)
            .where(
                QuizImportRow.id == claim.id,
                QuizImportRow.status == IMPORT_WORKING,
                QuizImportRow.attempts == claim.attempt,
            )
            .values(status=status, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def _schedule(row: QuizScheduleRow) -> QuizSchedule:
    return QuizSchedule(
        id=row.id,
        community_id=row.community_id,
        schedule=row.schedule,
        count=row.count,
        topic=row.topic,
        status=row.status,
        next_run_at=row.next_run_at,
    )
