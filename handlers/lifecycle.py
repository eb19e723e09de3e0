"""Lifecycle commands for moderators (/churn, /keymembers, /lifecycle, /winback) and the
texts of the lifecycle's private messages (win-backs, key-member notices, weekly digest)."""

from __future__ import annotations

from datetime import date, datetime
from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.domain.errors import N_, UsageError
from bot.domain.models import Community, LifecycleEntry
from bot.i18n import Translator, translator
from bot.ports import UnitOfWork
from bot.services import lifecycle
from bot.services.lifecycle import Digest, Winback
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator, ModeratorDirectory, is_owner_message
from handlers.render import actor_of, colon, listed, name
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox


def _gap(_: Translator, entry: LifecycleEntry) -> str:
    if entry.usual_gap_days is None:
        return _("no rhythm yet")
    return _("usually every {days} days", days=f"{entry.usual_gap_days:.1f}")


def _last(_: Translator, day: date | None) -> str:
    return day.isoformat() if day is not None else _("never")


def render_at_risk(
    _: Translator, entries: list[LifecycleEntry] | tuple[LifecycleEntry, ...]
) -> str:
    lines = [_("⚠️ Members at risk (most valuable first):")]
    lines.extend(
        _(
            "{rank}. {name} — {points} lifetime points, {referrals} referrals, {gap}, "
            "last active {last}",
            rank=rank,
            name=name(entry.display_name),
            points=entry.lifetime_points,
            referrals=entry.referrals,
            gap=_gap(_, entry),
            last=_last(_, entry.last_active_day),
        )
        for rank, entry in enumerate(entries, start=1)
    )
    if not entries:
        lines.append(_("Nobody is at risk right now."))
    return "\n".join(lines)


def render_key_members(_: Translator, community: Community, entries: list[LifecycleEntry]) -> str:
    rules = community.lifecycle
    lines = [
        _(
            "⭐ Key members (top {percent}% by points in {days} days, "
            "at least {referrals} qualified referrals):",
            percent=rules.key_top_percent,
            days=rules.key_days,
            referrals=rules.key_min_referrals,
        )
    ]
    lines.extend(
        _(
            "{rank}. {name} — {points} lifetime points, {referrals} referrals, since {since}",
            rank=rank,
            name=name(entry.display_name),
            points=entry.lifetime_points,
            referrals=entry.referrals,
            since=_last(_, entry.key_since),
        )
        for rank, entry in enumerate(entries, start=1)
    )
    if not entries:
        lines.append(_("No key members yet."))
    return "\n".join(lines)


def render_settings(_: Translator, community: Community) -> str:
    rules = community.lifecycle
    return _(
        "🔄 Lifecycle: new for {new} days; loyal when active each of the last {loyal} weeks; "
        "at risk after {factor}× the member's usual gap (at least {mingap} days), or after "
        "{inactive} days for members with fewer than {history} active days; churned after "
        "{churn} days; won back for {wonback} days. Win-back message: {winback}, gift {gift}.",
        new=rules.new_days,
        loyal=rules.loyal_weeks,
        factor=rules.rhythm_factor,
        mingap=rules.min_gap_days,
        inactive=rules.inactive_days,
        history=rules.min_history_days,
        churn=rules.churn_days,
        wonback=rules.won_back_days,
        winback=_("on") if rules.winback else _("off"),
        gift=rules.winback_gift,
    )


def render_winback(community: Community, winback: Winback) -> str:
    _ = translator(community.language)
    custom = community.lifecycle.winback_text
    text = (
        escape(custom)
        if custom
        else _(
            "👋 We miss you in {group}! Drop by, say hello or check in with /checkin.",
            group=name(community.title),
        )
    )
    if winback.gift > 0:
        text += "\n" + _("🎁 A welcome-back gift: +{points} points.", points=winback.gift)
    return text


def render_key_notice(community: Community, entry: LifecycleEntry) -> str:
    _ = translator(community.language)
    return _(
        "⭐ {name} is now a key member of {group} ({points} lifetime points, "
        "{referrals} qualified referrals).",
        name=name(entry.display_name),
        group=name(community.title),
        points=entry.lifetime_points,
        referrals=entry.referrals,
    )


