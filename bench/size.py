"""Read commands on a large community: /top, /top week, /tiers and /me through the real bot.

    .venv/bin/python -m bench.size [--members 100000] [--days 90] [--repeat 3]

Generates a community of --members members with --days days of check-in history (each
member checks in on a share of the days; the ledger explains every balance) directly in a
SQLite file built by the real migrations, then runs `python -m bot run` on it and times each
command from the message to the bot's reply (through the fake Bot API), with the bot's
memory before and after."""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.harness import (
    CREATOR_ID,
    DB_TIME,
    FIRST_MEMBER_ID,
    GROUP_ID,
    BenchError,
    BotProcess,
    add_members,
    community_timezone,
    connect,
    local_today,
    member_name,
    new_world,
    start_seedbot,
    wait_until,
)
from bot.domain.models import DEFAULT_TIER_THRESHOLDS, CheckinRules, LedgerKind
from bot.domain.rules import checkin_points, tier_for
from tests.fakes.bot_api import FakeBotAPI, SentMessage

COMMANDS = ("/top", "/top week", "/tiers", "/me")
CHUNK = 5_000


@dataclass
class History:
    members: int
    checkins: int
    seconds: float


def generate(database: Path, members: int, days: int, seed: int = 8) -> History:
    """Users, members, check-ins and ledger rows for `members` members over `days` days up to
    yesterday, in one transaction."""
    started = time.perf_counter()
    zone = ZoneInfo(community_timezone(database))
    today = local_today(zone.key)
    first_day = today - timedelta(days=days)
    morning = [
        datetime.combine(first_day + timedelta(days=d), day_time(8), zone)
        .astimezone(UTC)
        .strftime(DB_TIME)
        for d in range(days)
    ]
    rng = random.Random(seed)
    checkins = 0
    with closing(connect(database)) as connection:
        # A throwaway file: no rollback journal, big cache (the bot turns WAL back on).
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-400000")
        connection.execute("BEGIN IMMEDIATE")
        # Plain indexes are built once at the end, from sorted data: much faster than
        # keeping them up to date row by row.
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('users', 'members', 'checkins', 'points_ledger')"
        ).fetchall()
        for index, _ in indexes:
            connection.execute(f'DROP INDEX "{index}"')
        for start in range(0, members, CHUNK):
            user_ids = range(FIRST_MEMBER_ID + start, FIRST_MEMBER_ID + min(members, start + CHUNK))
            rows = list(_member_rows(user_ids, first_day, morning, rng))
            checkins += sum(len(history) for *_, history in rows)
            _insert(connection, rows, morning[0])
        for _, create in indexes:
            connection.execute(create)
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode=WAL")
    return History(members, checkins, time.perf_counter() - started)


MemberRows = tuple[int, int, int, date | None, list[tuple[date, int, int, str]]]


def _member_rows(
    user_ids: range, first_day: date, morning: list[str], rng: random.Random
) -> Iterator[MemberRows]:
    rules = CheckinRules()
    for user_id in user_ids:
        share = rng.betavariate(0.6, 2.4)  # most members come now and then, a few every day
        streak, last, total = 0, None, 0
        history: list[tuple[date, int, int, str]] = []
        for offset, at in enumerate(morning):
            if rng.random() >= share:
                continue
            day = first_day + timedelta(days=offset)
            streak = streak + 1 if last == day - timedelta(days=1) else 1
            points = checkin_points(streak, rules)
            total += points
            history.append((day, streak, points, at))
            last = day
        yield user_id, total, streak, last, history


def _insert(connection: sqlite3.Connection, rows: list[MemberRows], joined_at: str) -> None:
    kind = LedgerKind.CHECKIN.value
    connection.executemany(
        "INSERT INTO users (id, first_name, language_code, is_bot, can_message)"
        " VALUES (?, ?, 'en', 0, 0)",
        [(uid, member_name(uid)) for uid, *_ in rows],
    )
    connection.executemany(
        "INSERT INTO members (community_id, user_id, is_member, joined_at, balance,"
        " lifetime_earned, streak, last_checkin_day, tier, last_active_at,"
        " activity_points_today) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, 0)",
        [
            (
                GROUP_ID,
                uid,
                joined_at,
                total,
                total,
                streak,
                last.isoformat() if last else None,
                int(tier_for(total, DEFAULT_TIER_THRESHOLDS)),
                history[-1][3] if history else None,
            )
            for uid, total, streak, last, history in rows
        ],
    )
    connection.executemany(
        "INSERT INTO checkins (community_id, user_id, day, streak, points, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (GROUP_ID, uid, day.isoformat(), streak, points, at)
            for uid, *_, history in rows
            for day, streak, points, at in history
        ],
    )
    connection.executemany(
        "INSERT INTO points_ledger (community_id, user_id, amount, kind, reason,"
        " idempotency_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                GROUP_ID,
                uid,
                points,
                kind,
                f"streak {streak}",
                f"checkin:{GROUP_ID}:{uid}:{day.isoformat()}",
                at,
            )
            for uid, *_, history in rows
            for day, streak, points, at in history
        ],
    )


async def main(members: int, days: int, repeat: int) -> int:
    api = new_world(enforce_rate_limits=False)
    await api.start()
    asker = FIRST_MEMBER_ID + members // 2
    add_members(api, [asker])
    with tempfile.TemporaryDirectory(prefix="seedbot-size-") as name:
        folder = Path(name)
        database = folder / "size.db"
        bot = await start_seedbot(api, database, folder, due_work_seconds=0)
        try:
            added = api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID)
            await wait_until(lambda: api.is_handled(added), bot, "joining the group")
            await bot.stop()
            history = await asyncio.to_thread(generate, database, members, days)
            size_mb = database.stat().st_size / 1e6
            print(
                f"generated {history.members:,} members, {history.checkins:,} check-ins and as "
                f"many ledger rows over {days} days in {history.seconds:.1f} s "
                f"(target < 60 s); {size_mb:,.0f} MB",
                flush=True,
            )
            bot = await start_seedbot(api, database, folder, due_work_seconds=0)
            rss_before = bot.rss_mb()
            for command in COMMANDS:
                timings = [await ask(api, bot, asker, command) for _ in range(repeat)]
                print(
                    f"{command:<10} median {statistics.median(timings) * 1000:7,.0f} ms, "
                    f"worst {max(timings) * 1000:7,.0f} ms  (target < 1,000 ms)",
                    flush=True,
                )
            print(f"bot RSS: {rss_before:,.0f} MB after start, peak {bot.peak_rss_mb():,.0f} MB")
        finally:
            await bot.stop()
            await api.stop()
    return 0


async def ask(api: FakeBotAPI, bot: BotProcess, user_id: int, command: str) -> float:
    """Seconds from the member's message to the bot's reply."""
    update_id = api.send_message(GROUP_ID, user_id, command)
    message_id = api.message_id_of(update_id)
    replies: list[SentMessage] = []

    def replied() -> bool:
        replies[:] = [m for m in api.messages_to(GROUP_ID) if m.reply_to_message_id == message_id]
        return bool(replies)

    await wait_until(replied, bot, f"answering {command}", 120)
    return replies[0].sent_at - api.update_queued_at[update_id]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m bench.size", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    try:
        raise SystemExit(asyncio.run(main(arguments.members, arguments.days, arguments.repeat)))
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        raise SystemExit(2) from None
