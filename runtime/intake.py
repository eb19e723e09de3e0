"""The intake: updates applied a batch at a time (a getUpdates page; later webhook requests
gathered over a short window), through aiogram's dispatcher.

One transaction per batch: every update id claimed in one statement, each update in its own
savepoint (runtime/savepoints.py), one commit, then the replies, and only then
is the batch confirmed to Telegram. A transient failure undoes the whole batch, which is tried
again with growing waits; a bug undoes its update only, kept as a dead letter in the same
transaction. A page is read update by update from its raw JSON: one that aiogram's models
reject (a field a later Bot API version adds or drops) becomes a dead letter with its raw
payload, and the rest of the page is handled.

A confirmed press has been answered: the batch is confirmed only after its callback answers
were sent (or given up), and a press redelivered after a crash between the commit and its
answer gets the answer it had, which the batch's transaction remembered."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import Message, Update

from bot.domain.models import UserInfo
from bot.ports import Clock, SavepointsUnavailable, UnitOfWork, UnitOfWorkFactory
from bot.services.membership import note_senders
from runtime.features import PagePrefetch, PageSettleable
from runtime.outbox import Outbox
from runtime.retry import Backoff, Sleeper, is_transient
from runtime.savepoints import UpdateOutcome, describe_error, raw_payload

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
MAX_UPDATE_ID = 2**63 - 1
# Dispatcher data: the features' `async (bot, updates)` hooks fetching from Telegram what
# the batch's handlers will read, called before the transaction opens.

Deliver = Callable[[Sequence[Outbox]], Awaitable[None]]
ReadsOnly = Callable[[Update], bool]


def nothing_reads_only(_update: Update) -> bool:
    return False


@dataclass
class ReplayOutcome:
    already_handled: bool = False
    refused: bool = False


class GetRawUpdates(TelegramMethod[list[Any]]):
    """getUpdates with the page left as raw JSON, so that each update is parsed on its own."""

    __returning__: ClassVar[Any] = list[Any]
    __api_method__: ClassVar[str] = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


@dataclass(frozen=True)
class Unreadable:
    """An update aiogram's models reject: kept as a dead letter with its raw payload."""

    update_id: int | None
    payload: dict[str, Any]
    error: str


@dataclass
class Page:
    updates: list[Update] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def next_offset(self) -> int | None:
        ids = [update.update_id for update in self.updates]
        ids += [item.update_id for item in self.unreadable if item.update_id is not None]
        return max(ids) + 1 if ids else None


def parse_page(raw: Sequence[Any], bot: Bot) -> Page:
    """Each update of a raw getUpdates page (or a webhook body) parsed on its own."""
    page = Page()
    for item in raw:
        try:
            page.updates.append(Update.model_validate(item, context={"bot": bot}))
        except Exception as error:
            page.unreadable.append(_unreadable(item, error, bot.token))
    return page


