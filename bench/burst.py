"""A morning check-in burst, as a community lives it, against a bare aiogram bot in the same run.

    .venv/bin/python -m bench.burst [--members 10000] [--known 0.5] [--via button|command]
                                    [--rate R] [--steady-seconds 20] [--no-steady]
                                    [--database-url postgresql+asyncpg://...]

N distinct members (a share of them already known to the bot, having checked in yesterday)
press the check-in button under the bot's check-in post (or send /checkin), all queued at
once in the fake Bot API (tests/fakes/bot_api.py, enforcing Telegram's rate limits) and
fetched by long polling. Each bot runs in its own process, as operators run it:
  bare     bench/bare_bot.py, default `start_polling`, answers each callback over HTTP;
  seedbot  `python -m bot run` on a fresh SQLite file (SQL statements counted by
           bench/probe/sitecustomize.py), or with --database-url on a fresh PostgreSQL
           database created next to the one named (`<name>_burst`, dropped afterwards;
           round trips to the server counted instead).
Then the storage ceiling (bench/storage_ceiling.py) and, unless --no-steady, a steady load
at --rate presses per second (default: half seedbot's burst rate). After the run every
press must have been answered exactly once, every member checked in once, every balance
equal to its ledger sum.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from bench import storage_ceiling
from bench.harness import (
    FIRST_MEMBER_ID,
    GROUP_ID,
    BenchError,
    BotProcess,
    Database,
    StoredOutcome,
    add_bot_and_post_button,
    add_members,
    community_timezone,
    connect,
    fresh_postgres_database,
    local_today,
    new_world,
    percentile,
    postgres_community_timezone,
    postgres_outcome,
    seed_known_members,
    seed_known_members_postgres,
    sqlite_outcome,
    start_bare_bot,
    start_seedbot,
    wait_until,
)
from tests.fakes.bot_api import FakeBotAPI


@dataclass
class Options:
    members: int
    known: float
    via: str
    rate: float | None
    steady_seconds: float
    steady: bool
    timeout: float
    due_work_seconds: int | None
    database_url: str | None = None


@dataclass
class Load:
    """A burst or a steady load: its updates and when each was answered."""

    update_ids: list[int]
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    bench_cpu: float = 0.0
    bot_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.update_ids) / self.seconds if self.seconds else 0.0

    def latency_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000


def member_ids(start: int, count: int) -> list[int]:
    return list(range(FIRST_MEMBER_ID + start, FIRST_MEMBER_ID + start + count))


def queue(api: FakeBotAPI, via: str, post: tuple[int, str], users: list[int]) -> list[int]:
    if via == "command":
        return api.send_messages(GROUP_ID, users, "/checkin")
    return api.press_buttons(GROUP_ID, post[0], users, post[1])


def answer_times(api: FakeBotAPI, via: str, update_ids: list[int]) -> list[float]:
    """When each update was answered: its callback answer, or for a command the getUpdates
    offset that confirmed it (seedbot confirms a page only after it committed)."""
    if via == "button":
        answered = api.callback_answered_at
        return [answered[api.callback_query_id(uid)] for uid in update_ids]
    times: list[float] = []
    confirmations = iter(api.confirmed_at)
    offset, at = next(confirmations)
    for update_id in sorted(update_ids):
        while offset <= update_id:
            offset, at = next(confirmations)
        times.append(at)
    return times


def answered_count(api: FakeBotAPI, via: str, bare: bool) -> int:
    if via == "button":
        return len(api.callback_answered_at)
    if bare:
        return sum(1 for method, _ in api.requests if method.lower() == "sendmessage")
    return 0  # seedbot's commands: waited for by their getUpdates confirmation


async def run_load(
    api: FakeBotAPI,
    bot: BotProcess,
    via: str,
    post: tuple[int, str],
    users: list[int],
    *,
    rate: float | None,
    seconds_allowed: float,
    bare: bool = False,
) -> Load:
    """Queues presses for `users` (all at once, or `rate` per second) and waits until every
    one is answered."""
    answered_before = answered_count(api, via, bare)
    expected = answered_before + len(users)
    cpu_bench, cpu_bot = time.process_time(), bot.cpu_seconds()
    started = time.perf_counter()
    update_ids: list[int] = []
    if rate is None:
        update_ids = queue(api, via, post, users)
    else:
        while len(update_ids) < len(users):
            due = min(len(users), int(rate * (time.perf_counter() - started)) + 1)
            if due > len(update_ids):
                update_ids += queue(api, via, post, users[len(update_ids) : due])
            if not bot.alive:
                break
            await asyncio.sleep(0.005)
    last_id = update_ids[-1] if update_ids else 0
    if via == "command" and not bare:
        await wait_until(lambda: api.is_handled(last_id), bot, "handling the load", seconds_allowed)
    else:
        await wait_until(
            lambda: answered_count(api, via, bare) >= expected,
            bot,
            "answering the load",
            seconds_allowed,
        )
    load = Load(update_ids)
    load.bench_cpu = time.process_time() - cpu_bench
    load.bot_cpu = bot.cpu_seconds() - cpu_bot
    if bare and via == "command":
        load.seconds = time.perf_counter() - started
        return load
    times = answer_times(api, via, update_ids)
    queued = api.update_queued_at
    load.latencies = [at - queued[uid] for uid, at in zip(sorted(update_ids), times, strict=True)]
    load.seconds = max(times) - queued[update_ids[0]]
    return load


async def run_bare(options: Options, folder: Path, users: list[int]) -> Load:
    api = new_world()
    await api.start()
    add_members(api, users)
    bot = await start_bare_bot(api, folder)
    try:
        post = await add_bot_and_post_button(api, bot)
        load = await run_load(
            api,
            bot,
            options.via,
            post,
            users,
            rate=None,
            seconds_allowed=options.timeout,
            bare=True,
        )
        print_load("bare aiogram", load)
        print(f"  429s: {api.rate_limit_violations}")
        return load
    finally:
        await bot.stop()
        await api.stop()


@dataclass
class SeedbotRun:
    burst: Load
    steady: Load | None
    statements: int | None
    peak_rss_mb: float
    rate_limited: int
    problems: list[str]


async def run_seedbot(
    options: Options,
    folder: Path,
    users: list[int],
    known: list[int],
    steady_rate: float | None,
    database: Database,
) -> SeedbotRun:
    api = new_world()
    await api.start()
    steady_users = member_ids(len(users), 0)
    add_members(api, users)
    bot = await start_seedbot(api, database, folder, due_work_seconds=options.due_work_seconds)
    try:
        post = await add_bot_and_post_button(api, bot)
        if known:
            await bot.stop()
            await seed(database, known)
            bot = await start_seedbot(
                api, database, folder, due_work_seconds=options.due_work_seconds
            )
        statements_before = await bot.sql_statements()
        burst = await run_load(
            api, bot, options.via, post, users, rate=None, seconds_allowed=options.timeout
        )
        statements_after = await bot.sql_statements()
        print_load("seedbot", burst)
        statements = (
            statements_after - statements_before
            if statements_before is not None and statements_after is not None
            else None
        )
        steady = None
        if options.steady:
            rate = options.rate or steady_rate or max(1.0, burst.rate / 2)
            steady_users = member_ids(len(users), max(1, round(rate * options.steady_seconds)))
            add_members(api, steady_users)
            steady = await run_load(
                api,
                bot,
                options.via,
                post,
                steady_users,
                rate=rate,
                seconds_allowed=options.timeout,
            )
            print_load(f"seedbot steady at {rate:,.0f}/s", steady)
        peak_rss = bot.peak_rss_mb()
    finally:
        await bot.stop()
        await api.stop()
    stored = (
        await postgres_outcome(database) if isinstance(database, str) else sqlite_outcome(database)
    )
    problems = verify(api, options.via, stored, users + steady_users, set(known), burst, steady)
    return SeedbotRun(burst, steady, statements, peak_rss, api.rate_limit_violations, problems)


async def seed(database: Database, known: list[int]) -> None:
    """Yesterday's check-ins of the known members, written while the bot is stopped."""
    if isinstance(database, str):
        today = local_today(await postgres_community_timezone(database))
        await seed_known_members_postgres(database, known, today)
        return
    with closing(connect(database)) as connection:
        connection.execute("BEGIN IMMEDIATE")
        seed_known_members(connection, known, local_today(community_timezone(database)))
        connection.execute("COMMIT")


