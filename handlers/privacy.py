"""Data and privacy: /mydata (private chat) sends the member their stored data; /export
(moderators, in the group) sends a CSV file of the group's data to the moderator privately;
/forgetme (private chat, with a confirmation button) erases the member's personal data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import EditMessageText, SendDocument, SendMessage, TelegramMethod
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.domain.errors import N_, PrivateChatNeeded
from bot.domain.models import Community, UserInfo
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.ports.reads import Reader
from bot.services import privacy
from handlers.filters.chat import InGroup, InPrivate
from handlers.filters.moderator import IsModerator
from handlers.render import actor_of
from runtime.outbox import Outbox

FILE_FAILED = N_("The file could not be made this time; try again later.")


def setup() -> Router:
    router = Router(name="privacy")
    private = Router(name="privacy-private")
    private.message.filter(InPrivate())
    group = Router(name="privacy-group")
    group.message.filter(InGroup())
    router.include_routers(private, group)

    @group.message(Command("export"), IsModerator())
    async def export(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        reader: Reader,
        _: Translator,
    ) -> None:
        """The rights are checked in the update's transaction; the CSV is read after it
        commits, off the loop (a large group's table), and sent privately."""
        kind = privacy.parse_kind(command.args)
        moderator = actor_of(message)
        if moderator is None or not await uow.users.can_message(moderator):
            raise PrivateChatNeeded()
        community_id = community.id

        async def build() -> Sequence[TelegramMethod[Any]]:
            made = await reader.read(
                lambda reading: privacy.export_csv(reading, community_id, kind, now)
            )
            caption = _("{kind}: {rows} rows.", kind=kind, rows=made.rows)
            if made.truncated:
                caption += " " + _("Only the first {limit} rows.", limit=privacy.CSV_ROW_LIMIT)
            return [
                SendDocument(
                    chat_id=moderator,
                    document=BufferedInputFile(made.content, filename=made.file_name),
                    caption=caption,
                )
            ]

        outbox.later(build, SendMessage(chat_id=moderator, text=_(FILE_FAILED)))
        outbox.reply(message, _("📬 I sent you the file privately."))

    @private.message(Command("mydata"))
    async def my_data(
        message: Message,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        reader: Reader,
        _: Translator,
    ) -> None:
        """Read after the update's transaction commits (so it sees what the update
        stored), off the loop, then sent."""
        user_id, chat_id = user.id, message.chat.id

        async def build() -> Sequence[TelegramMethod[Any]]:
            content = await reader.read(lambda reading: privacy.my_data(reading, user_id, now))
            return [
                SendDocument(
                    chat_id=chat_id,
                    document=BufferedInputFile(content, filename=f"mydata-{user_id}.json"),
                    caption=_(
                        "Everything I store about you, as of {time} UTC.",
                        time=f"{now:%Y-%m-%d %H:%M}",
                    ),
                )
            ]

        outbox.later(build, SendMessage(chat_id=chat_id, text=_(FILE_FAILED)))

    @private.message(Command("forgetme"))
    async def forget_me_prompt(message: Message, outbox: Outbox, _: Translator) -> None:
        outbox.reply(message, forget_me_explanation(_), forget_me_keyboard(_))

    @group.message(Command("forgetme"))
    async def forget_me_in_group(message: Message, outbox: Outbox, _: Translator) -> None:
        outbox.reply(message, _("Send /forgetme to me in a private chat; nothing was changed."))

    @router.callback_query(ForgetButton.filter())
    async def forget_me_answer(
        callback: CallbackQuery,
        callback_data: ForgetButton,
        uow: UnitOfWork,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        """Only in the private chat of the person who pressed: the button carries no id, the
        presser is the one erased. The erase is this transaction; the answer goes after it."""
        prompt = callback.message
        if prompt is None or prompt.chat.id != callback.from_user.id:
            outbox.toast(callback, _("Only the person who asked can confirm this."), alert=True)
            return
        if callback_data.action != FORGET_CONFIRM:
            text = _("Cancelled: nothing was deleted.")
        else:
            erasure = await privacy.forget_me(uow, callback.from_user.id)
            if erasure.erased:
                text = _(
                    "🗑 Done: your personal data is deleted. Only anonymous point totals "
                    "remain. If you write to me again, I store what that needs afresh."
                )
            else:
                text = _("Nothing about you is stored any more.")
        outbox.toast(callback, text[:200])
        if isinstance(prompt, Message):  # an old prompt may no longer be editable
            outbox.call(
                EditMessageText(chat_id=prompt.chat.id, message_id=prompt.message_id, text=text)
            )

    return router


FORGET_CONFIRM = "y"
FORGET_CANCEL = "n"


class ForgetButton(CallbackData, prefix="v1fm"):
    """/forgetme's confirm (`y`) or cancel (`n`); who is erased comes from the press."""

    action: str


def forget_me_explanation(_: Translator) -> str:
    return _(
        "⚠️ Delete everything I store about you?\n\n"
        "Deleted: your name and username, memberships, balances and streaks, check-ins, "
        "badges, invite links, referrals, shop orders, lottery entries, quiz answers, "
        "messages waiting for you, and what moderators' logs say about you.\n"
        "Kept, anonymous: the amounts of your points in each group's ledger (so that group "
        "totals stay right), with nothing that leads back to you.\n\n"
        "This cannot be undone. Send /mydata first if you want a copy."
    )


def forget_me_keyboard(_: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("🗑 Delete my data"),
                    callback_data=ForgetButton(action=FORGET_CONFIRM).pack(),
                ),
                InlineKeyboardButton(
                    text=_("Cancel"), callback_data=ForgetButton(action=FORGET_CANCEL).pack()
                ),
            ]
        ]
    )


from bot.domain.errors import N_  # noqa: E402
from runtime.features import Feature, FeatureCommand  # noqa: E402 - the declaration's own imports, kept with it

FEATURE = Feature(
    "privacy",
    setup,
    commands=(
        FeatureCommand(
            "mydata", N_("Your stored data as a file (in a private chat with me)"), private=True
        ),
        FeatureCommand(
            "forgetme", N_("Delete your personal data (in a private chat with me)"), private=True
        ),
        FeatureCommand(
            "export",
            N_("A CSV file sent to you privately: /export members|ledger|checkins|referrals"),
            moderators=True,
        ),
    ),
    data_sections=(
        "user",
        "memberships",
        "audit",
        "outgoing_messages",
        "blocked_chats",
        "dead_letters",
        "app_secrets",
        "reward_memory",
    ),
)
