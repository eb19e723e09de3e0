"""The in-loop SQLite driver: statements in the event loop thread, and no lock wait that
freezes the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import closing

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.retry import is_transient
from storage.engine import READ_ONLY, SQLITE_DRIVER_VARIABLE, build_engine, engine_url
from storage.models import ProcessedUpdateRow
from storage.sqlite_inloop import SQLiteDialect_inloop

BUSY_WAIT = 0.3


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    built = build_engine(sqlite_url.replace("+aiosqlite", "+inloop"), busy_wait=BUSY_WAIT)
    yield built
    await built.dispose()


async def claim(engine: AsyncEngine, update_id: int, hold: asyncio.Event | None = None) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO processed_updates (bot_id, update_id, processed_at) VALUES (1, :u, 0)"
            ),
            {"u": update_id},
        )
        if hold is not None:
            await hold.wait()


async def stored_claims(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(ProcessedUpdateRow))
    return int(count or 0)


def test_sqlite_urls_take_the_in_loop_driver_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SQLITE_DRIVER_VARIABLE, raising=False)
    assert engine_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+inloop"
    assert engine_url("postgresql+asyncpg://h/db").drivername == "postgresql+asyncpg"
    monkeypatch.setenv(SQLITE_DRIVER_VARIABLE, "aiosqlite")
    assert engine_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert engine_url("sqlite+inloop:///x.db").drivername == "sqlite+inloop"


async def test_write_transactions_suspended_at_an_await_take_turns(engine: AsyncEngine) -> None:
    assert isinstance(engine.dialect, SQLiteDialect_inloop)
    hold = asyncio.Event()
    first = asyncio.create_task(claim(engine, 1, hold))
    second = asyncio.create_task(claim(engine, 2))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not first.done() and not second.done()  # the second waits, the loop goes on
    hold.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=5)
    assert await stored_claims(engine) == 2


async def test_a_reader_does_not_wait_for_a_writer(engine: AsyncEngine) -> None:
    hold = asyncio.Event()
    writer = asyncio.create_task(claim(engine, 1, hold))
    await asyncio.sleep(0)
    reader = engine.connect()
    async with reader as connection:
        await connection.execution_options(**{READ_ONLY: True})
        count = await connection.scalar(select(func.count()).select_from(ProcessedUpdateRow))
    assert count == 0 and not writer.done()
    hold.set()
    await writer


async def test_another_process_holding_the_lock_fails_fast_without_freezing(
    engine: AsyncEngine, sqlite_url: str
) -> None:
    path = sqlite_url.split("///", 1)[1]
    with closing(sqlite3.connect(path, isolation_level=None)) as other_process:
        other_process.execute("BEGIN IMMEDIATE")
        writer = asyncio.create_task(claim(engine, 1))
        started = time.monotonic()
        async with engine.connect() as connection:  # a reader is served meanwhile
            await connection.execution_options(**{READ_ONLY: True})
            assert (
                await connection.scalar(select(func.count()).select_from(ProcessedUpdateRow)) == 0
            )
        assert not writer.done()
        with pytest.raises(OperationalError, match="database is locked") as raised:
            await writer
        assert time.monotonic() - started < BUSY_WAIT + 1.5
        assert is_transient(raised.value)
        other_process.execute("ROLLBACK")
    await claim(engine, 1)  # the lock of this process was given back
    assert await stored_claims(engine) == 1


async def test_a_failed_transaction_gives_the_turn_back(engine: AsyncEngine) -> None:
    await claim(engine, 1)
    with pytest.raises(Exception, match="UNIQUE"):
        await claim(engine, 1)
    await asyncio.wait_for(claim(engine, 2), timeout=5)
    assert await stored_claims(engine) == 2