def verify(
    api: FakeBotAPI,
    via: str,
    stored: StoredOutcome,
    users: list[int],
    known: set[int],
    burst: Load,
    steady: Load | None,
) -> list[str]:
    """What must hold after any run: each press answered once, each member checked in once
    (on top of yesterday's for known members), each balance equal to its ledger sum."""
    problems: list[str] = []
    update_ids = burst.update_ids + (steady.update_ids if steady else [])
    if via == "button":
        attempts = Counter(
            str(params.get("callback_query_id")) for params in api.calls("answerCallbackQuery")
        )
        counts = Counter(attempts[api.callback_query_id(uid)] for uid in update_ids)
        if counts[0]:
            problems.append(f"{counts[0]} presses never answered")
        if doubled := sum(n for times, n in counts.items() if times > 1):
            problems.append(f"{doubled} presses answered more than once")
    wrong = [uid for uid in users if stored.checkins.get(uid, 0) != 1 + (uid in known)]
    if wrong:
        problems.append(f"{len(wrong)} members without exactly one check-in (e.g. {wrong[0]})")
    if stored.mismatched_balances:
        problems.append(f"{stored.mismatched_balances} balances differ from their ledger sum")
    if stored.dead_letters:
        problems.append(f"{stored.dead_letters} dead letters")
    return problems


