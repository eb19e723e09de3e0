"""/start, /help and the command lists Telegram shows in its menu."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeDefault,
    Message,
)

from bot.domain.errors import N_
from bot.i18n import LANGUAGES, Translator, translator
from handlers.filters.chat import InGroup
from handlers.filters.moderator import ModeratorDirectory, is_moderator_message
from runtime.features import (
    Feature,
    FeatureCommand,
    member_commands,
    moderator_commands,
)
from runtime.outbox import Outbox


def command_list(_: Translator, commands: Sequence[FeatureCommand]) -> list[BotCommand]:
    return [
        BotCommand(command=command.name, description=_(command.description)) for command in commands
    ]


async def register_command_menus(
    bot: Bot, default_language: str, features: Sequence[Feature]
) -> None:
    """Members' commands for groups; members' and moderators' for group administrators;
    in each language, and in the default language for users whose language has no list."""
    language_codes: list[tuple[str | None, str]] = [(None, default_language)]
    language_codes += [(language, language) for language in LANGUAGES]
    for code, language in language_codes:
        _ = translator(language)
        members = command_list(_, member_commands(features))
        moderators = members + command_list(_, moderator_commands(features))
        await bot.set_my_commands(members, BotCommandScopeDefault(), code)
        await bot.set_my_commands(members, BotCommandScopeAllGroupChats(), code)
        await bot.set_my_commands(moderators, BotCommandScopeAllChatAdministrators(), code)


def setup() -> Router:
    router = Router(name="help")
    router.message.filter(InGroup())

    @router.message(Command("help"))
    async def show_help(
        message: Message,
        bot: Bot,
        moderators: ModeratorDirectory,
        outbox: Outbox,
        features: Sequence[Feature],
        _: Translator,
    ) -> None:
        moderator = await is_moderator_message(message, bot, moderators)
        outbox.reply(message, help_text(_, features, moderator=moderator))

    return router


def help_text(_: Translator, features: Sequence[Feature], *, moderator: bool) -> str:
    """The commands the features declare: members', then (for a moderator) moderators'."""
    lines = [_("Commands:")]
    lines.extend(
        f"/{command.name} — {escape(_(command.description))}"
        for command in member_commands(features)
    )
    lines.append(_("You can also check in by sending 签到, 打卡 or “check in”."))
    if moderator:
        lines.append("")
        lines.append(_("Moderator commands:"))
        lines.extend(
            f"/{command.name} — {escape(_(command.description))}"
            for command in moderator_commands(features)
        )
    return "\n".join(lines)


FEATURE = Feature(
    "help",
    setup,
    commands=(FeatureCommand("help", N_("What I can do"), private=True),),
)
