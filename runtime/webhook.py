"""Webhook intake: aiogram's aiohttp request handler, with the polling intake's guarantees.

Telegram posts one update per request and waits for the answer. Requests arriving together
are gathered over a short window into one batch, applied by the same BatchIntake as a
getUpdates page (one transaction, a savepoint per update, then the replies), and each request
is answered 200 only after its batch committed and its replies went out. A worker that dies
before answering leaves the update to be delivered again, and the claim on its id makes it
count once. An update that cannot be read is answered 200 (kept as a dead letter when it has
an id): Telegram would otherwise deliver it again for ever.

A request without the secret token set with `seedbot webhook set` gets 401 before its body is
read; a body over the size limit gets 413."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import BaseRequestHandler
from aiohttp import web

from runtime.intake import PAGE_SIZE, Unreadable, parse_page

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
READY_CHECK_SECONDS = 3.0

HandleBatch = Callable[[Sequence[Update], Sequence[Unreadable]], Awaitable[None]]
ReadinessCheck = Callable[[], Awaitable[str | None]]  # None when ready, else what is wrong


class IntakeClosed(RuntimeError):
    """The worker is stopping: the update is left for Telegram to deliver again."""


@dataclass
class _Waiting:
    item: Update | Unreadable
    done: asyncio.Future[None]


@dataclass
class UpdateBatcher:
    """Updates submitted together become one batch; one batch is handled at a time, and the
    next gathers while it runs. The gathering window is waited only while requests come
    together (the last batch had several): a lone request, as in one chat whose updates
    Telegram sends one at a time, is handled at once. The same update submitted twice
    (Telegram delivering it again while the first request still waits) shares the first
    one's outcome."""

    handle: HandleBatch
    window_seconds: float = 0.01
    limit: int = PAGE_SIZE
    _queue: asyncio.Queue[_Waiting | None] = field(default_factory=asyncio.Queue, init=False)
    _by_update_id: dict[int, asyncio.Future[None]] = field(default_factory=dict, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _closed: bool = field(default=False, init=False)
    _last_size: int = field(default=0, init=False)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-batches")

    async def submit(self, item: Update | Unreadable) -> None:
        """Returns once the item's batch has been applied and its replies sent; raises when
        it could not be (the request then fails, and Telegram delivers the update again)."""
        update_id = item.update_id
        if update_id is not None and update_id in self._by_update_id:
            await asyncio.shield(self._by_update_id[update_id])
            return
        if self._closed:
            raise IntakeClosed("the worker is stopping")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if update_id is not None:
            self._by_update_id[update_id] = done
            done.add_done_callback(lambda _: self._by_update_id.pop(update_id, None))
        self._queue.put_nowait(_Waiting(item, done))
        await asyncio.shield(done)

    async def close(self) -> None:
        """Refuses new updates, finishes those already submitted, then stops."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        while True:
            batch, last = await self._gather()
            self._last_size = len(batch)
            if batch:
                await self._apply(batch)
            if last:
                return

    async def _apply(self, batch: Sequence[_Waiting]) -> None:
        updates = [w.item for w in batch if isinstance(w.item, Update)]
        unreadable = [w.item for w in batch if isinstance(w.item, Unreadable)]
        try:
            await self.handle(updates, unreadable)
        except Exception as error:
            logger.exception("A webhook batch failed; Telegram will deliver it again")
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_exception(error)
                    waiting.done.exception()  # read: no "never retrieved" log if it went away
        else:
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_result(None)

    async def _gather(self) -> tuple[list[_Waiting], bool]:
        """The next batch, and whether the batcher was closed behind it."""
        first = await self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.window_seconds if self._last_size > 1 else 0.0)
        while len(batch) < self.limit:
            if self._queue.empty():
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    waiting = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
            else:
                waiting = self._queue.get_nowait()
            if waiting is None:
                return batch, True
            batch.append(waiting)
        return batch, False


class BatchedRequestHandler(BaseRequestHandler):
    """aiogram's webhook request handler, feeding the batcher instead of the dispatcher."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        batcher: UpdateBatcher,
        *,
        secret_token: str,
        max_body_bytes: int,
    ) -> None:
        super().__init__(dispatcher=dispatcher, handle_in_background=False)
        self.bot = bot
        self.batcher = batcher
        self._secret = secret_token.encode()
        self._max_body_bytes = max_body_bytes

    async def close(self) -> None:
        """The Bot's session belongs to the app, which closes it."""

    async def resolve_bot(self, request: web.Request) -> Bot:
        return self.bot

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        given = telegram_secret_token.encode("utf-8", "surrogateescape")
        return secrets.compare_digest(given, self._secret)

    async def handle(self, request: web.Request) -> web.Response:
        if not self.verify_secret(request.headers.get(SECRET_HEADER, ""), self.bot):
            return web.Response(status=401, text="Unauthorized")
        if request.content_length is not None and request.content_length > self._max_body_bytes:
            return web.Response(status=413, text="Request Entity Too Large")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.Response(status=413, text="Request Entity Too Large")
        item = self._read(body)
        if item is None:
            return web.json_response({})
        try:
            await self.batcher.submit(item)
        except IntakeClosed:
            return web.Response(status=503, text="Stopping")
        except Exception:
            return web.Response(status=500, text="Not handled; deliver again")
        return web.json_response({})

    def _read(self, body: bytes) -> Update | Unreadable | None:
        try:
            raw: Any = json.loads(body)
        except (ValueError, RecursionError) as error:  # not JSON, or nested too deep to read
            logger.error(
                "A webhook request's body is not JSON (%s, %d bytes); answered and dropped",
                error,
                len(body),
            )
            return None
        page = parse_page([raw], self.bot)
        if page.updates:
            return page.updates[0]
        unreadable = page.unreadable[0]
        if unreadable.update_id is None:
            logger.error(
                "A webhook request holds no readable update id (%s); answered and dropped",
                unreadable.error.splitlines()[0],
            )
            return None
        return unreadable


@dataclass
class Readiness:
    """GET /readyz: 200 when every check passes, else 503 naming what is wrong."""

    checks: dict[str, ReadinessCheck]

    async def handle(self, request: web.Request) -> web.Response:
        problems: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                problem = await asyncio.wait_for(check(), READY_CHECK_SECONDS)
            except Exception as error:
                problem = f"{type(error).__name__}: {error}"
            if problem is not None:
                problems[name] = problem
        if problems:
            return web.json_response({"ready": False, "problems": problems}, status=503)
        return web.json_response({"ready": True, "checked": sorted(self.checks)})


def health(leading: Callable[[], bool]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """GET /healthz: the process is up; `leader` says whether it runs the timed work."""

    async def healthy(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "leader": leading()})

    return healthy


def webhook_application(
    handler: BatchedRequestHandler,
    path: str,
    readiness: Readiness,
    leading: Callable[[], bool] = lambda: False,
) -> web.Application:
    application = web.Application(client_max_size=handler._max_body_bytes)
    handler.register(application, path=path)
    application.router.add_get(HEALTH_PATH, health(leading))
    application.router.add_get(READY_PATH, readiness.handle)
    return application
