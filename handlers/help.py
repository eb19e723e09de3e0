"""/start, /help and the command lists Telegram shows in its menu."""

from __future__ import annotations

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
from runtime.outbox import Outbox

MEMBER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("checkin", N_("Check in for today")),
    ("me", N_("Your points, streak, tier and rank")),
    ("top", N_("Leaderboard: /top, /top week, /top month")),
    ("tiers", N_("The member pyramid")),
    ("invite", N_("Your personal invite link")),
    ("invites", N_("How many friends you invited")),
    ("topinviters", N_("Top inviters: week, month, all time")),
    ("shop", N_("The points shop: browse and redeem")),
    ("myorders", N_("Your shop orders")),
    ("lottery", N_("Lotteries: /lottery list|show <id>, and more for moderators")),
    ("quiz", N_("Quiz leaderboard: /quiz top (moderators: start|schedule|list|cancel|add|import)")),
    ("birthday", N_("Your birthday, privately: /birthday MM-DD (no year), /birthday off")),
    ("mydata", N_("Your stored data as a file (in a private chat with me)")),
    ("forgetme", N_("Delete your personal data (in a private chat with me)")),
    ("help", N_("What I can do")),
    ("feedback", N_("Report a bug, an idea or a complaint: /feedback <text>, here or privately")),
    ("bug", N_("Report a bug: /bug <text> (a photo with it as caption is attached)")),
    ("idea", N_("Suggest an idea: /idea <text>")),
    ("complaint", N_("A complaint only moderators see: /complaint <text>")),
    ("mytickets", N_("Your tickets and their status")),
)

MODERATOR_COMMAND_HELP: tuple[tuple[str, str], ...] = (
    ("award", N_("Give points: /award <@user|id> <points> [reason]")),
    ("deduct", N_("Take points: /deduct <@user|id> <points> [reason]")),
    ("revoke", N_("Undo an award or deduction: /revoke <entry id>")),
    ("quota", N_("Monthly award quota and its use: /quota, /quota set <points>")),
    ("badge", N_("Grant a badge: /badge <@user|id> expert|star")),
    ("unbadge", N_("Remove a badge: /unbadge <@user|id> expert|star")),
    ("checkinpost", N_("Post the check-in button")),
    ("lang", N_("Set the group's language: /lang zh|en")),
    ("referrals", N_("A member's referrals: /referrals <@user|id>")),
    ("setwelcome", N_("Set the newcomers' welcome: /setwelcome <text>|default")),
    ("setrules", N_("Set the rules link: /setrules <link>|none")),
    ("joinrequests", N_("Join requests: /joinrequests approve|manual")),
    ("growth", N_("Referral rules: /growth hours|reward|bonus|cap <n>, /growth checkin on|off")),
    ("timezone", N_("The group's timezone: /timezone Asia/Shanghai")),
    ("campaign", N_("Scheduled posts: /campaign add|list|show|pause|resume|delete|test|enable")),
    ("export", N_("A CSV file sent to you privately: /export members|ledger|checkins|referrals")),
    ("orders", N_("Shop orders: /orders [all], /orders fulfil|reject <id>; /shop add|edit|remove")),
    ("churn", N_("Members at risk of leaving, most valuable first")),
    ("keymembers", N_("Key members: /keymembers, /keymembers rule <top %> <referrals>")),
    ("lifecycle", N_("Lifecycle thresholds: /lifecycle [new|loyal|factor|...] <n>")),
    ("winback", N_("Win-back messages: /winback on|off, gift <points>, text <text>|default")),
    ("tickets", N_("Feedback tickets: /tickets [open|all] [bug|idea|complaint]")),
    (
        "ticket",
        N_(
            "One ticket: /ticket <id> [accept|done|reject <reason>|reply <text>|"
            "merge <into id>|announce|reward]"
        ),
    ),
    ("ticketrules", N_("Ticket rewards and limit: /ticketrules bug|idea <points>|limit <n>")),
    ("stats", N_("Community metrics and charts: /stats [days] (here, or privately with me)")),
    (
        "survey",
        N_(
            "Surveys: /survey nps, /survey csat <question>, /survey schedule <schedule> nps|csat "
            "<question>, /survey list|close|cancel|unschedule <id>, /survey duration <days>, "
            "/survey thanks <points>"
        ),
    ),
    ("birthdays", N_("Birthdays: /birthdays, /birthdays group on|off, /birthdays gift <points>")),
)


def command_list(_: Translator, commands: tuple[tuple[str, str], ...]) -> list[BotCommand]:
    return [BotCommand(command=command, description=_(text)) for command, text in commands]


async def register_command_menus(bot: Bot, default_language: str) -> None:
    """Members' commands for groups; members' and moderators' for group administrators;
    in each language, and in the default language for users whose language has no list."""
    language_codes: list[tuple[str | None, str]] = [(None, default_language)]
    language_codes += [(language, language) for language in LANGUAGES]
    for code, language in language_codes:
        _ = translator(language)
        members = command_list(_, MEMBER_COMMANDS)
        moderators = members + command_list(_, MODERATOR_COMMAND_HELP)
        await bot.set_my_commands(members, BotCommandScopeDefault(), code)
        await bot.set_my_commands(members, BotCommandScopeAllGroupChats(), code)
        await bot.set_my_commands(moderators, BotCommandScopeAllChatAdministrators(), code)


def setup() -> Router:
    router = Router(name="help")
    router.message.filter(InGroup())

    @router.message(Command("help"))
    async def show_help(
        message: Message, bot: Bot, moderators: ModeratorDirectory, outbox: Outbox, _: Translator
    ) -> None:
        moderator = await is_moderator_message(message, bot, moderators)
        outbox.reply(message, help_text(_, moderator=moderator))

    return router


def help_text(_: Translator, *, moderator: bool) -> str:
    lines = [_("Commands:")]
    lines.extend(f"/{command} — {escape(_(text))}" for command, text in MEMBER_COMMANDS)
    lines.append(_("You can also check in by sending 签到, 打卡 or “check in”."))
    if moderator:
        lines.append("")
        lines.append(_("Moderator commands:"))
        lines.extend(f"/{command} — {escape(_(text))}" for command, text in MODERATOR_COMMAND_HELP)
    return "\n".join(lines)
