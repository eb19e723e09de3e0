"""Counts the SQL statements an engine sends to its database.

On the in-loop SQLite driver some hot-path statements run straight on the driver connection
(storage/prepared.py), past SQLAlchemy's events, so there each statement is counted by
SQLite's own trace callback (transaction control included: BEGIN, SAVEPOINT, RELEASE,
COMMIT); on other drivers by SQLAlchemy's `before_cursor_execute`, plus commits and
rollbacks, which are a round trip each."""

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
