"""The moderation console's links between moderators and groups. Never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.ports.console import ConsoleLink
from storage.models import ConsoleLinkRow
from storage.sql import insert_ignoring_conflict


class SqlConsoleLinks:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def link(self, user_id: int, community_id: int) -> ConsoleLink:
        await insert_ignoring_conflict(
            self._session, ConsoleLinkRow, {"user_id": user_id, "community_id": community_id}
        )
        row = await self._session.scalar(
            select(ConsoleLinkRow).where(
                ConsoleLinkRow.user_id == user_id, ConsoleLinkRow.community_id == community_id
            )
        )
        assert row is not None
        return _link(row)

    async def choose(self, link_id: int, now: datetime) -> None:
        await self._session.execute(
            update(ConsoleLinkRow).where(ConsoleLinkRow.id == link_id).values(chosen_at=now)
        )

    async def by_id(self, link_id: int) -> ConsoleLink | None:
        row = await self._session.get(ConsoleLinkRow, link_id)
        return _link(row) if row is not None else None

    async def chosen(self, user_id: int) -> ConsoleLink | None:
        row = await self._session.scalar(
            select(ConsoleLinkRow)
            .where(ConsoleLinkRow.user_id == user_id, ConsoleLinkRow.chosen_at.is_not(None))
            .order_by(ConsoleLinkRow.chosen_at.desc(), ConsoleLinkRow.id.desc())
            .limit(1)
        )
        return _link(row) if row is not None else None


def _link(row: ConsoleLinkRow) -> ConsoleLink:
    return ConsoleLink(
        id=row.id, user_id=row.user_id, community_id=row.community_id, chosen_at=row.chosen_at
    )
