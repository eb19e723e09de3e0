"""What the bot's worker processes share, wired in one place: through Redis when REDIS_URL is
set (runtime/shared_limits.py), in this process's memory otherwise (exactly as with a single
process)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.filters.moderator import ModeratorDirectory
from handlers.refusals import RefusalLimiter
from runtime.sender import RateBudget, RateWindows, SendLimits
from runtime.shared_limits import (
    EVERYTHING,
    RedisInvalidations,
    RedisOnceEvery,
    RedisRateBudget,
    connect,
)
from seedbot.config import Settings, redacted_proxy
from storage.caches import caches_of_engine

logger = logging.getLogger(__name__)

MODERATORS = "moderators"
COMMUNITIES = "communities"


@dataclass
class SharedState:
    """The rate budget, the invalidation bus and the refusals' minute of one bot."""

    client: Redis | None = None
    bot_id: int = 0
    invalidations: RedisInvalidations | None = None

    def rate_budget(self, limits: SendLimits) -> RateBudget:
        if self.client is None:
            return RateWindows(limits)
        return RedisRateBudget(self.client, self.bot_id, limits)

    def attach(self, data: dict[str, Any], engine: AsyncEngine) -> None:
        """Shares the caches and the refusal limiter found in the dispatcher's data, and
        starts listening to the other workers (needs the running loop)."""
        if self.client is None or self.invalidations is None:
            return
        moderators = data.get("moderators")
        if isinstance(moderators, ModeratorDirectory):
            self.share_moderators(moderators)
        self.share_communities(engine)
        refusals = data.get("refusals")
        if isinstance(refusals, RefusalLimiter):
            refusals.shared = RedisOnceEvery(self.client, self.bot_id, "refused")
        self.invalidations.start()

    def share_moderators(self, directory: ModeratorDirectory) -> None:
        bus = self.invalidations
        if bus is not None:
            directory.on_change(lambda key: bus.publish(MODERATORS, key))
            bus.subscribe(MODERATORS, directory.apply_change)

    def share_communities(self, engine: AsyncEngine) -> None:
        bus = self.invalidations
        if bus is not None:
            caches = caches_of_engine(engine)
            caches.communities_committed.append(lambda: bus.publish(COMMUNITIES, EVERYTHING))
            bus.subscribe(COMMUNITIES, lambda _key: caches.forget_communities())

    async def problem(self) -> str | None:
        """For /readyz: None when Redis answers (or none is configured)."""
        if self.client is None:
            return None
        answered = self.client.ping()
        if not isinstance(answered, bool):
            answered = await answered
        return None if answered else "Redis did not answer PING"

    async def close(self) -> None:
        if self.invalidations is not None:
            await self.invalidations.close()
        if self.client is not None:
            await self.client.aclose()


def build_shared_state(settings: Settings, bot_id: int) -> SharedState:
    """In memory without REDIS_URL; otherwise through Redis, for the bot `bot_id`. Needs the
    running loop once attached (the bus listens from then on)."""
    if settings.redis_url is None:
        return SharedState()
    url = settings.redis_url.get_secret_value()
    logger.info("Telegram's limits and the caches are shared through %s", redacted_proxy(url))
    client = connect(url)
    return SharedState(client, bot_id, RedisInvalidations(client, bot_id))
