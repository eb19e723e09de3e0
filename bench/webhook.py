"""Check-in presses delivered by webhook, as Telegram delivers them, bare bot and seedbot.

    .venv/bin/python -m bench.webhook [--presses 10000] [--groups 100]
                                      [--bot bare|seedbot|both] [--workers 1|2|1,2]

Two loads, each queued at once in the fake Bot API (tests/fakes/bot_api.py, enforcing
Telegram's rate limits) and POSTed by it to the bot's webhook as Telegram does (at most
--max-connections requests in flight, the updates of one chat one at a time, in order):
  spread     N presses spread over G groups (N/G members of each group press its button);
  one group  N presses in a single group (one chat: one update at a time).
Each bot runs in its own process, as operators run it:
  bare     bench/bare_webhook_bot.py (aiogram's SimpleRequestHandler), answers each press
           over HTTP;
  seedbot  `python -m bot run --webhook` (see start_seedbot_webhook), with --workers 2
           two processes on PostgreSQL (--database-url) behind a round-robin proxy.
After each load every press must have been answered exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bench.bare_webhook_bot import DEFAULT_PATH
from bench.harness import (
    CREATOR_ID,
    FIRST_MEMBER_ID,
    PROBE,
    REPO,
    BenchError,
    BotProcess,
    percentile,
    start_process,
    wait_until,
)
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.proxy import RoundRobinProxy

FIRST_GROUP_ID = -1001000000001
SECRET = "bench-webhook-secret"


@dataclass
class Options:
    presses: int
    groups: int
    bot: str
    workers: list[int]
    max_connections: int
    database_url: str | None
    redis_url: str | None
    timeout: float


@dataclass
class World:
    """The fake Telegram of a run: groups, their members and each group's check-in post."""

    api: FakeBotAPI
    members: dict[int, list[int]]  # group id -> the members who will press
    posts: dict[int, tuple[int, str]] = field(default_factory=dict)  # message id, data


@dataclass
class Load:
    label: str
    update_ids: list[int]
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    bench_cpu: float = 0.0
    bot_cpu: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return len(self.update_ids) / self.seconds if self.seconds else 0.0


@dataclass
class Bots:
    """The bot's processes and the URL the webhook points at (a proxy for several)."""

    processes: list[BotProcess]
    url: str
    proxy: RoundRobinProxy | None = None

    def cpu_seconds(self) -> float:
        return sum(process.cpu_seconds() for process in self.processes)

    async def stop(self) -> None:
        for process in self.processes:
            await process.stop()
        if self.proxy is not None:
            await self.proxy.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until_listening(port: int, bot: BotProcess, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if not bot.alive:
                raise BenchError(f"{bot.name} exited before listening:\n{bot.log_tail()}") from None
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{bot.name} did not listen on {port} within {seconds:.0f} s"
                ) from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            await writer.wait_closed()
            return


def webhook_env(api: FakeBotAPI, port: int, path: str = DEFAULT_PATH) -> dict[str, str]:
    return {
        "BOT_TOKEN": api.token,
        "BOT_API_BASE_URL": api.base_url,
        "WEBHOOK_URL": f"http://127.0.0.1:{port}{path}",
        "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_PATH": path,
    }


async def start_bare_webhook_bot(api: FakeBotAPI, folder: Path) -> Bots:
    port = free_port()
    bot = await start_process(
        "bare-webhook", ["bench.bare_webhook_bot"], webhook_env(api, port), folder
    )
    await wait_until_listening(port, bot)
    return Bots([bot], webhook_env(api, port)["WEBHOOK_URL"])


async def start_seedbot_webhook(
    api: FakeBotAPI,
    folder: Path,
    *,
    workers: int,
    database_url: str | None,
    redis_url: str | None = None,
) -> Bots:
    """`python -m bot run --webhook`, one process per worker, each on its own port, after
    one `seedbot migrate` on a fresh schema (webhook workers never migrate); with two
    workers (PostgreSQL and Redis) the webhook points at a round-robin proxy in front."""
    if workers > 1 and not ((database_url or "").startswith("postgresql") and redis_url):
        raise BenchError("--workers 2 needs a PostgreSQL --database-url and a --redis-url")
    url = database_url or f"sqlite+aiosqlite:///{folder / 'seedbot-webhook.db'}"
    await asyncio.to_thread(fresh_schema, url)
    if redis_url:
        await flush_redis(redis_url)
    processes: list[BotProcess] = []
    urls: list[str] = []
    for worker in range(workers):
        port = free_port()
        env = {
            **webhook_env(api, port),
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": f"{PROBE}{os.pathsep}{REPO}",
        }
        if redis_url:
            env["REDIS_URL"] = redis_url
        process = await start_process(
            f"seedbot-webhook-{worker + 1}", ["bot", "run", "--webhook"], env, folder
        )
        processes.append(process)
        await wait_until_listening(port, process)
        urls.append(env["WEBHOOK_URL"])
    if workers == 1:
        return Bots(processes, urls[0])
    proxy = RoundRobinProxy([url.removesuffix(DEFAULT_PATH) for url in urls])
    await proxy.start()
    return Bots(processes, proxy.url + DEFAULT_PATH, proxy)


