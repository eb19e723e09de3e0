"""Members' lifecycle: stages judged daily and when a member is first seen (a return noticed
at once), the at-risk list, win-back messages once per at-risk episode, key members and the
moderators' weekly digest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.bounds import AUDIT_ACTION, PaidSetting, check_paid_amount, paid_amount_change
from bot.domain.errors import N_, OutOfRange, TextTooLong, UsageError
from bot.domain.models import (
    Community,
    LedgerEntry,
    LedgerKind,
    LifecycleEntry,
    LifecycleRules,
    WeekNumbers,
)
from bot.domain.rules import local_day
from bot.ports import UnitOfWork
from bot.services.points import apply_points

DAILY = "daily"  # the day's judgement started (its claim)
DAILY_DONE = "judged"  # and finished
DIGEST = "digest"
CLAIM_LEASE = timedelta(minutes=10)
JUDGE_CHUNK = 200  # members in the first transaction of the daily judgement (then sized by time)
FIRST_SIGHT_LIMIT = 2_000  # members first seen judged in one pass of the timed work
FIRST_SIGHT_CHUNK = 100  # of them in one transaction
LIST_LIMIT = 30
WINBACK_TEXT_LIMIT = 1000

# /lifecycle <setting> <days or number>: the field and its bounds.
LIFECYCLE_SETTINGS: dict[str, tuple[str, int, int]] = {
    "new": ("new_days", 1, 60),
    "loyal": ("loyal_weeks", 1, 8),
    "factor": ("rhythm_factor", 2, 10),
    "mingap": ("min_gap_days", 1, 30),
    "history": ("min_history_days", 2, 30),
    "inactive": ("inactive_days", 2, 60),
    "churn": ("churn_days", 7, 90),
    "wonback": ("won_back_days", 1, 60),
}
LIFECYCLE_USAGE = N_("/lifecycle new|loyal|factor|mingap|history|inactive|churn|wonback <number>")
WINBACK_USAGE = N_("/winback on|off — /winback gift <points> — /winback text <text>|default")
KEY_RULE_USAGE = N_("/keymembers rule <top percent> <qualified referrals>")


@dataclass(frozen=True)
class Winback:
    user_id: int
    episode: date
    gift: int


@dataclass(frozen=True)
class KeyChanges:
    became: Sequence[int]
    ceased: Sequence[int]


@dataclass(frozen=True)
class Digest:
    community: Community
    week_start: date
    this_week: WeekNumbers
    week_before: WeekNumbers
    new_key_members: Sequence[LifecycleEntry]
    at_risk: Sequence[LifecycleEntry]


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(timezone)).astimezone(UTC)


async def start_day(uow: UnitOfWork, community: Community, now: datetime) -> date | None:
    """The local day whose daily judgement this caller now carries out, claimed once per
    community and day; None when it is done or another caller holds it. A claim whose
    holder stopped half-way (a crash) is taken over once it is CLAIM_LEASE old."""
    today = local_day(now, community.timezone)
    lifecycle = uow.lifecycle
    if await lifecycle.is_claimed(community.id, DAILY_DONE, today):
        return None
    if await lifecycle.claim(community.id, DAILY, today, now):
        return today
    if await lifecycle.take_over(community.id, DAILY, today, now - CLAIM_LEASE, now):
        return today
    return None


async def judge_chunk(
    uow: UnitOfWork, community: Community, today: date, now: datetime, after_user: int, size: int
) -> tuple[list[Winback], int | None]:
    """The stages of the next `size` members (by user id) after `after_user`, and the
    win-backs they start (recorded once per episode, gift paid once): one short transaction
    of a day's judgement. Returns them and the last user id judged (None: none was left).
    Judging a member twice on a day gives the same stage, so a rerun repeats nothing."""
    last_user = await uow.lifecycle.chunk_end(community.id, after_user, size)
    if last_user is None:
        return [], None
    users = (after_user, last_user)
    rules = community.lifecycle
    await uow.lifecycle.judge(community.id, rules, today, now, users)
    if not rules.winback:
        return [], last_user
    started = await uow.lifecycle.start_winbacks(
        community.id, today, today + timedelta(days=rules.won_back_days), now, users
    )
    winbacks = []
    for user_id, episode in started:
        gift = 0
        if rules.winback_gift > 0:
            change = await apply_points(
                uow,
                community,
                LedgerEntry(
                    community_id=community.id,
                    user_id=user_id,
                    amount=rules.winback_gift,
                    kind=LedgerKind.WINBACK,
                    idempotency_key=f"winback:{community.id}:{user_id}:{episode.isoformat()}",
                    created_at=now,
                    reason="win-back gift",
                ),
            )
            gift = rules.winback_gift if change is not None else 0
        winbacks.append(Winback(user_id, episode, gift))
    return winbacks, last_user


async def unjudged_members(uow: UnitOfWork) -> dict[int, list[int]]:
    """Members never judged, by community: first seen since their community's daily
    judgement (a read over the members: run it off the loop). At most FIRST_SIGHT_LIMIT."""
    by_community: dict[int, list[int]] = {}
    for community_id, user_id in await uow.lifecycle.unjudged_members(FIRST_SIGHT_LIMIT):
        by_community.setdefault(community_id, []).append(user_id)
    return by_community


async def judge_members(
    uow: UnitOfWork, community: Community, user_ids: Sequence[int], now: datetime
) -> list[Winback]:
    """The stages of these members as of the community's local today, as the daily
    judgement would give them (win-backs included): members first seen are judged at once,
    so that a long-silent member shows in the at-risk list on the day the bot meets them.
    Left to the daily judgement while today's is not done (it judges every member)."""
    today = local_day(now, community.timezone)
    if not await uow.lifecycle.is_claimed(community.id, DAILY_DONE, today):
        return []
    winbacks: list[Winback] = []
    for user_id in user_ids:
        started, _ = await judge_chunk(uow, community, today, now, user_id - 1, 1)
        winbacks.extend(started)
    return winbacks


