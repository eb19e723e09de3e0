"""The private moderation console: a moderator's command in the private chat with the bot acts
on the group they chose with /manage, and a set-up command typed in the group is answered in
private. Both turn the update into one the group's handlers take as their own (the chat is the
group) and route its answers to the private chat (runtime.outbox.PrivateRoute); the handlers
re-check the moderator's rights in that group as they do for a command typed there."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from html import escape
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.middlewares.user_context import EVENT_CONTEXT_KEY, EventContext
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Chat, Message, ReplyParameters, TelegramObject, Update

from bot.domain.errors import N_
from bot.domain.models import Community
from bot.i18n import language_of_user, translator
from bot.ports import ConsoleLink, UnitOfWork
from handlers.filters.chat import GROUP_CHAT_TYPES
from handlers.filters.moderator import ModeratorDirectory
from runtime.features import Feature, answered_privately, commands_of, group_only_commands
from runtime.outbox import Outbox, PrivateRoute

BUTTON_PREFIX = "~"
BUTTON_SEPARATOR = "|"
MAX_LINK_DIGITS = 9  # console link ids are autoincrement integers (32-bit in PostgreSQL)
CHOOSE_FIRST = N_(
    "Choose the group to manage first: send /manage. This command then acts on that group."
)
NOT_A_MODERATOR_ANY_MORE = N_(
    "You are no longer a moderator of {group}, so nothing was done. Choose another group with "
    "/manage."
)
NOT_YOUR_BUTTON = N_("This button belongs to someone else's console.")
ANSWERED_PRIVATELY = N_("✉️ Answered you in the private chat with the bot.")
MANAGE = "manage"
CONSOLE_MARK = "📍"  # opens every message of the console (the group's name follows)


def console_header(community: Community) -> str:
    return f"{CONSOLE_MARK} <b>{escape(community.title or str(community.id))}</b>\n"


def without_console_header(text: str) -> str:
    """A console message's text without the line naming its group."""
    if text.startswith(CONSOLE_MARK):
        return text.split("\n", 1)[1] if "\n" in text else ""
    return text


def button_prefix(link: ConsoleLink) -> str:
    return f"{BUTTON_PREFIX}{link.id}{BUTTON_SEPARATOR}"


def command_of(message: Message) -> tuple[str, str] | None:
    """The command's name (without @bot) and its first word, or None for no command."""
    text = message.text or message.caption or ""
    if not text.startswith("/") or len(text) < 2:
        return None
    words = text[1:].split(maxsplit=2)
    name = words[0].split("@", maxsplit=1)[0].lower()
    return name, (words[1].lower() if len(words) > 1 else "")


def answers_the_console(message: Message, bot: Bot) -> bool:
    """A text replying to one of the console's messages (a question of a guided dialog)."""
    reply = message.reply_to_message
    return (
        message.text is not None
        and reply is not None
        and reply.from_user is not None
        and reply.from_user.id == bot.id
        and (reply.text or reply.caption or "").startswith(CONSOLE_MARK)
    )


def as_group_chat(community: Community) -> Chat:
    return Chat(id=community.id, type="supergroup", title=community.title)


