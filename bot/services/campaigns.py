"""Campaigns: posts on a schedule in the community's timezone, each run exactly once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from bot.domain.errors import (
    InvalidSchedule,
    OutOfRange,
    UnknownCampaign,
    UnknownTimezone,
)
from bot.domain.models import (
    CHECKIN_BUTTON,
    Campaign,
    CampaignKind,
    CampaignRun,
    CampaignStatus,
    Community,
    LeaderboardPeriod,
    LeaderboardRow,
    RunOutcome,
)
from bot.domain.rules import canonical_timezone, local_day, period_start, timezone_loads
from bot.domain.schedules import (
    MAX_GRACE_MINUTES,
    MIN_GRACE_MINUTES,
    Schedule,
    effective_grace,
    next_fire,
    parse_schedule,
    require_future,
)
from bot.parsing.campaigns import CampaignDraft
from bot.ports import UnitOfWork
from bot.services.checkin import carry_checkins_to_timezone

logger = logging.getLogger(__name__)

CHECKIN_ACTION = CHECKIN_BUTTON  # the name runtime/jobs.py reads
MISSED_RUNS_RECORDED = 10
FIRE_TIMES_SCANNED = 500
DUE_BATCH = 50
REMINDER_MIN_STREAK = 3
MAX_TIMEZONE_SHOWN = 64


@dataclass(frozen=True)
class ReminderRecipient:
    user_id: int
    display_name: str
    streak: int


@dataclass(frozen=True)
class RunContext:
    """What a run's text may need, gathered at run time."""

    local_date: date
    member_count: int
    top_member: str | None
    leaderboard: list[LeaderboardRow] = field(default_factory=list)
    reminder_recipients: list[ReminderRecipient] = field(default_factory=list)


@dataclass(frozen=True)
class DueRun:
    campaign: Campaign
    community: Community
    scheduled_at: datetime
    context: RunContext
    run_id: int | None = None  # the recorded run its queued messages report to


async def create(
    uow: UnitOfWork, community: Community, draft: CampaignDraft, actor_id: int | None, now: datetime
) -> Campaign:
    first = require_future(draft.schedule, now, community.timezone)
    campaign = Campaign(
        id=0,
        community_id=community.id,
        kind=CampaignKind.CUSTOM,
        schedule=draft.schedule.spec,
        text=draft.text,
        status=CampaignStatus.ACTIVE,
        next_run_at=first,
        photo=draft.photo,
        button=draft.button,
        created_by=actor_id,
    )
    campaign_id = await uow.campaigns.add(campaign, now)
    await uow.audit.add(community.id, actor_id, "campaign_add", None, f"#{campaign_id}", now)
    return replace(campaign, id=campaign_id)


async def get(uow: UnitOfWork, community: Community, campaign_id: int) -> Campaign:
    campaign = await uow.campaigns.get(community.id, campaign_id)
    if campaign is None:
        raise UnknownCampaign(campaign_id=campaign_id)
    return campaign


async def listing(uow: UnitOfWork, community: Community) -> list[Campaign]:
    return list(await uow.campaigns.of_community(community.id))


async def details(
    uow: UnitOfWork, community: Community, campaign_id: int
) -> tuple[Campaign, list[CampaignRun]]:
    campaign = await get(uow, community, campaign_id)
    return campaign, list(await uow.campaigns.recent_runs(campaign.id, 10))


async def change_status(
    uow: UnitOfWork,
    community: Community,
    campaign_id: int,
    status: CampaignStatus,
    actor_id: int | None,
    now: datetime,
) -> Campaign:
    """Pause, resume or delete. Resuming schedules the next run after now: no backlog."""
    campaign = await get(uow, community, campaign_id)
    next_run = None
    if status == CampaignStatus.ACTIVE:
        next_run = next_fire(_schedule(campaign), now, community.timezone)
        if next_run is None:
            status = CampaignStatus.DONE
    await uow.campaigns.set_state(campaign.id, status, next_run)
    await uow.audit.add(community.id, actor_id, f"campaign_{status}", None, f"#{campaign.id}", now)
    return replace(campaign, status=status, next_run_at=next_run)


