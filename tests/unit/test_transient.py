"""Which failures the unit of work waits out (transient) and which make a dead letter (bugs)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError

from runtime.retry import is_transient


def sqlite_error(sql: str) -> sqlite3.Error:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE members (id INTEGER)")
    try:
        with pytest.raises(sqlite3.Error) as failure:
            connection.execute(sql)
    finally:
        connection.close()
    return failure.value


def wrapped(orig: BaseException) -> OperationalError:
    """As SQLAlchemy raises it, over aiosqlite or the in-loop driver alike."""
    return OperationalError("SELECT ...", {}, orig)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT no_such_column FROM members",
        "SELECT id FROM no_such_table",
        "SELEC id FROM members",
    ],
)
def test_sql_that_sqlite_rejects_is_a_bug_not_an_outage(sql: str) -> None:
    error = sqlite_error(sql)
    assert isinstance(error, sqlite3.OperationalError)
    assert not is_transient(error)
    assert not is_transient(wrapped(error))


def test_a_locked_sqlite_database_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("CREATE TABLE t (x INTEGER)")
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as failure:
            waiter.execute("BEGIN IMMEDIATE")
    finally:
        holder.close()
        waiter.close()
    assert "database is locked" in str(failure.value)
    assert is_transient(wrapped(failure.value))


@pytest.mark.parametrize(
    "code",
    [5, 6, 10, 10 | (3 << 8), 13, 14],  # BUSY, LOCKED, IOERR, IOERR_WRITE, FULL, CANTOPEN
)
def test_sqlite_codes_of_a_busy_or_failing_database_are_transient(code: int) -> None:
    error = sqlite3.OperationalError("database is locked or so")
    error.sqlite_errorcode = code
    assert is_transient(wrapped(error))


@pytest.mark.parametrize(
    "message",
    [
        "database is locked",
        "database is locked (waited for another write transaction of this process)",
        "database is busy",
        "disk I/O error",
        "unable to open database file",
        "database or disk is full",
    ],
)
def test_sqlite_errors_raised_without_a_code_are_judged_by_their_message(message: str) -> None:
    assert is_transient(wrapped(sqlite3.OperationalError(message)))
    assert is_transient(sqlite3.OperationalError(message))


def test_a_sqlite_bug_reported_without_a_code_is_not_transient() -> None:
    assert not is_transient(wrapped(sqlite3.OperationalError("no such column: locked")))
    assert not is_transient(InterfaceError("INSERT ...", {}, sqlite3.InterfaceError("bad")))


class FakePostgresError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def test_postgresql_keeps_connection_errors_and_its_sqlstates_transient() -> None:
    assert is_transient(OperationalError("SELECT 1", {}, Exception("server closed")))
    assert is_transient(InterfaceError("SELECT 1", {}, Exception("connection is closed")))
    assert is_transient(ProgrammingError("SELECT 1", {}, FakePostgresError("40001")))
    assert is_transient(ProgrammingError("SELECT 1", {}, FakePostgresError("08006")))
    assert not is_transient(ProgrammingError("SELECT 1", {}, FakePostgresError("42703")))
