"""Quiz sessions driven by timed work: each pass closes and scores the polls whose period
ended, posts the next question, and queues a finished session's results.

A question is claimed in one transaction, posted with no transaction open, and its poll id
and message id recorded in the next one; results go through the outgoing queue, once per
session. A restart resumes from what is stored."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter
from aiogram.methods import SendPoll

from bot.domain.models import QuizQuestion, QuizSlotStatus
from bot.i18n import translator
from bot.ports import Clock, QuizPollSender, UnitOfWork, UnitOfWorkFactory
from bot.services import quizzes
from bot.services.quizzes import POST_RETRY, PollToPost
from handlers.quiz_imports import QUIZ_IMPORTS_WORKER, QuizImports
from handlers.quizzes import render_results
from handlers.render import name
from runtime.features import JobContext
from runtime.outbox import Outbox, failure_notice, queue_failure_notice
from runtime.retry import call_without_waiting
from runtime.sender import never_reached_telegram

logger = logging.getLogger(__name__)

MAX_PASSES = 10
QUIZ_JOB = "handlers.quiz_sessions:run_quiz_job"
QUIZ_JOB_PREFIX = "quiz:"
QUIZ_MISFIRE_SECONDS = 3600


class BotQuizPolls:
    """The QuizPollSender of bot.ports over the Bot API: non-anonymous quiz polls."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send_quiz(
        self, chat_id: int, question: QuizQuestion, open_period: int
    ) -> tuple[int, str]:
        several = len(question.correct) > 1
        # A 429 comes back at once (no waiting inside the call): the slot is put back until
        # Telegram's retry_after, as the paced sender does, and the due work goes on.
        send = SendPoll(
            chat_id=chat_id,
            question=question.text,
            options=list(question.options),
            type="quiz",
            is_anonymous=False,
            allows_multiple_answers=several or None,
            correct_option_id=None if several else question.correct[0],
            correct_option_ids=list(question.correct) if several else None,
            explanation=question.explanation,
            explanation_parse_mode=None,
            question_parse_mode=None,
            open_period=open_period,
        )
        message = await call_without_waiting(self._bot, send)
        assert message.poll is not None
        return message.message_id, message.poll.id


async def run_quizzes(
    open_uow: UnitOfWorkFactory, clock: Clock, polls: QuizPollSender | None
) -> None:
    """Brings every due quiz session up to date (see the module docstring)."""
    for _ in range(MAX_PASSES):
        now = clock.now()
        outbox = Outbox()
        async with open_uow() as uow:
            step = await quizzes.advance(uow, now)
            for results in step.finished:
                outbox.announce(
                    results.community.id,
                    render_results(results),
                    f"quiz-results:{results.session_id}",
                    kind="quiz_results",
                )
            await outbox.queue_announcements(uow.outgoing, now)
        if not step.to_post:
            return
        for claim in step.to_post:
            await _post(open_uow, clock, polls, claim)


async def _post(
    open_uow: UnitOfWorkFactory, clock: Clock, polls: QuizPollSender | None, claim: PollToPost
) -> None:
    retry_after = POST_RETRY
    reason = ""
    if polls is None:
        status = QuizSlotStatus.PENDING
    else:
        try:
            message_id, poll_id = await polls.send_quiz(
                claim.chat_id, claim.slot.question, claim.open_period
            )
        except TelegramRetryAfter as error:
            status = QuizSlotStatus.PENDING
            retry_after = timedelta(seconds=error.retry_after)
        except TelegramAPIError as error:
            logger.warning("Quiz question %d was refused: %s", claim.slot.id, error)
            status, reason = QuizSlotStatus.FAILED, error.message
        except Exception as error:
            status = (
                QuizSlotStatus.PENDING if never_reached_telegram(error) else QuizSlotStatus.LOST
            )
            reason = str(error) or type(error).__name__
            logger.warning("Quiz question %d: %s (%s)", claim.slot.id, error, status)
        else:
            async with open_uow() as uow:
                await quizzes.record_posted(uow, claim, message_id, poll_id, clock.now())
            return
    async with open_uow() as uow:
        now = clock.now()
        await quizzes.record_not_posted(uow, claim, status, now, retry_after)
        if status != QuizSlotStatus.PENDING:
            await _tell_moderator(uow, claim, status, reason, now)


