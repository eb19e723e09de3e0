"""Campaign schedules as operators type them, and their fire times in a community's timezone.

Forms: `at 2026-12-24 20:00` (or the date alone), `daily 09:00`, `weekly mon 20:00`,
`monthly 1 10:00`, `cron <minute> <hour> <day> <month> <weekday>`, and the Chinese forms
`每天 09:00`, `每周六 20:00` (also `周六`, `星期六`, `每星期六`), `每月1日 10:00` (or `1号`),
read as the English ones and stored in the English canonical form. Times are local to the
community; fire times are returned in UTC and keep their local wall-clock time across
daylight saving.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.domain.errors import InvalidSchedule, PastSchedule

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CRON_WEEKDAY_NAMES = (
    "sun",
    "mon",
    "tue",
    "wed",
    "thu",
    "fri",
    "sat",
    "sun",
)  # cron: 0 and 7 = Sunday
MIN_YEAR, MAX_YEAR = 2000, 2100
MIN_GRACE_MINUTES, MAX_GRACE_MINUTES = 1, 7 * 24 * 60
MONTHS_SCANNED = 48
FIRE_ATTEMPTS = 5
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
CHINESE_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_CHINESE_FORM = re.compile(
    r"\s*(?:(?P<daily>每天|每日)"
    r"|(?:每周|每星期|每礼拜|周|星期|礼拜)(?P<weekday>[一二三四五六日天])"
    r"|每月\s*(?P<day>[0-9]{1,2})\s*[日号])"
    r"\s*(?P<hour>[0-9]{1,2})[:：](?P<minute>[0-9]{2})(?=\s|$)"
)


@dataclass(frozen=True)
class Schedule:
    kind: str  # once | daily | weekly | monthly | cron
    spec: str  # the canonical text, e.g. "weekly mon 20:00"

    @property
    def recurring(self) -> bool:
        return self.kind != "once"


def _time(word: str) -> tuple[int, int]:
    match = _TIME.fullmatch(word.replace("：", ":"))  # a Chinese keyboard's colon too
    if match is None:
        raise InvalidSchedule()
    return int(match.group(1)), int(match.group(2))


def _from_chinese(text: str) -> str:
    """A schedule typed in Chinese (or a bare date and time) rewritten in the English form;
    the text after it is kept as it is."""
    match = _CHINESE_FORM.match(text)
    if match is None:
        first = text.split(maxsplit=1)
        return f"at {text.lstrip()}" if first and _DATE.fullmatch(first[0]) else text
    time = f"{match['hour']}:{match['minute']}"
    if match["daily"]:
        english = f"daily {time}"
    elif match["weekday"]:
        english = f"weekly {WEEKDAYS[CHINESE_WEEKDAYS[match['weekday']]]} {time}"
    else:
        english = f"monthly {match['day']} {time}"
    return english + text[match.end() :]


def parse_schedule(text: str) -> tuple[Schedule, str]:
    """Splits `<schedule> <rest>`; the rest is returned untouched (the campaign's text)."""
    text = _from_chinese(text)
    words = text.split(maxsplit=6)
    if not words:
        raise InvalidSchedule()
    kind = words[0].lower()
    if kind == "at" and len(words) >= 3:
        date_match = _DATE.fullmatch(words[1])
        if not date_match or not MIN_YEAR <= int(date_match.group(1)) <= MAX_YEAR:
            raise InvalidSchedule()
        hour, minute = _time(words[2])
        try:
            datetime.fromisoformat(words[1])
        except ValueError:
            raise InvalidSchedule() from None
        used = 3
        spec = f"at {words[1]} {hour:02d}:{minute:02d}"
    elif kind == "daily" and len(words) >= 2:
        hour, minute = _time(words[1])
        used, spec = 2, f"daily {hour:02d}:{minute:02d}"
    elif kind == "weekly" and len(words) >= 3 and words[1].lower()[:3] in WEEKDAYS:
        hour, minute = _time(words[2])
        used, spec = 3, f"weekly {words[1].lower()[:3]} {hour:02d}:{minute:02d}"
    elif (
        kind == "monthly" and len(words) >= 3 and words[1].isdecimal() and 1 <= int(words[1]) <= 31
    ):
        hour, minute = _time(words[2])
        used, spec = 3, f"monthly {int(words[1])} {hour:02d}:{minute:02d}"
    elif kind == "cron" and len(words) >= 6:
        expression = " ".join(words[1:6])
        _cron_trigger(expression, UTC)
        used, spec = 6, f"cron {expression}"
    else:
        raise InvalidSchedule()
    rest = text.split(maxsplit=used)
    kind = "once" if kind == "at" else kind
    return Schedule(kind=kind, spec=spec), rest[used] if len(rest) > used else ""


def next_fire(schedule: Schedule, after: datetime, timezone: str) -> datetime | None:
    """The first fire time strictly after `after` (UTC), or None when there is none."""
    zone = ZoneInfo(timezone)
    words = schedule.spec.split()
    if schedule.kind == "once":
        hour, minute = _time(words[2])
        local = datetime.fromisoformat(words[1]).replace(hour=hour, minute=minute, tzinfo=zone)
        moment = local.astimezone(UTC)
        return moment if moment > after else None
    if schedule.kind == "monthly":
        return _next_monthly(int(words[1]), _time(words[2]), after, zone)
    trigger = _trigger(schedule, words, zone)
    previous_wall_time = after.astimezone(zone).replace(tzinfo=None)
    moment = after
    for _ in range(FIRE_ATTEMPTS):
        try:
            fire = trigger.get_next_fire_time(None, moment + timedelta(microseconds=1))
        except OverflowError:
            return None
        if fire is None:
            return None
        fire_utc: datetime = fire.astimezone(UTC)
        # When clocks go back a local time happens twice; a campaign runs at the first one.
        if fire_utc > after and fire.replace(tzinfo=None) != previous_wall_time:
            return fire_utc
        moment = max(fire_utc, moment) + timedelta(hours=1)
    return None


def _next_monthly(
    day: int, time_of_day: tuple[int, int], after: datetime, zone: ZoneInfo
) -> datetime | None:
    """The day of each month, or the month's last day when it is shorter (once a month)."""
    local_after = after.astimezone(zone)
    year, month = local_after.year, local_after.month
    for _ in range(MONTHS_SCANNED):
        last_day = calendar.monthrange(year, month)[1]
        local = datetime(year, month, min(day, last_day), *time_of_day, tzinfo=zone)
        moment = local.astimezone(UTC)
        if moment > after:
            return moment
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _cron_trigger(expression: str, zone: tzinfo) -> CronTrigger:
    """Standard cron: weekdays 0–7 with 0 and 7 for Sunday; a day of the month and a weekday
    may not both be restricted (cron would fire on either, which surprises people)."""
    minute, hour, day, month, weekday = expression.split()
    if day != "*" and weekday != "*":
        raise InvalidSchedule()
    named = re.sub(r"[0-7]", lambda digit: CRON_WEEKDAY_NAMES[int(digit.group(0))], weekday)
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=named, timezone=zone
        )
    except ValueError:
        raise InvalidSchedule() from None


def _trigger(schedule: Schedule, words: list[str], zone: ZoneInfo) -> CronTrigger:
    if schedule.kind == "cron":
        return _cron_trigger(" ".join(words[1:6]), zone)
    hour, minute = _time(words[-1])
    if schedule.kind == "daily":
        return CronTrigger(hour=hour, minute=minute, timezone=zone)
    return CronTrigger(day_of_week=words[1], hour=hour, minute=minute, timezone=zone)


def effective_grace(minutes: int) -> int:
    """A campaign's grace in minutes as used: a stored value out of range (written before it
    was checked, or by hand) is brought within 1 minute to 7 days instead of breaking runs."""
    return min(max(minutes, MIN_GRACE_MINUTES), MAX_GRACE_MINUTES)


def require_future(schedule: Schedule, now: datetime, timezone: str) -> datetime:
    """The first fire time; a one-off in the past, or a schedule that never fires, is refused."""
    first = next_fire(schedule, now, timezone)
    if first is None:
        raise PastSchedule() if schedule.kind == "once" else InvalidSchedule()
    return first
