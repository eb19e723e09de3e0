"""The composition root: builds the engine, Bot, Dispatcher and their wiring.

Nothing runs at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import ssl
from collections.abc import Coroutine, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import certifi
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Update
from aiohttp import web
from alembic.runtime.migration import MigrationContext
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import SystemClock
from bot.ports import Clock, UnitOfWorkFactory
from bot.ports.reads import Reader
from bot.services.membership import CommunityDefaults
from handlers import FEATURES, setup_routers
from handlers.filters.moderator import ModeratorDirectory
from handlers.help import register_command_menus
from handlers.insights import StatsContext
from handlers.middlewares.console import ConsoleMiddleware, QuietGroupMiddleware
from handlers.middlewares.context import CommunityContextMiddleware
from runtime.features import (
    Feature,
    JobContext,
    Wiring,
    WiringContext,
    allowed_updates_of,
    reads_only_of,
)
from runtime.intake import BatchIntake, ReplayOutcome, quiet_per_update_logs
from runtime.jobs import DUE_WORK_JOB, JobRuntime, job_runtime_of
from runtime.leader import Leadership, leader_key
from runtime.membership_checker import BotMembershipChecker
from runtime.moderator_list import BotModeratorList
from runtime.replies import ReplySender
from runtime.retry import Backoff, RetryAfterMiddleware, Sleeper
from runtime.savepoints import SavepointMiddleware
from runtime.sender import Sender, SendLimits
from runtime.webhook import (
    BatchedRequestHandler,
    Readiness,
    ReadinessCheck,
    UpdateBatcher,
    webhook_application,
)
from seedbot.config import Settings, redacted_proxy
from seedbot.shared import SharedState, build_shared_state
from storage.engine import build_engine, build_session_factory
from storage.leader_lock import AdvisoryLock, AlwaysLeader, leader_lock_for
from storage.migrate import head_revision
from storage.offloop import build_reader
from storage.uow import unit_of_work

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    "message",
    "callback_query",
    "chat_member",
    "my_chat_member",
    "chat_join_request",
    "poll_answer",
    "poll",
]


class WebhookIsSet(RuntimeError):
    """Polling cannot start while Telegram delivers this bot's updates to a webhook."""

    def __init__(self, url: str) -> None:
        super().__init__(
            f"A webhook is set for this bot ({url}), so polling cannot start: remove it with "
            "`seedbot webhook delete`, or run the workers with `seedbot run --webhook`."
        )


class MissingWebhookSecret(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "WEBHOOK_SECRET is not set: webhook mode needs the secret token Telegram sends "
            "with each request (1-256 characters of A-Z, a-z, 0-9, _ and -)."
        )


