"""The words of `/lottery`: its one-line form, ids, repeat schedules and the guided dialog's
answers, checked and turned into plain values."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.errors import (
    N_,
    DomainError,
    InvalidSchedule,
    TextTooLong,
    UnknownLottery,
    UsageError,
)
from bot.domain.lotteries import Eligibility, LotteryDraft
from bot.domain.models import Badge, Tier
from bot.domain.schedules import Schedule, parse_schedule, require_future

NEW_USAGE = N_(
    "/lottery new <title> | <prize> | <YYYY-MM-DD HH:MM> "
    "[| winners=1 cost=0 max=1 tier=newcomer badge=expert|star days=0 late=yes|no]"
)
USAGE = N_(
    "/lottery new … | list | show <id> | entries <id> | draw <id> | cancel <id> | "
    "reroll <id> <@username|id> | repeat <id> <schedule>|off"
)
REPEAT_USAGE = N_("/lottery repeat <id> weekly mon 10:00 (schedules as in /campaign add) | off")
NO_BAR = N_("a title and a prize without the | character")
MAX_TITLE = 200
MAX_PRIZE = 1000
MAX_WINNERS = 100
MAX_COST = 100_000
MAX_ENTRIES = 100
MAX_DAYS = 3650
LARGEST_ID = 2**31 - 1
TIER_WORDS = {tier.name.lower(): tier for tier in Tier}
YES = {"yes", "y", "on", "true", "1"}
NO = {"no", "n", "off", "false", "0"}
OPTIONS = ("winners", "cost", "max", "tier", "badge", "days", "late")
NUMBER_RULES = {
    "winners": N_("the number of winners must be {lowest}–{highest}"),
    "cost": N_("the entry cost must be {lowest}–{highest} points"),
    "max": N_("the entries per member must be {lowest}–{highest}"),
    "days": N_("the days in the group must be {lowest}–{highest}"),
}
DAYS_AHEAD = {"today": 0, "今天": 0, "tomorrow": 1, "明天": 1, "后天": 2}
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}")
_MONTH_DAY = re.compile(r"([0-9]{1,2})-([0-9]{1,2})")
_TIME = re.compile(r"([0-9]{1,2})[:：]([0-9]{2})")


class InvalidDrawTime(DomainError):
    message = N_(
        "I can't read that draw time. Give the group's local time as YYYY-MM-DD HH:MM, "
        "MM-DD HH:MM, today 20:00 or tomorrow 20:00."
    )


class InvalidOption(DomainError):
    """A `key=value` option of the one-line form that cannot be used, named with its rule."""

    message = N_("{option}={value}: {rule}")
    translated_params = ("rule",)


def parse_id(word: str) -> int:
    digits = word.lstrip("#")
    if not digits.isdecimal() or len(digits) > 12:
        raise UsageError(usage=USAGE)
    if int(digits) > LARGEST_ID:
        raise UnknownLottery(lottery_id=int(digits))
    return int(digits)


def _number(option: str, value: str, lowest: int, highest: int) -> int:
    if not value.isdecimal() or len(value) > 12 or not lowest <= int(value) <= highest:
        raise InvalidOption(
            option=option, value=value, rule=NUMBER_RULES[option], lowest=lowest, highest=highest
        )
    return int(value)


def _options(words: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for word in words.split():
        key, sep, value = word.partition("=")
        if not sep or key.lower() in options:
            raise UsageError(usage=NEW_USAGE)
        if key.lower() not in OPTIONS:
            raise InvalidOption(
                option=key,
                value=value,
                rule=N_("no such option; the options are {choices}"),
                choices=" ".join(OPTIONS),
            )
        options[key.lower()] = value.strip().lower()
    return options


def _draft_options(options: dict[str, str]) -> tuple[int, int, int, Eligibility]:
    """Winners, cost, entries per member and who may enter, checked in the order the
    one-line form has always checked them."""
    tier = Tier.NEWCOMER
    if "tier" in options:
        if options["tier"] not in TIER_WORDS:
            raise InvalidOption(
                option="tier",
                value=options["tier"],
                rule=N_("the tier must be one of {choices}"),
                choices=" ".join(TIER_WORDS),
            )
        tier = TIER_WORDS[options["tier"]]
    badge = None
    if "badge" in options:
        try:
            badge = Badge(options["badge"])
        except ValueError:
            raise InvalidOption(
                option="badge",
                value=options["badge"],
                rule=N_("the badge must be one of {choices}"),
                choices=" ".join(b.value for b in Badge),
            ) from None
    late = options.get("late", "yes")
    if late not in YES | NO:
        raise InvalidOption(option="late", value=late, rule=N_("must be yes or no"))
    winners = _number("winners", options.get("winners", "1"), 1, MAX_WINNERS)
    cost = _number("cost", options.get("cost", "0"), 0, MAX_COST)
    max_entries = _number("max", options.get("max", "1"), 1, MAX_ENTRIES)
    eligibility = Eligibility(
        min_tier=tier,
        badge=badge,
        min_days=_number("days", options.get("days", "0"), 0, MAX_DAYS),
        late_joiners=late in YES,
    )
    return winners, cost, max_entries, eligibility


def _draw_time_text(when: str, now: datetime, timezone: str) -> str:
    """The draw time as `YYYY-MM-DD HH:MM` in the group's time, from `YYYY-MM-DD HH:MM`,
    `MM-DD HH:MM` (this year, or the next when the day has passed), `today|tomorrow HH:MM`
    or `今天|明天|后天 HH:MM`."""
    words = when.split()
    if len(words) != 2 or not (time := _TIME.fullmatch(words[1])):
        raise InvalidDrawTime()
    hour, minute = int(time.group(1)), int(time.group(2))
    today = now.astimezone(ZoneInfo(timezone)).date()
    day_word = words[0].lower()
    if _FULL_DATE.fullmatch(day_word):
        year, month, day = (int(part) for part in day_word.split("-"))
    elif day_word in DAYS_AHEAD:
        date = today + timedelta(days=DAYS_AHEAD[day_word])
        year, month, day = date.year, date.month, date.day
    elif month_day := _MONTH_DAY.fullmatch(day_word):
        year, month, day = today.year, int(month_day.group(1)), int(month_day.group(2))
        if (month, day) < (today.month, today.day):
            year += 1
    else:
        raise InvalidDrawTime()
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}"


def _draw_time(when: str, now: datetime, timezone: str) -> datetime:
    try:
        schedule, rest = parse_schedule(f"at {_draw_time_text(when, now, timezone)}")
    except InvalidSchedule:
        raise InvalidDrawTime() from None
    if rest.strip():
        raise InvalidDrawTime()
    return require_future(schedule, now, timezone)


def parse_new(text: str, now: datetime, timezone: str) -> LotteryDraft:
    """The one-line form: `<title> | <prize> | <YYYY-MM-DD HH:MM> [| key=value ...]`."""
    parts = [part.strip() for part in text.split("|")]
    if len(parts) < 3 or not parts[0] or not parts[1]:
        raise UsageError(usage=NEW_USAGE)
    title, prize, when = parts[0], parts[1], parts[2]
    if len(title) > MAX_TITLE:
        raise TextTooLong(maximum=MAX_TITLE)
    if len(prize) > MAX_PRIZE:
        raise TextTooLong(maximum=MAX_PRIZE)
    draw_at = _draw_time(when, now, timezone)
    winners, cost, max_entries, eligibility = _draft_options(_options(" ".join(parts[3:])))
    return LotteryDraft(
        title=title,
        prize=prize,
        draw_at=draw_at,
        winners=winners,
        cost=cost,
        max_entries=max_entries,
        eligibility=eligibility,
    )


def parse_repeat(spec: str) -> Schedule | None:
    """`/lottery repeat <id> <schedule>|off`: the schedule, or None for `off`."""
    if spec.strip().lower() == "off":
        return None
    if not spec.strip():
        raise UsageError(usage=REPEAT_USAGE)
    schedule, rest = parse_schedule(spec)
    if rest.strip():
        raise UsageError(usage=REPEAT_USAGE)
    return schedule


def check_dialog_answer(step: str, answer: str, now: datetime, timezone: str) -> str:
    """An answer to one question of the guided `/lottery new`, refused as the one-line form
    would refuse it."""
    if step in ("title", "prize"):
        if not answer or "|" in answer:
            raise UsageError(usage=NO_BAR)
        maximum = MAX_TITLE if step == "title" else MAX_PRIZE
        if len(answer) > maximum:
            raise TextTooLong(maximum=maximum)
    elif step == "when":
        _draw_time(answer, now, timezone)
        return _draw_time_text(answer, now, timezone)  # "tomorrow" as the day it was said
    elif step == "winners":
        _number("winners", answer, 1, MAX_WINNERS)
    elif step == "cost":
        _number("cost", answer, 0, MAX_COST)
    elif step == "max" and answer != "-":
        _number("max", answer, 1, MAX_ENTRIES)
    elif step == "rules" and answer != "-":
        _draft_options(_options(answer))
    return answer
