"""Timed work that no update triggers: welcomes of newcomers and referral re-checks."""

from __future__ import annotations

import logging
from datetime import timedelta
from html import escape

from aiogram import Bot
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.i18n import translator
from bot.ports import Clock
from bot.services import onboarding, referrals
from bot.services.onboarding import WelcomeBatch
from handlers.outbox import Outbox
from handlers.render import announce_referral, name
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

NAMES_IN_ONE_WELCOME = 30
KEEP_PROCESSED_UPDATES = timedelta(days=7)  # far longer than Telegram keeps an update


def render_welcome(batch: WelcomeBatch) -> str:
    _ = translator(batch.community.language)
    shown = [name(newcomer) for _, newcomer in batch.newcomers[:NAMES_IN_ONE_WELCOME]]
    names = ", ".join(shown)
    if len(batch.newcomers) > NAMES_IN_ONE_WELCOME:
        names += " " + _("and {count} more", count=len(batch.newcomers) - NAMES_IN_ONE_WELCOME)
    growth = batch.community.growth
    rules = escape(growth.rules_link or "")
    if growth.welcome_text:
        return escape(growth.welcome_text).format(
            names=names, group=name(batch.community.title), rules=rules
        )
    text = _(
        "👋 Welcome, {names}!\nCheck in every day with /checkin (or just send 签到) "
        "and invite friends with /invite.",
        names=names,
    )
    if rules:
        text += "\n" + _("📜 Please read the rules: {rules}", rules=rules)
    return text


async def run_due_work(
    bot: Bot, session_factory: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    """Posts due welcomes and credits referrals whose qualifying period has passed."""
    now = clock.now()
    outbox = Outbox()
    async with unit_of_work(session_factory) as uow:
        for batch in await onboarding.take_due_welcomes(uow, now):
            outbox.send(batch.community.id, render_welcome(batch))
        for result in await referrals.qualify_due(uow, now):
            announce_referral(outbox, result, await uow.users.can_message(result.inviter_id))
        await uow.processed_updates.forget_before(now - KEEP_PROCESSED_UPDATES)
    await outbox.flush(bot)
