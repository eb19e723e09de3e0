"""Quizzes: question banks, sessions and their polls, imports of question files."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

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


class QuizRepository(Protocol):
    """Question banks, quiz sessions with their polls, and members' answers."""

    async def add_question(self, community_id: int, question: QuizQuestion, now: datetime) -> bool:
        """False when the community's bank holds that question already."""
        ...

    async def add_questions(
        self, community_id: int, questions: Sequence[QuizQuestion], now: datetime
    ) -> int:
        """Those the bank does not hold yet added; how many."""
        ...

    async def pick_questions(
        self, community_id: int, topic: str | None, count: int, now: datetime
    ) -> Sequence[QuizQuestion]:
        """The questions seen least recently (never first), marked as used now."""
        ...

    async def running_session(self, community_id: int) -> QuizSession | None: ...
    async def add_session(
        self,
        community_id: int,
        topic: str | None,
        open_period: int,
        question_ids: Sequence[int],
        actor_id: int | None,
        now: datetime,
    ) -> int: ...
    async def due_sessions(self, now: datetime, limit: int) -> Sequence[QuizSession]: ...
    async def next_steps(self) -> Sequence[tuple[int, datetime]]:
        """(session id, when its next step is due) of the running sessions."""
        ...

    async def set_next_step(self, session_id: int, at: datetime | None) -> None: ...
    async def finish_session(self, session_id: int, status: str) -> bool:
        """Ends a running session; False when it was not running (ended once)."""
        ...

    async def slots(self, session_id: int) -> Sequence[QuizSlot]: ...
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
        """Changes the slot's status only from `expected` (its exactly-once claim)."""
        ...

    async def slot_by_poll(self, poll_id: str) -> tuple[QuizSlot, int] | None:
        """The slot carrying that poll, and its community."""
        ...

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
        """False when the member had answered that question already."""
        ...

    async def answers(self, slot_id: int) -> Sequence[QuizAnswer]:
        """Those of the community's current members, in the order they came."""
        ...

    async def poll_communities(self, poll_ids: Sequence[str]) -> dict[str, int]:
        """The community of each of these polls that is one of ours."""
        ...

    async def with_member_rows(self, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        """The (community id, user id) pairs that have a member row, present or gone."""
        ...

    async def set_points(self, answer_id: int, points: int) -> None: ...
    async def session_scores(self, session_id: int, limit: int) -> Sequence[LeaderboardRow]: ...
    async def top_scorers(self, community_id: int, limit: int) -> Sequence[LeaderboardRow]: ...
    async def add_schedule(
        self, schedule: QuizSchedule, actor_id: int | None, now: datetime
    ) -> int: ...
    async def schedules_of(self, community_id: int) -> Sequence[QuizSchedule]:
        """The active ones, soonest first."""
        ...

    async def get_schedule(self, community_id: int, schedule_id: int) -> QuizSchedule | None: ...
    async def set_schedule(
        self,
        schedule_id: int,
        status: str,
        next_run_at: datetime | None,
        expected_next: datetime | None = None,
    ) -> bool: ...
    async def due_schedules(self, now: datetime, limit: int) -> Sequence[QuizSchedule]: ...
    async def add_import(self, request: QuizImport, now: datetime) -> bool:
        """A pending import, due now; False when that command was stored already."""
        ...

    async def claim_import(self, now: datetime, lease_until: datetime) -> QuizImport | None:
        """The next pending import, or a working one whose claim ran out, claimed until
        `lease_until` (its attempt counted)."""
        ...

    async def retry_import(self, claim: QuizImport, due_at: datetime) -> bool:
        """Back to pending until `due_at`; False when the claim is no longer this one."""
        ...

    async def finish_import(
        self, claim: QuizImport, status: QuizImportStatus, now: datetime
    ) -> bool:
        """Done or failed; False when the claim is no longer this one (nothing to do)."""
        ...


class QuizFileSource(Protocol):
    """Question files as Telegram holds them; called with no transaction open."""

    async def fetch(self, file_id: str, limit: int) -> bytes:
        """The file's content; QuizFileTooLarge past `limit` bytes (checked before and
        while downloading), QuizFileNotReady when Telegram refuses it for good, anything
        else for a failure worth another try."""
        ...


class QuizPollSender(Protocol):
    """Posts a quiz poll (the Bot API, in production); called with no transaction open."""

    async def send_quiz(
        self, chat_id: int, question: QuizQuestion, open_period: int
    ) -> tuple[int, str]:
        """(message id, poll id)."""
        ...


class QuizzesPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def quizzes(self) -> QuizRepository: ...
