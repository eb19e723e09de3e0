"""The Telegram adapter: one router per feature, built fresh by setup()."""

from __future__ import annotations

from aiogram import Router

from handlers import activity, checkin, community, errors, help, moderation, points


def setup_routers() -> list[Router]:
    """Routers in the order they are tried: the conversation catch-all comes last."""
    return [
        errors.setup(),
        community.setup(),
        help.setup(),
        checkin.setup(),
        points.setup(),
        moderation.setup(),
        activity.setup(),
    ]
