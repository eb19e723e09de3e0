"""The off-loop reader: read-only units of work on an engine of their own, driven by an
asyncio loop in a dedicated worker thread.

On SQLite (WAL) the reader's connection reads beside the single writer and never takes the
write lock; its transactions are `query_only`. sqlite3 releases the GIL while a statement
steps, so a long query runs in parallel with the event loop; the Python around it shares
the GIL in short slices. On PostgreSQL the reader has its own small pool. The caller awaits
an asyncio future of its own loop; cancelling it cancels the read in the worker."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ports import UnitOfWork, UnitOfWorkFactory
from bot.ports.reads import InPlaceReader, Reader
from storage.engine import build_engine, build_session_factory
from storage.uow import unit_of_work

T = TypeVar("T")

READER_POOL_SIZE = 2
READER_WORKERS = 2
SWITCH_INTERVAL = 0.0005  # seconds (Python's default: 0.005)
THREAD_NAME = "seedbot-reader"


class _Worker:
    """One thread running its own asyncio loop, with an engine of its own built there."""

    def __init__(self, database_url: str, pool_size: int, number: int) -> None:
        self._database_url = database_url
        self._pool_size = pool_size
        self._engine: AsyncEngine | None = None
        self._open_uow: UnitOfWorkFactory | None = None
        self.busy = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name=f"{THREAD_NAME}-{number}", daemon=True
        )
        self.thread.start()

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        self.busy += 1
        try:
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop))
        finally:
            self.busy -= 1

    async def read(self, fn: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        if self._open_uow is None:
            self._engine = build_engine(
                self._database_url, **_pool_options(self._database_url, self._pool_size)
            )
            self._open_uow = partial(unit_of_work, build_session_factory(self._engine))
        async with self._open_uow(read_only=True) as uow:
            return await fn(uow)

    async def close(self) -> None:
        if self._engine is not None:
            await self.run(self._engine.dispose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self.thread.join)
        self.loop.close()


class OffLoopReader:
    """A Reader whose reads run in worker threads' loops, each on its own engine; a read
    goes to the least busy worker, so that two long reads do not wait for each other.

    While a worker runs Python (rows turned into results), the event loop's thread takes
    the GIL back only at the interpreter's switch interval, and every SQLite call of the
    loop gives it up; with the default 5 ms a page of statements would wait that long per
    statement, so the interval is shortened while the reader runs."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = READER_WORKERS,
        pool_size: int = READER_POOL_SIZE,
    ) -> None:
        self._database_url = database_url
        self._size = workers
        self._pool_size = pool_size
        self._workers: list[_Worker] = []
        self._switch_interval: float | None = None

    async def read(self, fn: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        worker = self._least_busy()
        return await worker.run(worker.read(fn))

    async def close(self) -> None:
        """Each worker's engine disposed in its loop, then the loop stopped and joined."""
        workers, self._workers = self._workers, []
        for worker in workers:
            await worker.close()
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    def _least_busy(self) -> _Worker:
        if self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL))
        idle = min(self._workers, key=lambda worker: worker.busy, default=None)
        if idle is not None and (idle.busy == 0 or len(self._workers) >= self._size):
            return idle
        worker = _Worker(self._database_url, self._pool_size, len(self._workers) + 1)
        self._workers.append(worker)
        return worker


def _pool_options(database_url: str, pool_size: int) -> dict[str, Any]:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        return {"pool_size": pool_size, "max_overflow": 0}
    return {}


def build_reader(database_url: str, open_uow: UnitOfWorkFactory) -> Reader:
    """The off-loop reader, except for an in-memory SQLite database (another connection
    would see another database): that one reads in place."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return InPlaceReader(open_uow)
    return OffLoopReader(database_url)
