"""Timed work that no update triggers: campaign runs, newcomer welcomes, referral re-checks.

Everything it says goes through the outgoing queue, enqueued in the same transaction that
claims the work, so a run is posted exactly once however often this is called.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Any, ClassVar

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.models import Campaign, CampaignKind, RunOutcome
from bot.domain.schedules import effective_grace
from bot.i18n import Translator, translator
from bot.ports import Clock, MembershipChecker, ModeratorList, UnitOfWorkFactory
from bot.reads import Reader
from bot.services import campaigns, lotteries, onboarding, referrals
from bot.services.campaigns import DueRun
from bot.services.onboarding import WelcomeBatch
from handlers.checkin import checkin_keyboard
from handlers.lotteries import queue_announcement, queue_draw_result
from handlers.render import announce_referral, name
from runtime import lifecycle as lifecycle_work  # a module: runtime.lifecycle imports handlers
from runtime.care import run_care_work
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)

NAMES_IN_ONE_WELCOME = 30
KEEP_PROCESSED_UPDATES = timedelta(days=7)  # far longer than Telegram keeps an update
CAMPAIGN_JOB = "runtime.jobs:run_campaign_job"
DUE_WORK_JOB = "runtime.jobs:run_due_work_job"
# Private reminders are spread out (20 a second at most), leaving room for replies.
REMINDER_SPACING = timedelta(milliseconds=50)


def render_welcome(batch: WelcomeBatch) -> str:
    _ = translator(batch.community.language)
    shown = [name(newcomer) for _, newcomer in batch.newcomers[:NAMES_IN_ONE_WELCOME]]
    names = ", ".join(shown)
    if len(batch.newcomers) > NAMES_IN_ONE_WELCOME:
        names += " " + _("and {count} more", count=len(batch.newcomers) - NAMES_IN_ONE_WELCOME)
    growth = batch.community.growth
    rules = escape(growth.rules_link or "")
    if growth.welcome_text:
        try:
            return escape(growth.welcome_text).format(
                names=names, group=name(batch.community.title), rules=rules
            )
        except (KeyError, IndexError, ValueError, AttributeError):
            logger.exception(
                "Community %d's welcome text cannot be filled in; the default is used",
                batch.community.id,
            )
    text = _(
        "👋 Welcome, {names}!\nCheck in every day with /checkin (or just send 签到) "
        "and invite friends with /invite.",
        names=names,
    )
    if rules:
        text += "\n" + _("📜 Please read the rules: {rules}", rules=rules)
    return text


def render_custom_text(run: DueRun) -> str:
    context = run.context
    return run.campaign.text.format(
        community=escape(run.community.title),
        date=context.local_date.isoformat(),
        top_member=escape(context.top_member or "—"),
        member_count=context.member_count,
    )


def campaign_markup(_: Translator, campaign: Campaign) -> InlineKeyboardMarkup | None:
    button = campaign.button
    if button is None:
        return None
    if button.action == campaigns.CHECKIN_ACTION:
        return checkin_keyboard(_)
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=button.text, url=button.url)]]
    )


def queue_campaign_run(outbox: Outbox, run: DueRun, *, to_chat: int | None = None) -> int:
    """The run's messages: one post in the group (or to `to_chat` for a test), or private
    reminders. Returns how many were queued."""
    _ = translator(run.community.language)
    campaign = run.campaign
    chat_id = to_chat if to_chat is not None else run.community.id
    key = f"campaign:{campaign.id}:{run.scheduled_at.isoformat()}"
    if to_chat is not None:
        key = f"test:{key}:{to_chat}"
    run_id = run.run_id if to_chat is None else None
    if campaign.kind == CampaignKind.STREAK_REMINDER:
        recipients = run.context.reminder_recipients
        if to_chat is not None:
            outbox.announce(
                chat_id, _("Reminders would go to {count} members now.", count=len(recipients)), key
            )
            return 1
        for index, recipient in enumerate(recipients):
            outbox.announce(
                recipient.user_id,
                _(
                    "⏰ {name}, your {streak}-day streak in {group} ends tonight. "
                    "Send /checkin there to keep it!",
                    name=name(recipient.display_name),
                    streak=recipient.streak,
                    group=name(run.community.title),
                ),
                f"reminder:{run.community.id}:{recipient.user_id}:{run.context.local_date}",
                kind="reminder",
                not_before=run.scheduled_at + REMINDER_SPACING * index,
                campaign_run_id=run_id,
            )
        return len(recipients)
    if campaign.kind == CampaignKind.CHECKIN_POST:
        text = _("📅 Daily check-in! Press the button to check in and keep your streak.")
        outbox.announce(
            chat_id, text, key, kind="campaign", markup=checkin_keyboard(_), campaign_run_id=run_id
        )
        return 1
    if campaign.kind == CampaignKind.WEEKLY_LEADERBOARD:
        lines = [_("🏆 Last week's top 10")]
        lines.extend(
            f"{row.rank}. {name(row.display_name)} — {row.points}"
            for row in run.context.leaderboard
        )
        if not run.context.leaderboard:
            lines.append(_("No points were earned last week."))
        outbox.announce(chat_id, "\n".join(lines), key, kind="campaign", campaign_run_id=run_id)
        return 1
    outbox.announce(
        chat_id,
        render_custom_text(run),
        key,
        kind="campaign",
        markup=campaign_markup(_, campaign),
        photo=campaign.photo,
        campaign_run_id=run_id,
    )
    return 1


async def run_due_work(
    open_uow: UnitOfWorkFactory,
    clock: Clock,
    members: MembershipChecker | None = None,
) -> None:
    """Campaign runs, welcomes and referral credits that are due now, queued for sending.

    Each community's work runs in transactions of its own: an error in one group (a bad row,
    a bug) is logged and undoes only that group's step, and the other groups go on.
    """
    now = clock.now()
    async with open_uow() as uow:
        posting = set(await uow.campaigns.communities_due(now))
        posting.update(await onboarding.communities_with_welcomes_due(uow, now))
        referring = set(await uow.referrals.communities_due(now))
        drawing = set(await uow.lotteries.communities_due(now))
    for community_id in sorted(posting | referring | drawing):
        if community_id in drawing:
            await _isolated("lotteries", community_id, draw_lotteries(open_uow, community_id, now))
        if community_id in posting:
            await _isolated("posts", community_id, post_due(open_uow, community_id, now))
        if community_id in referring:
            await _isolated(
                "referrals",
                community_id,
                qualify_referrals(open_uow, members, now, community_id),
            )
    await _isolated("care", None, run_care_work(open_uow, now))
    await _isolated("housekeeping", None, forget_processed_updates(open_uow, now))


async def _isolated(step: str, community_id: int | None, work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        logger.exception("Timed work (%s) failed for community %s; skipped", step, community_id)


async def post_due(open_uow: UnitOfWorkFactory, community_id: int, now: datetime) -> None:
    """One community's due campaign runs and newcomers' welcome, queued in one transaction."""
    outbox = Outbox()
    async with open_uow() as uow:
        for run in await campaigns.claim_due_runs(uow, now, community_id):
            try:
                queue_campaign_run(outbox, run)
            except Exception:
                logger.exception("Campaign %d could not be rendered; skipped", run.campaign.id)
                if run.run_id is not None:
                    await uow.campaigns.settle_run(
                        run.run_id, RunOutcome.FAILED, "the text could not be filled in", now
                    )
        for batch in await onboarding.take_due_welcomes(uow, now, community_id):
            key = f"welcome:{batch.community.id}:{batch.newcomers[0][0]}"  # welcomed once
            outbox.announce(batch.community.id, render_welcome(batch), key, kind="welcome")
        await outbox.queue_announcements(uow.outgoing, now)


async def draw_lotteries(open_uow: UnitOfWorkFactory, community_id: int, now: datetime) -> None:
    """One community's repeated lotteries announced and lotteries due drawn (each claimed by
    a conditional UPDATE), queued for sending, in one transaction."""
    outbox = Outbox()
    async with open_uow() as uow:
        for copy in await lotteries.run_repeats(uow, now, community_id):
            community = await uow.communities.get(community_id)
            if community is not None:
                queue_announcement(outbox, community, copy)
        for result in await lotteries.draw_due(uow, now, community_id):
            queue_draw_result(outbox, result)
        await outbox.queue_announcements(uow.outgoing, now)


async def forget_processed_updates(open_uow: UnitOfWorkFactory, now: datetime) -> None:
    async with open_uow() as uow:
        await uow.processed_updates.forget_before(now - KEEP_PROCESSED_UPDATES)


async def qualify_referrals(
    open_uow: UnitOfWorkFactory,
    members: MembershipChecker | None,
    now: datetime,
    community_id: int | None = None,
) -> None:
    """Pays the referrals that are due, in three steps: pick them (a transaction), ask
    Telegram whether each newcomer is still in the group (no transaction open), settle them
    and queue the inviters' news (a transaction). Without a way to ask, nothing is paid."""
    async with open_uow() as uow:
        candidates = await referrals.referrals_to_confirm(uow, now, community_id)
    if not candidates:
        return
    verdicts = []
    for candidate in candidates:
        still_member = None
        if members is not None:
            still_member = await members.is_member(candidate.community.id, candidate.invitee_id)
        verdicts.append((candidate, still_member))
    outbox = Outbox()
    async with open_uow() as uow:
        for candidate, still_member in verdicts:
            result = await referrals.settle_confirmed(uow, candidate, still_member, now)
            if result is not None:
                reachable = await uow.users.can_message(result.inviter_id)
                announce_referral(outbox, result, reachable)
        await outbox.queue_announcements(uow.outgoing, now)


