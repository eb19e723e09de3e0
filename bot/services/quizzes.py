"""Quizzes: a question bank per community, sessions of quiz polls posted one after another,
and points for correct answers.

A session is a state machine stored in the database: each question (a slot) goes pending ->
sending (claimed) -> open (posted, its poll id recorded) -> closed (scored), each step a
conditional update, so a restart resumes it and nothing is posted or scored twice."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.errors import (
    N_,
    DomainError,
    NoQuizQuestions,
    QuizAlreadyRunning,
    QuizFileNotReady,
    QuizFileTooLarge,
    UnknownQuizSchedule,
    UsageError,
)
from bot.domain.models import (
    Activity,
    Community,
    LeaderboardRow,
    LedgerEntry,
    LedgerKind,
    QuizImport,
    QuizImportStatus,
    QuizQuestion,
    QuizSchedule,
    QuizSession,
    QuizSlot,
    QuizSlotStatus,
    UserInfo,
)
from bot.domain.quiz_files import FILE_LIMIT, MAX_FILE_BYTES, MAX_TOPIC
from bot.domain.rules import timezone_loads
from bot.domain.schedules import next_fire, parse_schedule, require_future
from bot.ports import UnitOfWork
from bot.services.activity import note_activity
from bot.services.points import apply_points

logger = logging.getLogger(__name__)

# A claimed import not finished by then (the bot stopped mid-download) is taken up again;
# a download that failed is tried again after IMPORT_RETRY, IMPORT_ATTEMPTS times in all.
IMPORT_LEASE = timedelta(minutes=2)
IMPORT_RETRY = timedelta(seconds=30)
IMPORT_ATTEMPTS = 3

DEFAULT_COUNT = 5
MAX_COUNT = 50
DEFAULT_OPEN_PERIOD = 30  # seconds
CORRECT_POINTS = 10
FIRST_CORRECT_BONUS = 5
# An answer Telegram took before the close may reach the bot a moment later.
ANSWER_GRACE = timedelta(seconds=5)
# A claimed slot whose post was never recorded (the bot stopped mid-call) counts as lost.
LOST_AFTER = timedelta(minutes=2)
DUE_SESSIONS = 20
POST_RETRY = timedelta(seconds=5)
RESULTS_SHOWN = 10

DONE = "done"
CANCELLED = "cancelled"
ACTIVE = "active"
# A scheduled quiz that could not start within this time of its moment (the bot was down)
# is skipped rather than started late.
SCHEDULE_GRACE = timedelta(minutes=60)
LARGEST_ID = 2**31 - 1

USAGE = N_(
    "/quiz start [count] [topic] | schedule <schedule> [count] [topic] | list | cancel <id> | "
    "top | add <question> | <option> | *<correct option> | … | import (as a reply to a file)"
)


@dataclass(frozen=True)
class ImportResult:
    added: int
    already: int


@dataclass(frozen=True)
class ImportOutcome:
    """A finished /quiz import, to tell the moderator: what it added, or why nothing."""

    claim: QuizImport
    community: Community
    result: ImportResult | None = None
    refusal: DomainError | None = None


@dataclass(frozen=True)
class PollToPost:
    """A slot claimed for posting: post it, then record the result (record_posted)."""

    slot: QuizSlot
    chat_id: int
    open_period: int
    started_by: int | None = None


@dataclass(frozen=True)
class SessionResults:
    session_id: int
    community: Community
    scores: list[LeaderboardRow]


@dataclass
class QuizStep:
    """What one pass over the due sessions asks of the runtime."""

    to_post: list[PollToPost] = field(default_factory=list)
    finished: list[SessionResults] = field(default_factory=list)


async def import_questions(
    uow: UnitOfWork,
    community: Community,
    questions: Sequence[QuizQuestion],
    actor_id: int | None,
    now: datetime,
) -> ImportResult:
    """Adds the questions the bank does not hold yet (the same text and options)."""
    added = await uow.quizzes.add_questions(community.id, questions, now)
    await uow.audit.add(community.id, actor_id, "quiz_import", None, f"+{added}", now)
    return ImportResult(added=added, already=len(questions) - added)


async def request_import(
    uow: UnitOfWork, community: Community, request: QuizImport, now: datetime
) -> None:
    """Stores a /quiz import for the import worker (downloaded, read and imported off the
    intake, once); a file announced as larger than the limit is refused at once."""
    if request.file_size is not None and request.file_size > MAX_FILE_BYTES:
        raise QuizFileTooLarge(limit=FILE_LIMIT)
    await uow.quizzes.add_import(replace(request, community_id=community.id), now)


async def claim_import(uow: UnitOfWork, now: datetime) -> QuizImport | None:
    """The next import to carry out, claimed for IMPORT_LEASE."""
    return await uow.quizzes.claim_import(now, now + IMPORT_LEASE)


def out_of_attempts(claim: QuizImport) -> bool:
    """Claimed more often than it may be tried (the bot kept stopping while at it)."""
    return claim.attempt > IMPORT_ATTEMPTS


async def retry_import(uow: UnitOfWork, claim: QuizImport, now: datetime) -> ImportOutcome | None:
    """A download that failed for now: tried again later, or given up after
    IMPORT_ATTEMPTS tries (the outcome then says so)."""
    if claim.attempt < IMPORT_ATTEMPTS:
        await uow.quizzes.retry_import(claim, now + IMPORT_RETRY)
        return None
    return await finish_import(uow, claim, QuizFileNotReady(), now)


async def finish_import(
    uow: UnitOfWork,
    claim: QuizImport,
    read: Sequence[QuizQuestion] | DomainError,
    now: datetime,
) -> ImportOutcome | None:
    """The file's questions imported (or its refusal recorded) in one transaction, once:
    None when the claim was taken over meanwhile, which then does it."""
    community = await uow.communities.get(claim.community_id)
    refused = isinstance(read, DomainError)
    status = QuizImportStatus.FAILED if refused else QuizImportStatus.DONE
    if community is None or not await uow.quizzes.finish_import(claim, status, now):
        return None
    if isinstance(read, DomainError):
        return ImportOutcome(claim, community, refusal=read)
    result = await import_questions(uow, community, read, claim.created_by, now)
    return ImportOutcome(claim, community, result=result)


# ---------------------------------------------------------------- sessions


def parse_start(args: str) -> tuple[int, str | None]:
    """`[count] [topic]`."""
    words = args.split()
    count = DEFAULT_COUNT
    if words and words[0].isdecimal():
        count = int(words[0][:6])
        words = words[1:]
        if not 1 <= count <= MAX_COUNT:
            raise UsageError(usage=USAGE)
    topic = " ".join(words) or None
    if topic is not None and len(topic) > MAX_TOPIC:
        raise UsageError(usage=USAGE)
    return count, topic


async def start_session(
    uow: UnitOfWork,
    community: Community,
    count: int,
    topic: str | None,
    actor_id: int | None,
    now: datetime,
) -> tuple[int, int]:
    """A session posting `count` questions the community has not seen recently, from now
    on (the due work posts them). Returns the session's id and its number of questions."""
    if await uow.quizzes.running_session(community.id) is not None:
        raise QuizAlreadyRunning()
    questions = await uow.quizzes.pick_questions(community.id, topic, count, now)
    if not questions:
        raise NoQuizQuestions()
    session_id = await uow.quizzes.add_session(
        community.id, topic, DEFAULT_OPEN_PERIOD, [q.id for q in questions], actor_id, now
    )
    await uow.audit.add(community.id, actor_id, "quiz_start", None, f"#{session_id}", now)
    return session_id, len(questions)


