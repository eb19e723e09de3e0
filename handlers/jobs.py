"""Timed work that no update triggers: campaign runs, newcomer welcomes, referral re-checks.

Everything it says goes through the outgoing queue, enqueued in the same transaction that
claims the work, so a run is posted exactly once however often this is called.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from typing import Any, ClassVar

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import Campaign, CampaignKind
from bot.i18n import Translator, translator
from bot.ports import Clock
from bot.services import campaigns, onboarding, referrals
from bot.services.campaigns import DueRun
from bot.services.onboarding import WelcomeBatch
from handlers.checkin import checkin_keyboard
from handlers.outbox import Outbox
from handlers.render import announce_referral, name
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

NAMES_IN_ONE_WELCOME = 30
KEEP_PROCESSED_UPDATES = timedelta(days=7)  # far longer than Telegram keeps an update
CAMPAIGN_JOB = "handlers.jobs:run_campaign_job"
DUE_WORK_JOB = "handlers.jobs:run_due_work_job"
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
        return escape(growth.welcome_text).format(
            names=names, group=name(batch.community.title), rules=rules
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
            )
        return len(recipients)
    if campaign.kind == CampaignKind.CHECKIN_POST:
        text = _("📅 Daily check-in! Press the button to check in and keep your streak.")
        outbox.announce(chat_id, text, key, kind="campaign", markup=checkin_keyboard(_))
        return 1
    if campaign.kind == CampaignKind.WEEKLY_LEADERBOARD:
        lines = [_("🏆 Last week's top 10")]
        lines.extend(
            f"{row.rank}. {name(row.display_name)} — {row.points}"
            for row in run.context.leaderboard
        )
        if not run.context.leaderboard:
            lines.append(_("No points were earned last week."))
        outbox.announce(chat_id, "\n".join(lines), key, kind="campaign")
        return 1
    outbox.announce(
        chat_id,
        render_custom_text(run),
        key,
        kind="campaign",
        markup=campaign_markup(_, campaign),
        photo=campaign.photo,
    )
    return 1


async def run_due_work(session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
    """Campaign runs, welcomes and referral credits that are due now, queued for sending."""
    now = clock.now()
    outbox = Outbox()
    async with unit_of_work(session_factory) as uow:
        for run in await campaigns.claim_due_runs(uow, now):
            try:
                queue_campaign_run(outbox, run)
            except (KeyError, ValueError, IndexError):
                logger.exception("Campaign %d could not be rendered; skipped", run.campaign.id)
        for batch in await onboarding.take_due_welcomes(uow, now):
            key = f"welcome:{batch.community.id}:{batch.newcomers[0][0]}"  # welcomed once
            outbox.announce(batch.community.id, render_welcome(batch), key, kind="welcome")
        for result in await referrals.qualify_due(uow, now):
            announce_referral(outbox, result, await uow.users.can_message(result.inviter_id))
        await outbox.queue_announcements(uow.outgoing, now)
        await uow.processed_updates.forget_before(now - KEEP_PROCESSED_UPDATES)


@dataclass
class JobRuntime:
    """What scheduler jobs, referenced by "module:function" with primitive arguments, run with."""

    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    scheduler: Any
    current: ClassVar[JobRuntime | None] = None

    async def run(self) -> None:
        """Due work, then the campaign jobs brought in line with the campaigns table."""
        await run_due_work(self.session_factory, self.clock)
        if self.scheduler is not None and self.scheduler.running:
            sync_campaign_jobs(self.scheduler, await scheduled_campaigns(self.session_factory))


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
    session_factory: async_sessionmaker[AsyncSession],
) -> Sequence[Campaign]:
    async with unit_of_work(session_factory) as uow:
        return await uow.campaigns.scheduled()


def sync_campaign_jobs(scheduler: Any, scheduled: Sequence[Campaign]) -> None:
    """Makes the scheduler hold exactly one job per scheduled campaign, derived from the
    campaigns table (the source of truth), with deterministic ids."""
    wanted = {f"campaign:{campaign.id}": campaign for campaign in scheduled}
    for job in scheduler.get_jobs():
        if job.id.startswith("campaign:") and job.id not in wanted:
            job.remove()
    for job_id, campaign in wanted.items():
        scheduler.add_job(
            CAMPAIGN_JOB,
            "date",
            run_date=campaign.next_run_at,
            id=job_id,
            kwargs={"campaign_id": campaign.id},
            replace_existing=True,
            misfire_grace_time=campaign.grace_minutes * 60,
        )
