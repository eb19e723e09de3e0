"""For tests of what the workers share through Redis: the server to use (TEST_REDIS_URL, a
db the tests may empty), a proxy that can take Redis away mid-run, and time that moves only
once every worker is asleep."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from tests.fakes.clock import FakeClock

NO_REDIS = "TEST_REDIS_URL is not set (e.g. redis://127.0.0.1:6379/15, a db the tests may flush)"


@contextlib.asynccontextmanager
async def emptied_redis() -> AsyncIterator[str]:
    """TEST_REDIS_URL, its db emptied before and after; the test is skipped without it."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.skip(NO_REDIS)
    client = Redis.from_url(url)
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.aclose()


class RedisProxy:
    """A TCP proxy in front of Redis: `stop` takes Redis away (connections cut, new ones
    refused), `start` brings it back on the same port."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._path = parts.path
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self._path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, upstream_writer}
        try:
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        finally:
            for each in (writer, upstream_writer):
                self._writers.discard(each)
                each.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()


class TakingTurns:
    """Sleeps on a fake clock shared by several workers: the clock moves (to the earliest end)
    only once every worker still at work is asleep, so no time passes while one of them is
    between taking a slot and sending its message."""

    def __init__(self, clock: FakeClock, workers: int) -> None:
        self.clock = clock
        self._working = workers
        self._waiters: list[tuple[datetime, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((self.clock.now() + timedelta(seconds=seconds), future))
        self._move()
        await future

    def finished(self) -> None:
        self._working -= 1
        self._move()

    def _move(self) -> None:
        if not self._waiters or len(self._waiters) < self._working:
            return
        end = min(end for end, _ in self._waiters)
        if end > self.clock.now():
            self.clock.set(end)
        due = [waiter for waiter in self._waiters if waiter[0] <= self.clock.now()]
        self._waiters = [waiter for waiter in self._waiters if waiter not in due]
        for _end, future in due:
            future.set_result(None)