async def add_schedule(
    uow: UnitOfWork, community: Community, text: str, actor_id: int | None, now: datetime
) -> QuizSchedule:
    """`<schedule> [count] [topic]`, with the schedule forms of /campaign add."""
    schedule, rest = parse_schedule(text)
    count, topic = parse_start(rest)
    first = require_future(schedule, now, community.timezone)
    planned = QuizSchedule(0, community.id, schedule.spec, count, topic, ACTIVE, first)
    schedule_id = await uow.quizzes.add_schedule(planned, actor_id, now)
    await uow.audit.add(community.id, actor_id, "quiz_schedule", None, f"#{schedule_id}", now)
    return QuizSchedule(schedule_id, community.id, schedule.spec, count, topic, ACTIVE, first)


async def list_schedules(uow: UnitOfWork, community: Community) -> list[QuizSchedule]:
    return list(await uow.quizzes.schedules_of(community.id))


def parse_schedule_id(text: str) -> int:
    word = text.strip().lstrip("#")
    if not word.isdecimal() or len(word) > 12:
        raise UsageError(usage=USAGE)
    return int(word)


async def cancel_schedule(
    uow: UnitOfWork, community: Community, schedule_id: int, actor_id: int | None, now: datetime
) -> None:
    found = None
    if schedule_id <= LARGEST_ID:
        found = await uow.quizzes.get_schedule(community.id, schedule_id)
    if found is None or found.status != ACTIVE:
        raise UnknownQuizSchedule(schedule_id=schedule_id)
    await uow.quizzes.set_schedule(schedule_id, CANCELLED, None)
    await uow.audit.add(community.id, actor_id, "quiz_cancel", None, f"#{schedule_id}", now)


