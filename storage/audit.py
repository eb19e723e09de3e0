"""SQL implementation of the audit repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditRow


class SqlAuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        community_id: int,
        actor_id: int | None,
        action: str,
        target_user_id: int | None,
        detail: str,
        now: datetime,
    ) -> None:
        self._session.add(
            AuditRow(
                community_id=community_id,
                actor_id=actor_id,
                action=action,
                target_user_id=target_user_id,
                detail=detail,
                created_at=now,
            )
        )
