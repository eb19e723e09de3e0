"""The lock that makes one worker the leader (runtime/leader.py): on PostgreSQL a session
advisory lock held on a connection of its own, outside the pool; SQLite serves one process
(storage/single_process.py), which is always the leader."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from storage.engine import build_engine

logger = logging.getLogger(__name__)

# The server gives up on a leader whose host went silent after about 10 + 5 × 3 = 25 s
# (a process that dies is noticed at once: its socket closes), which frees the lock.
SERVER_KEEPALIVE = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


class AlwaysLeader:
    """One process on the database (SQLite): it leads from the start and never loses it."""

    async def try_acquire(self) -> bool:
        return True

    async def still_held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLock:
    """`pg_try_advisory_lock(key)` on a dedicated connection. The lock lives as long as that
    connection: a worker that dies, or whose connection breaks, loses it, and the server
    hands it to the next worker that asks."""

    def __init__(self, database_url: str, key: int) -> None:
        self._database_url = database_url
        self.key = key
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None

    async def try_acquire(self) -> bool:
        if self._connection is not None:
            return await self.still_held()
        if self._engine is None:
            self._engine = build_engine(self._database_url, poolclass=NullPool)
        connection = await self._engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for statement in SERVER_KEEPALIVE:
                await connection.execute(text(statement))
            locked = await connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            )
        except BaseException:
            await _close_quietly(connection)
            raise
        if not locked:
            await _close_quietly(connection)
            return False
        self._connection = connection
        return True

    async def still_held(self) -> bool:
        """A session lock is only let go with its session: the connection answering means
        the lock is still ours."""
        if self._connection is None:
            return False
        try:
            await self._connection.scalar(text("SELECT 1"))
        except Exception as error:
            logger.warning("The leader's connection broke (%s)", error)
            await self.release()
            return False
        return True

    async def release(self) -> None:
        """Closes the connection, which lets the lock go."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await _close_quietly(connection)

    async def dispose(self) -> None:
        await self.release()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def backend_pid(self) -> int | None:
        """The server process holding the lock (for an operator, or a test, to end it)."""
        if self._connection is None:
            return None
        pid = await self._connection.scalar(text("SELECT pg_backend_pid()"))
        return int(pid) if pid is not None else None


async def _close_quietly(connection: AsyncConnection) -> None:
    with suppress(Exception):
        await asyncio.wait_for(connection.close(), timeout=5)
    if not connection.closed:
        with suppress(Exception):
            await connection.invalidate()


def leader_lock_for(database_url: str, key: int) -> AlwaysLeader | AdvisoryLock:
    if make_url(database_url).get_backend_name() == "postgresql":
        return AdvisoryLock(database_url, key)
    return AlwaysLeader()
