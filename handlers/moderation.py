"""Moderator commands: points awards, deductions and their revocation, the monthly award
quota, badges, the community's language."""

from __future__ import annotations

import re
from datetime import datetime
from html import escape

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.domain.errors import N_, ModeratorsOnly, OwnersOnly, UsageError
from bot.domain.models import Community
from bot.i18n import LANGUAGES, Translator, translator
from bot.parsing.moderation import parse_amount, parse_badge, parse_quota
from bot.ports import UnitOfWork
from bot.services import moderation
from bot.services.moderation import TargetRef
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator, ModeratorDirectory
from handlers.render import actor_of, announce_promotion, badge_name, name
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox

USER_ID_PATTERN = re.compile(r"[0-9]{1,40}")

MODERATOR_COMMANDS = (
    "award",
    "deduct",
    "badge",
    "unbadge",
    "lang",
    "checkinpost",
    "referrals",
    "setwelcome",
    "setrules",
    "joinrequests",
    "campaign",
    "timezone",
    "growth",
    "revoke",
    "quota",
)

AWARD_USAGE = N_(
    "/award <@username|id> <points> [reason] — or reply to a message: /award <points> [reason]"
)
DEDUCT_USAGE = N_(
    "/deduct <@username|id> <points> [reason] — or reply to a message: /deduct <points> [reason]"
)
REVOKE_USAGE = N_("/revoke <entry id>")
QUOTA_USAGE = N_("/quota | /quota set <points>")
BADGE_USAGE = {
    "badge": N_("/badge <@username|id> expert|star"),
    "unbadge": N_("/unbadge <@username|id> expert|star"),
}
ENTRY_ID_PATTERN = re.compile(r"#?([0-9]{1,18})")


def parse_target_word(word: str) -> TargetRef | None:
    if word.startswith("@") and len(word) > 1:
        return TargetRef(username=word[1:])
    if USER_ID_PATTERN.fullmatch(word):
        return TargetRef(user_id=int(word))
    return None


def replied_author(message: Message) -> TargetRef | None:
    reply = message.reply_to_message
    if reply is None or reply.from_user is None:
        return None
    if message.is_topic_message and reply.message_id == message.message_thread_id:
        return None  # every message in a forum topic "replies" to the topic's first message
    return TargetRef(user_id=reply.from_user.id)


def split_target_and_rest(message: Message, args: str | None) -> tuple[TargetRef | None, list[str]]:
    """`<target> rest...`; when replying to someone's message the target is its author,
    unless the first word names someone else with @username."""
    words = (args or "").split()
    replied = replied_author(message)
    if words and (replied is None or words[0].startswith("@")):
        explicit = parse_target_word(words[0])
        if explicit is not None:
            return explicit, words[1:]
    return replied, words


