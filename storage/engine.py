from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import sqlite_inloop

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Which driver serves `sqlite+aiosqlite://` URLs: "inloop" (default, see storage/sqlite_inloop.py)
# or "aiosqlite". A URL naming `sqlite+inloop://` always gets the in-loop driver.
SQLITE_DRIVER_VARIABLE = "SQLITE_DRIVER"
# Execution option for transactions that only read: a deferred BEGIN, no write lock, and
# any write refused (SQLite's query_only; PostgreSQL's READ ONLY transaction).
READ_ONLY = sqlite_inloop.READ_ONLY_OPTION
_QUERY_ONLY = "seedbot.query_only"


def engine_url(database_url: str) -> URL:
    """The URL the engine is built with: SQLite over aiosqlite takes the in-loop driver
    unless SQLITE_DRIVER=aiosqlite."""
    url = make_url(database_url)
    if (
        url.drivername == "sqlite+aiosqlite"
        and os.environ.get(SQLITE_DRIVER_VARIABLE) != "aiosqlite"
    ):
        return url.set(drivername="sqlite+inloop")
    return url


def ensure_sqlite_folder(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def build_engine(database_url: str, *, foreign_keys: bool = True, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys (unless turned off, as migrations need),
    a busy timeout and write-locking transactions."""
    ensure_sqlite_folder(database_url)
    engine = create_async_engine(engine_url(database_url), **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, foreign_keys=foreign_keys)
    return engine


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    dialect = engine.dialect
    in_loop = dialect if isinstance(dialect, sqlite_inloop.SQLiteDialect_inloop) else None
    # In the loop thread a busy wait blocks every coroutine: waits happen between short tries.
    busy_timeout_ms = sqlite_inloop.BUSY_TIMEOUT_MS if in_loop else SQLITE_BUSY_TIMEOUT_MS

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN so that it can be BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Only outside a transaction does this take effect, hence here, before any BEGIN.
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A deferred transaction that reads and then writes can fail with SQLITE_BUSY when
        # another writer commits in between; taking the write lock up front avoids that.
        read_only = bool(connection.get_execution_options().get(READ_ONLY))
        if in_loop is not None:
            in_loop.begin_transaction(connection.connection.dbapi_connection, read_only=read_only)
        else:
            connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
        if read_only:
            # A write attempted in a read-only transaction fails instead of taking the lock.
            _pragma(connection.connection.dbapi_connection, "PRAGMA query_only=1")
            connection.connection.info[_QUERY_ONLY] = True

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None and record.info.pop(_QUERY_ONLY, False):
            _pragma(dbapi_connection, "PRAGMA query_only=0")


def _pragma(dbapi_connection: Any, statement: str) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    finally:
        cursor.close()


def build_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
