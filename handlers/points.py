"""Points as members see them: /me, /top and the /tiers pyramid."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message, Update

from bot.domain.errors import N_, UsageError
from bot.domain.models import (
    Badge,
    Community,
    HistoryEntry,
    LeaderboardPeriod,
    LeaderboardRow,
    LedgerKind,
    Tier,
    UserInfo,
)
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.services import points, standings
from handlers.filters.chat import InGroup
from handlers.render import badge_name, name, tier_name
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox

PERIOD_WORDS = {
    "": LeaderboardPeriod.ALL,
    "all": LeaderboardPeriod.ALL,
    "week": LeaderboardPeriod.WEEK,
    "month": LeaderboardPeriod.MONTH,
}


READ_ONLY_COMMANDS = frozenset({"me", "top", "tiers", "stats"})


def reads_only(update: Update) -> bool:
    """Whether the update is one of the commands that only look (runtime.intake answers them
    in a read-only transaction, falling back to the write path when one needs to write)."""
    message = update.message
    if message is None or message.chat.type == "private" or message.sender_chat is not None:
        return False
    text = message.text or ""
    if not text.startswith("/"):
        return False
    command = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
    return command in READ_ONLY_COMMANDS


def setup() -> Router:
    router = Router(name="points")
    router.message.filter(InGroup())

    @router.message(Command("me"))
    async def show_me(
        message: Message,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo | None,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        if user is None or message.sender_chat is not None:
            return
        member = await standings.profile(uow, community, user, now)
        lines = [
            f"👤 {name(member.display_name)}",
            _("Balance: {balance} points", balance=member.balance),
            _("Lifetime earned: {points}", points=member.lifetime_earned),
            _("Streak: {streak} days", streak=member.streak),
            _("Tier: {tier}", tier=tier_name(_, member.tier)),
            _("Rank: #{rank}", rank=member.rank),
        ]
        if member.badges:
            badges = ", ".join(badge_name(_, badge) for badge in sorted(member.badges))
            lines.append(_("Badges: {badges}", badges=badges))
        if member.next_tier is not None:
            lines.append(
                _(
                    "Next tier: {tier} in {points} points",
                    tier=tier_name(_, member.next_tier),
                    points=member.points_to_next_tier,
                )
            )
        else:
            lines.append(_("You are at the top tier."))
        entries = await points.recent_moderation(uow, community, user.id)
        if entries:
            listed = ", ".join(history_entry(_, entry) for entry in entries)
            lines.append(_("Recent awards, deductions and revocations: {entries}", entries=listed))
        outbox.reply(message, "\n".join(lines))

    @router.message(Command("top"))
    async def show_top(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        word = (command.args or "").strip().lower()
        if word not in PERIOD_WORDS:
            raise UsageError(usage=N_("/top [week|month]"))
        period = PERIOD_WORDS[word]
        rows = await standings.leaderboard(uow, community, period, now)
        outbox.reply(message, _render_leaderboard(_, period, rows))

    @router.message(Command("tiers"))
    async def show_tiers(
        message: Message, uow: UnitOfWork, community: Community, outbox: Outbox, _: Translator
    ) -> None:
        pyramid = await standings.pyramid(uow, community)
        lines = [_("🏔 The community pyramid")]
        for badge in (Badge.STAR, Badge.EXPERT):
            lines.append(
                _("{badge}: {count}", badge=badge_name(_, badge), count=pyramid.badges[badge])
            )
        for tier in sorted(Tier, reverse=True):
            lines.append(
                _(
                    "{tier} ({threshold}+): {count}",
                    tier=tier_name(_, tier),
                    threshold=pyramid.thresholds[tier],
                    count=pyramid.tiers[tier],
                )
            )
        outbox.reply(message, "\n".join(lines))

    return router


def history_entry(_: Translator, shown: HistoryEntry) -> str:
    """`#12 +50`, marked when it was revoked (by #13) or is itself a revocation (of #12)."""
    entry = shown.entry
    text = f"#{entry.id} {entry.amount:+d}"
    if shown.revoked_by is not None:
        return _("{entry} (revoked by #{by})", entry=text, by=shown.revoked_by)
    if entry.kind == LedgerKind.REVOKE:
        if shown.reverses is None:
            return _("{entry} (a revocation)", entry=text)
        return _("{entry} (revokes #{of})", entry=text, of=shown.reverses)
    return text


def _render_leaderboard(
    _: Translator, period: LeaderboardPeriod, rows: Sequence[LeaderboardRow]
) -> str:
    titles = {
        LeaderboardPeriod.ALL: _("🏆 Top 10 by lifetime points"),
        LeaderboardPeriod.WEEK: _("🏆 Top 10 this week"),
        LeaderboardPeriod.MONTH: _("🏆 Top 10 this month"),
    }
    if not rows:
        return titles[period] + "\n" + _("No points earned yet.")
    lines = [titles[period]]
    lines.extend(f"{row.rank}. {name(row.display_name)} — {row.points}" for row in rows)
    return "\n".join(lines)


FEATURE = Feature(
    "points",
    setup,
    commands=(
        FeatureCommand("me", N_("Your points, streak, tier and rank")),
        FeatureCommand("top", N_("Leaderboard: /top, /top week, /top month")),
        FeatureCommand("tiers", N_("The member pyramid")),
    ),
    reads_only=reads_only,
    data_sections=("checkins", "ledger", "badges"),
)
