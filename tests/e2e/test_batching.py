"""A getUpdates page applied in one transaction, a savepoint per update: a refusal or a bug
undoes only its update, a crash undoes the whole page, and nothing is applied twice."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.statement_count import count_statements
from bot.domain.errors import InsufficientBalance
from bot.domain.models import UserInfo
from bot.services.checkin import check_in
from storage.engine import build_engine
from storage.models import (
    CheckinRow,
    DeadLetterRow,
    MemberRow,
    ProcessedUpdateRow,
    UserRow,
)
from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    start_bot,
    stop_bot,
)
from tests.e2e.helpers import (
    add_members,
    each_balance_is_its_ledger,
    ledger_matches_balances,
    stored,
)
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

REPO_ROOT = Path(__file__).resolve().parents[2]
MEMBERS = [1001, 1002, 1003, 1004]


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    """As tests/e2e/conftest.py's harness, on SQLite and (when configured) PostgreSQL."""
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    await stop_bot(app, task)


@dataclass
class DatabaseLog:
    """What the bot asked of the database while recording."""

    statements: list[str] = field(default_factory=list)
    transactions: int = 0
    commits: int = 0
    confirmed_at_commit: list[int] = field(default_factory=list)

    def inserts_into(self, table: str) -> int:
        return len(
            [
                s
                for s in self.statements
                if s.lstrip().upper().startswith(f"INSERT INTO {table.upper()}")
            ]
        )


@contextmanager
def recording(engine: AsyncEngine, api: FakeBotAPI) -> Iterator[DatabaseLog]:
    log = DatabaseLog()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        log.statements.append(statement)

    def on_begin(_conn: Any) -> None:
        log.transactions += 1

    def on_commit(_conn: Any) -> None:
        log.commits += 1
        log.confirmed_at_commit.append(api._confirmed_offset)

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", on_statement),
        ("begin", on_begin),
        ("commit", on_commit),
    ]
    for name, listener in listeners:
        event.listen(engine.sync_engine, name, listener)
    try:
        yield log
    finally:
        for name, listener in listeners:
            event.remove(engine.sync_engine, name, listener)


async def page_of_checkins(harness: Harness, user_ids: list[int]) -> list[int]:
    """The members send /checkin at once: Telegram hands the bot all of them in one page."""
    updates = [
        harness.api.send_message(GROUP_ID, user_id, "/checkin", date=harness.clock.now())
        for user_id in user_ids
    ]
    for update in updates:
        harness.last_said[GROUP_ID] = harness.api.message_id_of(update)
    return updates


async def until_handled(harness: Harness, updates: list[int]) -> None:
    for update in updates:
        await harness.api.wait_until_handled(update)
    await harness.app.replies.idle()


async def checkins_of(harness: Harness, user_id: int) -> int:
    async with stored(harness) as session:
        query = select(func.count()).select_from(CheckinRow).where(CheckinRow.user_id == user_id)
        return int(await session.scalar(query) or 0)


def replied_to(harness: Harness, update: int, text: str) -> bool:
    message_id = harness.api.message_id_of(update)
    return any(
        m.reply_to_message_id == message_id and text in (m.text or "") for m in harness.replies()
    )


async def test_a_page_is_claimed_in_one_statement_and_committed_once_before_it_is_confirmed(
    harness: Harness,
) -> None:
    add_members(harness, MEMBERS)
    with recording(harness.app.engine, harness.api) as log:
        updates = await page_of_checkins(harness, MEMBERS)
        await until_handled(harness, updates)
    assert log.inserts_into("processed_updates") == 1
    assert log.transactions == 1 and log.commits == 1
    # Telegram was told nothing about the page before its commit, everything after it.
    assert log.confirmed_at_commit == [updates[0]]
    assert harness.api._confirmed_offset == updates[-1] + 1
    for update in updates:
        assert replied_to(harness, update, "+10 points")
    for user_id in MEMBERS:
        assert await checkins_of(harness, user_id) == 1


