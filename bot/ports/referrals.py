"""Referrals and the invite links they come through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.domain.models import (
    InviteLink,
    LeaderboardRow,
    Referral,
    ReferralCounts,
    ReferralSource,
    ReferralStatus,
    RejectionReason,
)


class InviteLinkRepository(Protocol):
    async def active_for(self, community_id: int, user_id: int) -> InviteLink | None: ...
    async def add(self, link: InviteLink) -> None: ...
    async def revoke(self, code: str, now: datetime) -> None: ...
    async def by_code(self, code: str) -> InviteLink | None: ...
    async def by_url(self, community_id: int, url: str) -> InviteLink | None: ...


class ReferralRepository(Protocol):
    async def get(self, community_id: int, invitee_id: int) -> Referral | None: ...
    async def add(self, referral: Referral, due_at: datetime | None) -> bool: ...
    async def settle(
        self,
        community_id: int,
        invitee_id: int,
        status: ReferralStatus,
        reason: RejectionReason | None,
        at: datetime,
    ) -> bool: ...
    async def set_due(self, community_id: int, invitee_id: int, due: datetime | None) -> None: ...
    async def due(
        self, now: datetime, limit: int, community_id: int | None = None
    ) -> Sequence[Referral]: ...
    async def communities_due(self, now: datetime) -> Sequence[int]: ...
    async def qualified_since(self, community_id: int, inviter_id: int, since: datetime) -> int: ...
    async def counts_for(self, community_id: int, inviter_id: int) -> ReferralCounts: ...
    async def list_for_inviter(
        self, community_id: int, inviter_id: int, limit: int
    ) -> Sequence[Referral]: ...
    async def top_inviters(
        self, community_id: int, since: datetime | None, limit: int
    ) -> Sequence[LeaderboardRow]: ...
    async def remember(
        self,
        community_id: int,
        invitee_id: int,
        inviter_id: int,
        source: ReferralSource,
        now: datetime,
    ) -> None: ...
    async def remembered(
        self, community_id: int, invitee_id: int
    ) -> tuple[int, ReferralSource, datetime] | None: ...


class InviteLinkIssuer(Protocol):
    """Creates and revokes a community's invite links (the Bot API, in production)."""

    async def create(self, community_id: int, name: str) -> str: ...
    async def revoke(self, community_id: int, url: str) -> None: ...


class ReferralsPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def invite_links(self) -> InviteLinkRepository: ...

    @property
    def referrals(self) -> ReferralRepository: ...