def _compare(now: int, before: int) -> str:
    change = now - before
    return f"{now} ({'+' if change >= 0 else ''}{change})"


def render_digest(digest: Digest) -> str:
    community = digest.community
    _ = translator(community.language)
    week, before = digest.this_week, digest.week_before
    rows: list[tuple[str, int, int]] = [
        (_("New members"), week.new_members, before.new_members),
        (_("Left"), week.left_members, before.left_members),
        (_("Active members"), week.active_members, before.active_members),
        (_("Check-ins"), week.checkins, before.checkins),
        (_("Points issued"), week.points_issued, before.points_issued),
        (_("New key members"), week.new_key_members, before.new_key_members),
        (_("At risk"), week.at_risk, before.at_risk),
    ]
    lines = [
        _(
            "📊 {group}: the week from {start} (compared with the week before)",
            group=name(community.title),
            start=digest.week_start.isoformat(),
        )
    ]
    lines.extend(f"• {label}{colon(_)}{_compare(a, b)}" for label, a, b in rows)
    if digest.new_key_members:
        lines.append(
            _(
                "⭐ New key members: {names}",
                names=listed(_, (name(entry.display_name) for entry in digest.new_key_members)),
            )
        )
    if digest.at_risk:
        lines.append(
            _(
                "⚠️ At risk: {names}",
                names=listed(_, (name(entry.display_name) for entry in digest.at_risk)),
            )
        )
    return "\n".join(lines)


def setup() -> Router:
    router = Router(name="lifecycle")
    router.message.filter(InGroup())

    @router.message(Command("churn"), IsModerator())
    async def churn(
        message: Message, uow: UnitOfWork, community: Community, outbox: Outbox, _: Translator
    ) -> None:
        entries = list(await lifecycle.at_risk(uow, community))
        outbox.reply(message, render_at_risk(_, entries))

    @router.message(Command("keymembers"), IsModerator())
    async def key_members(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        words = (command.args or "").lower().split()
        if words:
            if len(words) != 3 or words[0] != "rule":
                raise UsageError(usage=lifecycle.KEY_RULE_USAGE)
            community = await lifecycle.set_key_rule(
                uow, community, words[1], words[2], actor_of(message), now
            )
        entries = list(await lifecycle.key_members(uow, community))
        outbox.reply(message, render_key_members(_, community, entries))

    @router.message(Command("lifecycle"), IsModerator())
    async def settings(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        words = (command.args or "").lower().split()
        if words:
            if len(words) != 2:
                raise UsageError(usage=lifecycle.LIFECYCLE_USAGE)
            community = await lifecycle.set_lifecycle_setting(
                uow, community, words[0], words[1], actor_of(message), now
            )
        outbox.reply(message, render_settings(_, community))

    @router.message(Command("winback"), IsModerator())
    async def winback(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
        _: Translator,
    ) -> None:
        args = (command.args or "").strip()
        if args:
            owner = is_owner_message(message, moderators)
            community = await lifecycle.set_winback(
                uow, community, args, actor_of(message), now, by_owner=owner
            )
        outbox.reply(message, render_settings(_, community))

    return router


from handlers.lifecycle_work import lifecycle_work  # noqa: E402 - it renders with this module's texts

FEATURE = Feature(
    "lifecycle",
    setup,
    commands=(
        FeatureCommand(
            "churn", N_("Members at risk of leaving, most valuable first"), moderators=True
        ),
        FeatureCommand(
            "keymembers",
            N_("Key members: /keymembers, /keymembers rule <top %> <referrals>"),
            moderators=True,
        ),
        FeatureCommand(
            "lifecycle",
            N_("Lifecycle thresholds: /lifecycle [new|loyal|factor|...] <n>"),
            moderators=True,
        ),
        FeatureCommand(
            "winback",
            N_("Win-back messages: /winback on|off, gift <points>, text <text>|default"),
            moderators=True,
        ),
    ),
    timed_work=(lifecycle_work,),
    data_sections=("lifecycle", "winbacks"),
)
