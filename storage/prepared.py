"""Hot-path statements: written once with SQLAlchemy Core, compiled once per dialect, and
on the in-loop SQLite driver and on asyncpg run straight on the driver connection.

Through `AsyncSession.execute` a statement costs a few hundred microseconds of Python
(greenlet switch, ORM execution state, cache key, result set-up); SQLite runs it in tens.
On `sqlite+inloop` a `Prepared` statement skips all that: the SQL and its parameter order
come from SQLAlchemy's own compilation, values are converted by the columns' own bind and
result processors, and the statement runs on the session's connection inside its
transaction and savepoints. On asyncpg the same holds, with the server-side prepared
statement taken from (and shared with) SQLAlchemy's own per-connection cache: one round
trip per statement and none of SQLAlchemy's per-statement Python. Every other dialect
(aiosqlite) runs it through `session.execute` unchanged, so all routes share one
definition of the SQL.

Rule for the tables these statements write (users, members, checkins, ledger): they are
never loaded as ORM entities, so no identity-map object can go stale behind the session's
back; a session with pending ORM changes is flushed first, as autoflush would.
"""

from __future__ import annotations

import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from storage.sqlite_inloop import SQLiteDialect_inloop

_DRIVER_CONNECTION = "seedbot.driver_connection"

Processor = Callable[[Any], Any] | None
_INSERTS = {"sqlite": sqlite, "postgresql": postgresql}


@dataclass(frozen=True)
class _Compiled:
    compiled: SQLCompiler
    sql: str
    positions: tuple[str, ...]
    bind_processors: tuple[Processor, ...]
    result_processors: tuple[Processor, ...]
    row: Any
    defaults: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Outcome:
    """The rows a statement returned and how many rows it changed."""

    rows: Sequence[Any]
    rowcount: int

    def one_or_none(self) -> Any:
        return self.rows[0] if self.rows else None


_ROWCOUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")


def is_asyncpg(dialect: Dialect | None) -> bool:
    return dialect is not None and dialect.name == "postgresql" and dialect.driver == "asyncpg"


class Prepared:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[int, _Compiled] = {}

    async def run(self, session: AsyncSession, parameters: Mapping[str, Any]) -> Outcome:
        dialect = session.bind.dialect if session.bind is not None else None
        if isinstance(dialect, SQLiteDialect_inloop):
            return await self._run_on_driver(session, dialect, parameters)
        if is_asyncpg(dialect):
            assert dialect is not None
            return await self._run_on_asyncpg(session, dialect, parameters)
        result = await session.execute(cast(Executable, self.statement), dict(parameters))
        rows = result.all() if getattr(result, "returns_rows", True) else []
        return Outcome(rows, int(getattr(result, "rowcount", 0) or 0))

    def _arguments(
        self, dialect: Dialect, parameters: Mapping[str, Any]
    ) -> tuple[_Compiled, list[Any]]:
        compiled = self._compiled.get(id(dialect)) or self._compile(dialect)
        values = compiled.compiled.construct_params(dict(parameters), _check=False)
        for name, default in compiled.defaults:
            if values.get(name) is None:
                values[name] = default
        arguments = [
            processor(values[name]) if processor is not None else values[name]
            for name, processor in zip(compiled.positions, compiled.bind_processors, strict=True)
        ]
        return compiled, arguments

    def _rows(self, compiled: _Compiled, raw_rows: Sequence[Any]) -> list[Any]:
        return [
            compiled.row(
                *(
                    processor(value) if processor is not None else value
                    for processor, value in zip(compiled.result_processors, raw, strict=True)
                )
            )
            for raw in raw_rows
        ]

    async def _run_on_asyncpg(
        self, session: AsyncSession, dialect: Dialect, parameters: Mapping[str, Any]
    ) -> Outcome:
        compiled, arguments = self._arguments(dialect, parameters)
        adapted = await adapted_connection(session)
        try:
            statement, _ = await adapted._prepare(
                compiled.sql, getattr(dialect, "_invalidate_schema_cache_asof", 0)
            )
            raw_rows = await statement.fetch(*arguments)
        except Exception as error:
            translated = await _translated(
                session, adapted, dialect, compiled.sql, arguments, error
            )
            raise translated from error
        found = _ROWCOUNT.match(statement.get_statusmsg() or "")
        return Outcome(self._rows(compiled, raw_rows), int(found.group(1)) if found else -1)

    async def _run_on_driver(
        self, session: AsyncSession, dialect: Dialect, parameters: Mapping[str, Any]
    ) -> Outcome:
        compiled, arguments = self._arguments(dialect, parameters)
        connection = await driver_connection(session)
        try:
            cursor = connection.execute(compiled.sql, arguments)
            raw_rows = cursor.fetchall() if cursor.description else []
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(
                compiled.sql, arguments, error, sqlite3.Error, dialect=dialect
            ) from error
        return Outcome(self._rows(compiled, raw_rows), cursor.rowcount)

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        positions = tuple(compiled.positiontup or ())
        binds = compiled.binds
        bind_processors = tuple(
            binds[name].type._cached_bind_processor(dialect) for name in positions
        )
        columns = compiled._result_columns
        result_processors = tuple(
            column.type._cached_result_processor(dialect, None) for column in columns
        )
        defaults = tuple(
            (column.key, _scalar_default(column))
            for column in (*compiled.insert_prefetch, *compiled.update_prefetch)
        )
        row = namedtuple("Row", [column.keyname for column in columns], rename=True)  # type: ignore[misc]
        prepared = _Compiled(
            compiled, compiled.string, positions, bind_processors, result_processors, row, defaults
        )
        self._compiled[id(dialect)] = prepared
        return prepared


