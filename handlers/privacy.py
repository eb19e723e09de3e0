"""Data and privacy: /mydata (private chat) sends the member their stored data; /export
(moderators, in the group) sends a CSV file of the group's data to the moderator privately;
/forgetme (private chat, with a confirmation button) erases the member's personal data."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

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
from bot.domain.models import Community, Tier, UserInfo
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.ports.reads import Reader
from bot.services import privacy
from handlers.filters.chat import InGroup, InPrivate
from handlers.filters.moderator import IsModerator
from handlers.render import actor_of, gap, tier_name
from runtime.outbox import Outbox

FILE_FAILED = N_("The file could not be made this time; try again later.")
# The exported columns' headers in the reader's language (English: the column names).
COLUMN_NAMES = {
    "id": N_("column:id"),
    "community_id": N_("column:community_id"),
    "user_id": N_("column:user_id"),
    "is_member": N_("column:is_member"),
    "joined_at": N_("column:joined_at"),
    "left_at": N_("column:left_at"),
    "balance": N_("column:balance"),
    "lifetime_earned": N_("column:lifetime_earned"),
    "streak": N_("column:streak"),
    "last_checkin_day": N_("column:last_checkin_day"),
    "tier": N_("column:tier"),
    "last_active_at": N_("column:last_active_at"),
    "activity_day": N_("column:activity_day"),
    "activity_points_today": N_("column:activity_points_today"),
    "last_activity_point_at": N_("column:last_activity_point_at"),
    "welcome_due_at": N_("column:welcome_due_at"),
    "first_name": N_("column:first_name"),
    "username": N_("column:username"),
    "amount": N_("column:amount"),
    "kind": N_("column:kind"),
    "reason": N_("column:reason"),
    "actor_id": N_("column:actor_id"),
    "idempotency_key": N_("column:idempotency_key"),
    "created_at": N_("column:created_at"),
    "day": N_("column:day"),
    "points": N_("column:points"),
    "invitee_id": N_("column:invitee_id"),
    "inviter_id": N_("column:inviter_id"),
    "status": N_("column:status"),
    "source": N_("column:source"),
    "due_at": N_("column:due_at"),
    "qualified_at": N_("column:qualified_at"),
    "number": N_("column:number"),
    "text": N_("column:text"),
    "photo_file_id": N_("column:photo_file_id"),
    "photo_user_id": N_("column:photo_user_id"),
    "request_key": N_("column:request_key"),
    "first_answer_at": N_("column:first_answer_at"),
    "merged_into": N_("column:merged_into"),
    "note": N_("column:note"),
}


def column_name(_: Translator, column: str) -> str:
    msgid = COLUMN_NAMES.get(column)
    if msgid is None:
        return column
    translated = _(msgid)
    return column if translated == msgid else translated  # untranslated: the column's name


def local_moment(value: Any, zone: ZoneInfo) -> Any:
    """A stored time (ISO text, UTC) as the group's local time with its offset."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).isoformat(sep=" ", timespec="seconds")


def export_presenter(_: Translator, timezone: str) -> privacy.Presenter:
    """Headers, yes/no, tier names in the reader's language; times in the group's timezone
    with its offset."""
    zone = ZoneInfo(timezone)

    def value(column: str, stored: Any) -> Any:
        if isinstance(stored, bool):
            return _("yes") if stored else _("no")
        if column == "tier" and isinstance(stored, int) and stored in set(Tier):
            return tier_name(_, Tier(stored))
        if column.endswith("_at"):
            return local_moment(stored, zone)
        return stored

    def present(
        header: list[str], rows: Sequence[tuple[Any, ...]]
    ) -> tuple[list[str], Sequence[tuple[Any, ...]]]:
        shown = [
            tuple(value(column, stored) for column, stored in zip(header, row, strict=True))
            for row in rows
        ]
        return [column_name(_, column) for column in header], shown

    return present


def offset_text(moment: datetime) -> str:
    """`+08:00`, `-05:00`, `+00:00`."""
    offset = moment.strftime("%z") or "+0000"
    return f"{offset[:3]}:{offset[3:]}"


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
        present = export_presenter(_, community.timezone)

        async def build() -> Sequence[TelegramMethod[Any]]:
            made = await reader.read(
                lambda reading: privacy.export_csv(
                    reading, community_id, kind, now, present=present
                )
            )
            caption = _("{kind}: {rows} rows.", kind=kind, rows=made.rows)
            if made.truncated:
                caption += gap(_) + _("Only the first {limit} rows.", limit=privacy.CSV_ROW_LIMIT)
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
            made = await reader.read(lambda reading: privacy.my_data_file(reading, user_id, now))
            local = now.astimezone(ZoneInfo(made.timezone))
            return [
                SendDocument(
                    chat_id=chat_id,
                    document=BufferedInputFile(made.content, filename=f"mydata-{user_id}.json"),
                    caption=_(
                        "Everything I store about you, as of {time} (UTC{offset}).",
                        time=f"{local:%Y-%m-%d %H:%M}",
                        offset=offset_text(local),
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
