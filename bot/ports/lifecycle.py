"""Members' lifecycle stages, win-backs and key members."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from bot.domain.models import LifecycleEntry, LifecycleRules, WeekNumbers


class LifecycleRepository(Protocol):
    """Members' lifecycle stages, judged in bulk in the database; win-backs once per at-risk
    episode; claims of the daily and weekly work."""

    async def claim(self, community_id: int, kind: str, period: date, now: datetime) -> bool:
        """True for the one caller that claims the community's work of `kind` for `period`."""
        ...

    async def is_claimed(self, community_id: int, kind: str, period: date) -> bool: ...

    async def take_over(
        self, community_id: int, kind: str, period: date, stale_before: datetime, now: datetime
    ) -> bool:
        """True for the one caller that takes over a claim older than `stale_before`."""
        ...

    async def chunk_end(self, community_id: int, after_user: int, size: int) -> int | None:
        """The user id ending the next chunk of `size` members after `after_user`."""
        ...

    async def judge(
        self,
        community_id: int,
        rules: LifecycleRules,
        today: date,
        now: datetime,
        users: tuple[int, int],
    ) -> None:
        """The stage as of the local `today` of each member with a user id in the range."""
        ...

    async def key_changes(
        self, community_id: int, rules: LifecycleRules, now: datetime
    ) -> tuple[Sequence[int], Sequence[int]]:
        """(members who became key members, members who ceased to be)."""
        ...

    async def change_key_members(
        self, community_id: int, became: Sequence[int], ceased: Sequence[int], today: date
    ) -> None: ...

    async def note_return(self, community_id: int, user_id: int, day: date) -> None:
        """The member is active on `day`: an at-risk or churned member is won back."""
        ...

    async def start_winbacks(
        self,
        community_id: int,
        today: date,
        deadline: date,
        now: datetime,
        users: tuple[int, int],
    ) -> Sequence[tuple[int, date]]:
        """A win-back recorded for each reachable at-risk member in the user id range whose
        episode has none."""
        ...

    async def winback_rate(self, community_id: int, since: datetime) -> tuple[int, int]:
        """(win-backs sent since then, those whose member came back by the deadline)."""
        ...

    async def at_risk(self, community_id: int, limit: int) -> Sequence[LifecycleEntry]: ...
    async def key_members(self, community_id: int, limit: int) -> Sequence[LifecycleEntry]: ...
    async def unnoticed_key_members(self, community_id: int) -> Sequence[LifecycleEntry]: ...
    async def mark_key_noticed(self, community_id: int, user_ids: Sequence[int]) -> None: ...
    async def week_numbers(
        self, community_id: int, start: date, start_at: datetime, end_at: datetime
    ) -> WeekNumbers: ...
    async def community_ids(self) -> Sequence[int]: ...
    async def unjudged_members(self, limit: int) -> Sequence[tuple[int, int]]:
        """(community id, user id) of members never judged (first seen since their
        community's daily judgement), by community and user id."""
        ...


class LifecyclePart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def lifecycle(self) -> LifecycleRepository: ...
