"""/birthday (private chat): a member's birthday, month and day only; /birthdays (moderators,
in the group): whether the group hears the congratulations, and the gift."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.domain.care import BirthdayInPrivate, CareSettings
from bot.domain.errors import N_, ModeratorsOnly, UsageError
from bot.domain.models import Community, UserInfo
from bot.i18n import Translator, translator
from bot.parsing.birthdays import parse_birthday
from bot.ports import UnitOfWork
from bot.services import birthdays, surveys
from bot.services.birthdays import Greeting
from handlers.filters.chat import InGroup, InPrivate
from handlers.filters.moderator import IsModerator, ModeratorDirectory, is_owner_message
from handlers.render import actor_of, gap, name
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox

SETTINGS_USAGE = N_("/birthdays | group on|off | gift <points> | vip <points>")


def settings_text(_: Translator, settings: CareSettings) -> str:
    lines = [
        _(
            "🎂 Birthday gift: {points} points; congratulations in the group: {group}.",
            points=settings.birthday_gift,
            group=_("on") if settings.birthday_group else _("off"),
        )
    ]
    if settings.birthday_vip_gift is not None:
        lines.append(
            _(
                "VIP gift (reserved, not given yet): {points} points.",
                points=settings.birthday_vip_gift,
            )
        )
    return "\n".join(lines)


def queue_greetings(outbox: Outbox, greetings: list[Greeting]) -> None:
    """Each congratulation through the outgoing queue, once (keyed by community, member and
    year): privately when the member can get private messages, and in the group when the
    community switched that on."""
    for greeting in greetings:
        community = greeting.community
        _ = translator(community.language)
        key = f"birthday:{community.id}:{greeting.user_id}:{greeting.year}"
        if greeting.reachable:
            text = _("🎂 Happy birthday from {group}!", group=name(community.title))
            if greeting.gift:
                text += gap(_) + _("A gift of {points} points is yours.", points=greeting.gift)
            outbox.announce(greeting.user_id, text, f"{key}:private", kind="birthday")
        if greeting.in_group:
            outbox.announce(
                community.id,
                _(
                    "🎂 Today is {name}'s birthday. Happy birthday!",
                    name=name(greeting.display_name),
                ),
                f"{key}:group",
                kind="birthday",
            )


def setup() -> Router:
    router = Router(name="birthdays")
    private = Router(name="birthdays-private")
    private.message.filter(InPrivate())
    group = Router(name="birthdays-group")
    group.message.filter(InGroup())
    router.include_routers(private, group)

    @private.message(Command("birthday"))
    async def set_birthday(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        text = (command.args or "").strip()
        if not text:
            stored = await uow.birthdays.get(user.id)
            if stored is None:
                outbox.reply(
                    message,
                    _("I don't know your birthday. Send it like this: /birthday 07-15 (no year)."),
                )
            else:
                outbox.reply(
                    message,
                    _(
                        "Your birthday: {date}. /birthday off removes it.",
                        date=f"{stored[0]:02d}-{stored[1]:02d}",
                    ),
                )
            return
        stored = await birthdays.set_birthday(uow, user.id, parse_birthday(text), now)
        if stored is None:
            outbox.reply(message, _("Your birthday is removed."))
        else:
            outbox.reply(
                message,
                _(
                    "🎂 Saved: {date}. On that day each of your groups will congratulate you.",
                    date=f"{stored[0]:02d}-{stored[1]:02d}",
                ),
            )

    @group.message(Command("birthday"))
    async def birthday_in_group(message: Message) -> None:
        raise BirthdayInPrivate()

    @group.message(Command("birthdays"), IsModerator())
    async def birthday_settings(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
        _: Translator,
    ) -> None:
        words = (command.args or "").lower().split()
        actor = actor_of(message)
        if not words:
            settings = surveys.settings(community)
        elif words[0] == "group" and len(words) == 2 and words[1] in ("on", "off"):
            settings = await birthdays.set_group(uow, community, words[1] == "on", actor, now)
        elif words[0] in ("gift", "vip") and len(words) == 2:
            settings = await birthdays.set_gift(
                uow,
                community,
                words[1],
                actor,
                now,
                vip=words[0] == "vip",
                by_owner=is_owner_message(message, moderators),
            )
        else:
            raise UsageError(usage=SETTINGS_USAGE)
        outbox.reply(message, settings_text(_, settings))

    @group.message(Command("birthdays"))
    async def refuse(message: Message, outbox: Outbox, _: Translator) -> None:
        raise ModeratorsOnly()

    return router


from handlers.birthday_work import birthdays_work  # noqa: E402 - it renders with this module's texts

FEATURE = Feature(
    "birthdays",
    setup,
    commands=(
        FeatureCommand(
            "birthday",
            N_("Your birthday, privately: /birthday MM-DD (no year), /birthday off"),
            private=True,
        ),
        FeatureCommand(
            "birthdays",
            N_("Birthdays: /birthdays, /birthdays group on|off, /birthdays gift <points>"),
            moderators=True,
        ),
    ),
    timed_work=(birthdays_work,),
    data_sections=("birthdays", "birthday_greetings"),
)
