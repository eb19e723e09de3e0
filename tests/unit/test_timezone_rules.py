"""Which timezones a community may use, what a timezone change does to the last check-in
day, and the grace a stored campaign row is run with."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.domain.rules import canonical_timezone, checkin_day_after_move, timezone_loads
from bot.domain.schedules import MAX_GRACE_MINUTES, effective_grace


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Asia/Shanghai", "Asia/Shanghai"),
        ("asia/shanghai", "Asia/Shanghai"),
        (" America/Los_Angeles ", "America/Los_Angeles"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
    ],
)
def test_real_area_city_names_and_utc_are_accepted(typed: str, stored: str) -> None:
    assert canonical_timezone(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "localtime",
        "right/Asia/Shanghai",
        "posix/Asia/Shanghai",
        "Etc/GMT+8",
        "PRC",
        "US/Pacific",
        "Factory",
        "Asia",
        "Asia/Atlantis",
        "../etc/passwd",
        "",
    ],
)
def test_aliases_copies_and_unknown_names_are_refused(typed: str) -> None:
    assert canonical_timezone(typed) is None


def test_a_stored_timezone_that_no_longer_loads_is_recognised() -> None:
    assert timezone_loads("Asia/Shanghai")
    assert not timezone_loads("Mars/Olympus_Mons")
    assert not timezone_loads("../../etc/passwd")
    assert not timezone_loads("")


def test_a_move_east_counts_a_late_checkin_for_its_real_day() -> None:
    # 23:30 on 2 March in Los Angeles is 15:30 on 3 March in Shanghai.
    checked_in_at = datetime(2026, 3, 3, 7, 30, tzinfo=UTC)
    assert checkin_day_after_move(date(2026, 3, 2), checked_in_at, "Asia/Shanghai") == date(
        2026, 3, 3
    )


def test_a_move_west_keeps_the_stored_day() -> None:
    # 08:00 on 3 March in Shanghai is 16:00 on 2 March in Los Angeles: the 3rd stays taken.
    checked_in_at = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert checkin_day_after_move(date(2026, 3, 3), checked_in_at, "America/Los_Angeles") == date(
        2026, 3, 3
    )


@pytest.mark.parametrize(
    ("stored", "used"),
    [(0, 1), (-30, 1), (1, 1), (60, 60), (MAX_GRACE_MINUTES, MAX_GRACE_MINUTES), (10**9, 10080)],
)
def test_a_stored_grace_out_of_range_is_brought_within_it(stored: int, used: int) -> None:
    assert effective_grace(stored) == used
