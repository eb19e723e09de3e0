from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.domain.models import DEFAULT_TIER_THRESHOLDS, CheckinRules, LeaderboardPeriod, Tier
from bot.domain.rules import (
    checkin_points,
    current_streak,
    local_day,
    next_streak,
    period_start,
    points_to_next_tier,
    tier_for,
    validate_thresholds,
)

RULES = CheckinRules()


@pytest.mark.parametrize(
    ("streak", "points"),
    [
        (1, 10),
        (2, 12),
        (3, 14),
        (6, 20),
        (7, 10 + 12 + 30),  # the 7th consecutive day adds the weekly bonus
        (8, 24),
        (11, 30),  # the streak bonus stops growing at 20
        (12, 30),
        (14, 10 + 20 + 30),
        (21, 60),
    ],
)
def test_checkin_points_follow_streak(streak: int, points: int) -> None:
    assert checkin_points(streak, RULES) == points


def test_checkin_points_are_configurable() -> None:
    rules = CheckinRules(base_points=5, streak_step=1, streak_bonus_cap=3, weekly_bonus=0)
    assert [checkin_points(day, rules) for day in range(1, 8)] == [5, 6, 7, 8, 8, 8, 8]


def test_streak_grows_only_after_yesterday() -> None:
    assert next_streak(0, None, date(2026, 3, 2)) == 1
    assert next_streak(4, date(2026, 3, 1), date(2026, 3, 2)) == 5
    assert next_streak(4, date(2026, 2, 28), date(2026, 3, 2)) == 1
    assert next_streak(1, date(2024, 2, 28), date(2024, 2, 29)) == 2  # leap day


def test_current_streak_lapses_after_a_missed_day() -> None:
    assert current_streak(5, date(2026, 3, 2), date(2026, 3, 2)) == 5
    assert current_streak(5, date(2026, 3, 1), date(2026, 3, 2)) == 5
    assert current_streak(5, date(2026, 2, 28), date(2026, 3, 2)) == 0
    assert current_streak(0, None, date(2026, 3, 2)) == 0


def test_day_boundary_in_shanghai() -> None:
    # Shanghai is UTC+8 all year: 15:59:59 UTC is still 23:59:59 local, 16:00 is the next day.
    assert local_day(datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC), "Asia/Shanghai") == date(
        2026, 3, 1
    )
    assert local_day(datetime(2026, 3, 1, 16, 0, tzinfo=UTC), "Asia/Shanghai") == date(2026, 3, 2)


def test_day_boundary_across_daylight_saving() -> None:
    # New York: UTC-5 before 8 March 2026, UTC-4 after.
    zone = "America/New_York"
    assert local_day(datetime(2026, 3, 8, 4, 59, tzinfo=UTC), zone) == date(2026, 3, 7)
    assert local_day(datetime(2026, 3, 8, 5, 0, tzinfo=UTC), zone) == date(2026, 3, 8)
    assert local_day(datetime(2026, 3, 9, 3, 59, tzinfo=UTC), zone) == date(2026, 3, 8)
    assert local_day(datetime(2026, 3, 9, 4, 0, tzinfo=UTC), zone) == date(2026, 3, 9)


def test_tiers_by_lifetime_points() -> None:
    thresholds = DEFAULT_TIER_THRESHOLDS
    assert tier_for(0, thresholds) == Tier.NEWCOMER
    assert tier_for(49, thresholds) == Tier.NEWCOMER
    assert tier_for(50, thresholds) == Tier.MEMBER
    assert tier_for(300, thresholds) == Tier.ACTIVE
    assert tier_for(999, thresholds) == Tier.ACTIVE
    assert tier_for(1000, thresholds) == Tier.CONTRIBUTOR
    assert tier_for(10_000, thresholds) == Tier.CORE
    assert points_to_next_tier(40, thresholds) == (Tier.MEMBER, 10)
    assert points_to_next_tier(3000, thresholds) is None


def test_threshold_validation() -> None:
    assert validate_thresholds(DEFAULT_TIER_THRESHOLDS)
    assert not validate_thresholds((0, 50, 50, 1000, 3000))
    assert not validate_thresholds((10, 50, 300, 1000, 3000))
    assert not validate_thresholds((0, 50, 300))


def test_week_and_month_start_in_local_time() -> None:
    # Wednesday 4 March 2026, 01:00 in Shanghai = Tuesday 17:00 UTC.
    now = datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
    week = period_start(now, "Asia/Shanghai", LeaderboardPeriod.WEEK)
    month = period_start(now, "Asia/Shanghai", LeaderboardPeriod.MONTH)
    assert week == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # Monday 2 March 00:00 local
    assert month == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 1 March 00:00 local
    assert period_start(now, "Asia/Shanghai", LeaderboardPeriod.ALL) is None
