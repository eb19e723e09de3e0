"""Hot-path statements: written once with SQLAlchemy Core, compiled once per dialect, and
on the in-loop SQLite driver run straight on the driver connection.

Through `AsyncSession.execute` a statement costs a few hundred microseconds of Python
(greenlet switch, ORM execution state, cache key, result set-up); SQLite runs it in tens.
On `sqlite+inloop` a `Prepared` statement skips all that: the SQL and its parameter order
come from SQLAlchemy's own compilation, values are converted by the columns' own bind and
result processors, and the statement runs on the session's connection inside its
transaction and savepoints. Every other dialect (PostgreSQL, aiosqlite) runs it through
`session.execute` unchanged, so both routes share one definition of the SQL.

Rule for the tables these statements write (users, members, checkins, ledger): they are
never loaded as ORM entities, so no identity-map object can go stale behind the session's
back; a session with pending ORM changes is flushed first, as autoflush would.
"""

from __future__ import annotations

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


class Prepared:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[int, _Compiled] = {}

    async def run(self, session: AsyncSession, parameters: Mapping[str, Any]) -> Outcome:
        dialect = session.bind.dialect if session.bind is not None else None
        if isinstance(dialect, SQLiteDialect_inloop):
            return await self._run_on_driver(session, dialect, parameters)
        result = await session.execute(cast(Executable, self.statement), dict(parameters))
        rows = result.all() if getattr(result, "returns_rows", True) else []
        return Outcome(rows, int(getattr(result, "rowcount", 0) or 0))

    async def _run_on_driver(
        self, session: AsyncSession, dialect: Dialect, parameters: Mapping[str, Any]
    ) -> Outcome:
        compiled = self._compiled.get(id(dialect)) or self._compile(dialect)
        connection = await driver_connection(session)
        values = compiled.compiled.construct_params(dict(parameters), _check=False)
        for name, default in compiled.defaults:
            if values.get(name) is None:
                values[name] = default
        arguments = [
            processor(values[name]) if processor is not None else values[name]
            for name, processor in zip(compiled.positions, compiled.bind_processors, strict=True)
        ]
        try:
            cursor = connection.execute(compiled.sql, arguments)
            raw_rows = cursor.fetchall() if cursor.description else []
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(
                compiled.sql, arguments, error, sqlite3.Error, dialect=dialect
            ) from error
        rows = [
            compiled.row(
                *(
                    processor(value) if processor is not None else value
                    for processor, value in zip(compiled.result_processors, raw, strict=True)
                )
            )
            for raw in raw_rows
        ]
        return Outcome(rows, cursor.rowcount)

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
        raw.driver_connection,
    )
    return raw.driver_connection