async def start_scheduled(uow: UnitOfWork, now: datetime) -> None:
    """Starts the scheduled quizzes whose time has come, each moment once: the schedule
    moves on to its next moment in the same transaction. One that cannot start (a quiz is
    running, no questions, or too late after downtime) is skipped."""
    for planned in await uow.quizzes.due_schedules(now, DUE_SESSIONS):
        community = await uow.communities.get(planned.community_id)
        if community is None or not timezone_loads(community.timezone):
            continue
        assert planned.next_run_at is not None
        try:
            schedule, _rest = parse_schedule(planned.schedule)
            following = next_fire(schedule, max(now, planned.next_run_at), community.timezone)
        except Exception:
            logger.exception("Quiz schedule %d cannot be read; cancelled", planned.id)
            await uow.quizzes.set_schedule(planned.id, CANCELLED, None, planned.next_run_at)
            continue
        status = ACTIVE if following else DONE
        if not await uow.quizzes.set_schedule(planned.id, status, following, planned.next_run_at):
            continue  # another worker started this moment's quiz
        if now - planned.next_run_at > SCHEDULE_GRACE:
            continue
        try:
            async with uow.savepoint():
                await start_session(uow, community, planned.count, planned.topic, None, now)
        except (QuizAlreadyRunning, NoQuizQuestions) as refusal:
            logger.info("Scheduled quiz %d skipped: %s", planned.id, refusal)


async def advance(uow: UnitOfWork, now: datetime) -> QuizStep:
    """One pass over the sessions due now (the scheduled ones started first): closes and
    scores the polls whose period ended, claims the next question to post, and ends the
    sessions with nothing left (their results handed back once)."""
    step = QuizStep()
    await start_scheduled(uow, now)
    for session in await uow.quizzes.due_sessions(now, DUE_SESSIONS):
        community = await uow.communities.get(session.community_id)
        if community is None:
            continue
        try:
            async with uow.savepoint():
                await _advance_session(uow, community, session, now, step)
        except Exception:
            logger.exception("Quiz session %d could not go on; the others do", session.id)
    return step


async def _advance_session(
    uow: UnitOfWork, community: Community, session: QuizSession, now: datetime, step: QuizStep
) -> None:
    slots = list(await uow.quizzes.slots(session.id))
    for slot in slots:
        if slot.status == QuizSlotStatus.OPEN:
            assert slot.closes_at is not None
            if now < slot.closes_at + ANSWER_GRACE:
                await uow.quizzes.set_next_step(session.id, slot.closes_at + ANSWER_GRACE)
                return
            if await uow.quizzes.move_slot(slot.id, QuizSlotStatus.OPEN, QuizSlotStatus.CLOSED):
                await _score(uow, community, session, slot, now)
        elif slot.status == QuizSlotStatus.SENDING:
            claimed = slot.claimed_at or now
            if now < claimed + LOST_AFTER:
                await uow.quizzes.set_next_step(session.id, claimed + LOST_AFTER)
                return  # being posted right now (or its result is on the way)
            await uow.quizzes.move_slot(slot.id, QuizSlotStatus.SENDING, QuizSlotStatus.LOST)
    pending = [slot for slot in slots if slot.status == QuizSlotStatus.PENDING]
    if pending:
        slot = pending[0]
        if await uow.quizzes.move_slot(
            slot.id, QuizSlotStatus.PENDING, QuizSlotStatus.SENDING, claimed_at=now
        ):
            await uow.quizzes.set_next_step(session.id, now + LOST_AFTER)
            step.to_post.append(
                PollToPost(slot, community.id, session.open_period, session.created_by)
            )
        return
    if await uow.quizzes.finish_session(session.id, DONE):
        scores = list(await uow.quizzes.session_scores(session.id, RESULTS_SHOWN))
        step.finished.append(SessionResults(session.id, community, scores))


