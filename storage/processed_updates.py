"""SQL record of the updates that took effect (bot.ports). It never commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdateRow
from storage.sql import _dialect_insert


class SqlProcessedUpdates:
    """Remembers which updates took effect, in the same transaction as their effects."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

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

    async def remember_answers(self, bot_id: int, answers: Mapping[int, dict[str, Any]]) -> None:
        """What each handled press was answered, for a redelivery after a crash (one
        statement for the batch)."""
        if not answers:
            return
        table = cast(Table, ProcessedUpdateRow.__table__)
        statement = (
            update(table)
            .where(table.c.bot_id == bindparam("b_bot"), table.c.update_id == bindparam("b_id"))
            .values(answer=bindparam("b_answer"))
        )
        await self._session.execute(
            statement,
            [
                {"b_bot": bot_id, "b_id": update_id, "b_answer": answer}
                for update_id, answer in sorted(answers.items())
            ],
        )

    async def answers(self, bot_id: int, update_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The remembered answers of those handled presses."""
        ids = sorted(set(update_ids))
        if not ids:
            return {}
        rows = await self._session.execute(
            select(ProcessedUpdateRow.update_id, ProcessedUpdateRow.answer).where(
                ProcessedUpdateRow.bot_id == bot_id,
                ProcessedUpdateRow.update_id.in_(ids),
                ProcessedUpdateRow.answer.is_not(None),
            )
        )
        return {update_id: dict(answer) for update_id, answer in rows if answer is not None}

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
