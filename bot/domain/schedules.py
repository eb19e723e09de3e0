"""Campaign schedules as operators type them, and their fire times in a community's timezone.

Forms: `at 2026-12-24 20:00`, `daily 09:00`, `weekly mon 20:00`, `monthly 1 10:00`,
`cron <minute> <hour> <day> <month> <weekday>`. Times are local to the community; fire
times are returned in UTC and keep their local wall-clock time across daylight saving.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.domain.errors import InvalidSchedule, PastSchedule

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


@dataclass(frozen=True)
class Schedule:
    kind: str  # once | daily | weekly | monthly | cron
    spec: str  # the canonical text, e.g. "weekly mon 20:00"

    @property
    def recurring(self) -> bool:
        return self.kind != "once"


def _time(word: str) -> tuple[int, int]:
    match = _TIME.fullmatch(word)
    if match is None:
        raise InvalidSchedule()
    return int(match.group(1)), int(match.group(2))


def parse_schedule(text: str) -> tuple[Schedule, str]:
    """Splits `<schedule> <rest>`; the rest is returned untouched (the campaign's text)."""
    words = text.split(maxsplit=6)
    if not words:
        raise InvalidSchedule()
    kind = words[0].lower()
    if kind == "at" and len(words) >= 3:
        if not _DATE.fullmatch(words[1]):
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
        try:
            CronTrigger.from_crontab(expression, timezone=UTC)
        except ValueError:
            raise InvalidSchedule() from None
        used, spec = 6, f"cron {expression}"
    else:
        raise InvalidSchedule()
    rest = text.split(maxsplit=used)
    kind = "once" if kind == "at" else kind
    return Schedule(kind=kind, spec=spec), rest[used] if len(rest) > used else ""


def schedule_from_spec(spec: str) -> Schedule:
    schedule, rest = parse_schedule(spec)
    assert not rest
    return schedule


def next_fire(schedule: Schedule, after: datetime, timezone: str) -> datetime | None:
    """The first fire time strictly after `after` (UTC), or None when there is none."""
    zone = ZoneInfo(timezone)
    words = schedule.spec.split()
    if schedule.kind == "once":
        hour, minute = _time(words[2])
        local = datetime.fromisoformat(words[1]).replace(hour=hour, minute=minute, tzinfo=zone)
        moment = local.astimezone(UTC)
        return moment if moment > after else None
    trigger = _trigger(schedule, words, zone)
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    return fire.astimezone(UTC) if fire is not None else None


def _trigger(schedule: Schedule, words: list[str], zone: ZoneInfo) -> CronTrigger:
    if schedule.kind == "cron":
        return CronTrigger.from_crontab(" ".join(words[1:6]), timezone=zone)
    hour, minute = _time(words[-1])
    if schedule.kind == "daily":
        return CronTrigger(hour=hour, minute=minute, timezone=zone)
    if schedule.kind == "weekly":
        return CronTrigger(day_of_week=words[1], hour=hour, minute=minute, timezone=zone)
    day = int(words[1])
    # A day the month lacks (the 31st in April) falls on the month's last day.
    day_expression = str(day) if day <= 28 else f"{day},last" if day < 31 else "last"
    return CronTrigger(day=day_expression, hour=hour, minute=minute, timezone=zone)


def require_future(schedule: Schedule, now: datetime, timezone: str) -> datetime:
    """The first fire time; a one-off in the past (or a schedule that never fires) is refused."""
    first = next_fire(schedule, now, timezone)
    if first is None:
        raise PastSchedule()
    return first
