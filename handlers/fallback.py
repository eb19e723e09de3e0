"""Last resort: every button press gets an answer, so no button keeps spinning."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery

from bot.i18n import Translator
from runtime.features import Feature
from runtime.outbox import Outbox


def setup() -> Router:
    router = Router(name="fallback")

    @router.callback_query()
    async def stale_button(callback: CallbackQuery, outbox: Outbox, _: Translator) -> None:
        outbox.toast(callback, _("This button is no longer valid."))

    return router


FEATURE = Feature(
    "fallback",
    setup,
)
