"""SQL record of the updates that took effect (bot.ports). It never commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdateRow
from storage.sql import _dialect_insert, insert_ignoring_conflict


class SqlProcessedUpdates:
    """Remembers which updates took effect, in the same transaction as their effects."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, bot_id: int, update_id: int, now: datetime) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            ProcessedUpdateRow,
            {"bot_id": bot_id, "update_id": update_id, "processed_at": now},
        )

    async def claim_many(self, bot_id: int, update_ids: Iterable[int], now: datetime) -> set[int]:
        """Claims a batch's updates in one multi-row statement; returns the ids newly claimed
        (those not handled before)."""
        rows = [
            {"bot_id": bot_id, "update_id": update_id, "processed_at": now}
            for update_id in sorted(set(update_ids))
        ]
        if not rows:
            return set()
        statement = (
            _dialect_insert(self._session, ProcessedUpdateRow)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(ProcessedUpdateRow.update_id)
        )
        return set((await self._session.scalars(statement)).all())

    async def release(self, bot_id: int, update_id: int) -> None:
        """Forgets a claim, so that the update can be handled again (by a replay)."""
        await self._session.execute(
            delete(ProcessedUpdateRow).where(
                ProcessedUpdateRow.bot_id == bot_id, ProcessedUpdateRow.update_id == update_id
            )
        )

    async def forget_before(self, cutoff: datetime) -> None:
        await self._session.execute(
            delete(ProcessedUpdateRow).where(ProcessedUpdateRow.processed_at < cutoff)
        )
