from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo, available_timezones

from bot.domain.models import CheckinRules, LeaderboardPeriod, Tier


def local_day(at: datetime, timezone: str) -> date:
    """The calendar day of an instant in a community's timezone."""
    return at.astimezone(ZoneInfo(timezone)).date()


# The IANA areas of real places; legacy aliases (PRC, US/Pacific), Etc/GMT±N (whose sign is
# inverted), localtime and the posix/ and right/ copies are refused.
TIMEZONE_AREAS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


@cache
def _community_timezones() -> dict[str, str]:
    names = [
        zone
        for zone in available_timezones()
        if zone == "UTC" or zone.partition("/")[0] in TIMEZONE_AREAS
    ]
    return {zone.casefold(): zone for zone in names}


def canonical_timezone(name: str) -> str | None:
    """The IANA name (`Area/City`, or `UTC`) a community may use, spelled canonically
    whatever the case it was typed in; None when it is not one."""
    return _community_timezones().get(name.strip().casefold())


def timezone_loads(name: str) -> bool:
    """Whether a stored timezone can still be used (tzdata may have dropped it)."""
    try:
        ZoneInfo(name)
    except (ValueError, LookupError, OSError):
        return False
    return True


def checkin_day_after_move(last_day: date, checked_in_at: datetime, new_timezone: str) -> date:
    """A member's last check-in day once the community moved to another timezone: the day
    that check-in's instant falls on there, when that is later than the stored day.

    "The same real day" is the day of the check-in's instant in the new zone, so a move east
    never opens a second check-in for a check-in made minutes ago; a move west keeps the
    stored day (that day's key is already taken), so nobody gains a day either way.
    """
    return max(last_day, local_day(checked_in_at, new_timezone))


def next_streak(previous_streak: int, last_day: date | None, today: date) -> int:
    """The streak after checking in on `today`: +1 after yesterday's check-in, else 1."""
    if last_day is not None and last_day == today - timedelta(days=1):
        return previous_streak + 1
    return 1


def current_streak(stored_streak: int, last_day: date | None, today: date) -> int:
    """The streak as it stands today: kept if the last check-in was today or yesterday."""
    if last_day is not None and today - last_day <= timedelta(days=1):
        return stored_streak
    return 0


def checkin_points(streak: int, rules: CheckinRules) -> int:
    """Base points, a growing streak bonus (capped), and a bonus on every Nth consecutive day."""
    streak_bonus = min(rules.streak_step * (streak - 1), rules.streak_bonus_cap)
    weekly = (
        rules.weekly_bonus if rules.weekly_every > 0 and streak % rules.weekly_every == 0 else 0
    )
    return rules.base_points + streak_bonus + weekly


def tier_for(lifetime_earned: int, thresholds: tuple[int, ...]) -> Tier:
    """The highest tier whose threshold the lifetime points reach."""
    reached = Tier.NEWCOMER
    for tier, threshold in zip(Tier, thresholds, strict=True):
        if lifetime_earned >= threshold:
            reached = tier
    return reached


def points_to_next_tier(
    lifetime_earned: int, thresholds: tuple[int, ...]
) -> tuple[Tier, int] | None:
    """The next tier and how many more lifetime points reach it; None at the top."""
    current = tier_for(lifetime_earned, thresholds)
    if current == Tier.CORE:
        return None
    following = Tier(current + 1)
    return following, thresholds[following] - lifetime_earned


def period_start(now: datetime, timezone: str, period: LeaderboardPeriod) -> datetime | None:
    """The UTC instant the current week (from Monday) or month began in the community's timezone."""
    if period == LeaderboardPeriod.ALL:
        return None
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    if period == LeaderboardPeriod.WEEK:
        first_day = today - timedelta(days=today.weekday())
    else:
        first_day = today.replace(day=1)
    return datetime.combine(first_day, time.min, tzinfo=zone).astimezone(UTC)


def validate_thresholds(thresholds: tuple[int, ...]) -> bool:
    return (
        len(thresholds) == len(Tier)
        and thresholds[0] == 0
        and all(a < b for a, b in pairwise(thresholds))
    )


def day_start(now: datetime, timezone: str) -> datetime:
    """The UTC instant the current local day began in the community's timezone."""
    zone = ZoneInfo(timezone)
    return datetime.combine(now.astimezone(zone).date(), time.min, tzinfo=zone).astimezone(UTC)
