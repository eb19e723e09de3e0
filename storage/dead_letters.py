"""Updates that failed for a non-transient reason, kept with their payload for a replay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DeadLetterRow


@dataclass(frozen=True)
class DeadLetter:
    bot_id: int
    update_id: int
    payload: dict[str, Any]
    error: str
    failed_at: datetime
    replayed_at: datetime | None

    @property
    def kind(self) -> str:
        """The kind of update (message, callback_query, chat_member...)."""
        return next((key for key in self.payload if key != "update_id"), "unknown")


class SqlDeadLetters:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, bot_id: int, update_id: int, payload: dict[str, Any], error: str, now: datetime
    ) -> None:
        """Stores the failed update; a second failure of the same update replaces the first."""
        row = await self._session.get(DeadLetterRow, (bot_id, update_id))
        if row is None:
            self._session.add(
                DeadLetterRow(
                    bot_id=bot_id,
                    update_id=update_id,
                    payload=payload,
                    error=error,
                    failed_at=now,
                    replayed_at=None,
                )
            )
        else:
            row.payload = payload
            row.error = error
            row.failed_at = now
            row.replayed_at = None
        await self._session.flush()

    async def get(self, bot_id: int, update_id: int) -> DeadLetter | None:
        row = await self._session.get(DeadLetterRow, (bot_id, update_id))
        return _from_row(row) if row is not None else None

    async def pending(self, bot_id: int) -> Sequence[DeadLetter]:
        """Those not replayed yet, oldest first."""
        rows = await self._session.scalars(
            select(DeadLetterRow)
            .where(DeadLetterRow.bot_id == bot_id, DeadLetterRow.replayed_at.is_(None))
            .order_by(DeadLetterRow.failed_at, DeadLetterRow.update_id)
        )
        return [_from_row(row) for row in rows]

    async def mark_replayed(self, bot_id: int, update_id: int, now: datetime) -> bool:
        result = await self._session.execute(
            update(DeadLetterRow)
            .where(DeadLetterRow.bot_id == bot_id, DeadLetterRow.update_id == update_id)
            .values(replayed_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def discard(self, bot_id: int, update_id: int) -> bool:
        """Deletes one that can never succeed; False when there is none."""
        result = await self._session.execute(
            delete(DeadLetterRow).where(
                DeadLetterRow.bot_id == bot_id, DeadLetterRow.update_id == update_id
            )
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def discard_before(self, bot_id: int, cutoff: datetime) -> int:
        """Deletes those that failed before `cutoff`; how many there were."""
        result = await self._session.execute(
            delete(DeadLetterRow).where(
                DeadLetterRow.bot_id == bot_id, DeadLetterRow.failed_at < cutoff
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _from_row(row: DeadLetterRow) -> DeadLetter:
    return DeadLetter(
        bot_id=row.bot_id,
        update_id=row.update_id,
        payload=dict(row.payload),
        error=row.error,
        failed_at=row.failed_at,
        replayed_at=row.replayed_at,
    )
