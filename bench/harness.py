"""What the benchmarks share: the fake Telegram world, bot processes, seeding, figures."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from bot.domain.models import DEFAULT_TIER_THRESHOLDS, CheckinRules, LedgerKind
from bot.domain.rules import checkin_points, tier_for
from storage.engine import build_engine
from storage.models import (
    CheckinRow,
    CommunityRow,
    DeadLetterRow,
    LedgerRow,
    MemberRow,
    UserRow,
)
from tests.fakes.bot_api import FakeBotAPI, SentMessage

REPO = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "probe"
GROUP_ID = -1001000000001
CREATOR_ID = 1
FIRST_MEMBER_ID = 100_000_000
SQL_COUNT_VARIABLE = "SEEDBOT_BENCH_SQL_COUNT"
DB_TIME = "%Y-%m-%d %H:%M:%S.%f"
# The bot's database: a SQLite file, or the URL of a PostgreSQL database.
Database = Path | str


class BenchError(RuntimeError):
    """The benchmark could not run as planned (a bot died, a step timed out)."""


def new_world(*, enforce_rate_limits: bool = True) -> FakeBotAPI:
    api = FakeBotAPI(enforce_rate_limits=enforce_rate_limits)
    api.add_user(CREATOR_ID, "Creator")
    api.add_group(GROUP_ID, "Morning check-in", creator_id=CREATOR_ID)
    return api


def add_members(api: FakeBotAPI, user_ids: Iterable[int]) -> None:
    for user_id in user_ids:
        api.add_user(user_id, member_name(user_id))
        api.add_member(GROUP_ID, user_id)


def member_name(user_id: int) -> str:
    return f"Member {user_id - FIRST_MEMBER_ID}"


@dataclass
class BotProcess:
    """A bot running in its own process against the fake Bot API."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]
    sql_count_file: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def peak_rss_mb(self) -> float:
        return self._status_kb("VmHWM") / 1024

    def rss_mb(self) -> float:
        return self._status_kb("VmRSS") / 1024

    def _status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise BenchError(f"no {key} for process {self.pid}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def sql_statements(self) -> int | None:
        """Statements the bot has sent to its database so far (None when not counted)."""
        if self.sql_count_file is None:
            return None
        self.sql_count_file.unlink(missing_ok=True)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.sql_count_file.exists() and (text := self.sql_count_file.read_text()):
                return int(text)
            await asyncio.sleep(0.01)
        return None

    def log_tail(self, lines: int = 25) -> str:
        self.log_file.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self, grace: float = 30) -> None:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.log_file.close()


async def start_process(
    name: str, module_args: Sequence[str], env: dict[str, str], folder: Path
) -> BotProcess:
    log_path = folder / f"{name}.log"
    log_file = log_path.open("wb")
    base = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_PROXY", "OWNER_IDS")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *module_args,
        cwd=REPO,
        env={**base, **env},
        stdout=log_file,
        stderr=asyncio.subprocess.STDOUT,
    )
    count_file = env.get(SQL_COUNT_VARIABLE)
    return BotProcess(name, process, log_path, log_file, Path(count_file) if count_file else None)


def database_url(database: Database) -> str:
    return database if isinstance(database, str) else f"sqlite+aiosqlite:///{database}"


async def start_seedbot(
    api: FakeBotAPI, database: Database, folder: Path, *, due_work_seconds: int | None = None
) -> BotProcess:
    """`python -m bot run`, configured as an operator would, counting its SQL statements
    (on PostgreSQL: its round trips to the server)."""
    env = {
        "BOT_TOKEN": api.token,
        "BOT_API_BASE_URL": api.base_url,
        "DATABASE_URL": database_url(database),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{PROBE}{os.pathsep}{REPO}",
        SQL_COUNT_VARIABLE: str(folder / "seedbot.sqlcount"),
    }
    if due_work_seconds is not None:
        env["DUE_WORK_SECONDS"] = str(due_work_seconds)
    bot = await start_process("seedbot", ["bot", "run"], env, folder)
    await wait_until_polling(api, bot)
    return bot


async def start_bare_bot(api: FakeBotAPI, folder: Path) -> BotProcess:
    env = {"BOT_TOKEN": api.token, "BOT_API_BASE_URL": api.base_url}
    bot = await start_process("bare", ["bench.bare_bot"], env, folder)
    await wait_until_polling(api, bot)
    return bot