def print_load(label: str, load: Load) -> None:
    line = f"{label}: {len(load.update_ids):,} in {load.seconds:.2f} s = {load.rate:,.0f}/s"
    if load.latencies:
        line += (
            f", press→answer p50 {load.latency_ms(0.5):,.0f} ms p99 {load.latency_ms(0.99):,.0f} ms"
        )
    wall = max(load.seconds, 1e-9)
    line += f"; CPU: bot {load.bot_cpu / wall:.0%}, fake API {load.bench_cpu / wall:.0%} of a core"
    print(line, flush=True)
    if load.bench_cpu / wall > 0.8:
        print("  warning: the fake Bot API was nearly saturated; this rate is its limit too")


async def main(options: Options) -> int:
    users = member_ids(0, options.members)
    known = users[: round(options.members * options.known)]
    print(
        f"burst: {options.members:,} members ({len(known):,} known), via {options.via}; "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="seedbot-bench-") as name:
        folder = Path(name)
        bare = await run_bare(options, folder, users)
        if options.database_url is None:
            ceiling: float | None = await asyncio.to_thread(
                storage_ceiling.measure, folder, users, known
            )
            print(
                f"storage ceiling (sqlite3 loop, a transaction per 100): {ceiling:,.0f}/s",
                flush=True,
            )
            seedbot = await run_seedbot(
                options, folder, users, known, options.rate, folder / "seedbot.db"
            )
        else:
            async with fresh_postgres_database(options.database_url) as url:
                ceiling = await storage_ceiling.measure_postgres(url, users, known)
            print(
                f"storage ceiling (asyncpg loop, a transaction per 100): {ceiling:,.0f}/s",
                flush=True,
            )
            async with fresh_postgres_database(options.database_url) as url:
                seedbot = await run_seedbot(options, folder, users, known, options.rate, url)
    report(options, bare, ceiling, seedbot)
    return 1 if seedbot.problems else 0


def report(options: Options, bare: Load, ceiling: float | None, run: SeedbotRun) -> None:
    burst = run.burst
    print()
    print("=== results ===")
    print(f"seedbot burst:        {burst.rate:,.0f} presses/s")
    print(f"bare aiogram bot:     {bare.rate:,.0f} presses/s")
    print(f"ratio seedbot / bare: {burst.rate / bare.rate:.3f}   (target ≥ 0.5)")
    if ceiling:
        print(f"storage ceiling:      {ceiling:,.0f} check-ins/s")
        print(f"ratio seedbot / ceiling: {burst.rate / ceiling:.3f}")
    if burst.latencies:
        p50, p99 = burst.latency_ms(0.5), burst.latency_ms(0.99)
        print(f"burst press→answer:   p50 {p50:,.0f} ms, p99 {p99:,.0f} ms")
    if run.steady is not None:
        steady = run.steady
        print(
            f"steady {steady.rate:,.0f}/s:        p50 {steady.latency_ms(0.5):,.0f} ms, "
            f"p99 {steady.latency_ms(0.99):,.0f} ms   (target p99 < 250 ms)"
        )
    print(f"peak RSS (VmHWM):     {run.peak_rss_mb:,.0f} MB   (target < 300 MB)")
    if run.statements is not None:
        what = "SQL statements" if options.database_url is None else "round trips"
        print(f"{what}/update: {run.statements / len(burst.update_ids):.1f}")
    print(f"429s from the fake API: {run.rate_limited}   (target 0)")
    if run.problems:
        print("CORRECTNESS FAILED: " + "; ".join(run.problems))
    else:
        print("correctness: every press answered once, one check-in per member, balances = ledger")


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.burst", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--known", type=float, default=0.5, help="share already known (0..1)")
    parser.add_argument("--via", choices=("button", "command"), default="button")
    parser.add_argument("--rate", type=float, help="steady presses/s (default: burst rate / 2)")
    parser.add_argument("--steady-seconds", type=float, default=20)
    parser.add_argument("--no-steady", action="store_true")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per load")
    parser.add_argument("--due-work-seconds", type=int, help="DUE_WORK_SECONDS for seedbot")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL (postgresql+asyncpg://...): seedbot runs on a fresh database "
        "created on that server and dropped afterwards (default: a fresh SQLite file)",
    )
    args = parser.parse_args(argv)
    if args.members < 1 or not 0 <= args.known <= 1:
        parser.error("--members must be ≥ 1 and --known within 0..1")
    if args.database_url is not None and not args.database_url.startswith("postgresql"):
        parser.error("--database-url must name a PostgreSQL database")
    return Options(
        members=args.members,
        known=args.known,
        via=args.via,
        rate=args.rate,
        steady_seconds=args.steady_seconds,
        steady=not args.no_steady,
        timeout=args.timeout,
        due_work_seconds=args.due_work_seconds,
        database_url=args.database_url,
    )


if __name__ == "__main__":
    try:
        raise SystemExit(asyncio.run(main(parse())))
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        raise SystemExit(2) from None
