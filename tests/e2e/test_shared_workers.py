"""Two workers of one bot, sharing its database and one Redis, sending to one group through a
fake Bot API that enforces Telegram's limits: together they keep the group's 20 a minute,
with no 429, on the paced queue and on the reply path alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import pytest
from pydantic import SecretStr

from handlers.filters.moderator import ModeratorDirectory
from runtime.outbox import Outbox
from seedbot.app import App, build_app
from storage.uow import unit_of_work
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness, make_settings
from tests.fakes.bot_api import SentMessage
from tests.fakes.redis_support import RedisProxy, TakingTurns, emptied_redis

MESSAGES = 45


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    async with emptied_redis() as url:
        yield url


@pytest.fixture
async def workers(harness: Harness, redis_url: str) -> AsyncIterator[tuple[list[App], TakingTurns]]:
    settings = make_settings(harness.api, harness.app.settings.database_url)
    shared = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
    turns = TakingTurns(harness.clock, workers=2)
    apps = [build_app(shared, clock=harness.clock, sleep=turns.sleep) for _ in range(2)]
    yield apps, turns
    for app in apps:
        await app.close()


def most_in_a_minute(messages: list[SentMessage]) -> int:
    dates = [m.date for m in messages]
    return max(
        sum(1 for d in dates if first <= d < first + timedelta(minutes=1)) for first in dates
    )


async def together(turns: TakingTurns, *works: Callable[[], Awaitable[int | None]]) -> list[int]:
    async def work(run: Callable[[], Awaitable[int | None]]) -> int:
        try:
            return await run() or 0
        finally:
            turns.finished()

    return await asyncio.wait_for(asyncio.gather(*(work(run) for run in works)), 60)


async def test_two_paced_senders_keep_the_groups_budget_together(
    harness: Harness, workers: tuple[list[App], TakingTurns]
) -> None:
    apps, turns = workers
    start = harness.clock.advance(minutes=1)  # the welcome when the bot joined is out of the window
    async with unit_of_work(harness.app.session_factory) as uow:
        for index in range(MESSAGES):
            payload = {"text": f"Bulk {index}"}
            await uow.outgoing.enqueue(GROUP_ID, "announcement", payload, f"b{index}", start, start)
    before = len(harness.replies())
    harness.api.enforce_rate_limits = True

    sent = await together(turns, *(app.sender.drain for app in apps))

    bulk = harness.replies()[before:]
    assert sorted(m.text or "" for m in bulk) == sorted(
        f"Bulk {index}" for index in range(MESSAGES)
    )
    assert sum(sent) == MESSAGES and all(count > 0 for count in sent)  # both took part
    assert harness.api.rate_limit_violations == 0
    assert most_in_a_minute(bulk) == 20
    assert bulk[-1].date - start < timedelta(minutes=2, seconds=5)  # no slower than one sender


async def test_two_reply_paths_keep_the_groups_budget_together(
    harness: Harness, workers: tuple[list[App], TakingTurns]
) -> None:
    apps, turns = workers
    harness.clock.advance(minutes=1)
    before = len(harness.replies())
    harness.api.enforce_rate_limits = True
    for number, app in enumerate(apps):
        outbox = Outbox()
        for index in range(15):
            outbox.send(GROUP_ID, f"Reply {number}.{index}")
        app.replies.submit(outbox)

    await together(turns, *(app.replies.idle for app in apps))

    replies = harness.replies()[before:]
    assert len(replies) == 30
    assert harness.api.rate_limit_violations == 0
    assert most_in_a_minute(replies) == 20


async def test_a_worker_shares_its_moderators_and_refusals_through_redis(
    harness: Harness, workers: tuple[list[App], TakingTurns]
) -> None:
    apps, _turns = workers
    first, second = (app.dispatcher["moderators"] for app in apps)
    assert isinstance(first, ModeratorDirectory) and isinstance(second, ModeratorDirectory)
    for app in apps:
        assert app.shared.invalidations is not None
        await asyncio.wait_for(app.shared.invalidations.subscribed(), 1)
    await second.is_moderator(apps[1].bot, GROUP_ID, CREATOR_ID)  # its list, from Telegram
    told: asyncio.Queue[str] = asyncio.Queue()
    assert apps[1].shared.invalidations is not None
    apps[1].shared.invalidations.subscribe("moderators", told.put_nowait)

    first.note_member(GROUP_ID, 777, "administrator")

    await asyncio.wait_for(told.get(), 1)
    assert await second.is_moderator(apps[1].bot, GROUP_ID, 777)
    refusals = [app.dispatcher["refusals"] for app in apps]
    spoken = [await limiter.may_speak(GROUP_ID, 777) for limiter in refusals]
    assert spoken == [True, False]


async def test_a_sender_whose_redis_goes_away_keeps_sending_inside_the_limits(
    harness: Harness, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = RedisProxy(redis_url)
    await proxy.start()
    settings = make_settings(harness.api, harness.app.settings.database_url)
    turns = TakingTurns(harness.clock, workers=1)
    app = build_app(
        settings.model_copy(update={"redis_url": SecretStr(proxy.url)}),
        clock=harness.clock,
        sleep=turns.sleep,
    )
    try:
        start = harness.clock.advance(minutes=1)
        async with unit_of_work(harness.app.session_factory) as uow:
            for index in range(25):
                payload = {"text": f"Bulk {index}"}
                await uow.outgoing.enqueue(
                    GROUP_ID, "announcement", payload, f"b{index}", start, start
                )
        before = len(harness.replies())
        harness.api.enforce_rate_limits = True
        await proxy.stop()
        with caplog.at_level(logging.WARNING):
            assert await together(turns, app.sender.drain) == [25]
    finally:
        await app.close()
        await proxy.stop()
    bulk = harness.replies()[before:]
    assert len(bulk) == 25
    assert harness.api.rate_limit_violations == 0
    assert most_in_a_minute(bulk) == 20
    assert any("Redis is unavailable" in record.getMessage() for record in caplog.records)