async def wait_until(
    done: Callable[[], bool], bot: BotProcess, what: str, seconds: float = 60
) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if not bot.alive:
            raise BenchError(f"{bot.name} exited while {what}:\n{bot.log_tail()}")
        if time.monotonic() > deadline:
            raise BenchError(f"{bot.name}: timed out after {seconds:.0f} s {what}")
        await asyncio.sleep(0.01)


async def wait_until_polling(api: FakeBotAPI, bot: BotProcess) -> None:
    polls = len(api.calls("getUpdates"))
    await wait_until(
        lambda: len(api.calls("getUpdates")) > polls, bot, "waiting for it to poll", 90
    )


async def add_bot_and_post_button(api: FakeBotAPI, bot: BotProcess) -> tuple[int, str]:
    """The bot joins the group as an admin and the creator asks for the check-in post;
    returns the post's message id and its button's callback data."""
    added = api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID)
    await wait_until(lambda: api.is_handled(added), bot, "joining the group")
    api.send_message(GROUP_ID, CREATOR_ID, "/checkinpost")
    found: list[tuple[int, str]] = []

    def posted() -> bool:
        for message in api.messages_to(GROUP_ID):
            if data := _callback_data(message):
                found.append((message.message_id, data))
                return True
        return False

    await wait_until(posted, bot, "posting the check-in button")
    return found[0]


def _callback_data(message: SentMessage) -> str | None:
    for row in (message.reply_markup or {}).get("inline_keyboard", []):
        for button in row:
            if "callback_data" in button:
                return str(button["callback_data"])
    return None


