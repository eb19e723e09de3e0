"""SQLite through the stdlib `sqlite3` driver, run in the event loop thread (`sqlite+inloop`).

aiosqlite sends every statement to a worker thread and back (about 0.5 ms under load); a
SQLite statement itself takes tens of microseconds. This dialect runs each statement directly
in the loop thread, while AsyncEngine/AsyncSession keep working unchanged.

Blocking the loop is safe only if nothing waits on a lock while blocking it, so:
- write transactions of this process take turns on an asyncio lock acquired (without
  blocking the loop) before `BEGIN IMMEDIATE` and released when the transaction ends; a
  coroutine holding SQLite's write lock across an `await` never makes another coroutine
  spin in SQLite's busy handler;
- another process holding the write lock is waited for with short busy timeouts and
  non-blocking sleeps in between, up to `busy_wait` seconds, then "database is locked"
  (an OperationalError, which the unit of work retries as transient);
- read-only transactions (execution option `sqlite_read_only=True`) start with a deferred
  `BEGIN`: in WAL mode they neither wait for nor block writers.
Connections are used only from the thread that opened them (sqlite3 checks that).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

from sqlalchemy import exc, pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util.concurrency import await_

READ_ONLY_OPTION = "sqlite_read_only"
LOCK_WAIT_SECONDS = 10.0
BUSY_WAIT_SECONDS = 1.0
BUSY_TIMEOUT_MS = 20
BUSY_POLL_SECONDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


async def _nothing() -> None:
    return None


class InloopCursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """What SQLAlchemy's asyncio results call on a driver cursor; rows stay readable."""


class InloopConnection(sqlite3.Connection):
    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or InloopCursor)


class InloopWriteLock:
    """Write transactions of one engine take turns; the holder is a DBAPI connection."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.holder: Any = None

    def acquire(self, connection: Any, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop, self.holder = asyncio.Lock(), loop, None
        if self.holder is connection:
            return
        if not self._lock.locked():
            await_(self._lock.acquire())
            self.holder = connection
            return
        try:
            await_(asyncio.wait_for(self._lock.acquire(), timeout))
        except TimeoutError:
            raise exc.OperationalError(
                "BEGIN IMMEDIATE",
                None,
                sqlite3.OperationalError(
                    "database is locked (waited for another write transaction of this process)"
                ),
            ) from None
        self.holder = connection

    def release(self, connection: Any) -> None:
        if self.holder is connection and self._lock is not None:
            self.holder = None
            self._lock.release()


class SQLiteDialect_inloop(SQLiteDialect_pysqlite):  # noqa: N801 - SQLAlchemy's naming
    driver = "inloop"
    is_async = True
    supports_statement_cache = True

    def __init__(
        self,
        lock_wait: float = LOCK_WAIT_SECONDS,
        busy_wait: float = BUSY_WAIT_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lock_wait = lock_wait
        self.busy_wait = busy_wait
        self.write_lock = InloopWriteLock()

    def create_connect_args(self, url: URL) -> Any:
        args, options = super().create_connect_args(url)
        options.setdefault("factory", InloopConnection)
        return args, options

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def begin_transaction(self, dbapi_connection: Any, *, read_only: bool) -> None:
        """`BEGIN` for reads; for writes, this process's turn, then `BEGIN IMMEDIATE`."""
        await_(_nothing())
        if read_only:
            dbapi_connection.execute("BEGIN")
            return
        self.write_lock.acquire(dbapi_connection, self.lock_wait)
        try:
            self._begin_immediate(dbapi_connection)
        except BaseException:
            self.write_lock.release(dbapi_connection)
            raise

    def _begin_immediate(self, dbapi_connection: Any) -> None:
        deadline = time.monotonic() + self.busy_wait
        polls = iter(BUSY_POLL_SECONDS)
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise exc.OperationalError("BEGIN IMMEDIATE", None, error) from error
                await_(asyncio.sleep(min(next(polls, BUSY_POLL_SECONDS[-1]), remaining)))

    def _transaction_ended(self, connection: Any) -> None:
        dbapi_connection = _driver_connection(connection)
        if not dbapi_connection.in_transaction:
            self.write_lock.release(dbapi_connection)

    def do_commit(self, dbapi_connection: Any) -> None:
        try:
            dbapi_connection.commit()
        finally:
            self._transaction_ended(dbapi_connection)

    def do_rollback(self, dbapi_connection: Any) -> None:
        try:
            dbapi_connection.rollback()
        finally:
            self._transaction_ended(dbapi_connection)

    def do_close(self, dbapi_connection: Any) -> None:
        try:
            dbapi_connection.close()
        finally:
            self.write_lock.release(_driver_connection(dbapi_connection))

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        await_(_nothing())
        cursor.execute(statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        await_(_nothing())
        cursor.execute(statement)

    def do_executemany(
        self, cursor: Any, statement: str, parameters: Any, context: Any = None
    ) -> None:
        await_(_nothing())
        cursor.executemany(statement, parameters)


def _driver_connection(connection: Any) -> Any:
    """The sqlite3 connection behind what SQLAlchemy passes (a pool proxy or the connection)."""
    return getattr(connection, "dbapi_connection", connection)


dialect = SQLiteDialect_inloop

registry.register("sqlite.inloop", __name__, "SQLiteDialect_inloop")