async def key_changes(uow: UnitOfWork, community: Community, now: datetime) -> KeyChanges:
    """Who becomes and who ceases to be a key member by the community's rule (a read over
    the whole community: run it in a read-only unit of work off the loop)."""
    became, ceased = await uow.lifecycle.key_changes(community.id, community.lifecycle, now)
    return KeyChanges(tuple(became), tuple(ceased))


async def finish_day(
    uow: UnitOfWork, community: Community, today: date, now: datetime, changes: KeyChanges
) -> None:
    """The key members changed and the day's judgement recorded as done."""
    await uow.lifecycle.change_key_members(community.id, changes.became, changes.ceased, today)
    await uow.lifecycle.claim(community.id, DAILY_DONE, today, now)


async def note_first_activity(uow: UnitOfWork, community_id: int, user_id: int, day: date) -> None:
    """A member's first activity of the day: at risk or churned, they are won back now."""
    await uow.lifecycle.note_return(community_id, user_id, day)


async def at_risk(uow: UnitOfWork, community: Community) -> Sequence[LifecycleEntry]:
    """At-risk members, most valuable first (lifetime points, then qualified referrals)."""
    return await uow.lifecycle.at_risk(community.id, LIST_LIMIT)


async def key_members(uow: UnitOfWork, community: Community) -> Sequence[LifecycleEntry]:
    return await uow.lifecycle.key_members(community.id, LIST_LIMIT)


async def winback_rate(uow: UnitOfWork, community: Community, since: datetime) -> tuple[int, int]:
    """(win-backs sent since then, members among them back within the window)."""
    return await uow.lifecycle.winback_rate(community.id, since)


async def needs_moderators(uow: UnitOfWork, community: Community, now: datetime) -> bool:
    """Whether key-member notices or this week's digest are waiting for the moderators."""
    if await uow.lifecycle.unnoticed_key_members(community.id):
        return True
    monday = week_start(local_day(now, community.timezone))
    return not await uow.lifecycle.is_claimed(community.id, DIGEST, monday)


async def take_key_notices(uow: UnitOfWork, community: Community) -> Sequence[LifecycleEntry]:
    """New key members not yet told to the moderators, marked told."""
    entries = await uow.lifecycle.unnoticed_key_members(community.id)
    await mark_key_noticed(uow, community, entries)
    return entries


async def unnoticed_key_members(uow: UnitOfWork, community: Community) -> Sequence[LifecycleEntry]:
    """New key members not yet told to the moderators (a read; marked by mark_key_noticed)."""
    return await uow.lifecycle.unnoticed_key_members(community.id)


async def mark_key_noticed(
    uow: UnitOfWork, community: Community, entries: Sequence[LifecycleEntry]
) -> None:
    await uow.lifecycle.mark_key_noticed(community.id, [entry.user_id for entry in entries])


async def take_digest(uow: UnitOfWork, community: Community, now: datetime) -> Digest | None:
    """Last week's digest, claimed once per community and local week (None if taken)."""
    if not await claim_digest(uow, community, now):
        return None
    return await read_digest(uow, community, now)


