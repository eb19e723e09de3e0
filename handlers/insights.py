"""/stats [days]: a community's metrics for its moderators, as a summary and an album of
charts. In the group, or in a private chat for a community the caller moderates (buttons when
there are several). The rights are checked in the update's transaction; the numbers are read
after it commits, by the off-loop reader (its own read-only connection, in a worker thread),
the charts drawn in the chart worker (runtime.charts), and a failure to draw sends the
summary alone with a note."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import SendMediaGroup, SendMessage, TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    ReplyParameters,
)

from bot.domain.errors import N_
from bot.domain.insights import InsightsReport
from bot.domain.models import Community, LedgerKind, Tier
from bot.i18n import Translator
from bot.ports import UnitOfWork, UnitOfWorkFactory
from bot.ports.reads import InPlaceReader, Reader
from bot.services import insights
from handlers.buttons import ChatId, SmallCount
from handlers.filters.chat import InGroup, InPrivate
from handlers.filters.moderator import IsModerator, ModeratorDirectory
from handlers.render import colon, in_brackets, listed, tier_name
from handlers.surveys import survey_stats_lines
from handlers.tickets import ticket_stats_lines
from runtime.charts import ChartLabels, ChartRenderer
from runtime.outbox import Outbox

NOT_A_MODERATOR = N_("You moderate none of the groups I know you in.")
CHARTS_FAILED = N_("(The charts could not be drawn this time.)")
STATS_FAILED = N_("The statistics could not be counted this time; try again later.")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatsContext:
    """What /stats needs after the commit: its own units of work (the write that keeps the
    daily aggregates), the chart worker and the reader for the numbers (without one, they
    are read in the loop, on `open_uow`)."""

    open_uow: UnitOfWorkFactory
    charts: ChartRenderer
    reader: Reader | None = None

    def reads(self) -> Reader:
        return self.reader if self.reader is not None else InPlaceReader(self.open_uow)


LEDGER_KIND_NAMES = {
    LedgerKind.CHECKIN: N_("check-ins"),
    LedgerKind.ACTIVITY: N_("conversation"),
    LedgerKind.AWARD: N_("awards"),
    LedgerKind.DEDUCT: N_("deductions"),
    LedgerKind.REFERRAL: N_("invitations"),
    LedgerKind.WELCOME_BONUS: N_("welcome bonus"),
    LedgerKind.REVOKE: N_("revoked"),
    LedgerKind.SHOP: N_("shop"),
    LedgerKind.SHOP_REFUND: N_("shop refunds"),
    LedgerKind.LOTTERY_ENTRY: N_("lottery tickets"),
    LedgerKind.LOTTERY_REFUND: N_("lottery refunds"),
    LedgerKind.QUIZ: N_("quizzes"),
    LedgerKind.WINBACK: N_("win-back gifts"),
    LedgerKind.TICKET: N_("feedback rewards"),
    LedgerKind.SURVEY_THANKS: N_("survey thanks"),
    LedgerKind.BIRTHDAY_GIFT: N_("birthday gifts"),
}


class StatsButton(CallbackData, prefix="v1st"):
    community_id: ChatId
    days: SmallCount


def _percent(part: int, whole: int) -> str:
    return f"{part / whole * 100:.1f}%" if whole else "—"


def summary(_: Translator, report: InsightsReport) -> str:
    """The /stats text (the README defines every figure)."""
    days = (report.last_day - report.first_day).days + 1
    lines = [
        _(
            "📊 <b>{title}</b>: the last {days} days ({first} – {last})",
            title=escape(report.title),
            days=days,
            first=f"{report.first_day:%Y-%m-%d}",
            last=f"{report.last_day:%Y-%m-%d}",
        ),
        _(
            "Members now: {members} (joined {joined}, left {left})",
            members=report.members_now,
            joined=report.joined,
            left=report.left,
        ),
        _("New and left per day (last 7 days): {days}", days=_recent_moves(_, report)),
        _(
            "Active members: today {daily}, last 7 days {weekly}, last 30 days {monthly}, "
            "in the period {period}",
            daily=report.daily_active,
            weekly=report.weekly_active,
            monthly=report.monthly_active,
            period=report.period_active,
        ),
        _(
            "Check-in rate: {rate} ({checkins} check-ins)",
            rate=_percent(report.checkins, report.member_days),
            checkins=report.checkins,
        ),
        _("Retention of weekly join cohorts (after 1 / 7 / 30 days):"),
    ]
    cohorts = report.cohorts[-insights.COHORT_LINES :]
    if not cohorts:
        lines.append("  " + _("no one joined in the period"))
    for cohort in cohorts:
        shares = " / ".join(
            _percent(*share) if share else "—"
            for share in (cohort.retained.get(n) for n in insights.RETENTION_AFTER)
        )
        lines.append(
            f"  {cohort.week:%Y-%m-%d}{in_brackets(_, str(cohort.members))}{colon(_)}{shares}"
        )
    referrals = report.referrals
    lines += [
        _(
            "Referrals: {qualified} qualified of {invited} ({rate}), {pending} pending, "
            "{rejected} rejected",
            qualified=referrals.qualified,
            invited=referrals.invited,
            rate=_percent(referrals.qualified, referrals.invited),
            pending=referrals.pending,
            rejected=referrals.rejected,
        ),
        _(
            "Quizzes: {members} members ({rate} of members), {answers} answers",
            members=report.quiz_members,
            rate=_percent(report.quiz_members, report.members_now),
            answers=report.quiz_answers,
        ),
        _(
            "Lotteries: {members} members ({rate} of members), {entries} entries",
            members=report.lottery_members,
            rate=_percent(report.lottery_members, report.members_now),
            entries=report.lottery_entries,
        ),
        _(
            "Shop: {orders} orders by {members} members",
            orders=report.orders,
            members=report.order_members,
        ),
        _(
            "Points issued: {total} ({kinds})",
            total=report.issued,
            kinds=_kinds(_, report, spent=False),
        ),
        _(
            "Points spent: {total} ({kinds})",
            total=report.spent,
            kinds=_kinds(_, report, spent=True),
        ),
    ]
    lines.append(
        _(
            "Win-back: {won} of {sent} members written to came back ({rate})",
            won=report.winbacks_won,
            sent=report.winbacks_sent,
            rate=_percent(report.winbacks_won, report.winbacks_sent),
        )
    )
    if report.tickets is not None:
        lines += ticket_stats_lines(_, report.tickets)
    lines += survey_stats_lines(_, list(report.nps_trend), list(report.csat_trend))
    return "\n".join(lines)


def _recent_moves(_: Translator, report: InsightsReport) -> str:
    return listed(_, [f"{day.day:%m-%d} +{day.joined}/−{day.left}" for day in report.days[-7:]])


def _kind_name(_: Translator, kind: str) -> str:
    try:
        return _(LEDGER_KIND_NAMES[LedgerKind(kind)])
    except (ValueError, KeyError):
        return kind


def _kinds(_: Translator, report: InsightsReport, *, spent: bool) -> str:
    parts = [
        f"{_kind_name(_, total.kind)} {total.spent if spent else total.issued}"
        for total in report.ledger
        if (total.spent if spent else total.issued)
    ]
    return listed(_, parts) or "—"


def chart_labels(_: Translator) -> ChartLabels:
    return ChartLabels(
        members_title=_("Members and active members"),
        members=_("Members"),
        active=_("Active members"),
        retention_title=_("Retention of weekly join cohorts"),
        retention_after=_("after {days} d", days="{days}"),
        tiers_title=_("Tier pyramid"),
        tier_names=tuple(tier_name(_, tier) for tier in Tier),
        points_title=_("Points issued and spent"),
        issued=_("Issued"),
        spent=_("Spent"),
    )


def plan_stats(
    outbox: Outbox,
    stats: StatsContext,
    community: Community,
    days: int,
    now: datetime,
    _: Translator,
    chat_id: int,
    reply_to: Message | None,
) -> None:
    """The rights were checked in the update's transaction; the numbers are read after it
    commits, by the reader (off the loop, so that a large community's queries never hold up
    the intake), then the charts are drawn in the chart worker. The summary
    and the album follow; the summary alone with a note when the charts cannot be drawn."""
    labels = chart_labels(_)
    replying = (
        ReplyParameters(message_id=reply_to.message_id, allow_sending_without_reply=True)
        if reply_to is not None
        else None
    )
    thread = reply_to.message_thread_id if reply_to and reply_to.is_topic_message else None

    def message(body: str) -> SendMessage:
        return SendMessage(
            chat_id=chat_id, message_thread_id=thread, text=body, reply_parameters=replying
        )

    async def build() -> Sequence[TelegramMethod[Any]]:
        report = await stats.reads().read(
            lambda uow: insights.community_report(uow, community, days, now)
        )
        if report.new_ledger_days:
            try:
                async with stats.open_uow() as uow:
                    await insights.keep_aggregates(uow, report)
            except Exception:
                logger.exception("The daily ledger aggregates could not be kept")
        text = summary(_, report)
        try:
            images = await stats.charts.render(report, labels)
        except Exception:
            logger.exception("The /stats charts could not be drawn")
            return [message(f"{text}\n\n{_(CHARTS_FAILED)}")]
        album = SendMediaGroup(
            chat_id=chat_id,
            message_thread_id=thread,
            media=[
                InputMediaPhoto(media=BufferedInputFile(image, filename=f"stats-{index}.png"))
                for index, image in enumerate(images, start=1)
            ],
        )
        return [message(text), album]

    outbox.later(build, message(_(STATS_FAILED)))


def setup() -> Router:
    router = Router(name="insights")
    private = Router(name="insights-private")
    private.message.filter(InPrivate())
    group = Router(name="insights-group")
    group.message.filter(InGroup())
    router.include_routers(private, group)

    @group.message(Command("stats"), IsModerator())
    async def group_stats(
        message: Message,
        command: CommandObject,
        community: Community,
        now: datetime,
        outbox: Outbox,
        stats: StatsContext,
        _: Translator,
    ) -> None:
        days = insights.parse_days(command.args)
        plan_stats(outbox, stats, community, days, now, _, message.chat.id, message)

    @private.message(Command("stats"))
    async def private_stats(
        message: Message,
        command: CommandObject,
        bot: Bot,
        uow: UnitOfWork,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
        stats: StatsContext,
        _: Translator,
    ) -> None:
        days = insights.parse_days(command.args)
        if message.from_user is None:
            return
        user_id = message.from_user.id
        moderated = [
            community
            for community in await uow.members.communities_of(user_id)
            if await moderators.is_moderator(bot, community.id, user_id)
        ]
        if not moderated:
            outbox.reply(message, _(NOT_A_MODERATOR))
        elif len(moderated) == 1:
            plan_stats(outbox, stats, moderated[0], days, now, _, message.chat.id, message)
        else:
            outbox.reply(
                message,
                _("Which group?"),
                InlineKeyboardMarkup(
                    inline_keyboard=[
                        [
                            InlineKeyboardButton(
                                text=community.title[:60],
                                callback_data=StatsButton(
                                    community_id=community.id, days=days
                                ).pack(),
                            )
                        ]
                        for community in moderated
                    ]
                ),
            )

    @router.callback_query(StatsButton.filter())
    async def chosen(
        callback: CallbackQuery,
        callback_data: StatsButton,
        bot: Bot,
        uow: UnitOfWork,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
        stats: StatsContext,
        _: Translator,
    ) -> None:
        """The presser's rights are checked again, in the community the button names."""
        message = callback.message
        community = await uow.communities.get(callback_data.community_id)
        if (
            not isinstance(message, Message)
            or message.chat.type != "private"
            or community is None
            or not 1 <= callback_data.days <= insights.MAX_DAYS
            or not await moderators.is_moderator(bot, community.id, callback.from_user.id)
        ):
            outbox.toast(callback, _(NOT_A_MODERATOR), alert=True)
            return
        outbox.toast(callback, _("Counting…"))
        plan_stats(outbox, stats, community, callback_data.days, now, _, message.chat.id, None)

    return router


from bot.domain.errors import N_  # noqa: E402
from runtime.features import Feature, FeatureCommand, Wiring, WiringContext  # noqa: E402 - the declaration's own imports, kept with it


def _wire(context: WiringContext) -> Wiring:
    from runtime.charts import ChartRenderer

    stats = StatsContext(context.open_uow, ChartRenderer(), context.reader)
    return Wiring(data={"stats": stats}, close=(stats.charts.close,))


FEATURE = Feature(
    "insights",
    setup,
    commands=(
        FeatureCommand(
            "stats",
            N_("Community metrics and charts: /stats [days] (here, or privately with me)"),
            moderators=True,
            private=True,
        ),
    ),
    wire=_wire,
    data_sections=("activity_days", "membership_events"),
)
