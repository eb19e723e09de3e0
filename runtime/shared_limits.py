"""What the workers of one bot share through Redis: Telegram's limits (one budget for the bot
as a whole), the invalidations of their caches, and the once-a-minute refusals.

Time: every script is given the caller's clock (`Clock.now()`, in microseconds) rather than
reading Redis's TIME, so tests drive it with their fake clock and the windows match the ones
the in-memory RateWindows keeps; the workers' clocks must agree (NTP), a skew of a few
milliseconds only shifts a window by as much. Keys carry the bot id and expire on their own
(a minute after their window, in Redis's own time).

Redis unavailable: the budget falls back to this process's RateWindows, with a warning, and
asks Redis again after `retry_seconds`. Each worker then keeps to the limits alone (no flood,
at worst the workers together exceed them for the outage and Telegram's 429s, which only put
back the message concerned, do the rest). The invalidation bus resubscribes with growing waits
and, since it may have missed some, has every cache dropped when it is back."""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.retry import Backoff, Sleeper
from runtime.sender import RESERVED, RateWindows, SendLimits, Wait

logger = logging.getLogger(__name__)

EVERYTHING = "*"  # the key of an invalidation that drops a whole cache
KEEP_MS = 60_000  # how long a key outlives its window
RETRY_SECONDS = 5.0
MAX_TAKEN = 10_000  # slots remembered for `release` (only the one just taken is released)
RESUBSCRIBE = Backoff(first=0.5, cap=10.0)
UNAVAILABLE: tuple[type[BaseException], ...] = (RedisError, OSError)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# KEYS: the overall window, the chat's window. ARGV: now (µs), a unique member, the overall
# limit and window (µs), the chat's limit and window (µs), how long keys outlive them (ms).
# Returns {1 if reserved, overall wait, chat wait} in µs; once reserved, the chat wait is the
# next message's.
RESERVE_SCRIPT = """
local now = tonumber(ARGV[1])
local function wait_in(key, limit, window)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count < limit then return 0 end
  local nth = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  return tonumber(nth[2]) + window - now
end
local overall_limit, overall_window = tonumber(ARGV[3]), tonumber(ARGV[4])
local chat_limit, chat_window = tonumber(ARGV[5]), tonumber(ARGV[6])
local keep = tonumber(ARGV[7])
local overall = wait_in(KEYS[1], overall_limit, overall_window)
local chat = wait_in(KEYS[2], chat_limit, chat_window)
if overall > 0 or chat > 0 then return {0, overall, chat} end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.floor(overall_window / 1000) + keep)
redis.call('PEXPIRE', KEYS[2], math.floor(chat_window / 1000) + keep)
return {1, 0, wait_in(KEYS[2], chat_limit, chat_window)}
"""

# KEYS: the member's key. ARGV: now (µs), the interval (µs), the key's lifetime (ms).
# Returns 1 when nothing was said within the interval (and notes now), else 0.
FIRST_WITHIN_SCRIPT = """
local now = tonumber(ARGV[1])
local last = redis.call('GET', KEYS[1])
if last and now - tonumber(last) < tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
"""


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def connect(url: str) -> Redis:
    """A client that gives up quickly when Redis does not answer: the callers fall back."""
    return Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)


def key_prefix(bot_id: int) -> str:
    return f"seedbot:{{{bot_id}}}"  # a hash tag: every key of a bot on one cluster slot