def _bound_port(site: web.TCPSite) -> int | None:
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        return int(sock.getsockname()[1])
    return None


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    open_uow: UnitOfWorkFactory
    bot: Bot
    dispatcher: Dispatcher
    clock: Clock
    sender: Sender
    intake: BatchIntake
    replies: ReplySender
    features: Sequence[Feature] = FEATURES
    wirings: Sequence[Wiring] = ()
    scheduler: Any = field(default=None)
    jobs: JobRuntime | None = None  # the timed work the scheduler runs, while it runs
    reader: Reader | None = None  # long reads, off the event loop (storage/offloop.py)
    sleep: Sleeper = asyncio.sleep
    freeze_gc_after_start: bool = False
    readiness_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    webhook_port: int = 0
    _head_revision: str = field(default_factory=head_revision, init=False, repr=False)
    _serving: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    shared: SharedState = field(default_factory=SharedState)  # REDIS_URL: shared by the workers
    leadership: Leadership | None = None  # who runs the scheduler and the sender (leader.py)
    leader_sleep: Sleeper = asyncio.sleep  # the waits between leadership attempts and checks
    _leading_tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False, repr=False)
    _leader_lock: AlwaysLeader | AdvisoryLock | None = field(default=None, init=False, repr=False)
    _leadership_task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _stop_requested: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def job_runtime(self, scheduler: Any = None) -> JobRuntime:
        """Every feature's timed work with what it runs with, passed by argument."""
        wired: dict[str, Any] = {}
        for wiring in self.wirings:
            wired.update(wiring.data)
        context = JobContext(
            self.open_uow,
            self.clock,
            bot=self.bot,
            members=BotMembershipChecker(self.bot),
            moderators=BotModeratorList(self.bot),
            scheduler=scheduler,
            wired=wired,
            reader=self.reader,
        )
        return job_runtime_of(context, self.features)

    async def run_due_work(self) -> None:
        """What the features' timed work has due now (campaign runs, welcomes, referral
        re-checks, quizzes, lifecycle, surveys, birthdays), then housekeeping; with the
        scheduler running, its jobs are brought in line with the tables too."""
        await (self.jobs or self.job_runtime()).run()

    async def start_scheduler(self) -> None:
        """APScheduler with the periodic due-work job; the features' own jobs (one per
        scheduled campaign, one per running quiz) are brought in line at once."""
        if self.settings.due_work_seconds <= 0:
            return  # timed work is off (tests drive it by hand)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.jobs = self.job_runtime(self.scheduler)
        self.scheduler.add_job(
            DUE_WORK_JOB,
            "interval",
            args=[self.jobs],
            seconds=self.settings.due_work_seconds,
            id="due_work",
            max_instances=1,
            coalesce=True,
        )
        self.scheduler.start()
        await self.jobs.sync_jobs()

    async def start_background_work(self) -> None:
        """The scheduler's jobs and the paced sender, on the one worker that leads (a
        PostgreSQL advisory lock; on SQLite the one process leads): this worker leads at
        once if it can, and keeps asking otherwise. Every worker handles updates."""
        self._leader_lock = leader_lock_for(self.settings.database_url, leader_key(self.bot.id))
        self.leadership = Leadership(
            self._leader_lock,
            self._lead,
            self._stop_leading,
            retry_seconds=self.settings.leader_retry_seconds,
            sleep=self.leader_sleep,
        )
        await self.leadership.step()
        self._leadership_task = asyncio.create_task(self.leadership.run())

    async def stop_background_work(self) -> None:
        task, self._leadership_task = self._leadership_task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if self.leadership is not None:
            await self.leadership.close()
        if isinstance(self._leader_lock, AdvisoryLock):
            await self._leader_lock.dispose()
        self.leadership = self._leader_lock = None

    async def _lead(self) -> None:
        """Leadership acquired: the previous leader is gone, so what it was sending is truly
        interrupted (the sender's start marks it uncertain); the due work runs at once."""
        await self.start_scheduler()
        if self.jobs is not None:
            self._leading_tasks.append(asyncio.create_task(self.jobs.run()))
        if self.settings.background_sender:
            self._leading_tasks.append(asyncio.create_task(self.sender.run()))

    async def _stop_leading(self) -> None:
        tasks, self._leading_tasks = self._leading_tasks, []
        for task in tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        self.jobs = None

    def _warm_up_charts(self) -> None:
        stats = self.dispatcher.workflow_data.get("stats")
        if not isinstance(stats, StatsContext):
            return

        def report(done: asyncio.Future[None]) -> None:
            if not done.cancelled() and done.exception() is not None:
                logger.warning("Could not prepare the chart worker: %r", done.exception())

        stats.charts.warm_up().add_done_callback(report)

    async def start_polling(self, *, handle_signals: bool = True) -> None:
        """Polls until stopped. Updates are handled a getUpdates page at a time, in one
        transaction per page (runtime/intake.py), and confirmed (by the next getUpdates
        offset) only after it committed, so a crash loses nothing; a redelivered update is
        recognised by its id and changes nothing.

        Until the Bot API answers (network not up yet, or blocked) it keeps trying with
        growing waits; a token Telegram rejects raises TelegramUnauthorizedError."""
        self._stop_requested.clear()
        if not await self._until_stopped(self._reach_bot_api(), handle_signals):
            logger.info("Stopped before the Bot API answered")
            return
        try:
            await register_command_menus(self.bot, self.settings.default_language, self.features)
        except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as error:
            logger.warning("Could not register the command menus (%s); going on", error)
        await self.start_background_work()
        self._warm_up_charts()
        quiet_per_update_logs()
        if self.freeze_gc_after_start:
            gc.collect()
            gc.freeze()  # start-up objects leave the collector's view: no long full collections
        try:
            if not self._stop_requested.is_set():
                await self._poll(handle_signals)
        finally:
            await self.stop_background_work()

    async def _reach_bot_api(self, *, polling: bool = True) -> None:
        """Until the Bot API answers; in polling mode, refuses to go on while a webhook is set
        (getUpdates would fail with 409 for as long as it is)."""
        delays = Backoff().delays()
        while True:
            try:
                await self.bot.me()
                if polling:
                    info = await self.bot.get_webhook_info()
                    if info.url:
                        raise WebhookIsSet(info.url)
                return
            except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as error:
                delay = next(delays)
                logger.warning(
                    "The Bot API is not reachable (%s); trying again in %s s", error, delay
                )
                await self.sleep(delay)

    async def _until_stopped(self, work: Coroutine[Any, Any, None], handle_signals: bool) -> bool:
        """Runs `work` unless a stop request (stop_polling, SIGTERM or SIGINT) comes first;
        True when it finished."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for number in signals:
            with suppress(NotImplementedError):
                loop.add_signal_handler(number, self._stop_requested.set)
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for number in signals:
                with suppress(NotImplementedError):
                    loop.remove_signal_handler(number)
            for pending in (task, stop):
                if not pending.done():
                    pending.cancel()
                    with suppress(asyncio.CancelledError):
                        await pending
        if task.cancelled():
            return False
        task.result()
        return True

    async def _poll(self, handle_signals: bool) -> None:
        logger.info("Polling for updates")
        polling = self.intake.poll(
            allowed_updates=allowed_updates_of(ALLOWED_UPDATES, self.features),
            polling_timeout=self.settings.polling_timeout,
        )
        await self._until_stopped(polling, handle_signals)
        logger.info("Polling stopped")

    async def stop_polling(self) -> None:
        self._stop_requested.set()

    async def serve_webhook(self, *, handle_signals: bool = True) -> None:
        """Serves Telegram's webhook requests until stopped (runtime/webhook.py): each answered
        200 only after its update's batch committed. The webhook itself is set once by the
        operator (`seedbot webhook set`), never by a starting worker."""
        secret = self.settings.webhook_secret
        if secret is None:
            raise MissingWebhookSecret()
        self._stop_requested.clear()
        if not await self._until_stopped(self._reach_bot_api(polling=False), handle_signals):
            logger.info("Stopped before the Bot API answered")
            return
        await self.start_background_work()
        self._warm_up_charts()
        quiet_per_update_logs()
        batcher = UpdateBatcher(
            self.intake.handle_batch, window_seconds=self.settings.webhook_batch_ms / 1000
        )
        handler = BatchedRequestHandler(
            self.dispatcher,
            self.bot,
            batcher,
            secret_token=secret.get_secret_value(),
            max_body_bytes=self.settings.webhook_max_body_bytes,
        )
        checks: dict[str, ReadinessCheck] = {"database": self._database_ready}
        if self.shared.client is not None:
            checks["redis"] = self.shared.problem
        readiness = Readiness({**checks, **self.readiness_checks})
        runner = web.AppRunner(
            webhook_application(handler, self.settings.webhook_path, readiness, self._leading),
            access_log=None,
            handle_signals=False,
        )
        await runner.setup()
        batcher.start()
        try:
            site = web.TCPSite(runner, self.settings.webhook_host, self.settings.webhook_port)
            await site.start()
            self.webhook_port = _bound_port(site) or self.settings.webhook_port
            logger.info(
                "Serving webhook updates on http://%s:%s%s",
                self.settings.webhook_host,
                self.webhook_port,
                self.settings.webhook_path,
            )
            self._serving.set()
            if self.freeze_gc_after_start:
                gc.collect()
                gc.freeze()
            await self._until_stopped(self._until_stop_requested(), handle_signals)
            logger.info("Stopping: finishing the requests in flight")
        finally:
            self._serving.clear()
            await runner.cleanup()  # stops listening, then waits for the requests in flight
            await batcher.close()
            await self.stop_background_work()

    def _leading(self) -> bool:
        return self.leadership is not None and self.leadership.leading

    async def _until_stop_requested(self) -> None:
        await self._stop_requested.wait()

    async def _database_ready(self) -> str | None:
        async with self.engine.connect() as connection:
            heads = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()
            )
        current = "+".join(sorted(heads)) or None
        if current != self._head_revision:
            return f"migrations at {current or 'none'}, not at head {self._head_revision}"
        return None

    async def wait_serving(self) -> int:
        """The webhook's port, once it listens."""
        await self._serving.wait()
        return self.webhook_port

    async def replay(self, payload: dict[str, Any]) -> ReplayOutcome:
        """Runs a dead letter's update again, as a batch of one; any failure is raised."""
        update = Update.model_validate(payload, context={"bot": self.bot})
        outcome = await self.intake.replay(update)
        await self.replies.idle()
        return outcome

    async def close(self) -> None:
        await self.replies.close()
        for wiring in self.wirings:
            for close in wiring.close:
                close()
        if self.reader is not None:
            await self.reader.close()
        await self.bot.session.close()
        await self.engine.dispose()
        await self.shared.close()