def fresh_schema(database_url: str) -> None:
    """The newest schema on an empty database (PostgreSQL: everything dropped first)."""
    from storage.migrate import downgrade_to_base, upgrade_to_head

    if database_url.startswith("postgresql"):
        downgrade_to_base(database_url)
    upgrade_to_head(database_url)


async def flush_redis(redis_url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def build_world(options: Options) -> World:
    """`groups` groups sharing the presses, then one group with all of them."""
    api = FakeBotAPI()  # Telegram's limits are enforced once the posts are up
    api.add_user(CREATOR_ID, "Creator")
    share, rest = divmod(options.presses, options.groups)
    sizes = [share + (index < rest) for index in range(options.groups)] + [options.presses]
    members: dict[int, list[int]] = {}
    next_user = FIRST_MEMBER_ID
    for index, size in enumerate(sizes):
        group_id = FIRST_GROUP_ID - index
        api.add_group(group_id, f"Check-in {index + 1}", creator_id=CREATOR_ID)
        members[group_id] = list(range(next_user, next_user + size))
        next_user += size
        for user_id in members[group_id]:
            api.add_user(user_id, f"Member {user_id - FIRST_MEMBER_ID}")
            api.add_member(group_id, user_id)
    return World(api, members)


async def set_up(world: World, bots: Bots, options: Options) -> None:
    """Points the webhook at the bot; the bot joins every group and posts its button."""
    api = world.api
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    async with Bot(api.token, session=session) as operator:
        await operator.set_webhook(
            bots.url, secret_token=SECRET, max_connections=options.max_connections
        )
    process = bots.processes[0]
    for group_id in world.members:
        api.add_bot_to_group(group_id, by_user_id=CREATOR_ID)
        api.send_message(group_id, CREATOR_ID, "/checkinpost")

    def posted() -> bool:
        for message in api.sent_messages:
            if message.chat_id in world.members and (data := _callback_data(message)):
                world.posts.setdefault(message.chat_id, (message.message_id, data))
        return len(world.posts) == len(world.members)

    await wait_until(posted, process, "posting the check-in buttons", options.timeout)
    await api.wait_until_delivered(options.timeout)
    api.enforce_rate_limits = True


def _callback_data(message: SentMessage) -> str | None:
    for row in (message.reply_markup or {}).get("inline_keyboard", []):
        for button in row:
            if "callback_data" in button:
                return str(button["callback_data"])
    return None


async def run_load(world: World, bots: Bots, label: str, groups: list[int], seconds: float) -> Load:
    api = world.api
    expected = len(api.callback_answered_at) + sum(len(world.members[g]) for g in groups)
    deliveries_before = len(api.webhook_deliveries)
    cpu_bench, cpu_bot = time.process_time(), bots.cpu_seconds()
    update_ids: list[int] = []
    for group_id in groups:
        message_id, data = world.posts[group_id]
        update_ids += api.press_buttons(group_id, message_id, world.members[group_id], data)
    await wait_until(
        lambda: len(api.callback_answered_at) >= expected,
        bots.processes[0],
        f"answering the {label} load",
        seconds,
    )
    await api.wait_until_delivered(seconds)
    load = Load(label, update_ids)
    load.bench_cpu = time.process_time() - cpu_bench
    load.bot_cpu = bots.cpu_seconds() - cpu_bot
    queued = api.update_queued_at
    times = [api.callback_answered_at[api.callback_query_id(uid)] for uid in update_ids]
    load.latencies = [at - queued[uid] for uid, at in zip(update_ids, times, strict=True)]
    load.seconds = max(times) - min(queued[uid] for uid in update_ids)
    load.problems = verify(api, update_ids, deliveries_before)
    return load


def verify(api: FakeBotAPI, update_ids: list[int], deliveries_before: int) -> list[str]:
    problems: list[str] = []
    answers = api.answers_per_press()
    counts = [answers.get(api.callback_query_id(uid), 0) for uid in update_ids]
    if missing := counts.count(0):
        problems.append(f"{missing} presses never answered")
    if doubled := sum(1 for count in counts if count > 1):
        problems.append(f"{doubled} presses answered more than once")
    failed = [d for d in api.webhook_deliveries[deliveries_before:] if not d.ok]
    if failed:
        problems.append(f"{len(failed)} webhook deliveries failed (e.g. {failed[0].outcome})")
    return problems


async def run_bot(options: Options, folder: Path, kind: str, workers: int = 1) -> list[Load]:
    world = build_world(options)
    api = world.api
    await api.start()
    bots: Bots | None = None
    try:
        if kind == "bare":
            bots = await start_bare_webhook_bot(api, folder)
        else:
            bots = await start_seedbot_webhook(
                api,
                folder,
                workers=workers,
                database_url=options.database_url,
                redis_url=options.redis_url,
            )
        await set_up(world, bots, options)
        spread_groups = list(world.members)[: options.groups]
        one_group = list(world.members)[options.groups :]
        loads = [
            await run_load(
                world, bots, f"spread over {options.groups} groups", spread_groups, options.timeout
            ),
            await run_load(world, bots, "one group", one_group, options.timeout),
        ]
        name = "bare aiogram" if kind == "bare" else f"seedbot ({workers} worker(s))"
        for load in loads:
            print_load(f"{name}, {load.label}", load)
        print(
            f"  429s: {api.rate_limit_violations}; most requests in flight: "
            f"{api.webhook_max_in_flight}, per chat: {api.webhook_max_in_flight_per_chat}",
            flush=True,
        )
        return loads
    finally:
        if bots is not None:
            await bots.stop()
        await api.stop()


def print_load(label: str, load: Load) -> None:
    wall = max(load.seconds, 1e-9)
    p50, p99 = percentile(load.latencies, 0.5) * 1000, percentile(load.latencies, 0.99) * 1000
    print(
        f"{label}: {len(load.update_ids):,} presses in {load.seconds:.2f} s = "
        f"{load.rate:,.0f} presses/s, press→answer p50 {p50:,.0f} ms p99 {p99:,.0f} ms; "
        f"CPU: bot {load.bot_cpu / wall:.0%}, fake API {load.bench_cpu / wall:.0%} of a core",
        flush=True,
    )
    if load.bench_cpu / wall > 0.8:
        print("  warning: the fake Bot API was nearly saturated; this rate is its limit too")


async def main(options: Options) -> int:
    print(
        f"webhook: {options.presses:,} presses over {options.groups} groups, then "
        f"{options.presses:,} in one group; max_connections {options.max_connections}; "
        f"Python {sys.version.split()[0]}",
        flush=True,
    )
    runs: list[tuple[str, int]] = []
    if options.bot in ("bare", "both"):
        runs.append(("bare", 1))
    if options.bot in ("seedbot", "both"):
        runs += [("seedbot", count) for count in options.workers]
    results: dict[str, list[Load]] = {}
    with tempfile.TemporaryDirectory(prefix="seedbot-bench-webhook-") as name:
        for kind, workers in runs:
            label = "bare" if kind == "bare" else f"seedbot x{workers}"
            results[label] = await run_bot(options, Path(name), kind, workers)
    for label, loads in results.items():
        if label == "bare" or "bare" not in results:
            continue
        for bare, seedbot in zip(results["bare"], loads, strict=True):
            print(f"ratio {label} / bare, {bare.label}: {seedbot.rate / bare.rate:.3f}")
    problems = [
        f"{kind}, {load.label}: {p}"
        for kind, loads in results.items()
        for load in loads
        for p in load.problems
    ]
    if problems:
        print("CORRECTNESS FAILED: " + "; ".join(problems))
        return 1
    print("correctness: every press answered once, every webhook delivery answered 2xx")
    return 0


def _worker_counts(parser: argparse.ArgumentParser, text: str) -> list[int]:
    counts = [part.strip() for part in text.split(",") if part.strip()]
    if not counts or any(count not in ("1", "2") for count in counts):
        parser.error("--workers takes 1, 2 or 1,2")
    return [int(count) for count in counts]


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--presses", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--bot", choices=("bare", "seedbot", "both"), default="both")
    parser.add_argument(
        "--workers",
        default="1",
        help="seedbot's worker counts to measure, e.g. 1, 2 or 1,2 (2 needs PostgreSQL and Redis)",
    )
    parser.add_argument("--max-connections", type=int, default=40)
    parser.add_argument("--database-url", help="seedbot's DATABASE_URL (default: a SQLite file)")
    parser.add_argument("--redis-url", help="seedbot's REDIS_URL (needed with --workers 2)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per load")
    args = parser.parse_args(argv)
    if args.presses < 1 or not 1 <= args.groups <= args.presses:
        parser.error("--presses must be ≥ 1 and --groups within 1..presses")
    return Options(
        presses=args.presses,
        groups=args.groups,
        bot=args.bot,
        workers=_worker_counts(parser, args.workers),
        max_connections=args.max_connections,
        database_url=args.database_url,
        redis_url=args.redis_url,
        timeout=args.timeout,
    )


if __name__ == "__main__":
    try:
        raise SystemExit(asyncio.run(main(parse())))
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        raise SystemExit(2) from None
