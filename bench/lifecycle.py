"""The daily lifecycle job on a large community: time and peak memory.

    .venv/bin/python -m bench.lifecycle [--members 100000] [--days 90]

Builds a SQLite file with the real migrations holding one community of --members members
and --days days of activity history (each member has their own rhythm: a usual gap between
active days, and some stopped coming at some point; check-in days have their ledger rows),
then runs the daily lifecycle job (handlers.lifecycle_work.judge_community: every member's stage
and the key members, in SQL) in a fresh process and reports its wall time and that process's
peak resident memory."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path

from bench.harness import DB_TIME, FIRST_MEMBER_ID, GROUP_ID, connect, member_name
from storage.migrate import upgrade_to_head

CHUNK = 5_000
TIME_LIMIT_SECONDS = 30.0
MEMORY_LIMIT_MB = 300.0


@dataclass
class Generated:
    members: int
    activity_days: int
    ledger_rows: int
    seconds: float


def generate_activity_history(
    database: Path, members: int, days: int, today: date, seed: int = 10
) -> Generated:
    """A community (UTC) with `members` members and `days` days of activity up to `today`,
    in one transaction on a throwaway file (no journal; indexes rebuilt at the end)."""
    started = time.perf_counter()
    rng = random.Random(seed)
    joined_at = datetime.combine(today - timedelta(days=days + 1), datetime.min.time(), UTC)
    activity_rows = ledger_rows = 0
    with closing(connect(database)) as connection:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-200000")
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO communities (id, title, timezone, language, settings, created_at)"
            " VALUES (?, 'Bench', 'UTC', 'en', '{}', ?)",
            (GROUP_ID, joined_at.strftime(DB_TIME)),
        )
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name IN ('users', 'members', 'activity_days', 'points_ledger')"
        ).fetchall()
        for index, _ in indexes:
            connection.execute(f'DROP INDEX "{index}"')
        for start in range(0, members, CHUNK):
            user_ids = range(FIRST_MEMBER_ID + start, FIRST_MEMBER_ID + min(members, start + CHUNK))
            days_of = {user_id: _active_days(rng, days) for user_id in user_ids}
            connection.executemany(
                "INSERT INTO users (id, first_name, language_code, is_bot, can_message)"
                " VALUES (?, ?, 'en', 0, 0)",
                [(user_id, member_name(user_id)) for user_id in user_ids],
            )
            connection.executemany(
                "INSERT INTO members (community_id, user_id, is_member, joined_at, balance,"
                " lifetime_earned, streak, tier, activity_points_today)"
                " VALUES (?, ?, 1, ?, ?, ?, 0, 0, 0)",
                [
                    (GROUP_ID, user_id, joined_at.strftime(DB_TIME), 10 * n, 10 * n)
                    for user_id, n in ((u, sum(1 for _, c in d if c)) for u, d in days_of.items())
                ],
            )
            activity = [
                (GROUP_ID, user_id, (today - timedelta(days=ago)).isoformat(), 1, checkin)
                for user_id, active in days_of.items()
                for ago, checkin in active
            ]
            connection.executemany(
                "INSERT INTO activity_days (community_id, user_id, day, messages, checkins,"
                " quiz_answers, lottery_entries, orders) VALUES (?, ?, ?, ?, ?, 0, 0, 0)",
                activity,
            )
            ledger = [
                (
                    GROUP_ID,
                    user_id,
                    f"checkin:{GROUP_ID}:{user_id}:{day}",
                    f"{day} 08:00:00.000000",
                )
                for _, user_id, day, _, checkin in activity
                if checkin
            ]
            connection.executemany(
                "INSERT INTO points_ledger (community_id, user_id, amount, kind,"
                " idempotency_key, created_at) VALUES (?, ?, 10, 'checkin', ?, ?)",
                ledger,
            )
            activity_rows += len(activity)
            ledger_rows += len(ledger)
        for _, create in indexes:
            connection.execute(create)
        connection.execute("COMMIT")
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode=WAL")
    return Generated(members, activity_rows, ledger_rows, time.perf_counter() - started)


def _active_days(rng: random.Random, days: int) -> list[tuple[int, bool]]:
    """Days ago on which one member was active (and whether they checked in): a usual gap
    of 1 to 14 days, with jitter; a third of the members stop coming at some point."""
    gap = rng.choice((1, 1, 2, 2, 3, 4, 7, 10, 14))
    stop = rng.randrange(0, days) if rng.random() < 0.33 else 0
    active = []
    ago = days - rng.randrange(0, gap)
    while ago >= stop:
        active.append((ago, rng.random() < 0.6))
        ago -= max(1, gap + rng.choice((-1, 0, 0, 1)))
    return active


async def _judge(database: Path, now: datetime) -> float:
    from handlers.lifecycle_work import judge_community
    from storage.engine import build_engine, build_session_factory
    from storage.offloop import OffLoopReader
    from storage.uow import unit_of_work

    engine = build_engine(f"sqlite+aiosqlite:///{database}")
    reader = OffLoopReader(f"sqlite+aiosqlite:///{database}")
    try:
        open_uow = partial(unit_of_work, build_session_factory(engine))
        started = time.perf_counter()
        await judge_community(open_uow, GROUP_ID, now, reader)
        return time.perf_counter() - started
    finally:
        await reader.close()
        await engine.dispose()


def run_job(database: Path, now: datetime) -> dict[str, float]:
    """The daily job in a fresh process (so its peak memory is the job's own)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.lifecycle", "--judge", str(database), now.isoformat()],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the daily job failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def stage_counts(database: Path) -> dict[str, int]:
    with closing(connect(database)) as connection:
        return dict(
            connection.execute(
                "SELECT stage, COUNT(*) FROM member_lifecycle GROUP BY stage ORDER BY stage"
            ).fetchall()
        )


def main(members: int, days: int) -> int:
    now = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0)
    today = now.date()
    with tempfile.TemporaryDirectory(prefix="seedbot-lifecycle-") as folder:
        database = Path(folder) / "bench.db"
        upgrade_to_head(f"sqlite+aiosqlite:///{database}")
        made = generate_activity_history(database, members, days, today)
        print(
            f"history: {made.members:,} members, {made.activity_days:,} activity days, "
            f"{made.ledger_rows:,} ledger rows, built in {made.seconds:.1f} s"
        )
        figures = run_job(database, now)
        counts = stage_counts(database)
    print(f"stages: {counts}")
    print(
        f"daily lifecycle job: {figures['seconds']:.2f} s, "
        f"peak memory {figures['peak_mb']:.0f} MB "
        f"(limits {TIME_LIMIT_SECONDS:.0f} s, {MEMORY_LIMIT_MB:.0f} MB)"
    )
    if sum(counts.values()) != members:
        print("error: not every member was judged")
        return 1
    return 0


def peak_memory_mb() -> float:
    """This process's peak resident memory. VmHWM on Linux: ru_maxrss would carry over the
    peak of the parent process that forked this one (the history generator's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def judge_only(database: Path, now: datetime) -> None:
    seconds = asyncio.run(_judge(database, now))
    peak_mb = peak_memory_mb()
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb}))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--judge", nargs=2, metavar=("DATABASE", "NOW"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    options = parse()
    if options.judge:
        judge_only(Path(options.judge[0]), datetime.fromisoformat(options.judge[1]))
        sys.exit(0)
    sys.exit(main(options.members, options.days))
