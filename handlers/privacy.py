"""Data and privacy in the private chat: /mydata sends the member their stored data."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.methods import SendDocument
from aiogram.types import BufferedInputFile, Message

from bot.domain.models import UserInfo
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.services import privacy
from handlers.filters.chat import InPrivate
from runtime.outbox import Outbox


def setup() -> Router:
    router = Router(name="privacy")
    router.message.filter(InPrivate())

    @router.message(Command("mydata"))
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
