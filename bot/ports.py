"""The few Protocols the services need; storage/ and bot/app.py provide the implementations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from bot.domain.models import (
    Badge,
    Community,
    LeaderboardRow,
    LedgerEntry,
    Member,
    Tier,
    UserInfo,
)


class Clock(Protocol):
    """The source of the current time (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class CommunityRepository(Protocol):
    async def get(self, community_id: int) -> Community | None: ...
    async def add(self, community: Community, now: datetime) -> None: ...
    async def set_language(self, community_id: int, language: str) -> None: ...
    async def set_title(self, community_id: int, title: str) -> None: ...


class UserRepository(Protocol):
    async def upsert(self, user: UserInfo) -> None: ...
    async def get(self, user_id: int) -> UserInfo | None: ...
    async def find_by_username(self, username: str) -> UserInfo | None: ...


class MemberRepository(Protocol):
    async def get(self, community_id: int, user_id: int) -> Member | None: ...
    async def add(
        self, community_id: int, user_id: int, now: datetime, *, joined: bool
    ) -> Member: ...
    async def mark_joined(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def mark_left(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def touch(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def apply_points(
        self, community_id: int, user_id: int, amount: int, earned: int, tier: Tier
    ) -> None: ...
    async def record_checkin_streak(
        self, community_id: int, user_id: int, streak: int, day: date
    ) -> None: ...
    async def record_activity_point(
        self, community_id: int, user_id: int, day: date, count_today: int, at: datetime
    ) -> None: ...
    async def rank_by_lifetime(self, community_id: int, lifetime_earned: int) -> int: ...
    async def top_by_lifetime(self, community_id: int, limit: int) -> Sequence[LeaderboardRow]: ...
    async def count_by_tier(self, community_id: int) -> dict[Tier, int]: ...


class CheckinRepository(Protocol):
    async def add(
        self, community_id: int, user_id: int, day: date, streak: int, points: int, at: datetime
    ) -> bool:
        """Insert the check-in; False if that member already checked in on that day."""
        ...


class LedgerRepository(Protocol):
    async def add(self, entry: LedgerEntry) -> bool:
        """Append the entry; False if its idempotency key was already used."""
        ...

    async def sum_for_member(self, community_id: int, user_id: int) -> int: ...
    async def top_earners_since(
        self, community_id: int, since: datetime, limit: int
    ) -> Sequence[LeaderboardRow]: ...


class BadgeRepository(Protocol):
    async def grant(self, community_id: int, user_id: int, badge: Badge, now: datetime) -> bool: ...
    async def revoke(self, community_id: int, user_id: int, badge: Badge) -> bool: ...
    async def of_member(self, community_id: int, user_id: int) -> frozenset[Badge]: ...
    async def count_by_badge(self, community_id: int) -> dict[Badge, int]: ...


class AuditRepository(Protocol):
    async def add(
        self,
        community_id: int,
        actor_id: int | None,
        action: str,
        target_user_id: int | None,
        detail: str,
        now: datetime,
    ) -> None: ...


class UnitOfWork(Protocol):
    """One transaction; repositories share it and never commit on their own."""

    @property
    def communities(self) -> CommunityRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def members(self) -> MemberRepository: ...

    @property
    def checkins(self) -> CheckinRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def badges(self) -> BadgeRepository: ...

    @property
    def audit(self) -> AuditRepository: ...
