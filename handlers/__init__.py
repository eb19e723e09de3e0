"""The Telegram adapter: one module (or package) per feature, each declaring what it brings
in its FEATURE (runtime/features.py). FEATURES is the one list, in router order: the
check-in, a morning burst's bulk, right after the membership events; the conversation
catch-all last. The composition root hands it to the dispatcher, the intake and the jobs."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    activity,
    birthdays,
    campaigns,
    chat_migration,
    checkin,
    community,
    console,
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
    refusals,
    settings,
    shop,
    surveys,
    tickets,
)
from runtime.features import Feature

FEATURES: tuple[Feature, ...] = (
    errors.FEATURE,
    community.FEATURE,
    checkin.FEATURE,
    chat_migration.FEATURE,
    private.FEATURE,
    console.FEATURE,
    privacy.FEATURE,
    insights.FEATURE,
    help.FEATURE,
    growth.FEATURE,
    campaigns.FEATURE,
    lotteries.FEATURE,
    quizzes.FEATURE,
    points.FEATURE,
    moderation.FEATURE,
    shop.FEATURE,
    lifecycle.FEATURE,
    tickets.FEATURE,
    surveys.FEATURE,
    birthdays.FEATURE,
    settings.FEATURE,
    refusals.FEATURE,
    activity.FEATURE,
    fallback.FEATURE,
)


def setup_routers(features: tuple[Feature, ...] = FEATURES) -> list[Router]:
    """Fresh routers of the features, in their order."""
    return [feature.setup() for feature in features]
