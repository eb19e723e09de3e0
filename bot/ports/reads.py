"""Reads that may take long (a whole large community: /stats, /export, /mydata, the
lifecycle's judgement, key members, the weekly digest, lottery entry lists) are handed to a
`Reader`: it runs the read in a read-only unit of work and returns its plain result. The
composition root gives the off-loop one (storage.offloop: its own connection, in a worker
thread, so the event loop and every other group go on meanwhile)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from bot.ports.core import UnitOfWork, UnitOfWorkFactory

T = TypeVar("T")


class Reader(Protocol):
    async def read(self, fn: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """`fn` run in a read-only unit of work of the reader's own; its result returned.
        The result must be plain data (no live ORM objects): it crosses to the caller's loop."""
        ...

    async def close(self) -> None: ...


class InPlaceReader:
    """A Reader in the caller's own loop, on the application's units of work (for an
    in-memory SQLite database, which another connection cannot see)."""

    def __init__(self, open_uow: UnitOfWorkFactory) -> None:
        self._open_uow = open_uow

    async def read(self, fn: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self._open_uow(read_only=True) as uow:
            return await fn(uow)

    async def close(self) -> None:
        return None
