"""/campaign: moderators plan posts on a schedule (one-line form)."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.domain.errors import N_, PrivateChatNeeded, UnknownCampaign, UsageError
from bot.domain.models import (
    Campaign,
    CampaignKind,
    CampaignRun,
    CampaignStatus,
    Community,
    RunOutcome,
    UserInfo,
)
from bot.i18n import Translator
from bot.parsing.campaigns import parse_builtin_schedule, parse_draft
from bot.ports import INTERRUPTED, UnitOfWork
from bot.services import campaigns
from handlers.campaign_runs import campaign_jobs, campaign_work, queue_campaign_run
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator
from handlers.render import actor_of, colon, schedule_text
from runtime.features import Feature, FeatureCommand
from runtime.outbox import BLOCKED_CHAT, Outbox
from runtime.sender import UNREADABLE

USAGE = N_(
    "/campaign add <schedule> <text> | list | show <id> | pause <id> | resume <id> | "
    "delete <id> | test <id> | preview <id> | grace <id> <minutes> | "
    "enable checkin|leaderboard|reminder [schedule] | disable checkin|leaderboard|reminder"
)
PREVIEW_LENGTH = 600
LARGEST_ID = 2**31 - 1  # campaign ids are 32-bit integers in PostgreSQL
LISTED = 40
BUILTIN_WORDS = {
    "checkin": CampaignKind.CHECKIN_POST,
    "leaderboard": CampaignKind.WEEKLY_LEADERBOARD,
    "reminder": CampaignKind.STREAK_REMINDER,
}
KIND_NAMES = {
    CampaignKind.CUSTOM: N_("custom post"),
    CampaignKind.CHECKIN_POST: N_("daily check-in post"),
    CampaignKind.WEEKLY_LEADERBOARD: N_("weekly leaderboard"),
    CampaignKind.STREAK_REMINDER: N_("streak reminder"),
}
STATUS_NAMES = {
    CampaignStatus.ACTIVE: N_("active"),
    CampaignStatus.PAUSED: N_("paused"),
    CampaignStatus.DONE: N_("done"),
    CampaignStatus.DELETED: N_("deleted"),
}
OUTCOME_NAMES = {
    RunOutcome.QUEUED: N_("queued"),
    RunOutcome.POSTED: N_("posted"),
    RunOutcome.FAILED: N_("failed"),
    RunOutcome.UNCERTAIN: N_("uncertain (not sent again)"),
    RunOutcome.MISSED: N_("missed"),
    RunOutcome.TEST: N_("test"),
}
RUN_DETAILS = {  # what the bot itself records; Telegram's own error texts are shown as they are
    INTERRUPTED: N_("the sender stopped while sending"),
    BLOCKED_CHAT: N_("chat is blocked"),
    UNREADABLE: N_("the stored message could not be read"),
    "the text could not be filled in": N_("the text could not be filled in"),
}
REASON_SHOWN = 200
STATUS_WORDS = {
    "pause": CampaignStatus.PAUSED,
    "resume": CampaignStatus.ACTIVE,
    "delete": CampaignStatus.DELETED,
}


def local_time(community: Community, moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(community.timezone)).strftime("%Y-%m-%d %H:%M")


def describe(_: Translator, community: Community, campaign: Campaign) -> str:
    summary = (
        escape(campaign.text.splitlines()[0][:40])
        if campaign.text
        else _(KIND_NAMES[campaign.kind])
    )
    return _(
        "#{id} {schedule} — next: {next} — {status} — {summary}",
        id=campaign.id,
        schedule=schedule_text(_, campaign.schedule),
        next=local_time(community, campaign.next_run_at),
        status=_(STATUS_NAMES[campaign.status]),
        summary=summary,
    )


def describe_run(_: Translator, community: Community, run: CampaignRun) -> str:
    line = f"• {local_time(community, run.scheduled_at)} — {_(OUTCOME_NAMES[run.outcome])}"
    if run.detail and run.outcome in (RunOutcome.FAILED, RunOutcome.UNCERTAIN):
        detail = _(RUN_DETAILS[run.detail]) if run.detail in RUN_DETAILS else run.detail
        line += colon(_) + escape(detail[:REASON_SHOWN])
    return line


def parse_id(words: list[str]) -> int:
    if len(words) != 1 or not words[0].lstrip("#").isdecimal() or len(words[0]) > 12:
        raise UsageError(usage=USAGE)
    campaign_id = int(words[0].lstrip("#"))
    if campaign_id > LARGEST_ID:
        raise UnknownCampaign(campaign_id=campaign_id)
    return campaign_id


def setup() -> Router:  # noqa: PLR0915
    router = Router(name="campaigns")
    router.message.filter(InGroup())

    @router.message(Command("campaign"), IsModerator())
    async def campaign_command(  # noqa: PLR0912, PLR0915 - one branch per subcommand
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo | None,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        action, _sep, rest = (command.args or "").strip().partition(" ")
        action = action.lower()
        words = rest.split()
        actor = actor_of(message)
        if action == "add":
            reply = message.reply_to_message
            photo = reply.photo[-1].file_id if reply is not None and reply.photo else None
            draft = parse_draft(rest, photo)
            created = await campaigns.create(uow, community, draft, actor, now)
            outbox.reply(
                message,
                _(
                    "🗓 Campaign #{id} saved: {schedule}, first post {first}.",
                    id=created.id,
                    schedule=schedule_text(_, created.schedule),
                    first=local_time(community, created.next_run_at),
                ),
            )
        elif action == "list":
            listed = await campaigns.listing(uow, community)
            lines = [_("🗓 Campaigns (times in {timezone}):", timezone=community.timezone)]
            lines.extend(describe(_, community, campaign) for campaign in listed[:LISTED])
            if len(listed) > LISTED:
                lines.append(_("and {count} more", count=len(listed) - LISTED))
            if not listed:
                lines.append(
                    _("None yet. Add one like this: /campaign add daily 09:00 Good morning!")
                )
            outbox.reply(message, "\n".join(lines))
        elif action == "show":
            campaign, runs = await campaigns.details(uow, community, parse_id(words))
            lines = [describe(_, community, campaign)]
            if campaign.text:
                preview = campaign.text[:PREVIEW_LENGTH]
                ellipsis = "…" if len(campaign.text) > PREVIEW_LENGTH else ""
                lines.append(f"<code>{escape(preview)}</code>{ellipsis}")
            lines.append(_("Recent runs:"))
            lines.extend(describe_run(_, community, run) for run in runs)
            if not runs:
                lines.append(_("None yet."))
            outbox.reply(message, "\n".join(lines))
        elif action in STATUS_WORDS:
            changed = await campaigns.change_status(
                uow, community, parse_id(words), STATUS_WORDS[action], actor, now
            )
            outbox.reply(message, describe(_, community, changed))
        elif action == "grace" and len(words) == 2 and words[1].isdecimal() and len(words[1]) < 13:
            changed = await campaigns.set_grace(
                uow, community, parse_id(words[:1]), int(words[1]), actor, now
            )
            outbox.reply(
                message,
                _(
                    "Campaign #{id} may post up to {minutes} minutes late after downtime.",
                    id=changed.id,
                    minutes=changed.grace_minutes,
                ),
            )
        elif action in ("test", "preview"):
            if actor is None or not await uow.users.can_message(actor):
                raise PrivateChatNeeded()
            run = await campaigns.test_run(uow, community, parse_id(words), now)
            queue_campaign_run(outbox, run, to_chat=actor)
            outbox.reply(
                message,
                _("📬 Sent you a test post privately.")
                if action == "test"
                else _("📬 Sent you the post privately, exactly as the group will see it."),
            )
        elif action == "enable" and words and words[0].lower() in BUILTIN_WORDS:
            kind = BUILTIN_WORDS[words[0].lower()]
            schedule = parse_builtin_schedule(kind, " ".join(words[1:]) or None)
            enabled = await campaigns.enable_builtin(uow, community, kind, schedule, actor, now)
            outbox.reply(message, describe(_, community, enabled))
        elif action == "disable" and len(words) == 1 and words[0].lower() in BUILTIN_WORDS:
            kind = BUILTIN_WORDS[words[0].lower()]
            if await campaigns.disable_builtin(uow, community, kind, actor, now):
                outbox.reply(message, _("Switched off: {kind}.", kind=_(KIND_NAMES[kind])))
            else:
                outbox.reply(message, _("That campaign was not on."))
        else:
            raise UsageError(usage=USAGE)

    @router.message(Command("timezone"), IsModerator())
    async def set_timezone(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo | None,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        zone = (command.args or "").strip()
        if not zone:
            outbox.reply(
                message, _("This group's timezone: {timezone}", timezone=community.timezone)
            )
            return
        actor = actor_of(message)
        moved = await campaigns.set_timezone(uow, community, zone, actor, now)
        outbox.reply(message, _("This group's timezone: {timezone}", timezone=moved.timezone))

    return router


FEATURE = Feature(
    "campaigns",
    setup,
    commands=(
        FeatureCommand(
            "campaign",
            N_("Scheduled posts: /campaign add|list|show|preview|pause|resume|delete|enable"),
            moderators=True,
            answered_privately=True,
        ),
        FeatureCommand(
            "timezone", N_("The group's timezone: /timezone Asia/Shanghai"), moderators=True
        ),
    ),
    timed_work=(campaign_work,),
    sync_jobs=campaign_jobs,
    data_sections=("campaigns_created",),
)
