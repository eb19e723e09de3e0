from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType

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
