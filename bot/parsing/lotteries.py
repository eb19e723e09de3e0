"""The words of `/lottery`: its one-line form, ids, repeat schedules and the guided dialog's
answers, checked and turned into plain values."""

from __future__ import annotations

from datetime import datetime

from bot.domain.errors import N_, OutOfRange, TextTooLong, UnknownBadge, UnknownLottery, UsageError
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
OPTIONS = {"winners", "cost", "max", "tier", "badge", "days", "late"}


def parse_id(word: str) -> int:
    digits = word.lstrip("#")
    if not digits.isdecimal() or len(digits) > 12:
        raise UsageError(usage=USAGE)
    if int(digits) > LARGEST_ID:
        raise UnknownLottery(lottery_id=int(digits))
    return int(digits)


def _number(value: str, lowest: int, highest: int) -> int:
    if not value.isdecimal() or len(value) > 12 or not lowest <= int(value) <= highest:
        raise OutOfRange(lowest=lowest, highest=highest)
    return int(value)


def _options(words: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for word in words.split():
        key, sep, value = word.partition("=")
        if not sep or key.lower() in options:
            raise UsageError(usage=NEW_USAGE)
        options[key.lower()] = value.strip().lower()
    if set(options) - OPTIONS:
        raise UsageError(usage=NEW_USAGE)
    return options


def _draft_options(options: dict[str, str]) -> tuple[int, int, int, Eligibility]:
    """Winners, cost, entries per member and who may enter, checked in the order the
    one-line form has always checked them."""
    tier = Tier.NEWCOMER
    if "tier" in options:
        if options["tier"] not in TIER_WORDS:
            raise UsageError(usage=NEW_USAGE)
        tier = TIER_WORDS[options["tier"]]
    badge = None
    if "badge" in options:
        try:
            badge = Badge(options["badge"])
        except ValueError:
            raise UnknownBadge(choices=", ".join(b.value for b in Badge)) from None
    late = options.get("late", "yes")
    if late not in YES | NO:
        raise UsageError(usage=NEW_USAGE)
    winners = _number(options.get("winners", "1"), 1, MAX_WINNERS)
    cost = _number(options.get("cost", "0"), 0, MAX_COST)
    max_entries = _number(options.get("max", "1"), 1, MAX_ENTRIES)
    eligibility = Eligibility(
        min_tier=tier,
        badge=badge,
        min_days=_number(options.get("days", "0"), 0, MAX_DAYS),
        late_joiners=late in YES,
    )
    return winners, cost, max_entries, eligibility


def _draw_time(when: str, now: datetime, timezone: str) -> datetime:
    schedule, rest = parse_schedule(f"at {when}")
    if rest.strip():
        raise UsageError(usage=NEW_USAGE)
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
    elif step == "winners":
        _number(answer, 1, MAX_WINNERS)
    elif step == "cost":
        _number(answer, 0, MAX_COST)
    elif step == "max" and answer != "-":
        _number(answer, 1, MAX_ENTRIES)
    elif step == "rules" and answer != "-":
        _draft_options(_options(answer))
    return answer
