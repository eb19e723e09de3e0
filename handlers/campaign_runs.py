"""The campaigns feature's timed work: due campaign runs rendered and queued (one
transaction per community, claimed in it, so a run is posted exactly once), and the
scheduler's campaign jobs kept in line with the campaigns table."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.models import Campaign, CampaignKind, RunOutcome
from bot.domain.schedules import effective_grace
from bot.i18n import Translator, translator
from bot.ports import UnitOfWorkFactory
from bot.services import campaigns, onboarding
from bot.services.campaigns import DueRun
from handlers.checkin import checkin_keyboard
from handlers.growth_work import render_welcome
from handlers.render import name
from runtime.features import JobContext
from runtime.jobs import for_each_community
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)

CAMPAIGN_JOB = "handlers.campaign_runs:run_campaign_job"
# Private reminders are spread out (20 a second at most), leaving room for replies.
REMINDER_SPACING = timedelta(milliseconds=50)


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


async def campaign_work(context: JobContext) -> None:
    """Every community's due posts (campaign runs and the newcomers' welcome), each
    community in a transaction of its own: an error undoes only that group's posts."""
    now = context.now()
    async with context.open_uow() as uow:
        due = set(await uow.campaigns.communities_due(now))
        due.update(await onboarding.communities_with_welcomes_due(uow, now))
    await for_each_community(
        "posts", sorted(due), lambda community_id: post_due(context.open_uow, community_id, now)
    )


async def campaign_jobs(context: JobContext) -> None:
    """The scheduler's campaign jobs brought in line with the campaigns table."""
    scheduled = await scheduled_campaigns(context.open_uow)
    sync_campaign_jobs(context.scheduler, scheduled, context.due_work)


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
            outbox.announce(
                batch.community.id, render_welcome(batch), key, kind=onboarding.WELCOME_KIND
            )
        await outbox.queue_announcements(uow.outgoing, now)


async def run_campaign_job(
    due_work: Callable[[], Awaitable[None]] | None = None, *, campaign_id: int
) -> None:
    """A campaign's scheduler job: runs whatever is due (the campaign's run among it)."""
    if due_work is None:
        logger.error("Campaign job %d fired with no timed work to run", campaign_id)
        return
    await due_work()


async def scheduled_campaigns(
    open_uow: UnitOfWorkFactory,
) -> Sequence[Campaign]:
    async with open_uow() as uow:
        return await uow.campaigns.scheduled()


def sync_campaign_jobs(
    scheduler: Any,
    scheduled: Sequence[Campaign],
    due_work: Callable[[], Awaitable[None]] | None = None,
) -> None:
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
                args=[due_work],  # what the job runs reaches it by its argument
                kwargs={"campaign_id": campaign.id},
                replace_existing=True,
                misfire_grace_time=effective_grace(campaign.grace_minutes) * 60,
            )
        except Exception:
            logger.exception("Campaign %d could not be scheduled; skipped", campaign.id)