async def set_grace(
    uow: UnitOfWork,
    community: Community,
    campaign_id: int,
    minutes: int,
    actor_id: int | None,
    now: datetime,
) -> Campaign:
    """How late a run may still be posted after downtime; later ones are recorded as missed."""
    if not MIN_GRACE_MINUTES <= minutes <= MAX_GRACE_MINUTES:
        raise OutOfRange(lowest=MIN_GRACE_MINUTES, highest=MAX_GRACE_MINUTES)
    campaign = await get(uow, community, campaign_id)
    await uow.campaigns.set_grace(campaign.id, minutes)
    await uow.audit.add(
        community.id, actor_id, "campaign_grace", None, f"#{campaign.id} {minutes}", now
    )
    return replace(campaign, grace_minutes=minutes)


async def enable_builtin(
    uow: UnitOfWork,
    community: Community,
    kind: CampaignKind,
    schedule: Schedule,
    actor_id: int | None,
    now: datetime,
) -> Campaign:
    """Switches on a built-in campaign (or moves it to a new time; see
    bot.parsing.campaigns.parse_builtin_schedule)."""
    first = require_future(schedule, now, community.timezone)
    existing = await uow.campaigns.builtin(community.id, kind)
    if existing is not None:
        await uow.campaigns.set_state(existing.id, CampaignStatus.DELETED, None)
    campaign = Campaign(
        id=0,
        community_id=community.id,
        kind=kind,
        schedule=schedule.spec,
        text="",
        status=CampaignStatus.ACTIVE,
        next_run_at=first,
        created_by=actor_id,
    )
    campaign_id = await uow.campaigns.add(campaign, now)
    await uow.audit.add(community.id, actor_id, "campaign_enable", None, str(kind), now)
    return replace(campaign, id=campaign_id)


async def disable_builtin(
    uow: UnitOfWork, community: Community, kind: CampaignKind, actor_id: int | None, now: datetime
) -> bool:
    existing = await uow.campaigns.builtin(community.id, kind)
    if existing is None:
        return False
    await uow.campaigns.set_state(existing.id, CampaignStatus.DELETED, None)
    await uow.audit.add(community.id, actor_id, "campaign_disable", None, str(kind), now)
    return True


def _schedule(campaign: Campaign) -> Schedule:
    schedule, _ = parse_schedule(campaign.schedule)
    return schedule


def _fire_times(
    campaign: Campaign, next_run_at: datetime, timezone: str, now: datetime
) -> tuple[list[datetime], datetime | None]:
    """The run times that have passed (oldest first) and the next one after now."""
    schedule = _schedule(campaign)
    passed: list[datetime] = []
    fire: datetime | None = next_run_at
    while fire is not None and fire <= now and len(passed) < FIRE_TIMES_SCANNED:
        passed.append(fire)
        fire = next_fire(schedule, fire, timezone)
    if fire is not None and fire <= now:
        fire = next_fire(schedule, now, timezone)
    return passed, fire