def setup() -> Router:
    router = Router(name="moderation")
    router.message.filter(InGroup())

    @router.message(Command("award", "deduct"), IsModerator())
    async def change_points(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
        _: Translator,
    ) -> None:
        awarding = command.command == "award"
        sign, usage = (+1, AWARD_USAGE) if awarding else (-1, DEDUCT_USAGE)
        actor = actor_of(message)
        exempt = actor is not None and moderators.is_owner(actor)
        await _change_points(
            message, command, sign, usage, uow, community, now, outbox, _, quota_exempt=exempt
        )

    @router.message(Command("revoke"), IsModerator())
    async def revoke(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        found = ENTRY_ID_PATTERN.fullmatch((command.args or "").strip())
        if found is None:
            raise UsageError(usage=REVOKE_USAGE)
        result = await moderation.revoke(
            uow, community, actor_id=actor_of(message), entry_id=int(found.group(1)), now=now
        )
        change = result.change
        outbox.reply(
            message,
            _(
                "↩️ #{entry_id} revoked: {name} {amount} points. Balance: {balance}. (#{id})",
                entry_id=result.original.id,
                name=name(change.display_name),
                amount=f"{change.amount:+d}",
                balance=change.balance,
                id=change.entry_id,
            ),
        )

    @router.message(Command("quota"), IsModerator())
    async def quota(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
        _: Translator,
    ) -> None:
        words = (command.args or "").split()
        if words and words[0].lower() == "set" and len(words) == 2:
            actor = actor_of(message)
            if actor is None or not moderators.is_owner(actor):
                raise OwnersOnly()
            points = parse_quota(words[1])
            await moderation.set_quota(uow, community, actor_id=actor, quota=points, now=now)
            outbox.reply(
                message,
                _("Monthly award quota per moderator: {quota} points.", quota=points),
            )
            return
        if words:
            raise UsageError(usage=QUOTA_USAGE)
        report = await moderation.quota_report(uow, community, now)
        lines = [
            _("Monthly award quota per moderator: {quota} points.", quota=report.quota),
            _("The bot's owners are exempt. Used this month:"),
        ]
        # The owners are exempt: what they gave counts against no quota, so it is not listed.
        uses = [
            use
            for use in report.uses
            if use.actor_id is None or not moderators.is_owner(use.actor_id)
        ]
        for use in uses:
            who = name(use.display_name) if use.actor_id is not None else _("anonymous admins")
            lines.append(f"{who}: {use.used}")
        if not uses:
            lines.append(_("No awards this month."))
        outbox.reply(message, "\n".join(lines))

    @router.message(Command("badge", "unbadge"), IsModerator())
    async def change_badge(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        granted = command.command == "badge"
        await _change_badge(message, command, granted, uow, community, now, outbox, _)

    @router.message(Command("lang"), IsModerator())
    async def set_language(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
    ) -> None:
        language = (command.args or "").strip().lower()
        if language not in LANGUAGES:
            raise UsageError(usage=N_("/lang zh|en"))
        await moderation.set_language(
            uow,
            community,
            actor_id=actor_of(message),
            language=language,
            now=now,
        )
        outbox.reply(message, translator(language)(N_("Language set to English.")))

    @router.message(Command(*MODERATOR_COMMANDS))
    async def refuse(message: Message, outbox: Outbox, _: Translator) -> None:
        raise ModeratorsOnly()

    return router


async def _change_points(
    message: Message,
    command: CommandObject,
    sign: int,
    usage: str,
    uow: UnitOfWork,
    community: Community,
    now: datetime,
    outbox: Outbox,
    _: Translator,
    *,
    quota_exempt: bool,
) -> None:
    target, rest = split_target_and_rest(message, command.args)
    if target is None or not rest:
        raise UsageError(usage=usage)
    amount = parse_amount(rest[0])
    reason = " ".join(rest[1:]) or None
    change = await moderation.change_points(
        uow,
        community,
        actor_id=actor_of(message),
        target=target,
        amount=sign * amount,
        reason=reason,
        operation_key=f"{community.id}:{message.message_id}",
        now=now,
        quota_exempt=quota_exempt,
    )
    if change is None:
        return
    template = (
        N_("✅ {name}: +{amount} points. Balance: {balance}. (#{id})")
        if sign > 0
        else N_("➖ {name}: −{amount} points. Balance: {balance}. (#{id})")
    )
    text = _(
        template,
        name=name(change.display_name),
        amount=amount,
        balance=change.balance,
        id=change.entry_id,
    )
    if reason:
        text += "\n" + _("Reason: {reason}", reason=escape(reason))
    outbox.reply(message, text)
    announce_promotion(outbox, _, community, change)


async def _change_badge(
    message: Message,
    command: CommandObject,
    granted: bool,
    uow: UnitOfWork,
    community: Community,
    now: datetime,
    outbox: Outbox,
    _: Translator,
) -> None:
    usage = BADGE_USAGE["badge" if granted else "unbadge"]
    target, rest = split_target_and_rest(message, command.args)
    if target is None or len(rest) != 1:
        raise UsageError(usage=usage)
    badge = parse_badge(rest[0])
    result = await moderation.set_badge(
        uow,
        community,
        actor_id=actor_of(message),
        target=target,
        badge=badge,
        granted=granted,
        now=now,
    )
    label = badge_name(_, result.badge)
    if granted:
        text = (
            _("{name} now has the {badge} badge.", name=name(result.display_name), badge=label)
            if result.changed
            else _(
                "{name} already has the {badge} badge.", name=name(result.display_name), badge=label
            )
        )
    else:
        text = (
            _(
                "{name} no longer has the {badge} badge.",
                name=name(result.display_name),
                badge=label,
            )
            if result.changed
            else _(
                "{name} does not have the {badge} badge.",
                name=name(result.display_name),
                badge=label,
            )
        )
    outbox.reply(message, text)


FEATURE = Feature(
    "moderation",
    setup,
    commands=(
        FeatureCommand(
            "award", N_("Give points: /award <@user|id> <points> [reason]"), moderators=True
        ),
        FeatureCommand(
            "deduct", N_("Take points: /deduct <@user|id> <points> [reason]"), moderators=True
        ),
        FeatureCommand(
            "revoke", N_("Undo an award or deduction: /revoke <entry id>"), moderators=True
        ),
        FeatureCommand(
            "quota",
            N_("Monthly award quota and its use: /quota, /quota set <points>"),
            moderators=True,
        ),
        FeatureCommand(
            "badge", N_("Grant a badge: /badge <@user|id> expert|star"), moderators=True
        ),
        FeatureCommand(
            "unbadge", N_("Remove a badge: /unbadge <@user|id> expert|star"), moderators=True
        ),
        FeatureCommand("lang", N_("Set the group's language: /lang zh|en"), moderators=True),
    ),
)
