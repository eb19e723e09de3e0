"""SQL implementation of the referral repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import (
    LeaderboardRow,
    Referral,
    ReferralCounts,
    ReferralSource,
    ReferralStatus,
    RejectionReason,
)
from storage.models import ReferralRow, RememberedReferralRow, UserRow
from storage.sql import insert_ignoring_conflict


def _referral_from_row(row: ReferralRow, invitee_name: str = "") -> Referral:
    return Referral(
        community_id=row.community_id,
        invitee_id=row.invitee_id,
        inviter_id=row.inviter_id,
        status=ReferralStatus(row.status),
        source=ReferralSource(row.source),
        joined_at=row.joined_at,
        reason=RejectionReason(row.reason) if row.reason else None,
        qualified_at=row.qualified_at,
        invitee_name=invitee_name,
    )


def _invited_by(community_id: int, inviter_id: int) -> Any:
    return (ReferralRow.community_id == community_id) & (ReferralRow.inviter_id == inviter_id)


class SqlReferralRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, community_id: int, invitee_id: int) -> Referral | None:
        row = (
            await self._session.execute(
                select(ReferralRow).where(
                    ReferralRow.community_id == community_id, ReferralRow.invitee_id == invitee_id
                )
            )
        ).scalar_one_or_none()
        return _referral_from_row(row) if row else None

    async def add(self, referral: Referral, due_at: datetime | None) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            ReferralRow,
            {
                "community_id": referral.community_id,
                "invitee_id": referral.invitee_id,
                "inviter_id": referral.inviter_id,
                "status": str(referral.status),
                "reason": str(referral.reason) if referral.reason else None,
                "source": str(referral.source),
                "joined_at": referral.joined_at,
                "due_at": due_at,
                "qualified_at": None,
            },
        )

    async def settle(
        self,
        community_id: int,
        invitee_id: int,
        status: ReferralStatus,
        reason: RejectionReason | None,
        at: datetime,
    ) -> bool:
        """Moves a pending referral to its final status; False if it was no longer pending."""
        result = await self._session.execute(
            update(ReferralRow)
            .where(
                ReferralRow.community_id == community_id,
                ReferralRow.invitee_id == invitee_id,
                ReferralRow.status == str(ReferralStatus.PENDING),
            )
            .values(
                status=str(status),
                reason=str(reason) if reason else None,
                qualified_at=at if status == ReferralStatus.QUALIFIED else None,
                due_at=None,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_due(self, community_id: int, invitee_id: int, due: datetime | None) -> None:
        await self._session.execute(
            update(ReferralRow)
            .where(ReferralRow.community_id == community_id, ReferralRow.invitee_id == invitee_id)
            .values(due_at=due)
        )

    async def due(
        self, now: datetime, limit: int, community_id: int | None = None
    ) -> Sequence[Referral]:
        query = select(ReferralRow).where(
            ReferralRow.status == str(ReferralStatus.PENDING), ReferralRow.due_at <= now
        )
        if community_id is not None:
            query = query.where(ReferralRow.community_id == community_id)
        rows = await self._session.scalars(query.order_by(ReferralRow.due_at).limit(limit))
        return [_referral_from_row(row) for row in rows]

    async def communities_due(self, now: datetime) -> Sequence[int]:
        rows = await self._session.scalars(
            select(ReferralRow.community_id)
            .where(ReferralRow.status == str(ReferralStatus.PENDING), ReferralRow.due_at <= now)
            .distinct()
        )
        return list(rows)

    async def qualified_since(self, community_id: int, inviter_id: int, since: datetime) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(ReferralRow)
            .where(
                ReferralRow.community_id == community_id,
                ReferralRow.inviter_id == inviter_id,
                ReferralRow.status == str(ReferralStatus.QUALIFIED),
                ReferralRow.qualified_at >= since,
            )
        )
        return int(count or 0)

    async def counts_for(self, community_id: int, inviter_id: int) -> ReferralCounts:
        rows = (
            await self._session.execute(
                select(ReferralRow.status, func.count())
                .where(
                    ReferralRow.community_id == community_id, ReferralRow.inviter_id == inviter_id
                )
                .group_by(ReferralRow.status)
            )
        ).all()
        by_status = {status: int(count) for status, count in rows}
        return ReferralCounts(
            invited=sum(by_status.values()),
            pending=by_status.get(str(ReferralStatus.PENDING), 0),
            qualified=by_status.get(str(ReferralStatus.QUALIFIED), 0),
            rejected=by_status.get(str(ReferralStatus.REJECTED), 0),
        )

    async def list_for_inviter(
        self, community_id: int, inviter_id: int, limit: int
    ) -> Sequence[Referral]:
        rows = (
            await self._session.execute(
                select(ReferralRow, UserRow.first_name)
                .outerjoin(UserRow, UserRow.id == ReferralRow.invitee_id)
                .where(
                    ReferralRow.community_id == community_id, ReferralRow.inviter_id == inviter_id
                )
                .order_by(ReferralRow.joined_at.desc(), ReferralRow.id.desc())
                .limit(limit)
            )
        ).all()
        return [_referral_from_row(row, name or str(row.invitee_id)) for row, name in rows]

    async def top_inviters(
        self, community_id: int, since: datetime | None, limit: int
    ) -> Sequence[LeaderboardRow]:
        qualified = func.count().label("qualified")
        statement = (
            select(ReferralRow.inviter_id, UserRow.first_name, qualified)
            .join(UserRow, UserRow.id == ReferralRow.inviter_id)
            .where(
                ReferralRow.community_id == community_id,
                ReferralRow.status == str(ReferralStatus.QUALIFIED),
            )
            .group_by(ReferralRow.inviter_id, UserRow.first_name)
            .order_by(qualified.desc(), ReferralRow.inviter_id)
            .limit(limit)
        )
        if since is not None:
            statement = statement.where(ReferralRow.qualified_at >= since)
        rows = (await self._session.execute(statement)).all()
        return [
            LeaderboardRow(
                rank=index, user_id=int(user_id or 0), display_name=name, points=int(count)
            )
            for index, (user_id, name, count) in enumerate(rows, start=1)
        ]

    async def remember(
        self,
        community_id: int,
        invitee_id: int,
        inviter_id: int,
        source: ReferralSource,
        now: datetime,
    ) -> None:
        await self._session.execute(
            delete(RememberedReferralRow).where(
                RememberedReferralRow.community_id == community_id,
                RememberedReferralRow.invitee_id == invitee_id,
            )
        )
        self._session.add(
            RememberedReferralRow(
                community_id=community_id,
                invitee_id=invitee_id,
                inviter_id=inviter_id,
                source=str(source),
                created_at=now,
            )
        )
        await self._session.flush()

    async def remembered(
        self, community_id: int, invitee_id: int
    ) -> tuple[int, ReferralSource, datetime] | None:
        row = await self._session.get(RememberedReferralRow, (community_id, invitee_id))
        if row is None:
            return None
        return row.inviter_id, ReferralSource(row.source), row.created_at
