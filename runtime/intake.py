"""The intake: updates applied a batch at a time (a getUpdates page; later webhook requests
gathered over a short window), through aiogram's dispatcher.

One transaction per batch: every update id claimed in one statement, each update in its own
savepoint (handlers/middlewares/unit_of_work.py), one commit, then the replies, and only then
is the batch confirmed to Telegram. A transient failure undoes the whole batch, which is tried
again with growing waits; a bug undoes its update only, kept as a dead letter in the same
transaction."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from bot.ports import Clock, SavepointsUnavailable, UnitOfWork, UnitOfWorkFactory
from handlers.invite_links import PreparedInviteLinks
from handlers.middlewares.unit_of_work import UpdateOutcome, describe_error, raw_payload
from handlers.retry import Backoff, Sleeper, is_transient
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
# Dispatcher data: the features' `async (bot, updates)` hooks fetching from Telegram what
# the batch's handlers will read, called before the transaction opens.
PREFETCH_HOOKS = "prefetch_hooks"

Deliver = Callable[[Sequence[Outbox]], Awaitable[None]]
ReadsOnly = Callable[[Update], bool]


def nothing_reads_only(_update: Update) -> bool:
    return False


@dataclass
class ReplayOutcome:
    already_handled: bool = False
    refused: bool = False


class BatchIntake:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        open_uow: UnitOfWorkFactory,
        clock: Clock,
        deliver: Deliver,
        *,
        sleep: Sleeper,
        backoff: Backoff | None = None,
        reads_only: ReadsOnly = nothing_reads_only,
    ) -> None:
        self._dispatcher = dispatcher
        self._bot = bot
        self._open_uow = open_uow
        self._clock = clock
        self._deliver = deliver
        self._sleep = sleep
        self._backoff = backoff or Backoff()
        self._reads_only = reads_only
        self._invite_links = PreparedInviteLinks(open_uow)
        dispatcher["invite_links"] = self._invite_links

    async def poll(self, *, allowed_updates: list[str], polling_timeout: int) -> None:
        """Fetches a page, applies it, and confirms it (by the next page's offset) only after
        its commit and its replies; one page at a time bounds the updates in flight."""
        request_timeout = int((self._bot.session.timeout or 60) + polling_timeout)
        offset: int | None = None
        delays = None
        while True:
            request = GetUpdates(
                offset=offset,
                limit=PAGE_SIZE,
                timeout=polling_timeout,
                allowed_updates=allowed_updates,
            )
            try:
                page = await self._bot(request, request_timeout=request_timeout)
            except (
                TelegramNetworkError,
                TelegramServerError,
                TelegramRetryAfter,
                TelegramConflictError,
            ) as error:
                delays = delays or Backoff(first=1.0, cap=30.0).delays()
                delay = next(delays)
                logger.warning("getUpdates failed (%s); trying again in %s s", error, delay)
                await self._sleep(delay)
                continue
            delays = None
            if page:
                await self.handle_batch(page)
                offset = max(update.update_id for update in page) + 1

    async def handle_batch(self, updates: Sequence[Update]) -> None:
        """Applies the batch exactly once, waiting out transient failures for as long as they
        last, then hands its replies on; then answers its read-only commands. Returns when
        the batch may be confirmed."""
        reads = [update for update in updates if self._reads_only(update)]
        writes = [update for update in updates if not self._reads_only(update)]
        if writes:
            await self._handle_writes(writes)
        if reads:
            await self._handle_reads(reads)

    async def _handle_reads(self, updates: Sequence[Update]) -> None:
        """Commands that only look (/top, /tiers, /me of a known member), after the batch's
        writes committed, in a read-only transaction: no claim and, on SQLite, no write lock.
        One that turns out to need a write, or fails, goes the write path, exactly once."""
        outboxes: list[Outbox] = []
        again: list[Update] = []
        try:
            async with self._open_uow(read_only=True) as uow:
                for update in updates:
                    outcome = await self._feed(uow, update)
                    if outcome.failure is None:
                        outboxes.append(outcome.outbox)
                    else:
                        again.append(update)
        except Exception as error:
            logger.info("Read-only commands %s go the write path (%s)", _ids(updates), error)
            outboxes, again = [], list(updates)
        if outboxes:
            await self._deliver(outboxes)
        if again:
            await self._handle_writes(again)

    async def _handle_writes(self, updates: Sequence[Update]) -> None:
        delays = self._backoff.delays()
        waited = 0.0
        driver_savepoints = True
        while True:
            try:
                await self._prefetch(updates)
                outboxes = await self._apply(updates, driver_savepoints)
                break
            except SavepointsUnavailable as error:
                logger.warning(
                    "Updates %s run again with SQLAlchemy's savepoints (%s)", _ids(updates), error
                )
                driver_savepoints = False
            except Exception as error:
                if not is_transient(error):
                    raise
                delay = next(delays)
                logger.warning(
                    "Updates %s could not be handled (%s: %s); the batch stays unconfirmed "
                    "and is tried again in %s s",
                    _ids(updates),
                    type(error).__name__,
                    error,
                    delay,
                )
                await self._sleep(delay)
                waited += delay
        if waited:
            logger.info("Updates %s handled after %s s of waiting", _ids(updates), waited)
        outboxes.append(await self._invite_links.settle())
        await self._deliver(outboxes)

    async def replay(self, update: Update) -> ReplayOutcome:
        """A dead letter run again as a batch of one: one attempt, any failure raised."""
        await self._prefetch([update])
        async with self._open_uow(driver_savepoints=False) as uow:
            if not await self._claim(uow, [update]):
                return ReplayOutcome(already_handled=True)
            outcome = await self._feed(uow, update)
            if outcome.failure is not None:
                raise outcome.failure
        await self._deliver([outcome.outbox, await self._invite_links.settle()])
        return ReplayOutcome(refused=outcome.refused)

    async def _prefetch(self, updates: Sequence[Update]) -> None:
        """What the batch's handlers need from Telegram (moderator rights, new invite links),
        fetched before the transaction opens."""
        moderators = self._dispatcher.workflow_data.get("moderators")
        prefetch = getattr(moderators, "prefetch", None)
        if prefetch is not None:
            await prefetch(self._bot, updates)
        await self._invite_links.prefetch(self._bot, updates)
        for feature_prefetch in self._dispatcher.workflow_data.get(PREFETCH_HOOKS, ()):
            await feature_prefetch(self._bot, updates)

    async def _apply(self, updates: Sequence[Update], driver_savepoints: bool) -> list[Outbox]:
        outboxes: list[Outbox] = []
        async with self._open_uow(driver_savepoints=driver_savepoints) as uow:
            fresh = await self._claim(uow, updates)
            for update in updates:
                if update.update_id not in fresh:
                    logger.info("Update %d was already handled; ignored", update.update_id)
                    continue
                fresh.discard(update.update_id)
                outcome = await self._feed(uow, update)
                if outcome.failure is None:
                    outboxes.append(outcome.outbox)
                elif is_transient(outcome.failure) or isinstance(
                    outcome.failure, SavepointsUnavailable
                ):
                    raise outcome.failure
                else:
                    await self._set_aside(uow, update, outcome.failure)
        return outboxes

    async def _claim(self, uow: UnitOfWork, updates: Sequence[Update]) -> set[int]:
        return await uow.processed_updates.claim_many(
            self._bot.id, [update.update_id for update in updates], self._clock.now()
        )

    async def _feed(self, uow: UnitOfWork, update: Update) -> UpdateOutcome:
        outcome = UpdateOutcome()
        try:
            await self._dispatcher.feed_update(self._bot, update, uow=uow, outcome=outcome)
        except Exception as error:
            if not outcome.refused and outcome.failure is None:
                outcome.failure = error
        return outcome

    async def _set_aside(self, uow: UnitOfWork, update: Update, error: BaseException) -> None:
        """The update becomes a dead letter in the batch's transaction and its claim is
        released for `seedbot replay`. When its payload cannot be stored, a row with just its
        id and both errors is, and the payload goes to the log."""
        logger.error(
            "Update %d failed (%s: %s); kept as a dead letter (see `seedbot deadletters`)",
            update.update_id,
            type(error).__name__,
            error,
            exc_info=error,
        )
        text = describe_error(error, self._bot.token)
        await uow.processed_updates.release(self._bot.id, update.update_id)
        try:
            payload = update.model_dump(mode="json", exclude_none=True, by_alias=True)
            await self._add_dead_letter(uow, update.update_id, payload, text)
            return
        except Exception as store_error:
            if is_transient(store_error) or isinstance(store_error, SavepointsUnavailable):
                raise
            store_text = describe_error(store_error, self._bot.token)
        logger.error(
            "The dead letter of update %d could not be stored (%s); storing its id only. "
            "Its payload: %s",
            update.update_id,
            store_text,
            raw_payload(update),
        )
        both = f"{text}\n(payload not stored: {store_text})"[:2000]
        try:
            await self._add_dead_letter(
                uow, update.update_id, {"update_id": update.update_id}, both
            )
        except Exception as minimal_error:
            if is_transient(minimal_error) or isinstance(minimal_error, SavepointsUnavailable):
                raise
            logger.error(
                "Not even the id of update %d could be stored as a dead letter (%s)",
                update.update_id,
                describe_error(minimal_error, self._bot.token),
            )

    async def _add_dead_letter(
        self, uow: UnitOfWork, update_id: int, payload: dict[str, Any], error: str
    ) -> None:
        async with uow.savepoint():
            await uow.dead_letters.add(self._bot.id, update_id, payload, error, self._clock.now())


class _PerUpdateLinesAtDebug(logging.Filter):
    """aiogram's "Update id=... is handled" line, one per update, logged at DEBUG instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Update id="):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_per_update_logs() -> None:
    events = logging.getLogger("aiogram.event")
    if not any(isinstance(f, _PerUpdateLinesAtDebug) for f in events.filters):
        events.addFilter(_PerUpdateLinesAtDebug())


def _ids(updates: Sequence[Update]) -> str:
    ids = [update.update_id for update in updates]
    return str(ids[0]) if len(ids) == 1 else f"{min(ids)}..{max(ids)}"
