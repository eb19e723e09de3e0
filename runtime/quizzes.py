"""Quiz sessions driven by timed work: each pass closes and scores the polls whose period
ended, posts the next question, and queues a finished session's results.

A question is claimed in one transaction, posted with no transaction open, and its poll id
and message id recorded in the next one; results go through the outgoing queue, once per
session. A restart resumes from what is stored."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramRetryAfter

from bot.domain.models import QuizQuestion, QuizSlotStatus
from bot.ports import Clock, QuizPollSender, UnitOfWorkFactory
from bot.services import quizzes
from bot.services.quizzes import PollToPost
from handlers.quizzes import render_results
from runtime.outbox import Outbox
from runtime.sender import never_reached_telegram

logger = logging.getLogger(__name__)

MAX_PASSES = 10


class BotQuizPolls:
    """The QuizPollSender of bot.ports over the Bot API: non-anonymous quiz polls."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send_quiz(
        self, chat_id: int, question: QuizQuestion, open_period: int
    ) -> tuple[int, str]:
        several = len(question.correct) > 1
        message = await self._bot.send_poll(
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
    if polls is None:
        status = QuizSlotStatus.PENDING
    else:
        try:
            message_id, poll_id = await polls.send_quiz(
                claim.chat_id, claim.slot.question, claim.open_period
            )
        except TelegramRetryAfter:
            status = QuizSlotStatus.PENDING
        except TelegramAPIError as error:
            logger.warning("Quiz question %d was refused: %s", claim.slot.id, error)
            status = QuizSlotStatus.FAILED
        except Exception as error:
            status = (
                QuizSlotStatus.PENDING if never_reached_telegram(error) else QuizSlotStatus.LOST
            )
            logger.warning("Quiz question %d: %s (%s)", claim.slot.id, error, status)
        else:
            async with open_uow() as uow:
                await quizzes.record_posted(uow, claim, message_id, poll_id, clock.now())
            return
    async with open_uow() as uow:
        await quizzes.record_not_posted(uow, claim, status, clock.now())