async def _score(
    uow: UnitOfWork, community: Community, session: QuizSession, slot: QuizSlot, now: datetime
) -> None:
    """Points for the on-time correct answers, and the bonus for the first of them; each
    booked with its own key, so it is paid once."""
    first = True
    for answer in await uow.quizzes.answers(slot.id):
        if not (answer.correct and answer.on_time):
            continue
        points = CORRECT_POINTS + (FIRST_CORRECT_BONUS if first else 0)
        first = False
        entry = LedgerEntry(
            community_id=community.id,
            user_id=answer.user_id,
            amount=points,
            kind=LedgerKind.QUIZ,
            idempotency_key=f"quiz:{slot.id}:{answer.user_id}",
            created_at=now,
            reason=f"quiz #{session.id} question {slot.position}",
        )
        if await apply_points(uow, community, entry) is not None:
            await uow.quizzes.set_points(answer.id, points)


async def record_posted(
    uow: UnitOfWork, claim: PollToPost, message_id: int, poll_id: str, now: datetime
) -> None:
    """The poll is out: its answers count until its period ends."""
    closes_at = now + timedelta(seconds=claim.open_period)
    if await uow.quizzes.move_slot(
        claim.slot.id,
        QuizSlotStatus.SENDING,
        QuizSlotStatus.OPEN,
        poll_id=poll_id,
        message_id=message_id,
        closes_at=closes_at,
    ):
        await uow.quizzes.set_next_step(claim.slot.session_id, closes_at + ANSWER_GRACE)


async def record_not_posted(
    uow: UnitOfWork,
    claim: PollToPost,
    status: QuizSlotStatus,
    now: datetime,
    retry_after: timedelta = POST_RETRY,
) -> None:
    """Telegram refused the poll (FAILED), the call's fate is unknown (LOST), or it surely
    never reached Telegram or was asked to wait (PENDING: posted again after `retry_after`)."""
    await uow.quizzes.move_slot(claim.slot.id, QuizSlotStatus.SENDING, status)
    retry = status == QuizSlotStatus.PENDING
    await uow.quizzes.set_next_step(claim.slot.session_id, now + retry_after if retry else now)


async def record_answer(
    uow: UnitOfWork,
    poll_id: str,
    user: UserInfo,
    option_ids: Sequence[int],
    now: datetime,
    *,
    in_group: bool | None,
) -> bool:
    """A member's answer (the first one counts; later ones and answers after the poll
    closed score nothing). Only the group's current members answer: someone who left, or
    with no member row whom Telegram did not confirm in the group (`in_group`, asked before
    the transaction), is ignored and nothing is stored. False when nothing was stored."""
    found = await uow.quizzes.slot_by_poll(poll_id)
    if found is None or not option_ids or user.is_bot:
        return False
    slot, community_id = found
    member = await uow.members.get(community_id, user.id)
    if member is not None and not member.is_member:
        return False
    if member is None and in_group is not True:
        if in_group is None:
            logger.info(
                "A quiz answer from %d, not known in %d, was ignored", user.id, community_id
            )
        return False
    on_time = (
        slot.status == QuizSlotStatus.OPEN
        and slot.closes_at is not None
        and now <= slot.closes_at + ANSWER_GRACE
    )
    correct = sorted(set(option_ids)) == sorted(slot.question.correct)
    await uow.users.upsert(user)
    if member is None:
        await uow.members.add(community_id, user.id, now, joined=False)
    if not await uow.quizzes.add_answer(
        slot.id, community_id, user.id, option_ids, correct, on_time, now
    ):
        return False
    community = await uow.communities.get(community_id)
    if community is not None:
        await note_activity(uow, community, user.id, now, Activity.QUIZ_ANSWER)
    return True


async def leaderboard(uow: UnitOfWork, community: Community) -> list[LeaderboardRow]:
    return list(await uow.quizzes.top_scorers(community.id, RESULTS_SHOWN))
