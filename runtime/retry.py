from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from storage.transient import sqlite_failure_is_transient

if TYPE_CHECKING:
    from aiogram import Bot

logger = logging.getLogger(__name__)

Sleeper = Callable[[float], Awaitable[None]]


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Waits the `retry_after` that a 429 asks for and tries again, a bounded number of times."""

    def __init__(self, max_attempts: int = 3, sleep: Sleeper = asyncio.sleep) -> None:
        self._max_attempts = max_attempts
        self._sleep = sleep

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = 1
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                if attempt >= self._max_attempts:
                    raise
                logger.warning(
                    "%s hit the rate limit; retrying in %s s (attempt %d of %d)",
                    type(method).__name__,
                    error.retry_after,
                    attempt + 1,
                    self._max_attempts,
                )
                await self._sleep(float(error.retry_after))
                attempt += 1


TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03", "25006"})


def is_transient(error: BaseException) -> bool:
    """A failure that goes away by itself: the database is locked, unreachable or failing over,
    or Telegram is unreachable or busy. Anything else is a bug or a refusal, including SQL
    that SQLite rejects ("no such column"), which it reports as an OperationalError too."""
    if isinstance(
        error,
        (
            DisconnectionError,
            PoolTimeoutError,
            OSError,
            TelegramNetworkError,
            TelegramServerError,
            TelegramRetryAfter,
        ),
    ):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    causes = _causes(error)
    for cause in causes:
        verdict = sqlite_failure_is_transient(cause)
        if verdict is not None:
            return verdict
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return any(_transient_sqlstate(_sqlstate(cause)) for cause in causes)


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in found and len(found) < 10:
        found.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return found


def _transient_sqlstate(code: str | None) -> bool:
    # class 08: connection exceptions; the others: serialization, deadlock, too many
    # connections, server shutting down or starting, a standby that refuses writes
    return code is not None and (code.startswith("08") or code in TRANSIENT_SQLSTATES)


def _sqlstate(error: BaseException) -> str | None:
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return code if isinstance(code, str) else None


@dataclass(frozen=True)
class Backoff:
    """Waits that double from `first` up to `cap` seconds."""

    first: float = 0.5
    cap: float = 300.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * 2, self.cap)


async def call_without_waiting(bot: Bot, method: TelegramMethod[Any]) -> Any:
    """The request through the session's middlewares except RetryAfterMiddleware, for callers
    that pace many chats at once: a 429 is raised to them, so that only its chat waits."""
    session = bot.session
    request: NextRequestMiddlewareType[Any] = session.make_request
    for middleware in reversed(session.middleware):
        if not isinstance(middleware, RetryAfterMiddleware):
            request = partial(middleware, request)
    return await request(bot, method)