async def claim_due_runs(
    uow: UnitOfWork, now: datetime, community_id: int | None = None
) -> list[DueRun]:
    """Runs whose time has come (in one community, or all), each claimed by its key
    (campaign + scheduled time) in this transaction. A run later than the campaign's grace
    period is recorded as missed instead; of several passed runs only the newest may post, so
    there is never a backlog. A campaign whose stored schedule cannot be read is paused."""
    due_runs = []
    for campaign in await uow.campaigns.due(now, DUE_BATCH, community_id):
        community = await uow.communities.get(campaign.community_id)
        if community is None or campaign.next_run_at is None:
            continue
        if not timezone_loads(community.timezone):
            logger.warning(
                "Community %d has an unknown timezone %r; campaign %d waits until it is set",
                community.id,
                community.timezone,
                campaign.id,
            )
            continue
        try:
            passed, fire = _fire_times(campaign, campaign.next_run_at, community.timezone, now)
        except Exception:
            logger.exception("Campaign %d has a schedule I cannot read; paused", campaign.id)
            await uow.campaigns.set_state(campaign.id, CampaignStatus.PAUSED, None)
            await uow.audit.add(
                community.id, None, "campaign_unreadable", None, f"#{campaign.id}", now
            )
            continue
        grace = timedelta(minutes=effective_grace(campaign.grace_minutes))
        newest = passed[-1]
        postable = now - newest <= grace
        missed = passed[:-1] if postable else passed
        for moment in missed[-MISSED_RUNS_RECORDED:]:
            await uow.campaigns.record_run(campaign.id, moment, RunOutcome.MISSED, None, now)
        status = CampaignStatus.ACTIVE if fire is not None else CampaignStatus.DONE
        await uow.campaigns.set_state(campaign.id, status, fire)
        run_id = None
        if postable:
            run_id = await uow.campaigns.record_run(
                campaign.id, newest, RunOutcome.QUEUED, None, now
            )
        if run_id is not None:
            context = await run_context(uow, community, campaign.kind, newest, ran_at=now)
            if campaign.kind == CampaignKind.STREAK_REMINDER and not context.reminder_recipients:
                await uow.campaigns.settle_run(run_id, RunOutcome.POSTED, None, now)
            due_runs.append(DueRun(campaign, community, newest, context, run_id))
    return due_runs


async def test_run(
    uow: UnitOfWork, community: Community, campaign_id: int, now: datetime
) -> DueRun:
    """A campaign's post as it would look now (for `/campaign test`)."""
    campaign = await get(uow, community, campaign_id)
    context = await run_context(uow, community, campaign.kind, now)
    return DueRun(campaign, community, now, context)


async def run_context(
    uow: UnitOfWork,
    community: Community,
    kind: CampaignKind,
    at: datetime,
    *,
    ran_at: datetime | None = None,
) -> RunContext:
    """What a run scheduled `at` speaks of: its day and week, whenever it actually runs
    (`ran_at`). A streak reminder that runs after its day ended reminds no one: those
    streaks are over."""
    today = local_day(at, community.timezone)
    week_start = period_start(at, community.timezone, LeaderboardPeriod.WEEK)
    assert week_start is not None
    leaders = await uow.ledger.top_earners_since(community.id, week_start, 1)
    context = RunContext(
        local_date=today,
        member_count=await uow.members.count_current(community.id),
        top_member=leaders[0].display_name if leaders else None,
    )
    if kind == CampaignKind.WEEKLY_LEADERBOARD:
        last_week = week_start - timedelta(days=7)
        board = await uow.ledger.top_earners_since(community.id, last_week, 10, until=week_start)
        context = replace(context, leaderboard=list(board))
    still_today = local_day(ran_at or at, community.timezone) == today
    if kind == CampaignKind.STREAK_REMINDER and still_today:
        candidates = await uow.members.reminder_candidates(
            community.id, today - timedelta(days=1), REMINDER_MIN_STREAK
        )
        recipients = [
            ReminderRecipient(user_id, name, streak) for user_id, name, streak in candidates
        ]
        context = replace(context, reminder_recipients=recipients)
    return context


async def set_timezone(
    uow: UnitOfWork, community: Community, timezone: str, actor_id: int | None, now: datetime
) -> Community:
    """Moves the community to another IANA timezone (`Area/City` or UTC); scheduled
    campaigns keep their local times, and recent check-ins count for their real day there."""
    canonical = canonical_timezone(timezone)
    if canonical is None:
        raise UnknownTimezone(timezone=timezone[:MAX_TIMEZONE_SHOWN])
    timezone = canonical
    await carry_checkins_to_timezone(uow, community.id, timezone, now)
    await uow.communities.set_timezone(community.id, timezone)
    moved = replace(community, timezone=timezone)
    for campaign in await uow.campaigns.of_community(community.id):
        if campaign.status == CampaignStatus.ACTIVE:
            try:
                next_run = next_fire(_schedule(campaign), now, timezone)
            except InvalidSchedule:
                continue  # an unreadable stored schedule: paused by the next due-work run
            await uow.campaigns.set_state(campaign.id, campaign.status, next_run)
    await uow.audit.add(community.id, actor_id, "timezone", None, timezone, now)
    return moved
