"""The reply path: what updates want to say goes out after their transaction committed,
without holding up the next batch and inside Telegram's limits.

Callback answers (toasts) go out at once, and the intake waits for its batch's answers
before it confirms the batch: a press Telegram forgets has been answered. Everything else
waits in a queue of its chat,
drained by that chat's own task: messages are paced by the RateBudget the paced sender
uses too, a 429 holds back only that chat, and a group with more check-in replies waiting
than its budget allows gets them merged into one message."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod

from bot.ports import Clock
from runtime.outbox import Outbox, Reply, merged_checkins
from runtime.retry import Backoff, Sleeper, call_without_waiting
from runtime.sender import RateBudget, never_reached_telegram

logger = logging.getLogger(__name__)

ANSWER_WORKERS = 32
ANSWER_ATTEMPTS = 3
CLOSE_GRACE_SECONDS = 5.0
RATE_LIMITED_ATTEMPTS = 3  # as RetryAfterMiddleware: three attempts in all, then given up
NETWORK_BACKOFF = Backoff(first=0.5, cap=30.0)
# Telegram's answer to a press answered already, or answered after its time ran out.
_EXPIRED_QUERY = "query is too old"


class _Answers:
    """The callback answers of one batch still under way."""

    def __init__(self) -> None:
        self.waiting = 0
        self.settled = asyncio.Event()
        self.settled.set()

    def add(self) -> None:
        self.waiting += 1
        self.settled.clear()

    def done(self) -> None:
        self.waiting -= 1
        if self.waiting <= 0:
            self.settled.set()


@dataclass
class _ChatQueue:
    replies: deque[Reply] = field(default_factory=deque)
    not_before: datetime | None = None
    over_budget: bool = False
    rate_limited: int = 0
    failures: Iterator[float] | None = None
    task: asyncio.Task[None] | None = None


def _paced(method: TelegramMethod[Any]) -> bool:
    """Calls Telegram counts against a chat's message limits."""
    return method.__api_method__.startswith(("send", "copy", "forward"))


def _merge_key(reply: Reply) -> tuple[int | None, str] | None:
    if reply.checkin is None or not isinstance(reply.method, SendMessage):
        return None
    return reply.method.message_thread_id, reply.checkin.language


