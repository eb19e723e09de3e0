"""Satisfaction surveys: an NPS question (0-10) or a CSAT rating (1-5) answered with buttons,
one answer per member per survey (changeable while it is open), closed after a set time with
its result kept and posted once, and surveys on a schedule.

Closing is claimed by a conditional update (open -> closed), so however many workers or
restarts run the due work, a survey's result is computed and queued once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.bounds import (
    AUDIT_ACTION,
    PaidSetting,
    check_paid_amount,
    paid_amount_change,
    paid_bound,
)
from bot.domain.care import (
    DETRACTOR_UP_TO,
    PROMOTER_FROM,
    CareSettings,
    InvalidSurveySetting,
    NotASurveyMember,
    Survey,
    SurveyClosed,
    SurveyKind,
    SurveySchedule,
    SurveyStatus,
    UnknownSurvey,
    UnknownSurveySchedule,
    csat_hundredths,
    nps_score,
)
from bot.domain.errors import UsageError
from bot.domain.models import Community, LedgerEntry, LedgerKind, PointsChange
from bot.domain.rewards import OneTimeReward
from bot.domain.rules import timezone_loads
from bot.domain.schedules import Schedule, next_fire, parse_schedule, require_future
from bot.parsing.surveys import USAGE
from bot.ports import UnitOfWork
from bot.services.points import apply_points

logger = logging.getLogger(__name__)

MIN_DAYS, MAX_DAYS = 1, 30
LARGEST_ID = 2**31 - 1
DUE_LIMIT = 20
LISTED = 10
ACTIVE = "active"
DONE = "done"
CANCELLED = "cancelled"
# A scheduled survey that could not open within this time of its moment (the bot was down)
# is skipped rather than opened late.
SCHEDULE_GRACE = timedelta(minutes=60)


@dataclass(frozen=True)
class AnswerOutcome:
    survey: Survey
    score: int
    first: bool
    thanks: PointsChange | None


@dataclass(frozen=True)
class SurveyResult:
    """A closed survey and what its result post says."""

    community: Community
    survey: Survey
    previous: Survey | None
    promoters: int = 0
    passives: int = 0
    detractors: int = 0


def settings(community: Community) -> CareSettings:
    """The community's survey and birthday settings (kept with its other settings)."""
    return community.care


async def start(
    uow: UnitOfWork,
    community: Community,
    kind: SurveyKind,
    question: str | None,
    actor_id: int | None,
    now: datetime,
    *,
    scheduled_by: int | None = None,
) -> Survey:
    """Opens a survey for the community's set number of days. Its opener (the moderator, or
    for a scheduled one whoever scheduled it) earns no thank-you from it."""
    chosen = community.care
    survey = Survey(
        id=0,
        community_id=community.id,
        kind=kind,
        question=question,
        status=SurveyStatus.OPEN,
        opened_at=now,
        closes_at=now + timedelta(days=chosen.survey_days),
        closed_at=None,
        thanks_points=chosen.survey_thanks,
        created_by=actor_id if actor_id is not None else scheduled_by,
    )
    survey_id = await uow.surveys.add(survey, survey.created_by)
    await uow.audit.add(community.id, actor_id, "survey_start", None, f"#{survey_id}", now)
    return replace(survey, id=survey_id)


async def get(uow: UnitOfWork, community: Community, survey_id: int) -> Survey:
    found = None
    if survey_id <= LARGEST_ID:
        found = await uow.surveys.get(community.id, survey_id)
    if found is None:
        raise UnknownSurvey(survey_id=survey_id)
    return found


