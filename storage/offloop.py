"""The off-loop reader: read-only units of work on an engine of their own, driven by an
asyncio loop in a dedicated worker thread.

On SQLite (WAL) the reader's connection reads beside the single writer and never takes the
write lock; its transactions are `query_only`. sqlite3 releases the GIL while a statement
steps, so a long query runs in parallel with the event loop; the Python around it shares
the GIL in short slices. On PostgreSQL the reader has its own small pool. The caller awaits
an asyncio future of its own loop; cancelling it cancels the read in the worker."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.ports import UnitOfWork, UnitOfWorkFactory
from bot.reads import InPlaceReader, Reader
from storage.engine import build_engine, build_session_factory
from storage.uow import unit_of_work

T = TypeVar("T")

READER_POOL_SIZE = 2
THREAD_NAME = "seedbot-reader"


class OffLoopReader:
    """A Reader whose reads run in a worker thread's loop, on its own engine."""

    def __init__(self, database_url: str, *, pool_size: int = READER_POOL_SIZE) -> None:
        self._database_url = database_url
        self._pool_size = pool_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: AsyncEngine | None = None
        self._open_uow: UnitOfWorkFactory | None = None
        self._starting = threading.Lock()

    async def read(self, fn: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        return await self._in_worker(self._read(fn))

    async def close(self) -> None:
        """The engine disposed in the worker, then the worker's loop stopped and joined."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._engine is not None:
            await self._in_worker(self._engine.dispose())
        self._loop = self._thread = self._engine = self._open_uow = None
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()

    async def _read(self, fn: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        if self._open_uow is None:
            self._engine = build_engine(
                self._database_url, **_pool_options(self._database_url, self._pool_size)
            )
            self._open_uow = partial(unit_of_work, build_session_factory(self._engine))
        async with self._open_uow(read_only=True) as uow:
            return await fn(uow)

    async def _in_worker(self, work: Coroutine[Any, Any, T]) -> T:
        loop = self._worker_loop()
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, loop))

    def _worker_loop(self) -> asyncio.AbstractEventLoop:
        with self._starting:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=THREAD_NAME, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop


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