async def test_a_bug_in_one_update_of_a_page_sets_only_that_one_aside(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_members(harness, MEMBERS)

    async def broken_for_1002(uow: Any, community: Any, user: UserInfo, *rest: Any) -> Any:
        outcome = await check_in(uow, community, user, *rest)
        if user.id == 1002:
            raise RuntimeError("check-in is broken")
        return outcome

    monkeypatch.setattr("handlers.checkin.check_in", broken_for_1002)
    with recording(harness.app.engine, harness.api) as log:
        updates = await page_of_checkins(harness, MEMBERS)
        await until_handled(harness, updates)
    failed = updates[1]
    assert log.commits == 1
    assert harness.sleeps == []
    assert await checkins_of(harness, 1002) == 0  # its savepoint was rolled back
    assert not replied_to(harness, failed, "+10 points")
    for update, user_id in zip(updates, MEMBERS, strict=True):
        if update != failed:
            assert replied_to(harness, update, "+10 points")
            assert await checkins_of(harness, user_id) == 1
    async with stored(harness) as session:
        letter = await session.get(DeadLetterRow, (harness.api.bot_id, failed))
        assert letter is not None and letter.error == "RuntimeError: check-in is broken"
        assert await session.get(ProcessedUpdateRow, (harness.api.bot_id, failed)) is None
    await ledger_matches_balances(harness)


async def test_a_refusal_in_a_page_undoes_only_that_update_and_is_explained(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_members(harness, MEMBERS)

    async def refused_for_1003(uow: Any, community: Any, user: UserInfo, *rest: Any) -> Any:
        outcome = await check_in(uow, community, user, *rest)
        if user.id == 1003:  # refused after it had written its check-in
            raise InsufficientBalance(name=user.first_name, balance=outcome.balance, amount=99)
        return outcome

    monkeypatch.setattr("handlers.checkin.check_in", refused_for_1003)
    with recording(harness.app.engine, harness.api) as log:
        updates = await page_of_checkins(harness, MEMBERS)
        await until_handled(harness, updates)
    refused = updates[2]
    assert log.commits == 1
    assert await checkins_of(harness, 1003) == 0
    assert replied_to(harness, refused, "User 1003 has only 10 points; cannot deduct 99.")
    assert not replied_to(harness, refused, "+10 points")
    for update, user_id in zip(updates, MEMBERS, strict=True):
        if update != refused:
            assert replied_to(harness, update, "+10 points")
            assert await checkins_of(harness, user_id) == 1
    async with stored(harness) as session:
        assert await session.get(DeadLetterRow, (harness.api.bot_id, refused)) is None
        assert await session.get(ProcessedUpdateRow, (harness.api.bot_id, refused)) is not None
    await ledger_matches_balances(harness)


async def test_the_same_update_twice_in_one_page_is_applied_once(harness: Harness) -> None:
    add_members(harness, MEMBERS)
    with recording(harness.app.engine, harness.api) as log:
        updates = await page_of_checkins(harness, MEMBERS)
        harness.api.redeliver(updates[0], even_if_pending=True)
        await until_handled(harness, updates)
    assert log.commits == 1
    assert len(harness.api.calls("getUpdates")) >= 2
    assert await checkins_of(harness, 1001) == 1
    replies = [
        m
        for m in harness.replies()
        if m.reply_to_message_id == harness.api.message_id_of(updates[0])
    ]
    assert len(replies) == 1
    await ledger_matches_balances(harness)


async def run_bot_process(
    api: FakeBotAPI, database_url: str, workdir: Path, log_level: str = "INFO"
) -> Any:
    """`python -m bot run` as operators run it."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env={
            **os.environ,
            "BOT_TOKEN": api.token,
            "DATABASE_URL": database_url,
            "BOT_API_BASE_URL": api.base_url,
            "POLLING_TIMEOUT": "1",
            "DEFAULT_LANGUAGE": "en",
            "LOG_LEVEL": log_level,
            "PYTHONPATH": str(REPO_ROOT),
        },
        cwd=workdir,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_until(process: Any, text: str) -> None:
    seen = ""
    while text not in seen:
        line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
        assert line, f"the process ended before saying {text!r}: {seen[-2000:]}"
        seen += line.decode()


async def test_a_sigkill_mid_page_keeps_the_page_whole_and_redelivery_applies_it_once(
    api: FakeBotAPI, database_url: str, tmp_path: Path
) -> None:
    members = list(range(2001, 2061))
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    for user_id in members:
        api.add_user(user_id, f"User {user_id}", username=f"user{user_id}")
        api.add_member(GROUP_ID, user_id)
    process = await run_bot_process(api, database_url, tmp_path, "DEBUG")  # a line per update
    try:
        await api.wait_until_handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID), 30)
        page = [api.send_message(GROUP_ID, user_id, "/checkin") for user_id in members]
        # The first updates of the page are handled, the page's transaction is still open.
        await read_until(process, f"Update id={page[2]} is handled")
    finally:
        process.kill()
        await process.wait()

    engine = build_engine(database_url)

    async def stored_checkins() -> int:
        async with engine.connect() as connection:
            query = select(func.count()).select_from(CheckinRow)
            return int(await connection.scalar(query.where(CheckinRow.user_id.in_(members))) or 0)

    try:
        assert await stored_checkins() in (0, len(members))  # all of the page or none of it
        assert not api.is_handled(page[-1])

        process = await run_bot_process(api, database_url, tmp_path)
        try:
            await api.wait_until_handled(page[-1], 60)
            api.redeliver(page[0])
            await api.wait_until_handled(page[0], 30)
        finally:
            process.terminate()
            _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()[-2000:]

        assert await stored_checkins() == len(members)
        await each_balance_is_its_ledger(engine, members, 10)
    finally:
        await engine.dispose()


async def test_read_only_commands_look_after_the_page_commits_without_a_claim_or_write_lock(
    harness: Harness, database_url: str
) -> None:
    add_members(harness, [*MEMBERS, 1005])
    await harness.say(1001, "hello")  # known to the bot; 1005 is not
    begins: list[str] = []
    stop = count_statements(
        harness.app.engine.sync_engine,
        lambda statement: begins.append(statement) if statement.startswith("BEGIN") else None,
    )
    try:
        updates = [
            harness.api.send_message(GROUP_ID, 1001, "/checkin", date=harness.clock.now()),
            harness.api.send_message(GROUP_ID, 1001, "/me", date=harness.clock.now()),
            harness.api.send_message(GROUP_ID, 1002, "/top", date=harness.clock.now()),
            harness.api.send_message(GROUP_ID, 1005, "/me", date=harness.clock.now()),
        ]
        await until_handled(harness, updates)
    finally:
        stop()
    checkin, look, top, newcomer = updates
    assert replied_to(harness, checkin, "+10 points")
    assert replied_to(harness, look, "Balance: 11 points")  # hello +1, and the page's check-in
    assert replied_to(harness, top, "User 1001")
    assert replied_to(harness, newcomer, "Balance: 0 points")
    async with stored(harness) as session:
        claimed = set(await session.scalars(select(ProcessedUpdateRow.update_id)))
        registered = await session.scalar(
            select(func.count()).select_from(MemberRow).where(MemberRow.user_id == 1005)
        )
    assert checkin in claimed and newcomer in claimed  # /me of a newcomer registers them
    assert look not in claimed and top not in claimed
    assert registered == 1
    if database_url.startswith("sqlite"):
        # the page, its looks (a deferred BEGIN takes no write lock), the newcomer's /me
        assert begins == ["BEGIN IMMEDIATE", "BEGIN", "BEGIN IMMEDIATE"]
    await ledger_matches_balances(harness)


async def test_an_orm_flush_failing_in_one_update_still_undoes_only_that_update(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the in-loop driver savepoints are issued on the connection; a failed ORM flush makes
    SQLAlchemy roll back the whole transaction, so the page runs again with SQLAlchemy's own
    savepoints, and still only the failing update is set aside."""
    add_members(harness, MEMBERS)

    async def flush_fails_for_1002(uow: Any, community: Any, user: UserInfo, *rest: Any) -> Any:
        outcome = await check_in(uow, community, user, *rest)
        if user.id == 1002:
            uow.session.add(UserRow(id=user.id, first_name="twice", is_bot=False))
            await uow.session.flush()  # the user exists: IntegrityError inside the flush
        return outcome

    monkeypatch.setattr("handlers.checkin.check_in", flush_fails_for_1002)
    updates = await page_of_checkins(harness, MEMBERS)
    await until_handled(harness, updates)
    failed = updates[1]
    assert await checkins_of(harness, 1002) == 0
    for update, user_id in zip(updates, MEMBERS, strict=True):
        if update != failed:
            assert replied_to(harness, update, "+10 points")
            assert await checkins_of(harness, user_id) == 1
    async with stored(harness) as session:
        letter = await session.get(DeadLetterRow, (harness.api.bot_id, failed))
        assert letter is not None and letter.error.startswith("IntegrityError")
    await ledger_matches_balances(harness)
