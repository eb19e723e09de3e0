"""Feedback tickets."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol

from bot.domain.tickets import FeedbackTicket, TicketEvent, TicketKind, TicketStats, TicketStatus


class TicketRepository(Protocol):
    """Feedback tickets and their history (bot.domain.tickets)."""

    async def add(self, ticket: FeedbackTicket, request_key: str) -> FeedbackTicket | None:
        """Files the ticket under the community's next number; None when a ticket with that
        request key exists (a redelivered update, a second press)."""
        ...

    async def by_key(self, request_key: str) -> FeedbackTicket | None: ...
    async def get(self, community_id: int, number: int) -> FeedbackTicket | None: ...
    async def filed_since(self, community_id: int, user_id: int, since: datetime) -> int: ...
    async def move(
        self,
        ticket_id: int,
        status: TicketStatus,
        from_statuses: Collection[TicketStatus],
        now: datetime,
        *,
        note: str | None = None,
        merged_into: int | None = None,
    ) -> bool:
        """The status changes only while it is one of `from_statuses` (one conditional
        UPDATE, so that two moderators acting at once change it once); the first answer's
        time is set if it was not. False when nothing changed."""
        ...

    async def mark_answered(self, ticket_id: int, now: datetime) -> None:
        """Sets the first answer's time unless it is set."""
        ...

    async def repoint_duplicates(self, community_id: int, number: int, into: int) -> None:
        """Duplicates merged into ticket `number` now point to ticket `into`."""
        ...

    async def duplicates(self, community_id: int, number: int) -> Sequence[FeedbackTicket]:
        """The tickets merged into ticket `number`."""
        ...

    async def add_event(self, event: TicketEvent) -> None: ...
    async def events(self, ticket_id: int) -> Sequence[TicketEvent]: ...
    async def listing(
        self,
        community_id: int,
        limit: int,
        *,
        statuses: Collection[TicketStatus] | None = None,
        kind: TicketKind | None = None,
    ) -> Sequence[FeedbackTicket]:
        """Tickets, newest first, with the reporter's name."""
        ...

    async def of_user(
        self, user_id: int, community_id: int | None, limit: int
    ) -> Sequence[tuple[FeedbackTicket, str]]:
        """A reporter's tickets, newest first, with their group's title."""
        ...

    async def ticket_stats(self, community_id: int, since: datetime) -> TicketStats:
        """Tickets filed since `since`: counts by kind and status, median time to the first
        answer, accepted rate."""
        ...


class TicketsPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def tickets(self) -> TicketRepository: ...
