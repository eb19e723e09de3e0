"""Shared pieces of what members see: names of tiers and badges, mentions, announcements."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from aiogram.types import Message

from bot.domain.errors import N_
from bot.domain.models import Badge, Community, PointsChange, Tier
from bot.i18n import Translator, translator
from bot.services.referrals import QualifiedReferral
from runtime.outbox import Outbox

TIER_NAMES = {
    Tier.NEWCOMER: N_("Newcomer"),
    Tier.MEMBER: N_("Member"),
    Tier.ACTIVE: N_("Active"),
    Tier.CONTRIBUTOR: N_("Contributor"),
    Tier.CORE: N_("Core"),
}

BADGE_NAMES = {Badge.EXPERT: N_("Expert"), Badge.STAR: N_("Star")}
BADGE_ICONS = {Badge.EXPERT: "🎓", Badge.STAR: "⭐"}


def tier_name(_: Translator, tier: Tier) -> str:
    return _(TIER_NAMES[tier])


def badge_name(_: Translator, badge: Badge) -> str:
    return f"{BADGE_ICONS[badge]} {_(BADGE_NAMES[badge])}"


def actor_of(message: Message) -> int | None:
    """Who did it, for the audit log: None for an anonymous admin posting as the group."""
    if message.sender_chat is not None or message.from_user is None:
        return None
    return message.from_user.id


def name(text: str) -> str:
    """A name in bold, without the spaces some people put around their names (they would
    show as stray spaces in a sentence)."""
    return f"<b>{escape(text.strip() or text)}</b>"


def announce_promotion(
    outbox: Outbox, _: Translator, community: Community, change: PointsChange | None
) -> None:
    """Tells the group once when a member reaches a higher tier."""
    if change is None or not change.promoted:
        return
    outbox.announce(
        community.id,
        _(
            "🎉 {name} reached the {tier} tier!",
            name=name(change.display_name),
            tier=tier_name(_, change.tier_after),
        ),
        f"promotion:{community.id}:{change.user_id}:{int(change.tier_after)}",
    )


def announce_referral(outbox: Outbox, result: QualifiedReferral, inviter_reachable: bool) -> None:
    """Tells the inviter privately (when they can be reached) and announces promotions."""
    _ = translator(result.community.language)
    if inviter_reachable and result.inviter_reward is not None:
        outbox.announce(
            result.inviter_id,
            _(
                "🎉 {name} joined {group} through your link and qualified: +{points} points.",
                name=name(result.invitee_name),
                group=name(result.community.title),
                points=result.inviter_reward.amount,
            ),
            f"referral:{result.community.id}:{result.invitee_id}",
        )
    announce_promotion(outbox, _, result.community, result.inviter_reward)
    announce_promotion(outbox, _, result.community, result.welcome_bonus)


WEEKLY_SCHEDULES = {
    "mon": N_("weekly mon {time}"),
    "tue": N_("weekly tue {time}"),
    "wed": N_("weekly wed {time}"),
    "thu": N_("weekly thu {time}"),
    "fri": N_("weekly fri {time}"),
    "sat": N_("weekly sat {time}"),
    "sun": N_("weekly sun {time}"),
}


def schedule_text(_: Translator, spec: str | None) -> str:
    """A stored schedule (`daily 20:30`, `weekly sat 20:00`, `monthly 1 10:00`, `at …`,
    `cron …`) in the chat's language: `每天 20:30`, `每周六 20:00`, `每月1日 10:00`."""
    words = (spec or "").split()
    if len(words) == 2 and words[0] == "daily":
        return _("daily {time}", time=words[1])
    if len(words) == 3 and words[0] == "weekly" and words[1] in WEEKLY_SCHEDULES:
        return _(WEEKLY_SCHEDULES[words[1]], time=words[2])
    if len(words) == 3 and words[0] == "monthly":
        return _("monthly {day} {time}", day=words[1], time=words[2])
    if len(words) == 3 and words[0] == "at":
        return _("at {date} {time}", date=words[1], time=words[2])
    if len(words) == 6 and words[0] == "cron":
        return _("cron {expression}", expression=" ".join(words[1:]))
    return escape(spec or "—")


def gap(_: Translator) -> str:
    """What goes between two sentences: Chinese sentences follow each other without a space."""
    return "" if _.language == "zh" else " "


def listed(_: Translator, items: Iterable[str]) -> str:
    """Items of a list in a sentence: `A、B、C` in Chinese, `A, B, C` in English."""
    return ("、" if _.language == "zh" else ", ").join(items)


def colon(_: Translator) -> str:
    return "：" if _.language == "zh" else ": "


def in_brackets(_: Translator, text: str) -> str:
    """A remark after a phrase: `（…）` in Chinese, ` (…)` in English."""
    return f"（{text}）" if _.language == "zh" else f" ({text})"
