"""SQLite serves one bot process: `seedbot run` (and `seedbot migrate`) hold an exclusive lock
on a file beside the database for as long as they run, and a second one is refused. The
guarantees across several workers (one leader, claims item by item) need PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no lock
    fcntl = None  # type: ignore[assignment]

LOCK_SUFFIX = ".lock"


class AnotherProcessRunning(Exception):
    def __init__(self, database: str, doing: str) -> None:
        super().__init__(
            f"Another seedbot process is already running on {database}; SQLite serves one "
            f"process, so {doing} is refused — run several workers on PostgreSQL "
            "(DATABASE_URL=postgresql+asyncpg://…)."
        )


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser()


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + LOCK_SUFFIX)


@contextmanager
def single_process(database_url: str, doing: str = "a second bot") -> Iterator[None]:
    """Holds the database's process lock for the block; AnotherProcessRunning if another
    process holds it. Nothing to hold on PostgreSQL."""
    database = sqlite_file(database_url)
    if database is None or fcntl is None:
        yield
        return
    path = lock_path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AnotherProcessRunning(str(database), doing) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing lets the lock go