@dataclass
class JobRuntime:
    """What scheduler jobs, referenced by "module:function" with primitive arguments, run with."""

    open_uow: UnitOfWorkFactory
    clock: Clock
    scheduler: Any
    members: MembershipChecker | None = None
    quizzes: Callable[[], Awaitable[None]] | None = None  # runtime.quizzes.QuizDriver.run
    current: ClassVar[JobRuntime | None] = None
    moderator_list: ModeratorList | None = None
    reader: Reader | None = None

    async def run(self) -> None:
        """Due work and the quiz sessions, then the campaign jobs brought in line with the
        campaigns table."""
        await run_due_work(self.open_uow, self.clock, self.members)
        if self.quizzes is not None:
            await self.quizzes()
        await lifecycle_work.run_lifecycle(
            self.open_uow, self.clock.now(), self.moderator_list, self.reader
        )
        if self.scheduler is not None and self.scheduler.running:
            sync_campaign_jobs(self.scheduler, await scheduled_campaigns(self.open_uow))


async def run_due_work_job() -> None:
    """The periodic job: catches every run even if a campaign's own job was missed."""
    if JobRuntime.current is not None:
        await JobRuntime.current.run()


async def run_campaign_job(campaign_id: int) -> None:
    """A campaign's scheduler job: runs whatever is due (the campaign's run among it)."""
    runtime = JobRuntime.current
    if runtime is None:
        logger.error("Campaign job %d fired with no runtime", campaign_id)
        return
    await runtime.run()


async def scheduled_campaigns(
    open_uow: UnitOfWorkFactory,
) -> Sequence[Campaign]:
    async with open_uow() as uow:
        return await uow.campaigns.scheduled()


def sync_campaign_jobs(scheduler: Any, scheduled: Sequence[Campaign]) -> None:
    """Makes the scheduler hold exactly one job per scheduled campaign, derived from the
    campaigns table (the source of truth), with deterministic ids. Never raises for one
    campaign: one whose job cannot be added is logged and left to the periodic due work."""
    wanted = {f"campaign:{campaign.id}": campaign for campaign in scheduled}
    for job in scheduler.get_jobs():
        if job.id.startswith("campaign:") and job.id not in wanted:
            job.remove()
    for job_id, campaign in wanted.items():
        try:
            scheduler.add_job(
                CAMPAIGN_JOB,
                "date",
                run_date=campaign.next_run_at,
                id=job_id,
                kwargs={"campaign_id": campaign.id},
                replace_existing=True,
                misfire_grace_time=effective_grace(campaign.grace_minutes) * 60,
            )
        except Exception:
            logger.exception("Campaign %d could not be scheduled; skipped", campaign.id)