class ReplySender:
    """Sends outboxes handed over by `submit` in the background (see the module docstring).
    A reply is never sent twice: after a network failure it is sent again only when the
    request surely never reached Telegram, as the paced sender does."""

    def __init__(
        self,
        bot: Bot,
        windows: RateBudget,
        clock: Clock,
        sleep: Sleeper = asyncio.sleep,
        *,
        answer_workers: int = ANSWER_WORKERS,
        network_backoff: Backoff = NETWORK_BACKOFF,
    ) -> None:
        self._bot = bot
        self._windows = windows
        self._clock = clock
        self._sleep = sleep
        self._answer_workers = answer_workers
        self._network_backoff = network_backoff
        self._chats: dict[int, _ChatQueue] = {}
        self._answers: deque[tuple[TelegramMethod[Any], _Answers | None]] = deque()
        self._answering = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def submit(self, outbox: Outbox, answers: _Answers | None = None) -> None:
        """Takes the outbox's replies for sending; returns at once."""
        for reply in outbox.take():
            self._pending += 1
            self._idle.clear()
            self._enqueue(reply, answers)

    async def deliver(self, outboxes: Sequence[Outbox]) -> None:
        """The intake's reply hook (runtime.intake.Deliver): submits the batch's outboxes and
        returns once their callback answers were sent or given up, so that the batch is
        confirmed to Telegram only then; messages go on in their chats' queues."""
        answers = _Answers()
        for outbox in outboxes:
            self.submit(outbox, answers)
        await answers.settled.wait()

    async def idle(self) -> None:
        """Returns once every reply submitted so far was sent or given up."""
        while self._pending:
            await self._idle.wait()

    async def close(self, grace_seconds: float = CLOSE_GRACE_SECONDS) -> None:
        """Lets the replies under way go out for a few seconds, then stops; replies still
        waiting (a group waiting for its budget) are dropped and counted in the log."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), grace_seconds)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._pending:
            logger.warning("%d replies were still waiting at the stop; not sent", self._pending)
        self._chats.clear()
        for _method, answers in self._answers:
            if answers is not None:
                answers.done()
        self._answers.clear()
        self._pending = 0
        self._idle.set()

    def _enqueue(self, reply: Reply, answers: _Answers | None = None) -> None:
        if reply.build is not None:
            self._spawn(self._build(reply))
            return
        chat_id = getattr(reply.method, "chat_id", None)
        if isinstance(reply.method, AnswerCallbackQuery) or not isinstance(chat_id, int):
            if answers is not None and isinstance(reply.method, AnswerCallbackQuery):
                answers.add()
            self._answers.append((reply.method, answers))
            if self._answering < self._answer_workers:
                self._answering += 1
                self._spawn(self._answer_all())
            return
        queue = self._chats.setdefault(chat_id, _ChatQueue())
        queue.replies.append(reply)
        if queue.task is None:
            queue.task = self._spawn(self._drain_chat(chat_id, queue))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _done(self, count: int = 1) -> None:
        self._pending -= count
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    async def _answer_all(self) -> None:
        try:
            while self._answers:
                method, answers = self._answers.popleft()
                try:
                    await self._answer(method)
                finally:
                    self._done()
                    if answers is not None and isinstance(method, AnswerCallbackQuery):
                        answers.done()
        finally:
            self._answering -= 1

    async def _answer(self, method: TelegramMethod[Any]) -> None:
        name = type(method).__name__
        delays = self._network_backoff.delays()
        for attempt in range(1, ANSWER_ATTEMPTS + 1):
            try:
                await self._call(method)
                return
            except TelegramRetryAfter as error:
                delay = float(error.retry_after)
            except TelegramNetworkError as error:
                if not never_reached_telegram(error):
                    logger.warning("%s may or may not have reached Telegram (%s)", name, error)
                    return
                delay = next(delays)
            except TelegramForbiddenError as error:
                logger.warning("Cannot send %s: %s", name, error.message)
                return
            except TelegramAPIError as error:
                if _EXPIRED_QUERY in error.message:
                    logger.info("%s came too late or twice: %s", name, error.message)
                else:
                    logger.error("Sending %s failed: %s", name, error.message)
                return
            except Exception:
                logger.exception("Sending %s failed unexpectedly", name)
                return
            if attempt < ANSWER_ATTEMPTS:
                await self._sleep(delay)
        logger.warning("%s not sent after %d attempts", name, ANSWER_ATTEMPTS)

    async def _drain_chat(self, chat_id: int, queue: _ChatQueue) -> None:
        try:
            while queue.replies:
                wait = await self._wait(chat_id, queue)
                if wait > 0:
                    await self._sleep(wait)
                    continue
                await self._deliver(chat_id, queue, await self._next(chat_id, queue))
        finally:
            queue.task = None
            if not queue.replies and self._chats.get(chat_id) is queue:
                del self._chats[chat_id]

    async def _wait(self, chat_id: int, queue: _ChatQueue) -> float:
        """How long the chat's next reply must wait; 0 once it may go, its slot in the budget
        taken when it is counted against the limits."""
        now = self._clock.now()
        if queue.not_before is not None:
            wait = (queue.not_before - now).total_seconds()
            if wait > 0:
                return wait
        if not _paced(queue.replies[0].method):
            return 0.0
        budget = await self._windows.reserve(chat_id, now)
        queue.over_budget = queue.over_budget or budget.chat > 0
        return max(budget.overall, budget.chat)

    async def _next(self, chat_id: int, queue: _ChatQueue) -> Reply:
        """The next reply. When the chat had to wait for its budget, or more replies wait
        than its budget has room for, the check-ins waiting are merged into as few messages
        as fit, sent in the first one's place."""
        head = queue.replies.popleft()
        key = _merge_key(head)
        if key is None or head.checkin is None:
            return head
        over_budget, queue.over_budget = queue.over_budget, False
        room = await self._windows.free_slots(chat_id, self._clock.now())  # besides the head's
        if not over_budget and len(queue.replies) <= room:
            return head
        lines = [head.checkin]
        others: deque[Reply] = deque()
        for reply in queue.replies:
            if reply.checkin is not None and _merge_key(reply) == key:
                lines.append(reply.checkin)
            else:
                others.append(reply)
        if len(lines) == 1:
            return head
        thread_id = key[0]
        merged = [
            Reply(SendMessage(chat_id=chat_id, message_thread_id=thread_id, text=text))
            for text in merged_checkins(lines)
        ]
        queue.replies = deque(merged[1:]) + others
        self._done(len(lines) - len(merged))
        logger.info(
            "Chat %d is over its budget: %d check-in replies merged into %d messages",
            chat_id,
            len(lines),
            len(merged),
        )
        return merged[0]

    async def _deliver(self, chat_id: int, queue: _ChatQueue, reply: Reply) -> None:
        method = reply.method
        name = type(method).__name__
        now = self._clock.now()
        try:
            await self._call(method)
        except TelegramRetryAfter as error:
            queue.rate_limited += 1
            if queue.rate_limited < RATE_LIMITED_ATTEMPTS:
                logger.warning("Chat %d is rate limited for %s s", chat_id, error.retry_after)
                self._later(queue, reply, now + timedelta(seconds=error.retry_after))
                return
            logger.warning(
                "%s to chat %d was refused %d times for the rate limit; given up",
                name,
                chat_id,
                queue.rate_limited,
            )
        except TelegramMigrateToChat as error:
            self._move(reply, chat_id, error.migrate_to_chat_id)
        except TelegramForbiddenError as error:
            logger.warning("Chat %d refuses %s: %s; dropped", chat_id, name, error.message)
        except TelegramNetworkError as error:
            if never_reached_telegram(error):
                queue.failures = queue.failures or self._network_backoff.delays()
                self._later(queue, reply, now + timedelta(seconds=next(queue.failures)))
                return
            logger.warning(
                "%s may or may not have reached chat %d (%s); not resent", name, chat_id, error
            )
        except TelegramServerError as error:
            logger.warning(
                "%s may or may not have reached chat %d (%s); not resent", name, chat_id, error
            )
        except TelegramAPIError as error:
            logger.error("Sending %s to chat %d failed: %s", name, chat_id, error.message)
        except Exception:
            logger.exception("Sending %s to chat %d failed unexpectedly", name, chat_id)
        else:
            queue.failures = None
        queue.rate_limited = 0
        self._done()

    async def _build(self, reply: Reply) -> None:
        """A reply made after the commit (Outbox.later): built aside, so that the chat's other
        replies go on meanwhile, then queued as the calls it built (its fallback when building
        fails)."""
        assert reply.build is not None
        try:
            methods = list(await reply.build())
        except Exception:
            logger.exception("Building a reply failed; its fallback is sent instead")
            methods = [reply.method]
        for method in methods:
            self._pending += 1
            self._enqueue(Reply(method))
        self._done()

    @staticmethod
    def _later(queue: _ChatQueue, reply: Reply, not_before: datetime) -> None:
        queue.replies.appendleft(reply)
        queue.not_before = not_before

    def _move(self, reply: Reply, chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: the reply goes to its new chat id."""
        if new_chat_id == chat_id:
            return
        logger.info("Chat %d moved to %d; its reply follows", chat_id, new_chat_id)
        moved = reply.method.model_copy(update={"chat_id": new_chat_id})
        self._pending += 1
        self._enqueue(Reply(moved, reply.checkin))

    async def _call(self, method: TelegramMethod[Any]) -> Any:
        """The request through the session's middlewares except RetryAfterMiddleware, whose
        waiting would hold up the other replies: a 429 holds back only its chat here."""
        return await call_without_waiting(self._bot, method)
