"""The storage ceiling: the writes of a check-in done by a bare loop on the stdlib sqlite3,
one transaction per page of 100 updates (a getUpdates page), on the real schema.

Per update: claim the update id, read the member, (first-time member: insert the user and
the member), insert the check-in and its ledger row, update balance, streak and tier.
No Telegram, no framework: an upper bound for what seedbot can reach on this SQLite.
`measure_postgres` does the same on PostgreSQL with a bare asyncpg connection (its statement
cache prepares each statement once), one statement per round trip."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.harness import (
    DB_TIME,
    GROUP_ID,
    connect,
    connect_postgres,
    member_name,
    seed_known_members,
    seed_known_members_postgres,
)
from bot.domain.models import DEFAULT_TIER_THRESHOLDS, CheckinRules, LedgerKind
from bot.domain.rules import checkin_points, next_streak, tier_for
from storage.migrate import upgrade_to_head

PAGE = 100
BOT_ID = 123456789


def prepare(database: Path, known: list[int], today: date) -> None:
    upgrade_to_head(f"sqlite+aiosqlite:///{database}")
    with closing(connect(database)) as connection:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO communities (id, title, timezone, language, settings, created_at)"
            " VALUES (?, 'Bench', 'UTC', 'en', '{}', ?)",
            (GROUP_ID, datetime.now(UTC).strftime(DB_TIME)),
        )
        seed_known_members(connection, known, today)
        connection.execute("COMMIT")


def check_in_page(
    connection: sqlite3.Connection, page: list[tuple[int, int]], today: date, now: str
) -> None:
    rules = CheckinRules()
    connection.execute("BEGIN IMMEDIATE")
    for update_id, user_id in page:
        connection.execute(
            "INSERT INTO processed_updates (bot_id, update_id, processed_at) VALUES (?, ?, ?)",
            (BOT_ID, update_id, now),
        )
        row = connection.execute(
            "SELECT streak, last_checkin_day, lifetime_earned FROM members"
            " WHERE community_id = ? AND user_id = ?",
            (GROUP_ID, user_id),
        ).fetchone()
        if row is None:
            connection.execute(
                "INSERT INTO users (id, first_name, language_code, is_bot, can_message)"
                " VALUES (?, ?, 'en', 0, 0)",
                (user_id, member_name(user_id)),
            )
            connection.execute(
                "INSERT INTO members (community_id, user_id, is_member, joined_at, balance,"
                " lifetime_earned, streak, tier, last_active_at, activity_points_today)"
                " VALUES (?, ?, 1, ?, 0, 0, 0, 0, ?, 0)",
                (GROUP_ID, user_id, now, now),
            )
            row = (0, None, 0)
        last_day = date.fromisoformat(row[1]) if row[1] else None
        streak = next_streak(row[0], last_day, today)
        points = checkin_points(streak, rules)
        connection.execute(
            "INSERT INTO checkins (community_id, user_id, day, streak, points, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (GROUP_ID, user_id, today.isoformat(), streak, points, now),
        )
        connection.execute(
            "INSERT INTO points_ledger (community_id, user_id, amount, kind, reason,"
            " idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                GROUP_ID,
                user_id,
                points,
                LedgerKind.CHECKIN.value,
                f"streak {streak}",
                f"checkin:{GROUP_ID}:{user_id}:{today.isoformat()}",
                now,
            ),
        )
        connection.execute(
            "UPDATE members SET balance = balance + ?, lifetime_earned = lifetime_earned + ?,"
            " streak = ?, last_checkin_day = ?, tier = ?"
            " WHERE community_id = ? AND user_id = ? RETURNING balance",
            (
                points,
                points,
                streak,
                today.isoformat(),
                int(tier_for(row[2] + points, DEFAULT_TIER_THRESHOLDS)),
                GROUP_ID,
                user_id,
            ),
        ).fetchone()
    connection.execute("COMMIT")


def measure(folder: Path, members: list[int], known: list[int]) -> float:
    """Check-ins per second for `members` (those in `known` already checked in yesterday)."""
    database = folder / "ceiling.db"
    today = datetime.now(UTC).date()
    prepare(database, known, today)
    with closing(connect(database)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        updates = list(enumerate(members, start=1))
        started = time.perf_counter()
        for start in range(0, len(updates), PAGE):
            now = datetime.now(UTC).strftime(DB_TIME)
            check_in_page(connection, updates[start : start + PAGE], today, now)
        elapsed = time.perf_counter() - started
    return len(members) / elapsed


async def measure_postgres(url: str, members: list[int], known: list[int]) -> float:
    """`measure` on the (fresh) PostgreSQL database at `url`."""
    today = datetime.now(UTC).date()
    await asyncio.to_thread(upgrade_to_head, url)
    connection = await connect_postgres(url)
    try:
        await connection.execute(
            "INSERT INTO communities (id, title, timezone, language, settings, created_at)"
            " VALUES ($1, 'Bench', 'UTC', 'en', '{}', $2)",
            GROUP_ID,
            datetime.now(UTC),
        )
        await seed_known_members_postgres(url, known, today)
        updates = list(enumerate(members, start=1))
        started = time.perf_counter()
        for start in range(0, len(updates), PAGE):
            async with connection.transaction():
                for update_id, user_id in updates[start : start + PAGE]:
                    await _check_in_postgres(connection, update_id, user_id, today)
        elapsed = time.perf_counter() - started
    finally:
        await connection.close()
    return len(members) / elapsed


async def _check_in_postgres(connection: Any, update_id: int, user_id: int, today: date) -> None:
    now = datetime.now(UTC)
    await connection.execute(
        "INSERT INTO processed_updates (bot_id, update_id, processed_at) VALUES ($1, $2, $3)",
        BOT_ID,
        update_id,
        now,
    )
    row = await connection.fetchrow(
        "SELECT streak, last_checkin_day, lifetime_earned FROM members"
        " WHERE community_id = $1 AND user_id = $2",
        GROUP_ID,
        user_id,
    )
    if row is None:
        await connection.execute(
            "INSERT INTO users (id, first_name, language_code, is_bot, can_message)"
            " VALUES ($1, $2, 'en', false, false)",
            user_id,
            member_name(user_id),
        )
        await connection.execute(
            "INSERT INTO members (community_id, user_id, is_member, joined_at, balance,"
            " lifetime_earned, streak, tier, last_active_at, activity_points_today)"
            " VALUES ($1, $2, true, $3, 0, 0, 0, 0, $3, 0)",
            GROUP_ID,
            user_id,
            now,
        )
        row = (0, None, 0)
    streak = next_streak(row[0], row[1], today)
    points = checkin_points(streak, CheckinRules())
    await connection.execute(
        "INSERT INTO checkins (community_id, user_id, day, streak, points, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        GROUP_ID,
        user_id,
        today,
        streak,
        points,
        now,
    )
    await connection.execute(
        "INSERT INTO points_ledger (community_id, user_id, amount, kind, reason,"
        " idempotency_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        GROUP_ID,
        user_id,
        points,
        LedgerKind.CHECKIN.value,
        f"streak {streak}",
        f"checkin:{GROUP_ID}:{user_id}:{today.isoformat()}",
        now,
    )
    await connection.fetchrow(
        "UPDATE members SET balance = balance + $1, lifetime_earned = lifetime_earned + $1,"
        " streak = $2, last_checkin_day = $3, tier = $4"
        " WHERE community_id = $5 AND user_id = $6 RETURNING balance",
        points,
        streak,
        today,
        int(tier_for(row[2] + points, DEFAULT_TIER_THRESHOLDS)),
        GROUP_ID,
        user_id,
    )
