"""One leader among the workers on a database: the worker that runs the scheduler's jobs and
the paced sender. Every worker asks for the lock every `retry_seconds`; the leader checks
every `check_seconds` that it still holds it and stops leading as soon as it does not (a
broken connection is lost leadership). APScheduler 3 keeps its jobs per process, so the jobs
run on the leader alone; what they do is claimed item by item in the database, so a hand-over
posts nothing twice and skips nothing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from runtime.retry import Sleeper

logger = logging.getLogger(__name__)

RETRY_SECONDS = 10.0  # a follower asks this often: a dead leader is replaced well within 60 s
CHECK_SECONDS = 5.0  # the leader checks its lock this often
LOCK_TIMEOUT = 10.0  # an answer slower than this counts as none


class LeaderLock(Protocol):
    async def try_acquire(self) -> bool: ...
    async def still_held(self) -> bool: ...
    async def release(self) -> None: ...


def leader_key(bot_id: int) -> int:
    """The advisory lock's key: one per bot, so two bots on one database lead apart."""
    digest = hashlib.blake2b(f"seedbot:leader:{bot_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Leadership:
    """Runs `on_acquired` when this worker becomes the leader and `on_lost` when it stops
    being one (its lock lost, or `close`)."""

    def __init__(
        self,
        lock: LeaderLock,
        on_acquired: Callable[[], Awaitable[None]],
        on_lost: Callable[[], Awaitable[None]],
        *,
        retry_seconds: float = RETRY_SECONDS,
        check_seconds: float = CHECK_SECONDS,
        timeout: float = LOCK_TIMEOUT,
        sleep: Sleeper = asyncio.sleep,
    ) -> None:
        self._lock = lock
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self._retry_seconds = retry_seconds
        self._check_seconds = check_seconds
        self._timeout = timeout
        self._sleep = sleep
        self.leading = False

    async def step(self) -> bool:
        """One attempt (a follower) or one check (the leader); whether it leads now."""
        if self.leading:
            if not await self._answer(self._lock.still_held(), "checking the leader's lock"):
                logger.warning("This worker lost the leadership; its timed work stops")
                await self._stop_leading()
            return self.leading
        if await self._answer(self._lock.try_acquire(), "asking for the leadership"):
            self.leading = True
            logger.info("This worker leads: it runs the timed work and the outgoing queue")
            try:
                await self._on_acquired()
            except Exception:
                logger.exception("Starting the timed work failed; the leadership is let go")
                await self._stop_leading()
        return self.leading

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            leading = await self.step()
            await self._sleep(self._check_seconds if leading else self._retry_seconds)

    async def close(self) -> None:
        if self.leading:
            await self._stop_leading()

    async def _stop_leading(self) -> None:
        self.leading = False
        try:
            await self._on_lost()
        finally:
            await self._answer(self._lock.release(), "letting the lock go")

    async def _answer(self, call: Awaitable[bool | None], doing: str) -> bool:
        try:
            return bool(await asyncio.wait_for(call, timeout=self._timeout))
        except Exception as error:
            logger.warning("The database did not answer while %s (%r)", doing, error)
            return False