def _scalar_default(column: Any) -> Any:
    """The value SQLAlchemy would fill in for a column left out; only plain values are
    supported on the driver route."""
    default = column.onupdate if column.default is None else column.default
    if default is None or not getattr(default, "is_scalar", False):
        raise TypeError(f"{column} needs a default the driver route cannot compute")
    return default.arg


class PerDialect:
    """A statement that differs by dialect (an upsert), prepared for each."""

    def __init__(self, build: Callable[[Any], ClauseElement]) -> None:
        self._prepared = {name: Prepared(build(module)) for name, module in _INSERTS.items()}

    async def run(self, session: AsyncSession, parameters: Mapping[str, Any]) -> Outcome:
        name = session.bind.dialect.name if session.bind is not None else "sqlite"
        return await self._prepared[name].run(session, parameters)


async def driver_connection(session: AsyncSession) -> Any:
    """The driver connection of the session's transaction, with its savepoint (SQLAlchemy
    emits a SAVEPOINT only when the nested transaction first asks for its connection) and
    with the session's pending ORM changes flushed to it."""
    return (await _raw_connection(session)).driver_connection


async def adapted_connection(session: AsyncSession) -> Any:
    """Like `driver_connection`, but SQLAlchemy's adapter of an asyncpg connection, with its
    transaction begun (the adapter begins it lazily, with the first statement)."""
    adapted = (await _raw_connection(session)).dbapi_connection
    if adapted._transaction is None and not adapted.autocommit:
        await adapted._start_transaction()
    return adapted


async def _raw_connection(session: AsyncSession) -> Any:
    if session.new or session.dirty or session.deleted:
        await session.flush()
    sync = session.sync_session
    key = (sync.get_transaction(), sync.get_nested_transaction())
    cached = session.info.get(_DRIVER_CONNECTION)
    if key[0] is not None and cached is not None and cached[0] == key:
        return cached[1]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    session.info[_DRIVER_CONNECTION] = (
        (sync.get_transaction(), sync.get_nested_transaction()),
        raw,
    )
    return raw


async def _translated(
    session: AsyncSession,
    adapted: Any,
    dialect: Dialect,
    sql: str,
    arguments: Sequence[Any],
    error: Exception,
) -> Exception:
    """The error asyncpg raised, as SQLAlchemy would have raised it: its DBAPI error wrapped in
    a `DBAPIError`; a lost connection is invalidated, so that the pool replaces it."""
    try:
        adapted._handle_exception(error)
    except Exception as dbapi_error:
        error = dbapi_error
    lost = dialect.is_disconnect(error, adapted, None)  # type: ignore[arg-type]
    if lost:
        connection = await session.connection()
        await connection.invalidate(error)
    loaded = getattr(dialect, "loaded_dbapi", None)
    wrapped = exc.DBAPIError.instance(
        sql,
        list(arguments),
        error,
        loaded.Error if loaded is not None else Exception,
        dialect=dialect,
        connection_invalidated=lost,
    )
    return wrapped
