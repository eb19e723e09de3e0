"""The private moderation console: /manage chooses the group a moderator's commands in the
private chat with the bot act on (handlers.middlewares.console carries them there)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import EditMessageText
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.errors import N_
from bot.domain.models import Community, UserInfo
from bot.i18n import Translator, translator
from bot.ports import UnitOfWork
from bot.services import console
from handlers.buttons import ChatId
from handlers.filters.chat import InGroup, InPrivate
from handlers.filters.moderator import ModeratorDirectory
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox

MAX_GROUPS_SHOWN = 30
NO_GROUPS = N_(
    "I know no group that you moderate. Add me to your group as an administrator, then come "
    "back and send /manage again."
)
CHOOSE = N_("Which group do you want to manage from here?")
CURRENTLY = N_("Now managing: {group}")
CHOSEN = N_(
    "Now managing {group}. The moderator commands you send here act on that group and are "
    "answered here, for example /settings, /stats, /shop add, /campaign add, /campaign preview "
    "&lt;id&gt;, /tickets and /orders. For /quiz import, send the file here with /quiz import "
    "as its caption, or reply to the file with it. Posts such as /checkinpost go to the group. "
    "Send /manage to switch groups."
)
NOT_A_MODERATOR = N_("You are not a moderator of that group, so it cannot be managed from here.")
MANAGE_PRIVATELY = N_("Send /manage to me in a private chat: @{bot}")


class ManageButton(CallbackData, prefix="v1mg"):
    community_id: ChatId


def group_name(community: Community) -> str:
    return f"<b>{escape(community.title or str(community.id))}</b>"


def setup() -> Router:
    router = Router(name="console")

    @router.message(Command("manage"), InPrivate())
    async def manage(
        message: Message,
        bot: Bot,
        uow: UnitOfWork,
        user: UserInfo,
        moderators: ModeratorDirectory,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        known = {community.id: community for community in await uow.members.communities_of(user.id)}
        for chat_id in moderators.cached_chats_of(user.id) - known.keys():
            community = await uow.communities.get(chat_id)
            if community is not None:
                known[chat_id] = community
        moderated = [known[chat_id] for chat_id in moderators.moderated_among(known, user.id)]
        if not moderated:
            outbox.reply(message, _(NO_GROUPS))
            return
        moderated.sort(key=lambda community: (community.title.casefold(), community.id))
        chosen = await uow.console.chosen(user.id)
        lines = [_(CHOOSE)]
        current = next((c for c in moderated if chosen and c.id == chosen.community_id), None)
        if current is not None:
            lines.append(_(CURRENTLY, group=group_name(current)))
        buttons = [
            [
                InlineKeyboardButton(
                    text=("✅ " if community is current else "") + (community.title or "?")[:60],
                    callback_data=ManageButton(community_id=community.id).pack(),
                )
            ]
            for community in moderated[:MAX_GROUPS_SHOWN]
        ]
        outbox.reply(message, "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons))

    @router.callback_query(ManageButton.filter())
    async def choose(
        callback: CallbackQuery,
        callback_data: ManageButton,
        bot: Bot,
        uow: UnitOfWork,
        now: datetime,
        moderators: ModeratorDirectory,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        message = callback.message
        community = await uow.communities.get(callback_data.community_id)
        if (
            not isinstance(message, Message)
            or message.chat.type != "private"
            or community is None
            or not await moderators.is_moderator_now(bot, community.id, callback.from_user.id)
        ):
            outbox.toast(callback, _(NOT_A_MODERATOR), alert=True)
            return
        await console.choose(uow, callback.from_user.id, community.id, now)
        speak = translator(community.language)
        outbox.toast(callback, speak(CURRENTLY, group=community.title)[:200])
        outbox.call(
            EditMessageText(
                chat_id=message.chat.id,
                message_id=message.message_id,
                text=speak(CHOSEN, group=group_name(community)),
            )
        )

    @router.message(Command("manage"), InGroup())
    async def manage_in_group(message: Message, bot: Bot, outbox: Outbox, _: Translator) -> None:
        me = await bot.me()
        outbox.reply(message, _(MANAGE_PRIVATELY, bot=me.username or ""))

    return router


FEATURE = Feature(
    "console",
    setup,
    commands=(
        FeatureCommand(
            "manage",
            N_("Manage a group from the private chat with the bot: /manage"),
            moderators=True,
            private=True,
        ),
    ),
    data_sections=("console",),
)