def _unreadable(item: Any, error: Exception, token: str) -> Unreadable:
    update_id = item.get("update_id") if isinstance(item, dict) else None
    readable_id = type(update_id) is int and 0 <= update_id <= MAX_UPDATE_ID
    update_id = update_id if readable_id else None
    payload = item if isinstance(item, dict) else {"update_id": update_id, "raw": item}
    return Unreadable(update_id, payload, describe_error(error, token))


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
        prefetch: Sequence[PagePrefetch] = (),
    ) -> None:
        self._dispatcher = dispatcher
        self._bot = bot
        self._open_uow = open_uow
        self._clock = clock
        self._deliver = deliver
        self._sleep = sleep
        self._backoff = backoff or Backoff()
        self._reads_only = reads_only
        self._prefetchers = tuple(prefetch)

    async def poll(self, *, allowed_updates: list[str], polling_timeout: int) -> None:
        """Fetches a page, applies it, and confirms it (by the next page's offset) only after
        its commit and its replies; one page at a time bounds the updates in flight."""
        request_timeout = int((self._bot.session.timeout or 60) + polling_timeout)
        offset: int | None = None
        delays = None
        while True:
            request = GetRawUpdates(
                offset=offset,
                limit=PAGE_SIZE,
                timeout=polling_timeout,
                allowed_updates=allowed_updates,
            )
            try:
                raw = await self._bot(request, request_timeout=request_timeout)
            except (
                TelegramNetworkError,
                TelegramServerError,
                TelegramRetryAfter,
                TelegramConflictError,
                ClientDecodeError,  # not a page at all: no update in it to set aside
            ) as error:
                delays = delays or Backoff(first=1.0, cap=30.0).delays()
                delay = next(delays)
                logger.warning("getUpdates failed (%s); trying again in %s s", error, delay)
                await self._sleep(delay)
                continue
            delays = None
            page = parse_page(raw, self._bot)
            if page.updates or page.unreadable:
                await self.handle_batch(page.updates, page.unreadable)
            offset = page.next_offset or offset

    async def handle_batch(
        self, updates: Sequence[Update], unreadable: Sequence[Unreadable] = ()
    ) -> None:
        """Applies the batch exactly once, waiting out transient failures for as long as they
        last, then hands its replies on; then answers its read-only commands. Returns when
        the batch may be confirmed."""
        for item in unreadable:
            logger.error(
                "Update %s cannot be read (%s); kept as a dead letter (see `seedbot deadletters`)",
                item.update_id,
                item.error.splitlines()[0],
            )
        reads = [update for update in updates if self._reads_only(update)]
        writes = [update for update in updates if not self._reads_only(update)]
        if writes or unreadable:
            await self._handle_writes(writes, unreadable)
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

    async def _handle_writes(
        self, updates: Sequence[Update], unreadable: Sequence[Unreadable] = ()
    ) -> None:
        delays = self._backoff.delays()
        waited = 0.0
        driver_savepoints = True
        while True:
            try:
                await self._prefetch(updates)
                outboxes = await self._apply(updates, driver_savepoints, unreadable)
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
        outboxes.extend(await self._settle())
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
        await self._deliver([outcome.outbox, *await self._settle()])
        return ReplayOutcome(refused=outcome.refused)

    async def _prefetch(self, updates: Sequence[Update]) -> None:
        """What the batch's handlers need from Telegram (moderator rights, and what the
        features declare: new invite links, quiz answerers), fetched before the transaction
        opens."""
        moderators = self._dispatcher.workflow_data.get("moderators")
        prefetch = getattr(moderators, "prefetch", None)
        if prefetch is not None:
            await prefetch(self._bot, updates)
        for prefetcher in self._prefetchers:
            await prefetcher.prefetch(self._bot, updates)

    async def _settle(self) -> list[Outbox]:
        """After the commit: what the prefetchers planned carried out (PageSettle)."""
        settled: list[Outbox] = []
        for prefetcher in self._prefetchers:
            if isinstance(prefetcher, PageSettleable):
                settled.append(await prefetcher.settle())
        return settled

    async def _apply(
        self,
        updates: Sequence[Update],
        driver_savepoints: bool,
        unreadable: Sequence[Unreadable] = (),
    ) -> list[Outbox]:
        outboxes: list[Outbox] = []
        answers: dict[int, dict[str, Any]] = {}
        async with self._open_uow(driver_savepoints=driver_savepoints) as uow:
            for item in unreadable:
                if item.update_id is not None:
                    await self._store_dead_letter(uow, item.update_id, item.payload, item.error)
            fresh = await self._claim(uow, updates)
            await self._note_senders(uow, [u for u in updates if u.update_id in fresh])
            handled_before: list[Update] = []
            for update in updates:
                if update.update_id not in fresh:
                    logger.info("Update %d was already handled; ignored", update.update_id)
                    handled_before.append(update)
                    continue
                fresh.discard(update.update_id)
                outcome = await self._feed(uow, update)
                if outcome.failure is None:
                    outboxes.append(outcome.outbox)
                    answer = _answer_of(outcome.outbox)
                    if answer is not None and update.callback_query is not None:
                        answers[update.update_id] = answer
                elif is_transient(outcome.failure) or isinstance(
                    outcome.failure, SavepointsUnavailable
                ):
                    raise outcome.failure
                else:
                    await self._set_aside(uow, update, outcome.failure)
                    if update.callback_query is not None:
                        outboxes.append(_answered(update, {}))
            await uow.processed_updates.remember_answers(self._bot.id, answers)
            outboxes += await self._answer_again(uow, handled_before)
        return outboxes

    async def _note_senders(self, uow: UnitOfWork, updates: Sequence[Update]) -> None:
        """The page's senders in groups, written at once before its updates (each update
        would write its sender first thing, in its own savepoint; a sender's row stays
        written when their update is undone, as its redelivery would write it again). When
        that fails, each update writes its own sender, as it would have."""
        senders = [sender for update in updates if (sender := _group_sender(update))]
        if not senders:
            return
        try:
            async with uow.savepoint():
                await note_senders(uow, senders)
        except Exception as error:
            if is_transient(error) or isinstance(error, SavepointsUnavailable):
                raise
            logger.warning("The senders of %s are written one by one (%s)", _ids(updates), error)

    async def _answer_again(self, uow: UnitOfWork, updates: Sequence[Update]) -> list[Outbox]:
        """Presses handled before (a crash came between their commit and their answers) get
        the answers they had."""
        presses = [update for update in updates if update.callback_query is not None]
        if not presses:
            return []
        remembered = await uow.processed_updates.answers(
            self._bot.id, [update.update_id for update in presses]
        )
        return [
            _answered(update, remembered[update.update_id])
            for update in presses
            if update.update_id in remembered
        ]

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
        except Exception:
            payload = {"update_id": update.update_id, "raw": raw_payload(update)}
        await self._store_dead_letter(uow, update.update_id, payload, text)

    async def _store_dead_letter(
        self, uow: UnitOfWork, update_id: int, payload: dict[str, Any], text: str
    ) -> None:
        """When the payload cannot be stored, a row with just the update's id and both
        errors is, and the payload goes to the log."""
        try:
            await self._add_dead_letter(uow, update_id, payload, text)
            return
        except Exception as store_error:
            if is_transient(store_error) or isinstance(store_error, SavepointsUnavailable):
                raise
            store_text = describe_error(store_error, self._bot.token)
        logger.error(
            "The dead letter of update %d could not be stored (%s); storing its id only. "
            "Its payload: %s",
            update_id,
            store_text,
            _redacted(repr(payload), self._bot.token),
        )
        both = f"{text}\n(payload not stored: {store_text})"[:2000]
        try:
            await self._add_dead_letter(uow, update_id, {"update_id": update_id}, both)
        except Exception as minimal_error:
            if is_transient(minimal_error) or isinstance(minimal_error, SavepointsUnavailable):
                raise
            logger.error(
                "Not even the id of update %d could be stored as a dead letter (%s)",
                update_id,
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


def _answer_of(outbox: Outbox) -> dict[str, Any] | None:
    """The callback answer an outbox plans, as plain data (its query id left out)."""
    for reply in outbox.planned():
        if isinstance(reply.method, AnswerCallbackQuery):
            return reply.method.model_dump(
                mode="json", exclude_none=True, exclude={"callback_query_id"}
            )
    return None


def _answered(update: Update, answer: dict[str, Any]) -> Outbox:
    assert update.callback_query is not None
    outbox = Outbox()
    outbox.call(AnswerCallbackQuery(callback_query_id=update.callback_query.id, **answer))
    return outbox


_GROUP_CHAT_TYPES = frozenset({"group", "supergroup"})


def _group_sender(update: Update) -> UserInfo | None:
    """Who sent a message or pressed a button in a group chat."""
    if update.message is not None:
        chat, sender = update.message.chat, update.message.from_user
    elif update.callback_query is not None and isinstance(update.callback_query.message, Message):
        chat, sender = update.callback_query.message.chat, update.callback_query.from_user
    else:
        return None
    if sender is None or chat.type not in _GROUP_CHAT_TYPES:
        return None
    return UserInfo(
        id=sender.id,
        first_name=sender.first_name,
        username=sender.username,
        language_code=sender.language_code,
        is_bot=sender.is_bot,
    )


def _redacted(text: str, secret: str) -> str:
    return text.replace(secret, "<BOT_TOKEN>")


def _ids(updates: Sequence[Update]) -> str:
    ids = [update.update_id for update in updates]
    return str(ids[0]) if len(ids) == 1 else f"{min(ids)}..{max(ids)}"