async def claim_digest(uow: UnitOfWork, community: Community, now: datetime) -> bool:
    """True for the one caller that sends this local week's digest."""
    monday = week_start(local_day(now, community.timezone))
    return await uow.lifecycle.claim(community.id, DIGEST, monday, now)


async def read_digest(uow: UnitOfWork, community: Community, now: datetime) -> Digest:
    """Last week's digest (reads over the whole community; claimed apart by claim_digest)."""
    monday = week_start(local_day(now, community.timezone))
    last = monday - timedelta(days=7)
    before = monday - timedelta(days=14)
    zone = community.timezone

    async def numbers(start: date) -> WeekNumbers:
        return await uow.lifecycle.week_numbers(
            community.id,
            start,
            local_midnight(start, zone),
            local_midnight(start + timedelta(days=7), zone),
        )

    this_week = await numbers(last)
    week_before = await numbers(before)
    keys = [
        entry
        for entry in await uow.lifecycle.key_members(community.id, LIST_LIMIT)
        if entry.key_since is not None and last <= entry.key_since < monday + timedelta(days=1)
    ]
    risky = await uow.lifecycle.at_risk(community.id, 10)
    return Digest(community, last, this_week, week_before, keys, risky)


async def set_lifecycle_setting(
    uow: UnitOfWork,
    community: Community,
    name: str,
    value: str,
    actor_id: int | None,
    now: datetime,
) -> Community:
    if name not in LIFECYCLE_SETTINGS or not value.isdecimal():
        raise UsageError(usage=LIFECYCLE_USAGE)
    field_name, lowest, highest = LIFECYCLE_SETTINGS[name]
    number = int(value)
    if not lowest <= number <= highest:
        raise OutOfRange(lowest=lowest, highest=highest)
    rules = replace(community.lifecycle, **{field_name: number})  # type: ignore[arg-type]
    return await _save(uow, community, rules, f"{name}={number}", actor_id, now)


async def set_winback(
    uow: UnitOfWork,
    community: Community,
    args: str,
    actor_id: int | None,
    now: datetime,
    *,
    by_owner: bool = False,
) -> Community:
    """on|off, gift <points> (bounded: bot.domain.bounds) or text <text>|default."""
    word, _, rest = args.strip().partition(" ")
    word = word.lower()
    rest = rest.strip()
    rules = community.lifecycle
    if word in ("on", "off") and not rest:
        rules = replace(rules, winback=word == "on")
    elif word == "gift" and rest.isdecimal():
        gift = check_paid_amount(PaidSetting.WINBACK_GIFT, int(rest), by_owner=by_owner)
        detail = paid_amount_change(PaidSetting.WINBACK_GIFT, rules.winback_gift, gift)
        rules = replace(rules, winback_gift=gift)
        return await _save(uow, community, rules, detail, actor_id, now, AUDIT_ACTION)
    elif word == "text" and rest:
        if len(rest) > WINBACK_TEXT_LIMIT:
            raise TextTooLong(maximum=WINBACK_TEXT_LIMIT)
        rules = replace(rules, winback_text=None if rest.lower() == "default" else rest)
    else:
        raise UsageError(usage=WINBACK_USAGE)
    return await _save(uow, community, rules, f"winback {word}", actor_id, now)


async def set_key_rule(
    uow: UnitOfWork,
    community: Community,
    percent: str,
    referrals: str,
    actor_id: int | None,
    now: datetime,
) -> Community:
    if not (percent.isdecimal() and referrals.isdecimal()):
        raise UsageError(usage=KEY_RULE_USAGE)
    if not 1 <= int(percent) <= 100:
        raise OutOfRange(lowest=1, highest=100)
    if not 0 <= int(referrals) <= 1000:
        raise OutOfRange(lowest=0, highest=1000)
    rules = replace(
        community.lifecycle, key_top_percent=int(percent), key_min_referrals=int(referrals)
    )
    return await _save(uow, community, rules, f"key {percent}% {referrals}", actor_id, now)


async def _save(
    uow: UnitOfWork,
    community: Community,
    rules: LifecycleRules,
    detail: str,
    actor_id: int | None,
    now: datetime,
    action: str = "lifecycle_rule",
) -> Community:
    changed = replace(community, lifecycle=rules)
    await uow.communities.save_settings(changed)
    await uow.audit.add(community.id, actor_id, action, None, detail, now)
    return changed
