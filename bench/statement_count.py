"""Counts the SQL statements an engine sends to its database.

On the in-loop SQLite driver some hot-path statements run straight on the driver connection
(storage/prepared.py), past SQLAlchemy's events, so there each statement is counted by
SQLite's own trace callback (transaction control included: BEGIN, SAVEPOINT, RELEASE,
COMMIT); on other drivers by SQLAlchemy's `before_cursor_execute`, plus commits and
rollbacks, which are a round trip each. On asyncpg, `count_round_trips` counts what reaches
the server at all: each request asyncpg's protocol waits on (a prepare, an execute, a simple
query with its BEGIN, SAVEPOINT or COMMIT), whoever issued it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

Counter = Callable[[str], None]


def count_statements(engine: Engine | type[Engine], seen: Counter) -> Callable[[], None]:
    """Calls `seen(statement)` for every statement of `engine` (or of every engine, given the
    class) until the returned function is called."""
    pool: Any = Pool if isinstance(engine, type) else engine.pool
    traced: list[sqlite3.Connection] = []

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(seen)
            traced.append(dbapi_connection)

    def checkin(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            dbapi_connection.set_trace_callback(None)

    def cursor_execute(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not _traced(conn):
            seen(statement)

    def commit(conn: Any) -> None:
        if not _traced(conn):
            seen("COMMIT")

    def rollback(conn: Any) -> None:
        if not _traced(conn):
            seen("ROLLBACK")

    listeners: list[tuple[Any, str, Callable[..., None]]] = [
        (pool, "checkout", checkout),
        (pool, "checkin", checkin),
        (engine, "before_cursor_execute", cursor_execute),
        (Connection if isinstance(engine, type) else engine, "commit", commit),
        (Connection if isinstance(engine, type) else engine, "rollback", rollback),
    ]
    for target, name, listener in listeners:
        event.listen(target, name, listener)

    def stop() -> None:
        for target, name, listener in listeners:
            event.remove(target, name, listener)
        for connection in traced:
            with suppress(sqlite3.ProgrammingError):  # closed, or of another thread
                connection.set_trace_callback(None)

    return stop


def _traced(conn: Connection) -> bool:
    try:
        return isinstance(conn.connection.dbapi_connection, sqlite3.Connection)
    except Exception:
        return False


ROUND_TRIPS = frozenset(
    {"prepare", "bind_execute", "bind_execute_many", "bind", "execute", "query", "close_statement"}
)


class _CountingProtocol:
    """asyncpg's protocol, its requests to the server counted."""

    def __init__(self, protocol: Any, seen: Counter) -> None:
        self._protocol = protocol
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._protocol, name)
        if name not in ROUND_TRIPS:
            return attribute
        seen = self._seen

        def counted(*args: Any, **kwargs: Any) -> Any:
            seen(name)
            return attribute(*args, **kwargs)

        return counted


def count_round_trips(seen: Counter) -> Callable[[], None]:
    """Calls `seen(request)` for every round trip of every asyncpg connection opened from now
    on, until the returned function is called."""
    from asyncpg.connection import Connection as AsyncpgConnection  # type: ignore[import-untyped]

    original = AsyncpgConnection.__init__
    counting = [True]

    def counted(request: str) -> None:
        if counting[0]:
            seen(request)

    def init(self: Any, protocol: Any, *args: Any, **kwargs: Any) -> None:
        original(self, _CountingProtocol(protocol, counted), *args, **kwargs)

    AsyncpgConnection.__init__ = init

    def stop() -> None:
        counting[0] = False
        AsyncpgConnection.__init__ = original

    return stop