def build_session(settings: Settings) -> AiohttpSession:
    """The HTTP session for every Bot API request, through TELEGRAM_PROXY when it is set."""
    api = PRODUCTION
    if settings.bot_api_base_url:
        api = TelegramAPIServer.from_base(settings.bot_api_base_url)
    if settings.telegram_proxy is None:
        return AiohttpSession(api=api)
    proxy = settings.telegram_proxy.get_secret_value()
    logger.info("Bot API requests go through the proxy %s", redacted_proxy(proxy))
    if not proxy.startswith("https://"):
        return AiohttpSession(api=api, proxy=proxy)
    # aiohttp-socks speaks HTTP CONNECT to the proxy; an https:// proxy is reached over TLS.
    session = AiohttpSession(api=api, proxy="http://" + proxy.removeprefix("https://"))
    session._connector_init["proxy_ssl"] = ssl.create_default_context(cafile=certifi.where())
    return session


def build_bot(settings: Settings, sleep: Sleeper | None = None) -> Bot:
    session = build_session(settings)
    if sleep is not None:
        session.middleware(RetryAfterMiddleware(sleep=sleep))
    else:
        session.middleware(RetryAfterMiddleware())
    return Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def build_dispatcher(
    settings: Settings, clock: Clock, features: Sequence[Feature] = FEATURES
) -> Dispatcher:
    dispatcher = Dispatcher(
        disable_fsm=True,  # no handler keeps conversation state in aiogram's FSM
        moderators=ModeratorDirectory(settings.owner_ids, clock, settings.admin_cache_seconds),
        clock=clock,
        features=features,  # /help, the private chat and the menus list what they declare
    )
    dispatcher.update.outer_middleware(SavepointMiddleware(clock))
    dispatcher.update.outer_middleware(ConsoleMiddleware())
    dispatcher.update.outer_middleware(
        CommunityContextMiddleware(
            CommunityDefaults(timezone=settings.timezone, language=settings.default_language), clock
        )
    )
    dispatcher.update.outer_middleware(QuietGroupMiddleware())
    dispatcher.include_routers(*setup_routers(tuple(features)))
    return dispatcher