def connect(database: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


def community_timezone(database: Path) -> str:
    with closing(connect(database)) as connection:
        row = connection.execute(
            "SELECT timezone FROM communities WHERE id = ?", (GROUP_ID,)
        ).fetchone()
    if row is None:
        raise BenchError("the bot did not create the community")
    return str(row[0])


def local_today(timezone: str) -> date:
    return datetime.now(ZoneInfo(timezone)).date()


def seed_known_members(connection: sqlite3.Connection, user_ids: list[int], today: date) -> None:
    """Members the bot already knows: each checked in yesterday (10 points, streak 1), with
    the ledger row that explains the balance. Runs in the caller's transaction."""
    yesterday = today - timedelta(days=1)
    points = checkin_points(1, CheckinRules())
    tier = int(tier_for(points, DEFAULT_TIER_THRESHOLDS))
    at = datetime.combine(yesterday, datetime.min.time(), UTC).strftime(DB_TIME)
    connection.executemany(
        "INSERT INTO users (id, first_name, language_code, is_bot, can_message)"
        " VALUES (?, ?, 'en', 0, 0)",
        [(uid, member_name(uid)) for uid in user_ids],
    )
    connection.executemany(
        "INSERT INTO members (community_id, user_id, is_member, joined_at, balance,"
        " lifetime_earned, streak, last_checkin_day, tier, last_active_at,"
        " activity_points_today) VALUES (?, ?, 1, ?, ?, ?, 1, ?, ?, ?, 0)",
        [(GROUP_ID, uid, at, points, points, yesterday.isoformat(), tier, at) for uid in user_ids],
    )
    connection.executemany(
        "INSERT INTO checkins (community_id, user_id, day, streak, points, created_at)"
        " VALUES (?, ?, ?, 1, ?, ?)",
        [(GROUP_ID, uid, yesterday.isoformat(), points, at) for uid in user_ids],
    )
    connection.executemany(
        "INSERT INTO points_ledger (community_id, user_id, amount, kind, reason,"
        " idempotency_key, created_at) VALUES (?, ?, ?, ?, 'streak 1', ?, ?)",
        [
            (
                GROUP_ID,
                uid,
                points,
                LedgerKind.CHECKIN.value,
                f"checkin:{GROUP_ID}:{uid}:{yesterday.isoformat()}",
                at,
            )
            for uid in user_ids
        ],
    )


@asynccontextmanager
async def fresh_postgres_database(url: str) -> AsyncIterator[str]:
    """A database of the bench's own on `url`'s server (`<name>_burst`), created empty and
    dropped afterwards; yields its URL. The bot migrates it when it starts."""
    parsed = make_url(url)
    name = f"{parsed.database}_burst"
    admin = await connect_postgres(url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def connect_postgres(url: str) -> Any:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )


async def postgres_community_timezone(url: str) -> str:
    engine = build_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalar(
                select(CommunityRow.timezone).where(CommunityRow.id == GROUP_ID)
            )
    finally:
        await engine.dispose()
    if found is None:
        raise BenchError("the bot did not create the community")
    return str(found)


async def seed_known_members_postgres(url: str, user_ids: list[int], today: date) -> None:
    """`seed_known_members` on PostgreSQL, in one transaction."""
    yesterday = today - timedelta(days=1)
    points = checkin_points(1, CheckinRules())
    tier = int(tier_for(points, DEFAULT_TIER_THRESHOLDS))
    at = datetime.combine(yesterday, datetime.min.time(), UTC)
    engine = build_engine(url)
    try:
        async with engine.begin() as connection:
            for start in range(0, len(user_ids), 5_000):
                chunk = user_ids[start : start + 5_000]
                await _seed_chunk(connection, chunk, yesterday, at, points, tier)
    finally:
        await engine.dispose()


async def _seed_chunk(
    connection: Any, user_ids: list[int], yesterday: date, at: datetime, points: int, tier: int
) -> None:
    await connection.execute(
        insert(UserRow),
        [
            {
                "id": uid,
                "first_name": member_name(uid),
                "language_code": "en",
                "is_bot": False,
                "can_message": False,
            }
            for uid in user_ids
        ],
    )
    await connection.execute(
        insert(MemberRow),
        [
            {
                "community_id": GROUP_ID,
                "user_id": uid,
                "is_member": True,
                "joined_at": at,
                "balance": points,
                "lifetime_earned": points,
                "streak": 1,
                "last_checkin_day": yesterday,
                "tier": tier,
                "last_active_at": at,
                "activity_points_today": 0,
            }
            for uid in user_ids
        ],
    )
    await connection.execute(
        insert(CheckinRow),
        [
            {
                "community_id": GROUP_ID,
                "user_id": uid,
                "day": yesterday,
                "streak": 1,
                "points": points,
                "created_at": at,
            }
            for uid in user_ids
        ],
    )
    await connection.execute(
        insert(LedgerRow),
        [
            {
                "community_id": GROUP_ID,
                "user_id": uid,
                "amount": points,
                "kind": LedgerKind.CHECKIN.value,
                "reason": "streak 1",
                "actor_id": None,
                "idempotency_key": f"checkin:{GROUP_ID}:{uid}:{yesterday.isoformat()}",
                "created_at": at,
            }
            for uid in user_ids
        ],
    )


@dataclass
class StoredOutcome:
    """What the verification reads back: check-ins per member, balances that differ from
    their ledger sum, dead letters."""

    checkins: dict[int, int]
    mismatched_balances: int
    dead_letters: int


def sqlite_outcome(database: Path) -> StoredOutcome:
    with closing(connect(database)) as connection:
        checkins = dict(
            connection.execute(
                "SELECT user_id, count(*) FROM checkins WHERE community_id = ? GROUP BY user_id",
                (GROUP_ID,),
            ).fetchall()
        )
        mismatched = connection.execute(
            "SELECT count(*) FROM members m WHERE m.balance != (SELECT coalesce(sum(l.amount), 0)"
            " FROM points_ledger l WHERE l.community_id = m.community_id"
            " AND l.user_id = m.user_id)"
        ).fetchone()[0]
        dead = connection.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    return StoredOutcome(checkins, int(mismatched), int(dead))


async def postgres_outcome(url: str) -> StoredOutcome:
    ledger_sum = (
        select(func.coalesce(func.sum(LedgerRow.amount), 0))
        .where(LedgerRow.community_id == MemberRow.community_id)
        .where(LedgerRow.user_id == MemberRow.user_id)
        .scalar_subquery()
    )
    engine = build_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(CheckinRow.user_id, func.count())
                .where(CheckinRow.community_id == GROUP_ID)
                .group_by(CheckinRow.user_id)
            )
            checkins = {int(user_id): int(count) for user_id, count in rows}
            mismatched = await connection.scalar(
                select(func.count()).select_from(MemberRow).where(MemberRow.balance != ledger_sum)
            )
            dead = await connection.scalar(select(func.count()).select_from(DeadLetterRow))
    finally:
        await engine.dispose()
    return StoredOutcome(checkins, int(mismatched or 0), int(dead or 0))


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]
