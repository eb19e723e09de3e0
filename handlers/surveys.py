"""/survey: NPS and CSAT satisfaction surveys answered with buttons, their results, and
their numbers for /stats."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.care import NotASurveyMember, Survey, SurveyKind, SurveyStatus
from bot.domain.errors import N_, ModeratorsOnly, UsageError
from bot.domain.models import Community, UserInfo
from bot.i18n import Translator, translator
from bot.parsing.surveys import USAGE, parse_id, parse_kind, parse_planned
from bot.ports import UnitOfWork
from bot.services import surveys
from bot.services.surveys import SurveyResult
from handlers.buttons import RowId, SmallCount
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator, ModeratorDirectory, is_owner_message
from handlers.render import actor_of, name, schedule_text
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox, failure_notice

NPS_ROW = 6  # buttons 0-5 on the first row, 6-10 on the second


def local_time(community: Community, moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(community.timezone)).strftime("%Y-%m-%d %H:%M")


class SurveyButton(CallbackData, prefix="v1sv"):
    """One score of a survey; who answers is the user who pressed, checked against the
    chat's survey and its stored membership."""

    survey_id: RowId
    score: SmallCount


def survey_keyboard(survey: Survey) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=str(score), callback_data=SurveyButton(survey_id=survey.id, score=score).pack()
        )
        for score in survey.kind.scores
    ]
    rows = [buttons[:NPS_ROW], buttons[NPS_ROW:]] if survey.kind == SurveyKind.NPS else [buttons]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def survey_text(_: Translator, community: Community, survey: Survey) -> str:
    if survey.kind == SurveyKind.NPS:
        question = _(
            "How likely are you to recommend {group} to a friend or colleague? "
            "0 = not at all likely, 10 = extremely likely.",
            group=name(community.title),
        )
    else:
        question = _(
            "{question}\n1 = very unsatisfied, 5 = very satisfied.",
            question=escape(survey.question or ""),
        )
    lines = [_("📋 Survey #{id}", id=survey.id), question]
    lines.append(
        _(
            "Open until {when} ({timezone}); you can change your answer until then.",
            when=local_time(community, survey.closes_at),
            timezone=community.timezone,
        )
    )
    if survey.thanks_points:
        lines.append(
            _("Thank you: {points} points for your first answer.", points=survey.thanks_points)
        )
    return "\n".join(lines)


def score_text(kind: SurveyKind, hundredths: int | None) -> str:
    """NPS as a signed whole number, CSAT as an average with two decimals."""
    if hundredths is None:
        return "—"
    if kind == SurveyKind.NPS:
        return f"{hundredths // 100:+d}"
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def change_text(kind: SurveyKind, latest: int | None, previous: int | None) -> str:
    if latest is None or previous is None:
        return "—"
    difference = latest - previous
    if kind == SurveyKind.NPS:
        return f"{difference // 100:+d}"
    sign = "+" if difference >= 0 else "−"
    return f"{sign}{abs(difference) // 100}.{abs(difference) % 100:02d}"


def kind_name(_: Translator, kind: SurveyKind) -> str:
    return _("NPS") if kind == SurveyKind.NPS else _("CSAT")


def result_text(_: Translator, result: SurveyResult) -> str:
    survey = result.survey
    count = survey.answer_count or 0
    lines = [
        _(
            "📊 Survey #{id} ({kind}) is closed: {count} answers.",
            id=survey.id,
            kind=kind_name(_, survey.kind),
            count=count,
        )
    ]
    if survey.question:
        lines.append(escape(survey.question))
    if not count:
        lines.append(_("Nobody answered."))
    elif survey.kind == SurveyKind.NPS:
        lines.append(
            _(
                "NPS: {score} (promoters {promoters}, passives {passives}, "
                "detractors {detractors}).",
                score=score_text(survey.kind, survey.score_hundredths),
                promoters=result.promoters,
                passives=result.passives,
                detractors=result.detractors,
            )
        )
    else:
        lines.append(
            _(
                "Average rating: {score} of 5.",
                score=score_text(survey.kind, survey.score_hundredths),
            )
        )
    previous = result.previous
    if previous is None:
        lines.append(_("This is the first {kind} survey here.", kind=kind_name(_, survey.kind)))
    else:
        lines.append(
            _(
                "Previous survey #{id}: {score} ({answers} answers); change: {change}.",
                id=previous.id,
                score=score_text(previous.kind, previous.score_hundredths),
                answers=previous.answer_count or 0,
                change=change_text(survey.kind, survey.score_hundredths, previous.score_hundredths),
            )
        )
    return "\n".join(lines)


