from __future__ import annotations

import logging
from html import escape

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, ReplyParameters

from bot.domain.errors import DomainError
from bot.i18n import Translator, translator

logger = logging.getLogger(__name__)


def setup() -> Router:
    router = Router(name="errors")

    @router.errors(ExceptionTypeFilter(DomainError))
    async def explain_refusal(event: ErrorEvent, bot: Bot, _: Translator | None = None) -> None:
        """A domain refusal rolled the update back; tell the user why, in their chat's language."""
        assert isinstance(event.exception, DomainError)
        translate = _ or translator("en")
        params = {key: escape(str(value)) for key, value in event.exception.params.items()}
        text = translate(type(event.exception).message, **params)
        update = event.update
        try:
            if update.callback_query is not None:
                await bot.answer_callback_query(update.callback_query.id, text=text[:200])
            elif update.message is not None:
                topic = update.message.is_topic_message
                await bot.send_message(
                    update.message.chat.id,
                    text,
                    message_thread_id=update.message.message_thread_id if topic else None,
                    reply_parameters=ReplyParameters(
                        message_id=update.message.message_id, allow_sending_without_reply=True
                    ),
                )
        except TelegramAPIError as error:
            logger.warning("Could not explain a refusal: %s", error.message)

    @router.errors(ExceptionTypeFilter(TelegramAPIError))
    async def log_api_error(event: ErrorEvent) -> None:
        logger.warning("Telegram refused a request: %s", event.exception)

    return router