async def answer(
    uow: UnitOfWork, community: Community, user_id: int, survey_id: int, score: int, now: datetime
) -> AnswerOutcome:
    """The pressing member's answer: refused for a survey of another group, a closed one, a
    score out of range, or someone the stored membership does not know as a member. The
    first answer earns the survey's thank-you once (keyed by survey and member), and not
    again after /forgetme (the reward memory); never to the survey's own opener: nobody pays
    themselves through a setting."""
    survey = await get(uow, community, survey_id)
    if survey.status != SurveyStatus.OPEN or now >= survey.closes_at:
        raise SurveyClosed(survey_id=survey.id)
    if score not in survey.kind.scores:
        raise UsageError(usage=USAGE)
    member = await uow.members.get(community.id, user_id)
    if member is None or not member.is_member:
        raise NotASurveyMember()
    first = await uow.surveys.answer(survey.id, community.id, user_id, score, now)
    thanks = None
    thanked = first and survey.thanks_points > 0 and user_id != survey.created_by
    if thanked and not await _thanked_before(uow, survey, user_id):
        await uow.reward_memory.remember(
            OneTimeReward.SURVEY_THANKS, community.id, user_id, str(survey.id)
        )
        entry = LedgerEntry(
            community_id=community.id,
            user_id=user_id,
            amount=survey.thanks_points,
            kind=LedgerKind.SURVEY_THANKS,
            idempotency_key=f"survey:{survey.id}:{user_id}",
            created_at=now,
            reason=f"survey #{survey.id}",
        )
        thanks = await apply_points(uow, community, entry, member)
    return AnswerOutcome(survey, score, first, thanks)


async def _thanked_before(uow: UnitOfWork, survey: Survey, user_id: int) -> bool:
    """Thanked for this survey before they were forgotten (/forgetme)."""
    key = (survey.community_id, user_id, str(survey.id))
    return bool(await uow.reward_memory.given(OneTimeReward.SURVEY_THANKS, [key]))


async def _close(
    uow: UnitOfWork,
    community: Community,
    survey: Survey,
    status: SurveyStatus,
    now: datetime,
) -> SurveyResult | None:
    scores = list(await uow.surveys.scores(survey.id))
    if survey.kind == SurveyKind.NPS:
        nps = nps_score(scores)
        value = nps * 100 if nps is not None else None
    else:
        value = csat_hundredths(scores)
    if not await uow.surveys.close(survey.id, status, len(scores), value, now):
        return None
    closed = replace(
        survey, status=status, closed_at=now, answer_count=len(scores), score_hundredths=value
    )
    previous = await uow.surveys.closed_before(community.id, survey.kind, survey.id)
    return SurveyResult(
        community=community,
        survey=closed,
        previous=previous,
        promoters=sum(1 for score in scores if score >= PROMOTER_FROM),
        passives=sum(1 for score in scores if DETRACTOR_UP_TO < score < PROMOTER_FROM),
        detractors=sum(1 for score in scores if score <= DETRACTOR_UP_TO),
    )


async def close_now(
    uow: UnitOfWork, community: Community, survey_id: int, actor_id: int | None, now: datetime
) -> SurveyResult:
    """A moderator closes a survey before its time; its result is posted as usual."""
    survey = await get(uow, community, survey_id)
    result = None
    if survey.status == SurveyStatus.OPEN:
        result = await _close(uow, community, survey, SurveyStatus.CLOSED, now)
    if result is None:
        raise SurveyClosed(survey_id=survey.id)
    await uow.audit.add(community.id, actor_id, "survey_close", None, f"#{survey.id}", now)
    return result


async def cancel(
    uow: UnitOfWork, community: Community, survey_id: int, actor_id: int | None, now: datetime
) -> Survey:
    """Ends a survey without a result (it does not count in the trend); thank-yous paid stay."""
    survey = await get(uow, community, survey_id)
    if survey.status != SurveyStatus.OPEN or (
        await _close(uow, community, survey, SurveyStatus.CANCELLED, now) is None
    ):
        raise SurveyClosed(survey_id=survey.id)
    await uow.audit.add(community.id, actor_id, "survey_cancel", None, f"#{survey.id}", now)
    return survey


async def close_due(uow: UnitOfWork, community_id: int, now: datetime) -> list[SurveyResult]:
    """The community's surveys whose time is over, each closed once (a conditional update)."""
    community = await uow.communities.get(community_id)
    if community is None:
        return []
    results = []
    for survey in await uow.surveys.due(community_id, now, DUE_LIMIT):
        result = await _close(uow, community, survey, SurveyStatus.CLOSED, now)
        if result is not None:
            results.append(result)
    return results


async def listing(
    uow: UnitOfWork, community: Community
) -> tuple[list[Survey], list[SurveySchedule]]:
    surveys = list(await uow.surveys.recent(community.id, LISTED))
    return surveys, list(await uow.surveys.schedules_of(community.id))