def survey_stats_lines(
    _: Translator, nps_trend: list[Survey], csat_trend: list[Survey]
) -> list[str]:
    """The /stats lines: the latest NPS and CSAT and their change from the survey before
    (each trend newest first, as surveys.survey_trend gives it)."""
    lines = []
    for kind, trend in ((SurveyKind.NPS, nps_trend), (SurveyKind.CSAT, csat_trend)):
        if not trend:
            lines.append(_("{kind}: no survey closed yet.", kind=kind_name(_, kind)))
            continue
        latest = trend[0]
        previous = trend[1] if len(trend) > 1 else None
        lines.append(
            _(
                "{kind}: {score} ({answers} answers), change from the previous: {change}.",
                kind=kind_name(_, kind),
                score=score_text(kind, latest.score_hundredths),
                answers=latest.answer_count or 0,
                change=change_text(
                    kind,
                    latest.score_hundredths,
                    previous.score_hundredths if previous is not None else None,
                ),
            )
        )
    return lines


def queue_survey(
    outbox: Outbox,
    community: Community,
    survey: Survey,
    *,
    by_hand: bool = False,
    moderator_id: int | None = None,
) -> None:
    """A survey's post, through the outgoing queue, once; one started `by_hand` tells its
    moderator (None: an anonymous admin, told in the group) if it cannot be posted."""
    _ = translator(community.language)
    outbox.announce(
        community.id,
        survey_text(_, community, survey),
        f"survey:{survey.id}:post",
        kind="survey",
        markup=survey_keyboard(survey),
        tell_on_failure=None
        if not by_hand
        else failure_notice(
            _, _("Survey #{id}", id=survey.id), community.id, name(community.title), moderator_id
        ),
    )


def queue_result(outbox: Outbox, result: SurveyResult) -> None:
    """The result post, through the outgoing queue, once (keyed by the survey)."""
    _ = translator(result.community.language)
    outbox.announce(
        result.community.id,
        result_text(_, result),
        f"survey:{result.survey.id}:result",
        kind="survey",
    )


def describe(_: Translator, community: Community, survey: Survey) -> str:
    if survey.status == SurveyStatus.OPEN:
        state = _("open until {when}", when=local_time(community, survey.closes_at))
    elif survey.status == SurveyStatus.CLOSED:
        state = _(
            "closed: {score}, {answers} answers",
            score=score_text(survey.kind, survey.score_hundredths),
            answers=survey.answer_count or 0,
        )
    else:
        state = _("cancelled")
    return f"#{survey.id} {kind_name(_, survey.kind)} — {state}"


