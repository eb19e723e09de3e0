"""Which SQLite failures go away by themselves. SQLite reports a SQL bug ("no such column",
a syntax error) and a busy database alike as `sqlite3.OperationalError`; only the error code
(or, for an error raised by hand without one, the message) tells them apart. aiosqlite and
the in-loop driver both raise the stdlib `sqlite3` exceptions."""

from __future__ import annotations

import sqlite3

SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_IOERR = 10
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14

# Another connection holds a lock, the disk failed or is full, the file cannot be opened:
# conditions of the whole database, not of one update, and they end without a code change.
TRANSIENT_SQLITE_CODES = frozenset(
    {SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN}
)
TRANSIENT_SQLITE_MESSAGES = (
    "database is locked",
    "database table is locked",
    "database schema is locked",
    "database is busy",
    "disk i/o error",
    "unable to open database file",
    "database or disk is full",
)


def sqlite_failure_is_transient(error: BaseException) -> bool | None:
    """Whether a SQLite driver error is transient; None for anything that is not one."""
    if not isinstance(error, sqlite3.Error):
        return None
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in TRANSIENT_SQLITE_CODES  # extended codes keep the primary low byte
    message = str(error).lower()
    return any(known in message for known in TRANSIENT_SQLITE_MESSAGES)