async def survey_trend(
    uow: UnitOfWork, community_id: int, kind: SurveyKind, limit: int = 2
) -> list[Survey]:
    """The latest closed surveys of a kind, newest first, for /stats: the first is the
    latest score, the next one what it is compared with."""
    return list(await uow.surveys.survey_trend(community_id, kind, limit))


async def set_days(
    uow: UnitOfWork, community: Community, text: str, actor_id: int | None, now: datetime
) -> CareSettings:
    days = _number(text, MIN_DAYS, MAX_DAYS)
    changed = replace(community.care, survey_days=days)
    await uow.communities.save_settings(replace(community, care=changed))
    await uow.audit.add(community.id, actor_id, "survey_duration", None, str(days), now)
    return changed


async def set_thanks(
    uow: UnitOfWork,
    community: Community,
    text: str,
    actor_id: int | None,
    now: datetime,
    *,
    by_owner: bool = False,
) -> CareSettings:
    """The points a first answer earns, bounded (bot.domain.bounds)."""
    setting, word = PaidSetting.SURVEY_THANKS, text.strip()
    if not word.isdecimal():
        raise InvalidSurveySetting(lowest=0, highest=paid_bound(setting, by_owner))
    points = check_paid_amount(setting, int(word), by_owner=by_owner)
    chosen = community.care
    changed = replace(chosen, survey_thanks=points)
    await uow.communities.save_settings(replace(community, care=changed))
    detail = paid_amount_change(setting, chosen.survey_thanks, points)
    await uow.audit.add(community.id, actor_id, AUDIT_ACTION, None, detail, now)
    return changed


def _number(text: str, lowest: int, highest: int) -> int:
    word = text.strip()
    if not word.isdecimal() or len(word) > 6 or not lowest <= int(word) <= highest:
        raise InvalidSurveySetting(lowest=lowest, highest=highest)
    return int(word)


async def add_schedule(
    uow: UnitOfWork,
    community: Community,
    schedule: Schedule,
    kind: SurveyKind,
    question: str | None,
    actor_id: int | None,
    now: datetime,
) -> SurveySchedule:
    """Plans a survey of the kind at each time of the schedule (the first must be ahead)."""
    first = require_future(schedule, now, community.timezone)
    planned = SurveySchedule(0, community.id, schedule.spec, kind, question, ACTIVE, first)
    schedule_id = await uow.surveys.add_schedule(planned, actor_id, now)
    await uow.audit.add(community.id, actor_id, "survey_schedule", None, f"#{schedule_id}", now)
    return SurveySchedule(schedule_id, community.id, schedule.spec, kind, question, ACTIVE, first)


async def unschedule(
    uow: UnitOfWork, community: Community, schedule_id: int, actor_id: int | None, now: datetime
) -> None:
    found = None
    if schedule_id <= LARGEST_ID:
        found = await uow.surveys.get_schedule(community.id, schedule_id)
    if found is None or found.status != ACTIVE:
        raise UnknownSurveySchedule(schedule_id=schedule_id)
    await uow.surveys.move_schedule(schedule_id, None, CANCELLED, None)
    await uow.audit.add(community.id, actor_id, "survey_unschedule", None, f"#{schedule_id}", now)


async def start_scheduled(uow: UnitOfWork, community_id: int, now: datetime) -> list[Survey]:
    """Opens the community's scheduled surveys whose moment has come, each moment once: the
    schedule is moved on from the moment it was read at (a claim) in the same transaction."""
    community = await uow.communities.get(community_id)
    if community is None or not timezone_loads(community.timezone):
        return []
    opened = []
    for planned in await uow.surveys.due_schedules(community_id, now, DUE_LIMIT):
        assert planned.next_run_at is not None
        try:
            schedule, _rest = parse_schedule(planned.schedule)
            following = next_fire(schedule, max(now, planned.next_run_at), community.timezone)
        except Exception:
            logger.exception("Survey schedule %d cannot be read; cancelled", planned.id)
            await uow.surveys.move_schedule(planned.id, planned.next_run_at, CANCELLED, None)
            continue
        status = ACTIVE if following else DONE
        if not await uow.surveys.move_schedule(planned.id, planned.next_run_at, status, following):
            continue
        if now - planned.next_run_at > SCHEDULE_GRACE:
            continue
        opened.append(
            await start(
                uow,
                community,
                planned.kind,
                planned.question,
                None,
                now,
                scheduled_by=planned.created_by,
            )
        )
    return opened