class ConsoleMiddleware(BaseMiddleware):
    """Before the community context: a command or a console button from the private chat is
    turned into the chosen group's own."""

    def __init__(self) -> None:
        self._group_commands: dict[int, frozenset[str]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        message = event.message
        if message is not None and message.chat.type == "private":
            command = command_of(message)
            if command is not None and command[0] in self._commands(data["features"]):
                return await self._command(handler, event, message, data)
            if command is None and answers_the_console(message, data["bot"]):
                return await self._command(handler, event, message, data)
        callback = event.callback_query
        if (
            callback is not None
            and callback.data is not None
            and callback.data.startswith(BUTTON_PREFIX)
            and isinstance(callback.message, Message)
            and callback.message.chat.type == "private"
        ):
            return await self._press(handler, event, callback, callback.message, data)
        return await handler(event, data)

    def _commands(self, features: Sequence[Feature]) -> frozenset[str]:
        names = self._group_commands.get(id(features))
        if names is None:
            private_for_moderators = {
                command.name
                for command in commands_of(features)
                if command.moderators and command.private and command.name != MANAGE
            }
            names = self._group_commands[id(features)] = frozenset(
                {*group_only_commands(features), *private_for_moderators}
            )
        return names

    async def _command(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        update: Update,
        message: Message,
        data: dict[str, Any],
    ) -> Any:
        uow: UnitOfWork = data["uow"]
        user = message.from_user
        if user is None:
            return await handler(update, data)
        link = await uow.console.chosen(user.id)
        community = await uow.communities.get(link.community_id) if link is not None else None
        if link is None or community is None:
            return await handler(update, data)  # the private chat's own answer
        _ = translator(community.language)
        outbox: Outbox = data["outbox"]
        moderators: ModeratorDirectory = data["moderators"]
        bot: Bot = data["bot"]
        if not await moderators.is_moderator_now(bot, community.id, user.id):
            outbox.reply(
                message,
                console_header(community)
                + _(NOT_A_MODERATOR_ANY_MORE, group=f"<b>{escape(community.title)}</b>"),
            )
            return None
        outbox.route_privately(
            PrivateRoute(
                group_chat_id=community.id,
                private_chat_id=message.chat.id,
                header=console_header(community),
                button_prefix=button_prefix(link),
                reply_to=message.message_id,
            )
        )
        group = as_group_chat(community)
        # The id negated: a private message's id may equal one of the group's, and handlers key
        # what they do exactly once by the message (the route replies to the real one).
        routed = message.model_copy(
            update={"chat": group, "message_thread_id": None, "message_id": -message.message_id}
        )
        _in_group(data, group)
        return await handler(update.model_copy(update={"message": routed}), data)

    async def _press(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        update: Update,
        callback: CallbackQuery,
        message: Message,
        data: dict[str, Any],
    ) -> Any:
        uow: UnitOfWork = data["uow"]
        outbox: Outbox = data["outbox"]
        assert callback.data is not None
        link_id, _separator, rest = callback.data[len(BUTTON_PREFIX) :].partition(BUTTON_SEPARATOR)
        readable = link_id.isascii() and link_id.isdigit() and len(link_id) <= MAX_LINK_DIGITS
        link = await uow.console.by_id(int(link_id)) if readable else None
        community = await uow.communities.get(link.community_id) if link is not None else None
        user_language = language_of_user(callback.from_user.language_code, "en")
        if link is None or link.user_id != callback.from_user.id or community is None or not rest:
            outbox.toast(callback, translator(user_language)(NOT_YOUR_BUTTON), alert=True)
            return None
        _ = translator(community.language)
        moderators: ModeratorDirectory = data["moderators"]
        bot: Bot = data["bot"]
        if not await moderators.is_moderator_now(bot, community.id, callback.from_user.id):
            text = _(NOT_A_MODERATOR_ANY_MORE, group=community.title)
            outbox.toast(callback, text[:200], alert=True)
            return None
        outbox.route_privately(
            PrivateRoute(
                group_chat_id=community.id,
                private_chat_id=message.chat.id,
                header=console_header(community),
                button_prefix=button_prefix(link),
                edited_message_id=message.message_id,
            )
        )
        group = as_group_chat(community)
        routed = callback.model_copy(
            update={"data": rest, "message": message.model_copy(update={"chat": group})}
        )
        _in_group(data, group)
        return await handler(update.model_copy(update={"callback_query": routed}), data)


class QuietGroupMiddleware(BaseMiddleware):
    """After the community context: a moderator's set-up command typed in the group (shop,
    campaigns, quizzes, rules, settings) is answered in the private chat with the bot when
    they have one, with one short line in the group, which keeps its message budget for the
    members."""

    def __init__(self) -> None:
        self._quiet: dict[int, Callable[[str, str], bool]] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        message = event.message
        community: Community | None = data.get("community")
        outbox: Outbox = data["outbox"]
        if (
            outbox.route is not None  # already answered in private: a console command
            or message is None
            or community is None
            or message.chat.type not in GROUP_CHAT_TYPES
            or message.from_user is None
            or message.sender_chat is not None
        ):
            return await handler(event, data)
        command = command_of(message)
        if command is None or not self._is_quiet(data["features"], *command):
            return await handler(event, data)
        uow: UnitOfWork = data["uow"]
        moderators: ModeratorDirectory = data["moderators"]
        user_id = message.from_user.id
        if not await uow.users.can_message(user_id) or not await moderators.is_moderator(
            data["bot"], community.id, user_id
        ):
            return await handler(event, data)
        link = await uow.console.link(user_id, community.id)
        note = SendMessage(
            chat_id=community.id,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
            text=data["_"](ANSWERED_PRIVATELY),
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        )
        outbox.route_privately(
            PrivateRoute(
                group_chat_id=community.id,
                private_chat_id=user_id,
                header=console_header(community),
                button_prefix=button_prefix(link),
                group_note=note,
            )
        )
        return await handler(event, data)

    def _is_quiet(self, features: Sequence[Feature], name: str, word: str) -> bool:
        check = self._quiet.get(id(features))
        if check is None:
            check = self._quiet[id(features)] = answered_privately(features)
        return check(name, word)


def _in_group(data: dict[str, Any], group: Chat) -> None:
    data["event_chat"] = group
    data.pop("event_thread_id", None)
    context: EventContext | None = data.get(EVENT_CONTEXT_KEY)
    if context is not None:
        data[EVENT_CONTEXT_KEY] = replace(context, chat=group, thread_id=None)
