"""Communities, the users Telegram tells us about, and their memberships."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from bot.domain.models import (
    CheckingInMember,
    CheckinMark,
    Community,
    LeaderboardRow,
    Member,
    PointsTotals,
    Tier,
    UserInfo,
)


class CommunityRepository(Protocol):
    async def get(self, community_id: int) -> Community | None: ...
    async def add(self, community: Community, now: datetime) -> None: ...
    async def set_language(self, community_id: int, language: str) -> None: ...
    async def set_title(self, community_id: int, title: str) -> None: ...
    async def set_timezone(self, community_id: int, timezone: str) -> None: ...
    async def save_settings(self, community: Community) -> None: ...
    async def set_public_code(self, community_id: int, code: str) -> None: ...
    async def by_public_code(self, code: str) -> Community | None: ...


class UserRepository(Protocol):
    async def upsert(self, user: UserInfo) -> None: ...
    async def note(self, user: UserInfo) -> None:
        """As upsert, but left for a later update in a read-only transaction."""
        ...

    async def note_many(self, users: Sequence[UserInfo]) -> None:
        """As note for each (a page's senders at once), in one statement where it can."""
        ...

    async def get(self, user_id: int) -> UserInfo | None: ...
    async def find_by_username(self, username: str) -> UserInfo | None: ...
    async def set_can_message(self, user_id: int, can_message: bool) -> None: ...
    async def can_message(self, user_id: int) -> bool: ...


class MemberRepository(Protocol):
    async def get(self, community_id: int, user_id: int) -> Member | None: ...
    async def get_for_checkin(self, community_id: int, user_id: int) -> tuple[Member, bool] | None:
        """The member, and whether a referral of theirs (as the invitee) is pending."""
        ...

    async def get_or_add_for_checkin(
        self, community_id: int, user_id: int, now: datetime, display_name: str
    ) -> CheckingInMember:
        """The member checking in, added (not joined) unless present; one statement where
        the database allows it."""
        ...

    async def add(
        self,
        community_id: int,
        user_id: int,
        now: datetime,
        *,
        joined: bool,
        display_name: str | None = None,
    ) -> Member:
        """Adds the member unless present; the stored member either way (`display_name`, the
        user's stored first name, saves reading it back)."""
        ...

    async def mark_joined(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def mark_left(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def touch(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def apply_points(
        self,
        community_id: int,
        user_id: int,
        amount: int,
        lifetime_change: int,
        checkin: CheckinMark | None = None,
    ) -> PointsTotals | None:
        """Adds to the balance and lifetime points in one statement (with `checkin`, also
        the check-in's streak, day and activity); None (and no change) when the member is
        unknown or the balance would go below 0."""
        ...

    async def raise_tier(self, community_id: int, user_id: int, tier: Tier) -> None:
        """Sets the tier only if it is higher than the stored one."""
        ...

    async def lower_tier(self, community_id: int, user_id: int, tier: Tier) -> None:
        """Sets the tier only if it is lower than the stored one (a revoked award)."""
        ...

    async def lock(self, community_id: int, user_id: int) -> None:
        """Holds the member's row until the transaction ends (SELECT ... FOR UPDATE)."""
        ...

    async def record_checkin_streak(
        self, community_id: int, user_id: int, streak: int, day: date
    ) -> None: ...
    async def record_activity_point(
        self, community_id: int, user_id: int, day: date, count_today: int, at: datetime
    ) -> None: ...
    async def set_welcome_due(
        self, community_id: int, user_id: int, due: datetime | None
    ) -> None: ...
    async def communities_with_welcomes_due(self, now: datetime) -> Sequence[int]: ...
    async def take_pending_welcomes(self, community_id: int) -> Sequence[tuple[int, str]]: ...
    async def communities_of(self, user_id: int) -> Sequence[Community]: ...
    async def count_current(self, community_id: int) -> int: ...
    async def reminder_candidates(
        self, community_id: int, yesterday: date, min_streak: int
    ) -> Sequence[tuple[int, str, int]]:
        """Reachable members whose streak of at least `min_streak` days ended yesterday."""
        ...

    async def last_checkins_since(
        self, community_id: int, since: date
    ) -> Sequence[tuple[int, date, datetime, int]]:
        """(user id, last check-in day, when that check-in happened, streak) of the members
        whose last check-in day is `since` or later."""
        ...

    async def rank_by_lifetime(self, community_id: int, user_id: int) -> int: ...
    async def top_by_lifetime(self, community_id: int, limit: int) -> Sequence[LeaderboardRow]: ...
    async def count_by_tier(self, community_id: int) -> dict[Tier, int]: ...


class CommunitiesPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def communities(self) -> CommunityRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def members(self) -> MemberRepository: ...
