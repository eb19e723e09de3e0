from __future__ import annotations

import logging
from html import escape

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent, ReplyParameters

from bot.domain.errors import DomainError, ModeratorsOnly
from bot.i18n import Translator, translator
from bot.ports import transaction_open
from handlers.refusals import RefusalLimiter
from runtime.features import Feature
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)


def refusal_text(error: DomainError, translate: Translator, *, as_html: bool = True) -> str:
    """The refusal's message in the chat's language, its params escaped for HTML (or left as
    they are for a button's answer, which Telegram shows as plain text)."""
    quote = escape if as_html else str
    translated = type(error).translated_params
    plain = {key: value for key, value in error.params.items() if key not in translated}
    params = {
        key: quote(
            translate(value, **plain)
            if key in translated and isinstance(value, str)
            else str(value)
        )
        for key, value in error.params.items()
    }
    return translate(type(error).message, **params)


def setup() -> Router:
    router = Router(name="errors")

    @router.errors(ExceptionTypeFilter(DomainError))
    async def explain_refusal(
        event: ErrorEvent,
        bot: Bot,
        _: Translator | None = None,
        outbox: Outbox | None = None,
        refusals: RefusalLimiter | None = None,
    ) -> None:
        """A domain refusal rolled the update back; tell the user why, in their chat's language.

        Inside the intake's transaction the explanation is only planned into the update's
        outbox, sent after the commit; with no transaction open it is sent right away."""
        assert isinstance(event.exception, DomainError)
        update = event.update
        if (
            isinstance(event.exception, ModeratorsOnly)
            and refusals is not None
            and update.message is not None
            and update.message.from_user is not None
            and not await refusals.may_speak(update.message.chat.id, update.message.from_user.id)
        ):
            return  # said to this member in this group less than a minute ago
        text = refusal_text(
            event.exception, _ or translator("en"), as_html=update.callback_query is None
        )
        if outbox is not None and transaction_open.get():
            if update.callback_query is not None:
                outbox.toast(update.callback_query, text[:200])
            elif update.message is not None:
                outbox.reply(update.message, text)
            return
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


FEATURE = Feature(
    "errors",
    setup,
)
