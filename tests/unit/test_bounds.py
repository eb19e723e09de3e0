"""The bounds of the amounts moderators set for the bot to pay (bot/domain/bounds.py)."""

from __future__ import annotations

import pytest

from bot.domain.bounds import (
    MODERATOR_BOUNDS,
    OWNER_CEILING,
    PaidAmountOverBound,
    PaidAmountOverCeiling,
    PaidSetting,
    check_paid_amount,
    paid_amount_change,
)


@pytest.mark.parametrize("setting", list(PaidSetting))
def test_a_moderator_reaches_the_bound_and_an_owner_the_ceiling(setting: PaidSetting) -> None:
    bound = MODERATOR_BOUNDS[setting]
    assert check_paid_amount(setting, bound, by_owner=False) == bound
    with pytest.raises(PaidAmountOverBound) as refused:
        check_paid_amount(setting, bound + 1, by_owner=False)
    assert refused.value.params == {"maximum": bound, "ceiling": OWNER_CEILING}
    assert check_paid_amount(setting, OWNER_CEILING, by_owner=True) == OWNER_CEILING
    with pytest.raises(PaidAmountOverCeiling):
        check_paid_amount(setting, OWNER_CEILING + 1, by_owner=True)


def test_the_ceiling_keeps_balances_inside_32_bit_columns() -> None:
    assert all(bound <= OWNER_CEILING for bound in MODERATOR_BOUNDS.values())
    assert OWNER_CEILING * 1000 < 2**31


def test_the_audit_detail_names_the_setting_and_both_values() -> None:
    assert paid_amount_change(PaidSetting.TICKET_BUG, 30, 1000) == "ticket bug: 30 -> 1000"
    assert paid_amount_change(PaidSetting.BIRTHDAY_VIP_GIFT, None, 5) == "birthday vip gift: - -> 5"
