"""/quiz: a question bank per group, quiz sessions of polls, and the quiz leaderboard.

A question file (/quiz import, as a reply to the file) is not downloaded here: the handler
stores the request and the import worker (runtime/quiz_imports.py) downloads, reads and
imports it after the commit, off the intake. Quiz answers count only from the group's
members; whether someone the bot has no member row for is in the group is asked before the
batch's transaction opens (`QuizAnswerers.prefetch`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from html import escape

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendMessage
from aiogram.types import Message, PollAnswer, ReplyParameters, Update

from bot.domain import quiz_files
from bot.domain.errors import N_, ModeratorsOnly, QuizFileMissing, QuizFileNotReady, UsageError
from bot.domain.models import Community, LeaderboardRow, QuizImport, UserInfo
from bot.i18n import Translator, translator
from bot.ports import Clock, UnitOfWork, UnitOfWorkFactory
from bot.services import quizzes
from bot.services.quizzes import ImportOutcome, SessionResults
from handlers.campaigns import local_time
from handlers.errors import refusal_text
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator
from handlers.middlewares.console import console_header
from handlers.middlewares.context import user_info
from handlers.render import actor_of, in_brackets, name, schedule_text
from runtime.features import Feature, FeatureCommand, Wiring, WiringContext
from runtime.membership_checker import BotMembershipChecker
from runtime.outbox import Build, Outbox

logger = logging.getLogger(__name__)

LISTED = 40
# What getChatMember said of someone with no member row is trusted this long.
ANSWERER_TTL = timedelta(minutes=10)
KEPT_ANSWERERS = 50_000
KEPT_POLLS = 10_000
MEMBERSHIP_CHECKS_AT_ONCE = 8


class QuizAnswerers:
    """Whether the people answering quiz polls are in the poll's group, for those the bot
    has no member row of (someone quiet since before the bot came, or an outsider voting
    in a public group): `prefetch` reads which answerers have a row and asks Telegram
    (getChatMember) about the others, with no transaction open; handlers only read."""

    def __init__(self, open_uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._open_uow = open_uow
        self._clock = clock
        self._poll_communities: dict[str, int] = {}
        self._verdicts: dict[tuple[int, int], tuple[datetime, bool]] = {}

    async def prefetch(self, bot: Bot, updates: Iterable[Update]) -> None:
        """Called with no transaction open. When it fails, the answers of those not asked
        are ignored (logged), and the batch goes on."""
        try:
            await self._prefetch(bot, updates)
        except Exception as error:
            logger.warning("Could not check who answered the quiz polls: %r", error)

    async def _prefetch(self, bot: Bot, updates: Iterable[Update]) -> None:
        answers = [
            (update.poll_answer.poll_id, update.poll_answer.user.id)
            for update in updates
            if update.poll_answer is not None
            and update.poll_answer.user is not None
            and not update.poll_answer.user.is_bot
        ]
        if not answers:
            return
        now = self._clock.now()
        async with self._open_uow(read_only=True) as uow:
            unknown = [poll_id for poll_id, _ in answers if poll_id not in self._poll_communities]
            if unknown:
                if len(self._poll_communities) > KEPT_POLLS:
                    self._poll_communities.clear()
                self._poll_communities.update(await uow.quizzes.poll_communities(unknown))
            pairs = [
                (self._poll_communities[poll_id], user_id)
                for poll_id, user_id in answers
                if poll_id in self._poll_communities
            ]
            pairs = [pair for pair in pairs if self._verdict(pair, now) is None]
            with_rows = await uow.quizzes.with_member_rows(pairs)
        to_ask = sorted(set(pairs) - with_rows)
        if not to_ask:
            return
        checker = BotMembershipChecker(bot)
        at_once = asyncio.Semaphore(MEMBERSHIP_CHECKS_AT_ONCE)

        async def ask(community_id: int, user_id: int) -> bool | None:
            async with at_once:
                return await checker.is_member(community_id, user_id)

        verdicts = await asyncio.gather(*(ask(*pair) for pair in to_ask))
        if len(self._verdicts) + len(to_ask) > KEPT_ANSWERERS:
            self._verdicts.clear()
        for pair, verdict in zip(to_ask, verdicts, strict=True):
            if verdict is not None:
                self._verdicts[pair] = (now, verdict)

    def in_group(self, poll_id: str, user_id: int) -> bool | None:
        """What Telegram said lately of that user in the poll's group; None when not asked
        (they have a member row, or Telegram could not say)."""
        community_id = self._poll_communities.get(poll_id)
        if community_id is None:
            return None
        return self._verdict((community_id, user_id), self._clock.now())

    def _verdict(self, pair: tuple[int, int], now: datetime) -> bool | None:
        found = self._verdicts.get(pair)
        if found is None or now - found[0] >= ANSWERER_TTL:
            return None
        return found[1]


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


def queue_import_reply(outbox: Outbox, outcome: ImportOutcome) -> None:
    """The moderator's answer to a finished /quiz import, through the outgoing queue (once,
    even if the bot stops right after the import), as a reply to their command."""
    claim = outcome.claim
    _ = translator(outcome.community.language)
    if outcome.result is not None:
        text = _(
            "📚 Imported {added} new questions ({already} were in the bank already).",
            added=outcome.result.added,
            already=outcome.result.already,
        )
    else:
        assert outcome.refusal is not None
        text = refusal_text(outcome.refusal, _)
    if claim.answer_chat_id is not None:
        outbox.announce(
            claim.answer_chat_id,
            console_header(outcome.community) + text,
            f"quiz-import:{claim.id}",
            kind="quiz_import",
            reply_to=abs(claim.command_message_id),
        )
        return
    if claim.thread_id is not None:
        outbox.use_thread(claim.community_id, claim.thread_id)
    outbox.announce(
        claim.community_id,
        text,
        f"quiz-import:{claim.id}",
        kind="quiz_import",
        reply_to=claim.command_message_id,
    )


def import_request(message: Message, community: Community, outbox: Outbox) -> QuizImport:
    """The file is the command's own (the command as its caption) or the one it replies to;
    from the private console, the answer goes back there."""
    document = message.document
    if document is None and message.reply_to_message is not None:
        document = message.reply_to_message.document
    if document is None:
        raise QuizFileMissing()
    console = outbox.route if outbox.route is not None and outbox.route.reply_to else None
    return QuizImport(
        id=0,
        community_id=community.id,
        command_message_id=message.message_id,  # negative from the console
        answer_chat_id=console.private_chat_id if console else None,
        thread_id=message.message_thread_id if message.is_topic_message else None,
        file_id=document.file_id,
        file_name=(document.file_name or "")[:256] or None,
        file_size=document.file_size,
        attempt=0,
        created_by=actor_of(message),
    )


def not_imported_yet(message: Message, _: Translator) -> SendMessage:
    return SendMessage(
        chat_id=message.chat.id,
        message_thread_id=message.message_thread_id if message.is_topic_message else None,
        text=refusal_text(QuizFileNotReady(), _),
        reply_parameters=ReplyParameters(
            message_id=message.message_id, allow_sending_without_reply=True
        ),
    )


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
        quiz_imports: Build,
        _: Translator,
    ) -> None:
        action, _sep, rest = (command.args or "").strip().partition(" ")
        action = action.lower()
        actor = actor_of(message)
        if action == "import":
            await quizzes.request_import(
                uow, community, import_request(message, community, outbox), now
            )
            outbox.later(quiz_imports, not_imported_yet(message, _))
        elif action == "add":
            question = quiz_files.parse_added_question(rest)
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
                    schedule=schedule_text(_, planned.schedule),
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
                    schedule=schedule_text(_, planned.schedule),
                    next=local_time(community, planned.next_run_at),
                    count=planned.count,
                    topic=in_brackets(_, escape(planned.topic)) if planned.topic else "",
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
        else:
            raise ModeratorsOnly()

    @router.poll_answer()
    async def poll_answer(
        poll_answer: PollAnswer,
        uow: UnitOfWork,
        user: UserInfo | None,
        now: datetime,
        quiz_answerers: QuizAnswerers,
    ) -> None:
        if poll_answer.user is None:
            return  # answered on behalf of a chat: nobody to score
        await quizzes.record_answer(
            uow,
            poll_answer.poll_id,
            user_info(poll_answer.user),
            poll_answer.option_ids,
            now,
            in_group=quiz_answerers.in_group(poll_answer.poll_id, poll_answer.user.id),
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


from handlers.quiz_imports import QUIZ_IMPORTS_WORKER, BotQuizFiles, QuizImports  # noqa: E402 - it renders with this module's texts
from handlers.quiz_sessions import quiz_work  # noqa: E402 - it renders with this module's texts


def _wire(context: WiringContext) -> Wiring:
    imports = QuizImports(context.open_uow, context.clock, BotQuizFiles(context.bot))
    answerers = QuizAnswerers(context.open_uow, context.clock)
    return Wiring(
        data={
            "quiz_imports": imports.after_commit,
            QUIZ_IMPORTS_WORKER: imports,
            "quiz_answerers": answerers,
        },
        prefetch=(answerers,),
    )


FEATURE = Feature(
    "quizzes",
    setup,
    commands=(
        FeatureCommand(
            "quiz",
            N_("Quiz leaderboard: /quiz top (moderators: start|schedule|list|cancel|add|import)"),
            answered_privately=("import", "add", "schedule", "list", "cancel"),
        ),
    ),
    timed_work=(quiz_work,),
    wire=_wire,
    data_sections=(
        "quiz_sessions_started",
        "quiz_schedules_created",
        "quiz_answers",
        "quiz_imports_requested",
    ),
)
