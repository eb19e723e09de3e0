"""The points ledger (balances change only with a ledger row)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.domain.models import (
    Booking,
    CheckinBooking,
    CheckinMark,
    HistoryEntry,
    LeaderboardRow,
    LedgerEntry,
    QuotaUse,
)


class LedgerRepository(Protocol):
    async def add(self, entry: LedgerEntry) -> int | None:
        """Append the entry; its id, or None if its idempotency key was already used."""
        ...

    async def book_checkin(
        self, entry: LedgerEntry, lifetime_change: int, checkin: CheckinMark
    ) -> CheckinBooking | None:
        """The check-in of `checkin` with its activity (`CheckinRepository.add_noting_activity`,
        its points the entry's amount) and, when it was inserted, `book` with the mark, in
        one step: None if that member already checked in on that day."""
        ...

    async def book(
        self, entry: LedgerEntry, lifetime_change: int, checkin: CheckinMark | None = None
    ) -> Booking | None:
        """`add`, then the member's balance and lifetime points changed by the entry
        (`MemberRepository.apply_points`, with `checkin`), in one step: None if the key was
        already used (nothing changes); the booking's totals are None when the balance
        would fall below zero (the entry is written then: the caller refuses, undoing it)."""
        ...

    async def get(self, entry_id: int) -> LedgerEntry | None: ...
    async def has_key(self, idempotency_key: str) -> bool: ...
    async def awards_since(self, community_id: int, since: datetime) -> Sequence[QuotaUse]:
        """Points per moderator since `since` of the kinds their quota counts (awards, ticket
        rewards), revoked awards excluded, most first."""
        ...

    async def recent_moderation(
        self, community_id: int, user_id: int, limit: int
    ) -> Sequence[HistoryEntry]:
        """The member's latest awards, deductions and their revocations, newest first, each
        award or deduction with the revocation that reversed it, if any."""
        ...

    async def top_earners_since(
        self, community_id: int, since: datetime, limit: int, until: datetime | None = None
    ) -> Sequence[LeaderboardRow]: ...


class PointsPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def ledger(self) -> LedgerRepository: ...
