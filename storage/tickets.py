"""SQL implementation of the ticket repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.tickets import (
    FeedbackTicket,
    TicketEvent,
    TicketKind,
    TicketStats,
    TicketStatus,
)
from storage.models import CommunityRow, TicketEventRow, TicketRow, UserRow
from storage.sql import _dialect_insert

NUMBER_CONSTRAINT = "uq_tickets_community_number"
NUMBER_ATTEMPTS = 5
DECIDED = (TicketStatus.ACCEPTED, TicketStatus.DONE, TicketStatus.REJECTED)


def _ticket(row: TicketRow, reporter_name: str = "") -> FeedbackTicket:
    return FeedbackTicket(
        id=row.id,
        community_id=row.community_id,
        number=row.number,
        user_id=row.user_id,
        kind=TicketKind(row.kind),
        status=TicketStatus(row.status),
        text=row.text,
        created_at=row.created_at,
        photo_file_id=row.photo_file_id,
        reporter_name=reporter_name,
        photo_user_id=row.photo_user_id,
        first_answer_at=row.first_answer_at,
        merged_into=row.merged_into,
        note=row.note,
    )


class SqlTicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, ticket: FeedbackTicket, request_key: str) -> FeedbackTicket | None:
        next_number = (
            select(func.coalesce(func.max(TicketRow.number), 0) + 1)
            .where(TicketRow.community_id == ticket.community_id)
            .scalar_subquery()
        )
        statement = (
            _dialect_insert(self._session, TicketRow)
            .values(
                community_id=ticket.community_id,
                number=next_number,
                user_id=ticket.user_id,
                kind=str(ticket.kind),
                status=str(ticket.status),
                text=ticket.text,
                photo_file_id=ticket.photo_file_id,
                photo_user_id=ticket.photo_user_id,
                request_key=request_key,
                created_at=ticket.created_at,
            )
            .on_conflict_do_nothing(index_elements=["request_key"])
            .returning(TicketRow.id)
        )
        added = await self._insert_numbered(statement)
        if added is None:
            return None
        row = await self._session.get(TicketRow, int(added[0]), populate_existing=True)
        assert row is not None
        return _ticket(row)

    async def _insert_numbered(self, statement: Any) -> Any:
        """Runs the INSERT; on PostgreSQL, a filing that overlaps another one in the same
        group waits for it at the unique number and then fails: it is tried again in a
        savepoint, now seeing the other's number. (SQLite serialises writers.)"""
        if self._session.bind is None or self._session.bind.dialect.name != "postgresql":
            return (await self._session.execute(statement)).first()
        for _attempt in range(NUMBER_ATTEMPTS - 1):
            try:
                async with self._session.begin_nested():
                    return (await self._session.execute(statement)).first()
            except IntegrityError as error:
                if NUMBER_CONSTRAINT not in str(error.orig):
                    raise
        return (await self._session.execute(statement)).first()

    async def by_key(self, request_key: str) -> FeedbackTicket | None:
        row = await self._session.scalar(
            select(TicketRow)
            .where(TicketRow.request_key == request_key)
            .execution_options(populate_existing=True)
        )
        return _ticket(row) if row is not None else None

    async def get(self, community_id: int, number: int) -> FeedbackTicket | None:
        found = (
            await self._session.execute(
                select(TicketRow, UserRow.first_name)
                .outerjoin(UserRow, UserRow.id == TicketRow.user_id)
                .where(TicketRow.community_id == community_id, TicketRow.number == number)
                .execution_options(populate_existing=True)
            )
        ).first()
        return _ticket(found[0], found[1] or "") if found is not None else None

    async def filed_since(self, community_id: int, user_id: int, since: datetime) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(TicketRow)
            .where(
                TicketRow.community_id == community_id,
                TicketRow.user_id == user_id,
                TicketRow.created_at >= since,
            )
        )
        return int(count or 0)

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
        values: dict[str, object] = {
            "status": str(status),
            "first_answer_at": func.coalesce(TicketRow.first_answer_at, now),
        }
        if note is not None:
            values["note"] = note
        if merged_into is not None:
            values["merged_into"] = merged_into
        result = await self._session.execute(
            update(TicketRow)
            .where(
                TicketRow.id == ticket_id,
                TicketRow.status.in_([str(s) for s in from_statuses]),
            )
            .values(values)
            .returning(TicketRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def mark_answered(self, ticket_id: int, now: datetime) -> None:
        await self._session.execute(
            update(TicketRow)
            .where(TicketRow.id == ticket_id, TicketRow.first_answer_at.is_(None))
            .values(first_answer_at=now)
            .execution_options(synchronize_session=False)
        )

    async def repoint_duplicates(self, community_id: int, number: int, into: int) -> None:
        await self._session.execute(
            update(TicketRow)
            .where(
                TicketRow.community_id == community_id,
                TicketRow.merged_into == number,
                TicketRow.status == str(TicketStatus.MERGED),
            )
            .values(merged_into=into)
            .execution_options(synchronize_session=False)
        )

    async def duplicates(self, community_id: int, number: int) -> Sequence[FeedbackTicket]:
        rows = await self._session.execute(
            select(TicketRow, UserRow.first_name)
            .outerjoin(UserRow, UserRow.id == TicketRow.user_id)
            .where(
                TicketRow.community_id == community_id,
                TicketRow.merged_into == number,
                TicketRow.status == str(TicketStatus.MERGED),
            )
            .order_by(TicketRow.number)
            .execution_options(populate_existing=True)
        )
        return [_ticket(row, name or "") for row, name in rows]

    async def add_event(self, event: TicketEvent) -> None:
        self._session.add(
            TicketEventRow(
                ticket_id=event.ticket_id,
                actor_id=event.actor_id,
                action=event.action,
                detail=event.detail,
                created_at=event.created_at,
            )
        )
        await self._session.flush()

    async def events(self, ticket_id: int) -> Sequence[TicketEvent]:
        rows = await self._session.scalars(
            select(TicketEventRow)
            .where(TicketEventRow.ticket_id == ticket_id)
            .order_by(TicketEventRow.id)
        )
        return [
            TicketEvent(
                ticket_id=row.ticket_id,
                action=row.action,
                created_at=row.created_at,
                actor_id=row.actor_id,
                detail=row.detail,
            )
            for row in rows
        ]

    async def listing(
        self,
        community_id: int,
        limit: int,
        *,
        statuses: Collection[TicketStatus] | None = None,
        kind: TicketKind | None = None,
    ) -> Sequence[FeedbackTicket]:
        query = (
            select(TicketRow, UserRow.first_name)
            .outerjoin(UserRow, UserRow.id == TicketRow.user_id)
            .where(TicketRow.community_id == community_id)
        )
        if statuses is not None:
            query = query.where(TicketRow.status.in_([str(s) for s in statuses]))
        if kind is not None:
            query = query.where(TicketRow.kind == str(kind))
        rows = await self._session.execute(
            query.order_by(TicketRow.number.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return [_ticket(row, name or "") for row, name in rows]

    async def of_user(
        self, user_id: int, community_id: int | None, limit: int
    ) -> Sequence[tuple[FeedbackTicket, str]]:
        query = (
            select(TicketRow, CommunityRow.title)
            .join(CommunityRow, CommunityRow.id == TicketRow.community_id)
            .where(TicketRow.user_id == user_id)
        )
        if community_id is not None:
            query = query.where(TicketRow.community_id == community_id)
        rows = await self._session.execute(
            query.order_by(TicketRow.created_at.desc(), TicketRow.id.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return [(_ticket(row), title or "") for row, title in rows]

    async def ticket_stats(self, community_id: int, since: datetime) -> TicketStats:
        rows = (
            await self._session.execute(
                select(
                    TicketRow.kind,
                    TicketRow.status,
                    TicketRow.created_at,
                    TicketRow.first_answer_at,
                ).where(TicketRow.community_id == community_id, TicketRow.created_at >= since)
            )
        ).all()
        counts: dict[tuple[TicketKind, TicketStatus], int] = {}
        waits = []
        for kind, status, created_at, first_answer_at in rows:
            key = (TicketKind(kind), TicketStatus(status))
            counts[key] = counts.get(key, 0) + 1
            if first_answer_at is not None:
                waits.append(first_answer_at - created_at)
        decided = sum(n for (_, status), n in counts.items() if status in DECIDED)
        accepted = sum(
            n
            for (_, status), n in counts.items()
            if status in (TicketStatus.ACCEPTED, TicketStatus.DONE)
        )
        return TicketStats(
            by_kind_status=counts,
            answered=len(waits),
            median_first_answer=timedelta(seconds=median(w.total_seconds() for w in waits))
            if waits
            else None,
            accepted_rate=accepted / decided if decided else None,
        )


async def reopen_orphaned_duplicates(session: AsyncSession) -> int:
    """Tickets merged into one that no longer exists (its reporter was forgotten) are open
    again as new, so that a moderator decides on them and their reporters hear the outcome;
    no later ticket can inherit them by taking the freed number."""
    main = aliased(TicketRow)
    orphaned = ~exists().where(
        main.community_id == TicketRow.community_id, main.number == TicketRow.merged_into
    )
    result = await session.execute(
        update(TicketRow)
        .where(TicketRow.merged_into.is_not(None), orphaned)
        .values(status=str(TicketStatus.NEW), merged_into=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
