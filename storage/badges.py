"""SQL implementation of the badge repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import Badge
from storage.models import BadgeRow, MemberRow
from storage.sql import insert_ignoring_conflict


class SqlBadgeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def grant(self, community_id: int, user_id: int, badge: Badge, now: datetime) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            BadgeRow,
            {
                "community_id": community_id,
                "user_id": user_id,
                "badge": str(badge),
                "granted_at": now,
            },
        )

    async def revoke(self, community_id: int, user_id: int, badge: Badge) -> bool:
        result = await self._session.execute(
            delete(BadgeRow).where(
                BadgeRow.community_id == community_id,
                BadgeRow.user_id == user_id,
                BadgeRow.badge == str(badge),
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def of_member(self, community_id: int, user_id: int) -> frozenset[Badge]:
        rows = await self._session.scalars(
            select(BadgeRow.badge).where(
                BadgeRow.community_id == community_id, BadgeRow.user_id == user_id
            )
        )
        return frozenset(Badge(value) for value in rows)

    async def count_by_badge(self, community_id: int) -> dict[Badge, int]:
        rows = (
            await self._session.execute(
                select(BadgeRow.badge, func.count())
                .join(
                    MemberRow,
                    (MemberRow.community_id == BadgeRow.community_id)
                    & (MemberRow.user_id == BadgeRow.user_id),
                )
                .where(BadgeRow.community_id == community_id, MemberRow.is_member.is_(True))
                .group_by(BadgeRow.badge)
            )
        ).all()
        counts = dict.fromkeys(Badge, 0)
        for badge, count in rows:
            counts[Badge(badge)] = int(count)
        return counts