class RedisRateBudget:
    """A RateBudget shared by every process of the bot: each reservation is one script, so
    two workers can never both take the last slot of a window."""

    def __init__(
        self,
        client: Redis,
        bot_id: int,
        limits: SendLimits,
        *,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self._client = client
        self._prefix = f"{key_prefix(bot_id)}:rate"
        self._limits = limits
        self._local = RateWindows(limits)
        self._script = client.register_script(RESERVE_SCRIPT)
        self._retry = timedelta(seconds=retry_seconds)
        self._down_until: datetime | None = None
        self._busy: dict[int, datetime] = {}
        self._member = f"{secrets.token_hex(6)}:"
        self._sequence = itertools.count()
        self._taken: dict[tuple[int, datetime], str] = {}  # the last slot of each chat

    @property
    def limits(self) -> SendLimits:
        return self._limits

    @property
    def shared(self) -> bool:
        """False while Redis is unavailable and this process keeps to its own windows."""
        return self._down_until is None

    async def reserve(self, chat_id: int, now: datetime) -> Wait:
        busy_until = self._busy.get(chat_id)
        if busy_until is not None and busy_until > now and self.shared:
            # Redis said so: the chat's slots free up only with time (or a rare release).
            return Wait(0.0, (busy_until - now).total_seconds())
        if self._may_ask(now):
            limit, window = self._chat_limit(chat_id)
            member = f"{self._member}{next(self._sequence)}"
            try:
                reserved, overall, chat = await self._script(
                    keys=[f"{self._prefix}:all", self._chat_key(chat_id)],
                    args=[
                        micros(now),
                        member,
                        self._limits.per_second,
                        1_000_000,
                        limit,
                        window,
                        KEEP_MS,
                    ],
                )
            except UNAVAILABLE as error:
                self._unavailable(error, now)
            else:
                self._available()
                if chat > 0:
                    self._busy[chat_id] = now + timedelta(microseconds=chat)
                if not reserved:
                    return Wait(overall / 1e6, chat / 1e6)
                self._local.record(chat_id, now)  # what this process falls back on
                if len(self._taken) >= MAX_TAKEN:
                    self._taken.clear()
                self._taken[(chat_id, now)] = member
                return RESERVED
        return await self._local.reserve(chat_id, now)

    async def release(self, chat_id: int, now: datetime) -> None:
        self._local.forget(chat_id, now)
        member = self._taken.pop((chat_id, now), None)
        if member is None or not self.shared:
            return
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.zrem(f"{self._prefix}:all", member)
                pipe.zrem(self._chat_key(chat_id), member)
                await pipe.execute()
        except UNAVAILABLE as error:
            self._unavailable(error, now)
        else:
            self._busy.pop(chat_id, None)

    async def free_slots(self, chat_id: int, now: datetime) -> int:
        if self._may_ask(now):
            limit, window = self._chat_limit(chat_id)
            try:
                count = await self._client.zcount(
                    self._chat_key(chat_id), f"({micros(now) - window}", "+inf"
                )
            except UNAVAILABLE as error:
                self._unavailable(error, now)
            else:
                self._available()
                return max(limit - int(count), 0)
        return self._local.room(chat_id, now)

    async def chats_at_limit(self, now: datetime) -> dict[int, float]:
        """The chats this process found at their limit (when it last asked), so that the
        paced sender skips them; a chat another worker filled is found at its first try."""
        if not self.shared:
            return await self._local.chats_at_limit(now)
        busy = {}
        for chat_id, until in list(self._busy.items()):
            if until > now:
                busy[chat_id] = (until - now).total_seconds()
            else:
                del self._busy[chat_id]
        return busy

    def _chat_key(self, chat_id: int) -> str:
        return f"{self._prefix}:chat:{chat_id}"

    def _chat_limit(self, chat_id: int) -> tuple[int, int]:
        if chat_id < 0:
            return self._limits.per_group_per_minute, 60_000_000
        return self._limits.per_private_chat_per_second, 1_000_000

    def _may_ask(self, now: datetime) -> bool:
        return self._down_until is None or now >= self._down_until

    def _unavailable(self, error: BaseException, now: datetime) -> None:
        if self._down_until is None:
            logger.warning(
                "Redis is unavailable (%s): this process keeps to Telegram's limits on its own, "
                "asking Redis again every %s s",
                error,
                self._retry.total_seconds(),
            )
        self._down_until = now + self._retry

    def _available(self) -> None:
        if self._down_until is not None:
            logger.warning("Redis is back: Telegram's limits are shared by the workers again")
            self._down_until = None


class RedisOnceEvery:
    """Something said at most once an interval per key, by whichever worker comes first."""

    def __init__(self, client: Redis, bot_id: int, name: str) -> None:
        self._prefix = f"{key_prefix(bot_id)}:{name}"
        self._script = client.register_script(FIRST_WITHIN_SCRIPT)

    async def first_within(self, key: str, now: datetime, interval: timedelta) -> bool | None:
        """True for the first call within the interval, False for the others; None when
        Redis could not be asked (the caller decides alone)."""
        span = interval // timedelta(microseconds=1)
        try:
            first = await self._script(
                keys=[f"{self._prefix}:{key}"],
                args=[micros(now), span, span // 1000 + KEEP_MS],
            )
        except UNAVAILABLE as error:
            logger.warning("Redis is unavailable (%s); deciding alone", error)
            return None
        return bool(first)


Listener = Callable[[str], None]


class RedisInvalidations:
    """Cache invalidations published to the other workers of the bot over a pub/sub channel.
    `publish` never waits and may be called from any thread; a listener gets the key of what
    changed elsewhere (EVERYTHING after the bus lost its subscription for a while)."""

    def __init__(
        self,
        client: Redis,
        bot_id: int,
        *,
        resubscribe: Backoff = RESUBSCRIBE,
        sleep: Sleeper = asyncio.sleep,
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._channel = f"{key_prefix(bot_id)}:invalidate"
        self._origin = secrets.token_hex(6)
        self._resubscribe = resubscribe
        self._listeners: dict[str, list[Listener]] = {}
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._subscribed = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def subscribe(self, topic: str, listener: Listener) -> None:
        self._listeners.setdefault(topic, []).append(listener)

    def publish(self, topic: str, key: str) -> None:
        if self._loop is None:
            return  # not started: there is no one to tell
        message = f"{self._origin} {topic} {key}"
        with suppress(RuntimeError):  # the loop has closed
            self._loop.call_soon_threadsafe(self._outgoing.put_nowait, message)

    def start(self) -> None:
        """Starts listening and publishing; needs the running loop."""
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            self._loop.create_task(self._listen()),
            self._loop.create_task(self._send()),
        ]

    async def subscribed(self) -> None:
        """Returns once the bus hears the other workers."""
        await self._subscribed.wait()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._loop = None

    async def _send(self) -> None:
        while True:
            message = await self._outgoing.get()
            try:
                await self._client.publish(self._channel, message)
            except UNAVAILABLE as error:
                logger.warning("Could not tell the other workers of a change (%s)", error)

    async def _listen(self) -> None:
        delays = self._resubscribe.delays()
        missed = False
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._subscribed.set()
                if missed:
                    self._deliver_everywhere()
                    missed = False
                delays = self._resubscribe.delays()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._received(message)
            except UNAVAILABLE as error:
                self._subscribed.clear()
                missed = True
                delay = next(delays)
                logger.warning("Lost the workers' invalidations (%s); again in %s s", error, delay)
                await self._sleep(delay)
            finally:
                with suppress(*UNAVAILABLE):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _received(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        text = data.decode() if isinstance(data, bytes) else str(data)
        origin, _, rest = text.partition(" ")
        topic, _, key = rest.partition(" ")
        if origin == self._origin:
            return
        for listener in self._listeners.get(topic, ()):
            try:
                listener(key)
            except Exception:
                logger.exception("Applying an invalidation of %s failed", topic)

    def _deliver_everywhere(self) -> None:
        for listeners in self._listeners.values():
            for listener in listeners:
                listener(EVERYTHING)
