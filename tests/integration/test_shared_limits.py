"""What the bot's workers share through Redis (runtime/shared_limits.py, seedbot/shared.py):
one budget of Telegram's limits, cache invalidations seen within a second, and refusals said
once a minute by whichever worker comes first. Each worker here has a client of its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from redis.asyncio import Redis

from bot.domain.models import Community
from handlers.filters.moderator import ModeratorDirectory
from handlers.refusals import RefusalLimiter
from runtime.retry import Backoff
from runtime.sender import RESERVED, RateWindows, SendLimits
from runtime.shared_limits import RedisInvalidations, RedisOnceEvery, RedisRateBudget, connect
from seedbot.shared import SharedState
from storage.caches import caches_of_engine
from storage.engine import build_engine, build_session_factory
from storage.uow import unit_of_work
from tests.fakes.clock import FakeClock
from tests.fakes.redis_support import RedisProxy, emptied_redis

BOT_ID = 123456
GROUP = -1001000000001
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
LIMITS = SendLimits()
SOON = 1.0  # how soon another worker must see a change


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    async with emptied_redis() as url:
        yield url


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    first, second = connect(redis_url), connect(redis_url)
    yield first, second
    await first.aclose()
    await second.aclose()


def most_within(moments: list[datetime], window: timedelta) -> int:
    ordered = sorted(moments)
    return max(
        (sum(1 for m in ordered if first <= m < first + window) for first in ordered), default=0
    )


async def test_two_workers_hammering_one_group_share_its_twenty_a_minute(
    clients: tuple[Redis, Redis],
) -> None:
    workers = [RedisRateBudget(client, BOT_ID, LIMITS) for client in clients]
    reserved: list[datetime] = []
    now = START
    while now < START + timedelta(minutes=3):
        tries = [budget.reserve(GROUP, now) for budget in workers for _ in range(15)]
        for wait in await asyncio.gather(*tries):
            if wait == RESERVED:
                reserved.append(now)
        now += timedelta(seconds=1.5)
    assert most_within(reserved, timedelta(minutes=1)) == 20
    assert len(reserved) == 60  # the whole budget, minute after minute


async def test_two_workers_never_send_more_than_thirty_a_second_in_all(
    clients: tuple[Redis, Redis],
) -> None:
    workers = [RedisRateBudget(client, BOT_ID, LIMITS) for client in clients]
    reserved: list[datetime] = []
    now = START
    for step in range(40):
        tries = [
            workers[index % 2].reserve(10_000 + step * 100 + index, now) for index in range(40)
        ]
        reserved += [now for wait in await asyncio.gather(*tries) if wait == RESERVED]
        now += timedelta(milliseconds=250)
    assert most_within(reserved, timedelta(seconds=1)) == 30
    assert len(reserved) == 300


async def test_the_waits_are_those_of_the_in_memory_windows(
    clients: tuple[Redis, Redis],
) -> None:
    first, second = (RedisRateBudget(client, BOT_ID, LIMITS) for client in clients)
    here = RateWindows(LIMITS)
    for second_number in range(20):
        moment = START + timedelta(seconds=second_number)
        assert await first.reserve(GROUP, moment) == RESERVED
        assert await here.reserve(GROUP, moment) == RESERVED
    later = START + timedelta(seconds=25)
    assert await second.reserve(GROUP, later) == await here.reserve(GROUP, later)
    assert (await second.reserve(GROUP, later)).chat == 35.0
    assert await second.free_slots(GROUP, later) == 0
    assert await second.chats_at_limit(later) == {GROUP: 35.0}  # what it was told
    freed = START + timedelta(seconds=60)
    assert await second.free_slots(GROUP, freed) == 1
    assert await second.reserve(GROUP, freed) == RESERVED
    private = 42
    assert await first.reserve(private, freed) == RESERVED
    assert await second.reserve(private, freed) == (0.0, 1.0)


async def test_keys_are_the_bots_own_and_expire(clients: tuple[Redis, Redis]) -> None:
    client, _ = clients
    await RedisRateBudget(client, BOT_ID, LIMITS).reserve(GROUP, START)
    other_bot = RedisRateBudget(client, BOT_ID + 1, LIMITS)
    assert await other_bot.free_slots(GROUP, START) == 20
    keys = [key.decode() for key in await client.keys("*")]
    assert keys and all(str(BOT_ID) in key for key in keys)
    for key in keys:
        assert 0 < await client.pttl(key) <= 120_000


async def test_with_redis_gone_a_worker_keeps_to_the_limits_alone_then_shares_again(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = RedisProxy(redis_url)
    await proxy.start()
    client = connect(proxy.url)
    other = connect(redis_url)
    try:
        budget = RedisRateBudget(client, BOT_ID, LIMITS, retry_seconds=5)
        assert await budget.reserve(GROUP, START) == RESERVED
        await proxy.stop()
        now = START + timedelta(seconds=1)
        with caplog.at_level(logging.WARNING):
            waits = [await budget.reserve(GROUP, now) for _ in range(25)]
        assert not budget.shared
        assert waits.count(RESERVED) == 19  # its own windows: 20 a minute, the first included
        assert all(wait.chat > 0 for wait in waits[19:])
        unavailable = [r for r in caplog.records if "Redis is unavailable" in r.getMessage()]
        assert len(unavailable) == 1  # one warning for the outage, not one per message

        await proxy.start()
        soon = now + timedelta(seconds=1)
        assert (await budget.reserve(GROUP, soon)).chat > 0  # not asked again before 5 s
        assert not budget.shared
        back = now + timedelta(seconds=61)
        assert await budget.reserve(GROUP, back) == RESERVED
        assert budget.shared
        # Redis counted only the slot taken through it: another worker has the rest.
        assert await RedisRateBudget(other, BOT_ID, LIMITS).free_slots(GROUP, back) == 19
    finally:
        await proxy.stop()
        await client.aclose()
        await other.aclose()


async def test_a_refusal_is_said_once_a_minute_by_whichever_worker_comes_first(
    clients: tuple[Redis, Redis],
) -> None:
    clock = FakeClock(START)
    first, second = (
        RefusalLimiter(clock, RedisOnceEvery(client, BOT_ID, "refused")) for client in clients
    )
    said = await asyncio.gather(*(limiter.may_speak(GROUP, 7) for limiter in (first, second)))
    assert sorted(said) == [False, True]
    assert await first.may_speak(GROUP, 8)  # another member
    clock.advance(seconds=59)
    assert not await second.may_speak(GROUP, 7)
    clock.advance(seconds=1)
    assert await second.may_speak(GROUP, 7)
    assert not await first.may_speak(GROUP, 7)


async def test_a_refusal_is_decided_alone_while_redis_is_away(redis_url: str) -> None:
    proxy = RedisProxy(redis_url)
    await proxy.start()
    client = connect(proxy.url)
    try:
        await proxy.stop()
        limiter = RefusalLimiter(FakeClock(START), RedisOnceEvery(client, BOT_ID, "refused"))
        assert await limiter.may_speak(GROUP, 7)
        assert not await limiter.may_speak(GROUP, 7)
    finally:
        await client.aclose()


def heard(bus: RedisInvalidations, topic: str) -> asyncio.Queue[str]:
    """What the bus passes on of that topic (after the cache it serves has applied it)."""
    keys: asyncio.Queue[str] = asyncio.Queue()
    bus.subscribe(topic, keys.put_nowait)
    return keys


async def directories(
    clients: tuple[Redis, Redis], clock: FakeClock
) -> tuple[list[ModeratorDirectory], list[RedisInvalidations]]:
    found, buses = [], []
    for client in clients:
        directory = ModeratorDirectory(frozenset(), clock)
        bus = RedisInvalidations(client, BOT_ID)
        SharedState(client, BOT_ID, bus).share_moderators(directory)
        bus.start()
        await asyncio.wait_for(bus.subscribed(), SOON)
        found.append(directory)
        buses.append(bus)
    return found, buses


async def test_a_new_administrator_seen_by_one_worker_is_known_to_the_other_within_a_second(
    clients: tuple[Redis, Redis],
) -> None:
    clock = FakeClock(START)
    (first, second), buses = await directories(clients, clock)
    try:
        for directory in (first, second):
            directory.apply_change(f"{GROUP}:1:creator")  # both know the group's creator
            directory._admins[GROUP] = (clock.now(), frozenset({1}))
        keys = heard(buses[1], "moderators")
        first.note_member(GROUP, 2, "administrator")
        assert await asyncio.wait_for(keys.get(), SOON) == f"{GROUP}:2:administrator"
        assert second.cached_chats_of(2) == {GROUP}

        first.note_member(GROUP, 2, "member")
        assert await asyncio.wait_for(keys.get(), SOON) == f"{GROUP}:2:member"
        assert second.cached_chats_of(2) == set()
        assert second.cached_chats_of(1) == {GROUP}
        first.note_member(GROUP, 3, "member")  # nothing changed: nothing to tell
        first.note_member(GROUP, 4, "administrator")
        assert await asyncio.wait_for(keys.get(), SOON) == f"{GROUP}:4:administrator"
    finally:
        for bus in buses:
            await bus.close()


async def test_a_bus_back_after_losing_redis_has_every_list_dropped(redis_url: str) -> None:
    proxy = RedisProxy(redis_url)
    await proxy.start()
    client = connect(proxy.url)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await proxy.start()

    bus = RedisInvalidations(client, BOT_ID, resubscribe=Backoff(0.5, 1.0), sleep=sleep)
    clock = FakeClock(START)
    directory = ModeratorDirectory(frozenset(), clock)
    SharedState(client, BOT_ID, bus).share_moderators(directory)
    directory._admins[GROUP] = (clock.now(), frozenset({1}))
    keys = heard(bus, "moderators")
    bus.start()
    try:
        await asyncio.wait_for(bus.subscribed(), SOON)
        await proxy.stop()
        assert await asyncio.wait_for(keys.get(), 5) == "*"
        assert waits == [0.5]
        assert directory.cached_chats_of(1) == set()  # fetched again at the next check
    finally:
        await bus.close()
        await proxy.stop()
        await client.aclose()


async def test_a_community_change_committed_by_one_worker_is_read_afresh_by_the_other(
    clients: tuple[Redis, Redis], sqlite_url: str
) -> None:
    engines = [build_engine(sqlite_url), build_engine(sqlite_url)]
    opens = [partial(unit_of_work, build_session_factory(engine)) for engine in engines]
    buses = [RedisInvalidations(client, BOT_ID) for client in clients]
    for client, bus, engine in zip(clients, buses, engines, strict=True):
        caches_of_engine(engine).clock = lambda: 0.0  # the cache's own lifetime never ends here
        SharedState(client, BOT_ID, bus).attach({}, engine)
        await asyncio.wait_for(bus.subscribed(), SOON)
    keys = heard(buses[1], "communities")
    try:
        community = Community(id=GROUP, title="Seeds", timezone="Asia/Shanghai", language="en")
        async with opens[0]() as uow:
            await uow.communities.add(community, START)
        assert await asyncio.wait_for(keys.get(), SOON) == "*"
        async with opens[1]() as uow:
            cached = await uow.communities.get(GROUP)
        assert cached is not None and cached.language == "en"

        async with opens[0]() as uow:
            await uow.communities.set_language(GROUP, "zh")
        await asyncio.wait_for(keys.get(), SOON)
        async with opens[1]() as uow:
            fresh = await uow.communities.get(GROUP)
        assert fresh is not None and fresh.language == "zh"
    finally:
        for bus in buses:
            await bus.close()
        for engine in engines:
            await engine.dispose()
