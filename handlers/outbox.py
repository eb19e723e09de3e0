from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyParameters

logger = logging.getLogger(__name__)


class Outbox:
    """What an update wants to say, sent only after its transaction has committed."""

    def __init__(self) -> None:
        self._methods: list[TelegramMethod[Any]] = []
        self._threads: dict[int, int] = {}

    def use_thread(self, chat_id: int, thread_id: int) -> None:
        """Messages to that chat go to this forum topic (the one the update came from)."""
        self._threads[chat_id] = thread_id

    def reply(
        self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        self._methods.append(
            SendMessage(
                chat_id=message.chat.id,
                message_thread_id=message.message_thread_id if message.is_topic_message else None,
                text=text,
                reply_markup=markup,
                reply_parameters=ReplyParameters(
                    message_id=message.message_id, allow_sending_without_reply=True
                ),
            )
        )

    def send(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        self._methods.append(
            SendMessage(
                chat_id=chat_id,
                message_thread_id=self._threads.get(chat_id),
                text=text,
                reply_markup=markup,
            )
        )

    def toast(self, callback: CallbackQuery, text: str, *, alert: bool = False) -> None:
        self._methods.append(
            AnswerCallbackQuery(callback_query_id=callback.id, text=text, show_alert=alert)
        )

    def call(self, method: TelegramMethod[Any]) -> None:
        self._methods.append(method)

    def __len__(self) -> int:
        return len(self._methods)

    async def flush(self, bot: Bot) -> None:
        methods, self._methods = self._methods, []
        for method in methods:
            try:
                await bot(method)
            except TelegramForbiddenError as error:
                logger.warning("Cannot send %s: %s", type(method).__name__, error.message)
            except TelegramAPIError as error:
                logger.error("Sending %s failed: %s", type(method).__name__, error.message)
