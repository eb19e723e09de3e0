"""The Telegram adapter: one router per feature, built fresh by setup()."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    activity,
    birthdays,
    campaigns,
    chat_migration,
    checkin,
    community,
    errors,
    fallback,
    growth,
    help,
    insights,
    lifecycle,
    lotteries,
    moderation,
    points,
    privacy,
    private,
    quizzes,
    shop,
    surveys,
    tickets,
)


def setup_routers() -> list[Router]:
    """Routers in the order they are tried: the check-in, a morning burst's bulk, right after
    the membership events; the conversation catch-all last."""
    return [
        errors.setup(),
        community.setup(),
        checkin.setup(),
        chat_migration.setup(),
        private.setup(),
        privacy.setup(),
        insights.setup(),
        help.setup(),
        growth.setup(),
        campaigns.setup(),
        lotteries.setup(),
        quizzes.setup(),
        points.setup(),
        moderation.setup(),
        shop.setup(),
        lifecycle.setup(),
        tickets.setup(),
        surveys.setup(),
        birthdays.setup(),
        activity.setup(),
        fallback.setup(),
    ]
