"""/quiz: a question bank per group, quiz sessions of polls, and the quiz leaderboard.

A question file (/quiz import, as a reply to the file) is downloaded before the batch's
transaction opens (`PreparedQuizFiles.prefetch`); the handler only reads what was fetched."""

from __future__ import annotations

import io
import logging
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime
from html import escape

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, PollAnswer, Update

from bot.domain.errors import QuizFileMissing, QuizFileNotReady, UsageError
from bot.domain.models import Community, LeaderboardRow, UserInfo
from bot.i18n import Translator, translator
from bot.ports import UnitOfWork
from bot.services import quizzes
from bot.services.quizzes import MAX_FILE_BYTES, SessionResults
from handlers.campaigns import local_time
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator
from handlers.middlewares.context import user_info
from handlers.render import actor_of, name
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)

KEPT_FILES = 16
LISTED = 40
GROUP_TYPES = frozenset({"group", "supergroup"})


def import_file_id(update: Update) -> tuple[str, int | None] | None:
    """The file a `/quiz import` reply points at (and its announced size)."""
    message = update.message
    if message is None or message.chat.type not in GROUP_TYPES:
        return None
    words = (message.text or "").split()
    if len(words) < 2 or words[0].split("@", 1)[0] != "/quiz" or words[1].lower() != "import":
        return None
    reply = message.reply_to_message
    if reply is None or reply.document is None:
        return None
    return reply.document.file_id, reply.document.file_size


class PreparedQuizFiles:
    """Question files downloaded ahead of the transaction that imports them."""

    def __init__(self) -> None:
        self._files: OrderedDict[str, bytes | None] = OrderedDict()

    async def prefetch(self, bot: Bot, updates: Iterable[Update]) -> None:
        """Called with no transaction open."""
        for update in updates:
            wanted = import_file_id(update)
            if wanted is None or self._files.get(wanted[0]) is not None:
                continue
            file_id, size = wanted
            self._files[file_id] = await self._download(bot, file_id, size)
            while len(self._files) > KEPT_FILES:
                self._files.popitem(last=False)

    @staticmethod
    async def _download(bot: Bot, file_id: str, size: int | None) -> bytes | None:
        if size is not None and size > MAX_FILE_BYTES:
            return b"\0" * (MAX_FILE_BYTES + 1)  # refused as too large, without downloading
        try:
            file = await bot.get_file(file_id)
            if file.file_path is None:
                return None
            buffer = io.BytesIO()
            await bot.download_file(file.file_path, destination=buffer)
            return buffer.getvalue()
        except Exception as error:
            logger.warning("Could not download the question file %s: %s", file_id, error)
            return None

    def content(self, file_id: str) -> bytes:
        content = self._files.get(file_id)
        if content is None:
            raise QuizFileNotReady()
        return content


def render_board(_: Translator, rows: Iterable[LeaderboardRow]) -> list[str]:
    return [
        _(
            "{rank}. {name} — {points} points",
            rank=row.rank,
            name=name(row.display_name),
            points=row.points,
        )
        for row in rows
    ]


def render_results(results: SessionResults) -> str:
    _ = translator(results.community.language)
    if not results.scores:
        return _("🏁 The quiz is over. Nobody scored this time.")
    lines = [_("🏁 The quiz is over! Top scorers:"), *render_board(_, results.scores)]
    return "\n".join(lines)


def setup() -> Router:
    router = Router(name="quizzes")
    router.message.filter(InGroup())

    @router.message(Command("quiz"), IsModerator())
    async def quiz_command(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        quiz_files: PreparedQuizFiles,
        _: Translator,
    ) -> None:
        action, _sep, rest = (command.args or "").strip().partition(" ")
        action = action.lower()
        actor = actor_of(message)
        if action == "import":
            reply = message.reply_to_message
            if reply is None or reply.document is None:
                raise QuizFileMissing()
            content = quiz_files.content(reply.document.file_id)
            questions = quizzes.parse_question_file(content, reply.document.file_name)
            result = await quizzes.import_questions(uow, community, questions, actor, now)
            outbox.reply(
                message,
                _(
                    "📚 Imported {added} new questions ({already} were in the bank already).",
                    added=result.added,
                    already=result.already,
                ),
            )
        elif action == "add":
            question = quizzes.parse_added_question(rest)
            result = await quizzes.import_questions(uow, community, [question], actor, now)
            if result.added:
                outbox.reply(message, _("📚 Question added to the bank."))
            else:
                outbox.reply(message, _("That question is in the bank already."))
        elif action == "start":
            count, topic = quizzes.parse_start(rest)
            _session_id, question_count = await quizzes.start_session(
                uow, community, count, topic, actor, now
            )
            outbox.reply(
                message,
                _(
                    "🧠 A quiz of {count} questions starts now: {seconds} seconds for each.",
                    count=question_count,
                    seconds=quizzes.DEFAULT_OPEN_PERIOD,
                ),
            )
        elif action == "schedule":
            planned = await quizzes.add_schedule(uow, community, rest, actor, now)
            outbox.reply(
                message,
                _(
                    "🗓 Quiz #{id} scheduled: {schedule}, first at {first}.",
                    id=planned.id,
                    schedule=planned.schedule,
                    first=local_time(community, planned.next_run_at),
                ),
            )
        elif action == "list":
            schedules = await quizzes.list_schedules(uow, community)
            lines = [_("🗓 Scheduled quizzes (times in {timezone}):", timezone=community.timezone)]
            lines.extend(
                _(
                    "#{id} {schedule} — next: {next} — {count} questions{topic}",
                    id=planned.id,
                    schedule=planned.schedule,
                    next=local_time(community, planned.next_run_at),
                    count=planned.count,
                    topic=f" ({escape(planned.topic)})" if planned.topic else "",
                )
                for planned in schedules[:LISTED]
            )
            if not schedules:
                lines.append(_("None yet. Add one like this: /quiz schedule monthly 1 20:00"))
            outbox.reply(message, "\n".join(lines))
        elif action == "cancel":
            schedule_id = quizzes.parse_schedule_id(rest)
            await quizzes.cancel_schedule(uow, community, schedule_id, actor, now)
            outbox.reply(message, _("Scheduled quiz #{id} cancelled.", id=schedule_id))
        elif action == "top":
            await show_top(message, uow, community, outbox, _)
        else:
            raise UsageError(usage=quizzes.USAGE)

    @router.message(Command("quiz"))
    async def quiz_for_members(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        if (command.args or "").strip().lower() == "top":
            await show_top(message, uow, community, outbox, _)

    @router.poll_answer()
    async def poll_answer(
        poll_answer: PollAnswer, uow: UnitOfWork, user: UserInfo | None, now: datetime
    ) -> None:
        if poll_answer.user is None:
            return  # answered on behalf of a chat: nobody to score
        await quizzes.record_answer(
            uow, poll_answer.poll_id, user_info(poll_answer.user), poll_answer.option_ids, now
        )

    return router


async def show_top(
    message: Message, uow: UnitOfWork, community: Community, outbox: Outbox, _: Translator
) -> None:
    rows = await quizzes.leaderboard(uow, community)
    lines = [_("🧠 Quiz leaderboard:")]
    lines.extend(render_board(_, rows))
    if not rows:
        lines.append(_("Nobody has scored in a quiz yet."))
    outbox.reply(message, "\n".join(lines))