def build_app(
    settings: Settings,
    clock: Clock | None = None,
    sleep: Sleeper | None = None,
    features: Sequence[Feature] = FEATURES,
) -> App:
    clock = clock or SystemClock()
    engine = build_engine(settings.database_url)
    session_factory = build_session_factory(engine)
    open_uow = partial(unit_of_work, session_factory)
    bot = build_bot(settings, sleep)
    limits = SendLimits(
        per_second=settings.send_per_second,
        per_group_per_minute=settings.send_per_group_per_minute,
    )
    shared = build_shared_state(settings, bot.id)
    windows = shared.rate_budget(limits)
    dispatcher = build_dispatcher(settings, clock, features)
    reader = build_reader(settings.database_url, open_uow)
    dispatcher["reader"] = reader
    wiring_context = WiringContext(open_uow, clock, bot, reader)
    wirings = [feature.wire(wiring_context) for feature in features if feature.wire is not None]
    for wiring in wirings:
        dispatcher.workflow_data.update(wiring.data)
    shared.attach(dispatcher.workflow_data, engine)
    replies = ReplySender(bot, windows, clock, sleep or asyncio.sleep)
    intake = BatchIntake(
        dispatcher,
        bot,
        open_uow,
        clock,
        replies.deliver,
        sleep=sleep or asyncio.sleep,
        reads_only=reads_only_of(features),
        prefetch=[prefetcher for wiring in wirings for prefetcher in wiring.prefetch],
    )
    return App(
        settings=settings,
        engine=engine,
        session_factory=session_factory,
        open_uow=open_uow,
        bot=bot,
        dispatcher=dispatcher,
        clock=clock,
        sender=Sender(bot, open_uow, clock, windows=windows, sleep=sleep or asyncio.sleep),
        intake=intake,
        replies=replies,
        features=features,
        wirings=wirings,
        sleep=sleep or asyncio.sleep,
        reader=reader,
        shared=shared,
    )
