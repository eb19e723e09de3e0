"""The words of the moderators' point and badge commands: amounts, badges and the monthly
award quota."""

from __future__ import annotations

import re

from bot.domain.errors import AmountTooLarge, InvalidAmount, OutOfRange, UnknownBadge
from bot.domain.models import Badge

MAX_POINTS_PER_ACTION = 10_000
MAX_MONTHLY_QUOTA = 1_000_000
AMOUNT_PATTERN = re.compile(r"\+?[0-9]{1,12}")


def parse_amount(text: str | None) -> int:
    if text is None or not AMOUNT_PATTERN.fullmatch(text):
        raise InvalidAmount()
    amount = int(text)
    if amount <= 0:
        raise InvalidAmount()
    if amount > MAX_POINTS_PER_ACTION:
        raise AmountTooLarge(maximum=MAX_POINTS_PER_ACTION)
    return amount


def parse_badge(text: str | None) -> Badge:
    choices = ", ".join(badge.value for badge in Badge)
    if text is None:
        raise UnknownBadge(choices=choices)
    try:
        return Badge(text.strip().lower())
    except ValueError:
        raise UnknownBadge(choices=choices) from None


def parse_quota(text: str | None) -> int:
    if text is None or not AMOUNT_PATTERN.fullmatch(text) or int(text) > MAX_MONTHLY_QUOTA:
        raise OutOfRange(lowest=0, highest=MAX_MONTHLY_QUOTA)
    return int(text)
