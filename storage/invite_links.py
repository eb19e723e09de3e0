"""SQL implementation of the invite link repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import InviteLink
from storage.models import InviteLinkRow


def _invite_link_from_row(row: InviteLinkRow) -> InviteLink:
    return InviteLink(
        community_id=row.community_id,
        user_id=row.user_id,
        code=row.code,
        url=row.url,
        created_at=row.created_at,
    )


class SqlInviteLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def active_for(self, community_id: int, user_id: int) -> InviteLink | None:
        row = (
            await self._session.execute(
                select(InviteLinkRow)
                .where(
                    InviteLinkRow.community_id == community_id,
                    InviteLinkRow.user_id == user_id,
                    InviteLinkRow.revoked_at.is_(None),
                )
                .order_by(InviteLinkRow.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return _invite_link_from_row(row) if row else None

    async def add(self, link: InviteLink) -> None:
        self._session.add(
            InviteLinkRow(
                community_id=link.community_id,
                user_id=link.user_id,
                code=link.code,
                url=link.url,
                created_at=link.created_at,
            )
        )
        await self._session.flush()

    async def revoke(self, code: str, now: datetime) -> None:
        await self._session.execute(
            update(InviteLinkRow).where(InviteLinkRow.code == code).values(revoked_at=now)
        )

    async def by_code(self, code: str) -> InviteLink | None:
        row = (
            await self._session.execute(select(InviteLinkRow).where(InviteLinkRow.code == code))
        ).scalar_one_or_none()
        return _invite_link_from_row(row) if row else None

    async def by_url(self, community_id: int, url: str) -> InviteLink | None:
        row = (
            await self._session.execute(
                select(InviteLinkRow)
                .where(InviteLinkRow.community_id == community_id, InviteLinkRow.url == url)
                .limit(1)
            )
        ).scalar_one_or_none()
        return _invite_link_from_row(row) if row else None