def setup() -> Router:  # noqa: PLR0915 - one branch per subcommand
    router = Router(name="surveys")
    router.message.filter(InGroup())
    router.callback_query.filter(InGroup())

    @router.message(Command("survey"), IsModerator())
    async def survey_command(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
        _: Translator,
    ) -> None:
        action, _sep, rest = (command.args or "").strip().partition(" ")
        action = action.lower()
        actor = actor_of(message)
        if action in (SurveyKind.NPS.value, SurveyKind.CSAT.value):
            kind, question = parse_kind(f"{action} {rest}")
            survey = await surveys.start(uow, community, kind, question, actor, now)
            queue_survey(outbox, community, survey, by_hand=True, moderator_id=actor)
        elif action == "schedule":
            schedule, kind, question = parse_planned(rest)
            planned = await surveys.add_schedule(
                uow, community, schedule, kind, question, actor, now
            )
            outbox.reply(
                message,
                _(
                    "🗓 Survey schedule #{id}: {schedule} ({kind}), first at {first}.",
                    id=planned.id,
                    schedule=schedule_text(_, planned.schedule),
                    kind=kind_name(_, planned.kind),
                    first=local_time(community, planned.next_run_at),
                ),
            )
        elif action == "list" and not rest.strip():
            shown, schedules = await surveys.listing(uow, community)
            lines = [_("📋 Surveys (times in {timezone}):", timezone=community.timezone)]
            lines.extend(describe(_, community, survey) for survey in shown)
            if not shown:
                lines.append(_("None yet."))
            for planned in schedules:
                lines.append(
                    _(
                        "🗓 #{id} {schedule} ({kind}) — next: {next}",
                        id=planned.id,
                        schedule=schedule_text(_, planned.schedule),
                        kind=kind_name(_, planned.kind),
                        next=local_time(community, planned.next_run_at),
                    )
                )
            settings = surveys.settings(community)
            lines.append(
                _(
                    "Surveys stay open {days} days; thank-you: {points} points.",
                    days=settings.survey_days,
                    points=settings.survey_thanks,
                )
            )
            outbox.reply(message, "\n".join(lines))
        elif action == "close":
            result = await surveys.close_now(uow, community, parse_id(rest), actor, now)
            outbox.reply(message, _("Closing survey #{id} now…", id=result.survey.id))
            queue_result(outbox, result)
        elif action == "cancel":
            cancelled = await surveys.cancel(uow, community, parse_id(rest), actor, now)
            outbox.reply(message, _("Survey #{id} is cancelled.", id=cancelled.id))
        elif action == "unschedule":
            schedule_id = parse_id(rest)
            await surveys.unschedule(uow, community, schedule_id, actor, now)
            outbox.reply(message, _("Survey schedule #{id} is cancelled.", id=schedule_id))
        elif action == "duration":
            changed = await surveys.set_days(uow, community, rest, actor, now)
            outbox.reply(message, _("New surveys stay open {days} days.", days=changed.survey_days))
        elif action == "thanks":
            owner = is_owner_message(message, moderators)
            changed = await surveys.set_thanks(uow, community, rest, actor, now, by_owner=owner)
            outbox.reply(
                message,
                _(
                    "New surveys thank each member with {points} points for a first answer.",
                    points=changed.survey_thanks,
                ),
            )
        else:
            raise UsageError(usage=USAGE)

    @router.message(Command("survey"))
    async def refuse(message: Message, outbox: Outbox, _: Translator) -> None:
        raise ModeratorsOnly()

    @router.callback_query(SurveyButton.filter())
    async def answer(
        callback: CallbackQuery,
        callback_data: SurveyButton,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        try:
            outcome = await surveys.answer(
                uow, community, user.id, callback_data.survey_id, callback_data.score, now
            )
        except NotASurveyMember as refusal:
            outbox.toast(callback, _(type(refusal).message), alert=True)
            return
        if not outcome.first:
            text = _("✅ Your answer is changed to {score}.", score=outcome.score)
        elif outcome.thanks is not None:
            text = _(
                "✅ Thank you! Your answer: {score}. +{points} points.",
                score=outcome.score,
                points=outcome.thanks.amount,
            )
        else:
            text = _("✅ Thank you! Your answer: {score}.", score=outcome.score)
        outbox.toast(callback, text)

    return router


from handlers.survey_work import surveys_work  # noqa: E402 - it renders with this module's texts

FEATURE = Feature(
    "surveys",
    setup,
    commands=(
        FeatureCommand(
            "survey",
            N_(
                "Surveys: /survey nps, /survey csat <question>, /survey schedule <schedule> "
                "nps|csat <question>, /survey list|close|cancel|unschedule <id>, /survey duration "
                "<days>, /survey thanks <points>"
            ),
            moderators=True,
        ),
    ),
    timed_work=(surveys_work,),
    data_sections=("survey_answers", "surveys_created", "survey_schedules_created"),
)
