"""Data and privacy: /mydata (private chat) sends the member their stored data; /export
(moderators, in the group) sends a CSV file of the group's data to the moderator privately."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile, Message

from bot.domain.errors import PrivateChatNeeded
from bot.domain.models import Community, UserInfo
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.services import privacy
from handlers.filters.chat import InGroup, InPrivate
from handlers.filters.moderator import IsModerator
from handlers.render import actor_of
from runtime.outbox import Outbox


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
        _: Translator,
    ) -> None:
        """The CSV is built inside the transaction and sent privately after it commits."""
        kind = privacy.parse_kind(command.args)
        moderator = actor_of(message)
        if moderator is None or not await uow.users.can_message(moderator):
            raise PrivateChatNeeded()
        made = await privacy.export_csv(uow, community.id, kind, now)
        caption = _("{kind}: {rows} rows.", kind=kind, rows=made.rows)
        if made.truncated:
            caption += " " + _("Only the first {limit} rows.", limit=privacy.CSV_ROW_LIMIT)
        outbox.call(
            SendDocument(
                chat_id=moderator,
                document=BufferedInputFile(made.content, filename=made.file_name),
                caption=caption,
            )
        )
        outbox.reply(message, _("📬 I sent you the file privately."))

    @private.message(Command("mydata"))
    async def my_data(
        message: Message,
        uow: UnitOfWork,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        """Built inside the transaction, sent after it commits (the outbox)."""
        content = await privacy.my_data(uow, user.id, now)
        outbox.call(
            SendDocument(
                chat_id=message.chat.id,
                document=BufferedInputFile(content, filename=f"mydata-{user.id}.json"),
                caption=_(
                    "Everything I store about you, as of {time} UTC.", time=f"{now:%Y-%m-%d %H:%M}"
                ),
            )
        )

    return router