async def _tell_moderator(
    uow: UnitOfWork, claim: PollToPost, status: QuizSlotStatus, reason: str, now: datetime
) -> None:
    """A question that will not be in the group: the moderator who started the quiz (or the
    group, for a scheduled one) is told, once per session."""
    community = await uow.communities.get(claim.chat_id)
    if community is None:
        return
    _ = translator(community.language)
    what = _(
        "Question {position} of quiz #{id}",
        position=claim.slot.position,
        id=claim.slot.session_id,
    )
    notice = failure_notice(_, what, community.id, name(community.title), claim.started_by)
    key = f"quiz:{claim.slot.session_id}:not-posted"
    await queue_failure_notice(uow, notice, status == QuizSlotStatus.LOST, reason, key, now)


@dataclass
class QuizDriver:
    """Carries out the stored /quiz imports left over (a crash, a failed download) and runs
    the quiz sessions (with the periodic due work), then keeps one scheduler job per
    running session, due at its next step (deterministic id `quiz:<session id>`), so that
    the next question follows the close of the last without waiting for the due work."""

    open_uow: UnitOfWorkFactory
    clock: Clock
    polls: QuizPollSender | None
    scheduler: Any = None
    imports: Callable[[], Awaitable[None]] | None = None  # handlers.quiz_imports.QuizImports.run

    async def run(self) -> None:
        if self.imports is not None:
            try:
                await self.imports()
            except Exception:
                logger.exception("Quiz imports failed; tried again at the next pass")
        await run_quizzes(self.open_uow, self.clock, self.polls)
        if self.scheduler is not None and self.scheduler.running:
            async with self.open_uow(read_only=True) as uow:
                steps = await uow.quizzes.next_steps()
            sync_quiz_jobs(self.scheduler, steps, self.run)

    @classmethod
    def of(cls, context: JobContext) -> QuizDriver:
        """The driver for the app's timed work, from what the quizzes feature wired."""
        imports = context.wired.get(QUIZ_IMPORTS_WORKER)
        return cls(
            context.open_uow,
            context.clock,
            BotQuizPolls(context.bot) if context.bot is not None else None,
            context.scheduler,
            imports=imports.run if isinstance(imports, QuizImports) else None,
        )


async def quiz_work(context: JobContext) -> None:
    """The quizzes feature's timed work: imports left over, then the quiz sessions."""
    await QuizDriver.of(context).run()


async def run_quiz_job(
    run: Callable[[], Awaitable[None]] | None = None, *, session_id: int
) -> None:
    """A session's scheduler job: runs whatever quiz work is due (its step among it)."""
    if run is None:
        logger.error("Quiz job %d fired with no driver", session_id)
        return
    await run()


def sync_quiz_jobs(
    scheduler: Any,
    steps: Sequence[tuple[int, datetime]],
    run: Callable[[], Awaitable[None]] | None = None,
) -> None:
    wanted = {f"{QUIZ_JOB_PREFIX}{session_id}": at for session_id, at in steps}
    for job in scheduler.get_jobs():
        if job.id.startswith(QUIZ_JOB_PREFIX) and job.id not in wanted:
            job.remove()
    for job_id, at in wanted.items():
        try:
            scheduler.add_job(
                QUIZ_JOB,
                "date",
                run_date=at,
                id=job_id,
                args=[run],  # what the job runs reaches it by its argument
                kwargs={"session_id": int(job_id.removeprefix(QUIZ_JOB_PREFIX))},
                replace_existing=True,
                misfire_grace_time=QUIZ_MISFIRE_SECONDS,
            )
        except Exception:
            logger.exception("Quiz job %s could not be scheduled; left to the due work", job_id)
