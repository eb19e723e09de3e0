"""How much a moderator may make the bot pay: the upper bound of every amount they configure
(one place for all features), and which ledger kinds a moderator's monthly quota counts.

The bot's owners (OWNER_IDS) may set any amount up to OWNER_CEILING, which keeps a payment and
the balances it builds far inside the 32-bit integer columns of the ledger and the members."""

from __future__ import annotations

import enum

from bot.domain.errors import N_, DomainError
from bot.domain.models import LedgerKind


class PaidSetting(enum.StrEnum):
    """A configured amount the bot pays (or charges), named as the audit log shows it."""

    TICKET_BUG = "ticket bug"
    TICKET_IDEA = "ticket idea"
    SURVEY_THANKS = "survey thanks"
    REFERRAL_REWARD = "referral reward"
    WELCOME_BONUS = "welcome bonus"
    WINBACK_GIFT = "winback gift"
    BIRTHDAY_GIFT = "birthday gift"
    BIRTHDAY_VIP_GIFT = "birthday vip gift"


OWNER_CEILING = 1_000_000
MODERATOR_BOUNDS: dict[PaidSetting, int] = {
    PaidSetting.TICKET_BUG: 1_000,
    PaidSetting.TICKET_IDEA: 1_000,
    PaidSetting.SURVEY_THANKS: 100,
    PaidSetting.REFERRAL_REWARD: 1_000,
    PaidSetting.WELCOME_BONUS: 1_000,
    PaidSetting.WINBACK_GIFT: 1_000,
    PaidSetting.BIRTHDAY_GIFT: 1_000,
    PaidSetting.BIRTHDAY_VIP_GIFT: 1_000,
}
# Payments a moderator decides, counted against their monthly quota (revoked ones excepted).
QUOTA_KINDS = frozenset({LedgerKind.AWARD, LedgerKind.TICKET})
AUDIT_ACTION = "reward_setting"


class PaidAmountOverBound(DomainError):
    message = N_(
        "A moderator may set at most {maximum} points here (the bot's owners up to "
        "{ceiling}); nothing was changed."
    )


class PaidAmountOverCeiling(DomainError):
    message = N_("At most {maximum} points can be set here; nothing was changed.")


def paid_bound(setting: PaidSetting, by_owner: bool) -> int:
    return OWNER_CEILING if by_owner else MODERATOR_BOUNDS[setting]


def check_paid_amount(setting: PaidSetting, amount: int, *, by_owner: bool) -> int:
    """`amount` when the actor may set it: a moderator up to the setting's bound, an owner up
    to OWNER_CEILING."""
    if by_owner:
        if amount > OWNER_CEILING:
            raise PaidAmountOverCeiling(maximum=OWNER_CEILING)
    elif amount > MODERATOR_BOUNDS[setting]:
        raise PaidAmountOverBound(maximum=MODERATOR_BOUNDS[setting], ceiling=OWNER_CEILING)
    return amount


def paid_amount_change(setting: PaidSetting, before: int | None, after: int) -> str:
    """The audit log's detail of a change: `ticket bug: 30 -> 1000`."""
    return f"{setting}: {'-' if before is None else before} -> {after}"
