"""A community with a history in the raw records, for benchmarks and tests:

    await generate(database_url, members=100_000, days=90)

Members join over the period (a share of them before it), some leave; each member has an
activity rate, and on each day between their join and leave they are active with that
probability: then they write messages, and may check in, answer a quiz, enter a lottery or
redeem in the shop. Everything is written as the bot would have: membership events, activity
days, check-ins and the ledger (check-in points, lottery tickets, shop orders, referral
rewards), referrals, and the members with their current tier. The database must be migrated.
Rows go in with executemany in chunks; nothing is done per row in SQL."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.engine import build_engine
from storage.models import (
    ActivityDayRow,
    CheckinRow,
    CommunityRow,
    LedgerRow,
    MemberRow,
    MembershipEventRow,
    ReferralRow,
    UserRow,
)

COMMUNITY_ID = -1001234567890
TIMEZONE = "Asia/Shanghai"
FIRST_USER_ID = 10_000_000
CHUNK = 20_000
CHECKIN_POINTS = 5
LOTTERY_COST = 10
ORDER_PRICE = 50
REFERRAL_REWARD = 20


@dataclass(frozen=True)
class Generated:
    community_id: int
    timezone: str
    today: date
    members: int
    activity_days: int
    ledger_rows: int


@dataclass
class _Member:
    user_id: int
    joined: datetime
    left: datetime | None
    rate: float


def _local(day: date, hour: float, zone: ZoneInfo) -> datetime:
    moment = datetime.combine(day, time(), tzinfo=zone) + timedelta(hours=hour)
    return moment.astimezone(UTC)


def _chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


async def _insert(connection: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for chunk in _chunks(rows):
        await connection.execute(insert(table), chunk)


async def generate(
    database_url: str,
    members: int,
    days: int,
    *,
    now: datetime | None = None,
    seed: int = 10,
    timezone: str = TIMEZONE,
) -> Generated:
    """Writes the community (COMMUNITY_ID) with `members` members and `days` local days of
    history ending today (the local day of `now`)."""
    now = now or datetime.now(UTC)
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    rng = random.Random(seed)
    people: list[_Member] = []
    for index in range(members):
        if rng.random() < 0.4:
            join_day = first - timedelta(days=rng.randint(1, 60))
        else:
            join_day = first + timedelta(days=rng.randint(0, days - 1))
        joined = min(_local(join_day, rng.uniform(0, 24), zone), now - timedelta(minutes=1))
        left = None
        if rng.random() < 0.1:
            leave_day = join_day + timedelta(days=rng.randint(0, 40))
            if leave_day <= today:
                left = min(_local(leave_day, rng.uniform(0, 24), zone), now)
                left = max(left, joined + timedelta(minutes=1))
        people.append(_Member(FIRST_USER_ID + index, joined, left, rng.choice(_RATES)))

    engine = build_engine(database_url)
    activity_rows = ledger_rows = 0
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(CommunityRow),
                [
                    {
                        "id": COMMUNITY_ID,
                        "title": "Bench community",
                        "timezone": timezone,
                        "language": "en",
                        "settings": {},
                        "created_at": _local(first - timedelta(days=61), 0, zone),
                    }
                ],
            )
            await _insert(
                connection,
                UserRow.__table__,
                [
                    {
                        "id": p.user_id,
                        "first_name": f"Member {p.user_id - FIRST_USER_ID}",
                        "is_bot": False,
                        "can_message": False,
                    }
                    for p in people
                ],
            )
            events: list[dict[str, Any]] = []
            for p in people:
                events.append(_event(p.user_id, "join", p.joined))
                if p.left is not None:
                    events.append(_event(p.user_id, "leave", p.left))
            events.sort(key=lambda row: row["at"])
            await _insert(connection, MembershipEventRow.__table__, events)
            referrals = _referrals(people, rng, first, zone, now)
            await _insert(connection, ReferralRow.__table__, referrals)
            ledger_rows += await _insert_ledger(
                connection,
                [
                    _ledger(r["inviter_id"], REFERRAL_REWARD, "referral", r["qualified_at"])
                    for r in referrals
                    if r["status"] == "qualified"
                ],
            )
            earned: dict[int, int] = {}
            day = first
            while day <= today:
                activity, checkins, ledger = _day(people, day, zone, now, rng)
                activity_rows += len(activity)
                await _insert(connection, ActivityDayRow.__table__, activity)
                await _insert(connection, CheckinRow.__table__, checkins)
                ledger_rows += await _insert_ledger(connection, ledger)
                for row in checkins:
                    earned[row["user_id"]] = earned.get(row["user_id"], 0) + row["points"]
                day += timedelta(days=1)
            await _insert(
                connection,
                MemberRow.__table__,
                [_member_row(p, earned.get(p.user_id, 0), now) for p in people],
            )
    finally:
        await engine.dispose()
    return Generated(COMMUNITY_ID, timezone, today, members, activity_rows, ledger_rows)


_KEYS = itertools.count(1)
_RATES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.7)


def _event(user_id: int, kind: str, at: datetime) -> dict[str, Any]:
    return {"community_id": COMMUNITY_ID, "user_id": user_id, "kind": kind, "at": at}


def _ledger(user_id: int, amount: int, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "community_id": COMMUNITY_ID,
        "user_id": user_id,
        "amount": amount,
        "kind": kind,
        "reason": None,
        "actor_id": None,
        "at": at,
    }


async def _insert_ledger(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> int:
    numbered = [
        {
            "community_id": row["community_id"],
            "user_id": row["user_id"],
            "amount": row["amount"],
            "kind": row["kind"],
            "reason": None,
            "actor_id": None,
            "idempotency_key": f"bench:{next(_KEYS)}",
            "created_at": row["at"],
        }
        for row in rows
    ]
    await _insert(connection, LedgerRow.__table__, numbered)
    return len(numbered)


def _referrals(
    people: list[_Member], rng: random.Random, first: date, zone: ZoneInfo, now: datetime
) -> list[dict[str, Any]]:
    start = _local(first, 0, zone)
    rows = []
    for p in people:
        if p.joined < start or rng.random() >= 0.3:
            continue
        inviter = people[rng.randrange(len(people))].user_id
        if inviter == p.user_id:
            continue
        status = rng.choice(("pending", "qualified", "qualified", "rejected"))
        rows.append(
            {
                "community_id": COMMUNITY_ID,
                "invitee_id": p.user_id,
                "inviter_id": inviter,
                "status": status,
                "reason": "left_early" if status == "rejected" else None,
                "source": "link",
                "joined_at": p.joined,
                "due_at": p.joined + timedelta(days=3) if status == "pending" else None,
                "qualified_at": (
                    min(p.joined + timedelta(hours=1), now) if status == "qualified" else None
                ),
            }
        )
    return rows


def _day(
    people: list[_Member], day: date, zone: ZoneInfo, now: datetime, rng: random.Random
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    activity: list[dict[str, Any]] = []
    checkins: list[dict[str, Any]] = []
    ledger: list[dict[str, Any]] = []
    start = _local(day, 0, zone)
    end = _local(day + timedelta(days=1), 0, zone)
    for p in people:
        if p.joined >= end or (p.left is not None and p.left < start) or p.rate == 0.0:
            continue
        if rng.random() >= p.rate:
            continue
        at = max(p.joined, start) + timedelta(minutes=rng.randint(1, 600))
        if at >= end or at > now or (p.left is not None and at > p.left):
            continue
        checked_in = rng.random() < 0.6
        quiz = 1 if rng.random() < 0.1 else 0
        lottery = 1 if rng.random() < 0.05 else 0
        order = 1 if rng.random() < 0.02 else 0
        messages = rng.randint(0, 5)
        if not (messages or checked_in or quiz or lottery or order):
            messages = 1
        activity.append(
            {
                "community_id": COMMUNITY_ID,
                "user_id": p.user_id,
                "day": day,
                "messages": messages,
                "checkins": int(checked_in),
                "quiz_answers": quiz,
                "lottery_entries": lottery,
                "orders": order,
            }
        )
        if checked_in:
            checkins.append(
                {
                    "community_id": COMMUNITY_ID,
                    "user_id": p.user_id,
                    "day": day,
                    "streak": 1,
                    "points": CHECKIN_POINTS,
                    "created_at": at,
                }
            )
            ledger.append(_ledger(p.user_id, CHECKIN_POINTS, "checkin", at))
        if lottery:
            ledger.append(
                _ledger(p.user_id, -LOTTERY_COST, "lottery_entry", at + timedelta(seconds=1))
            )
        if order:
            ledger.append(_ledger(p.user_id, -ORDER_PRICE, "shop", at + timedelta(seconds=2)))
    return activity, checkins, ledger


def _member_row(p: _Member, earned: int, now: datetime) -> dict[str, Any]:
    tier = 0 if earned < 20 else 1 if earned < 100 else 2 if earned < 250 else 3
    return {
        "community_id": COMMUNITY_ID,
        "user_id": p.user_id,
        "is_member": p.left is None,
        "joined_at": p.joined,
        "left_at": p.left,
        "balance": 0,
        "lifetime_earned": earned,
        "streak": 0,
        "last_checkin_day": None,
        "tier": tier,
        "last_active_at": None,
        "activity_day": None,
        "activity_points_today": 0,
        "last_activity_point_at": None,
        "welcome_due_at": None,
    }
