"""SQL implementation of the lottery repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.lotteries import (
    Eligibility,
    Lottery,
    LotteryEntry,
    LotteryStatus,
    LotteryWinner,
    Ticket,
)
from bot.domain.models import Badge, Tier
from storage.models import (
    LotteryDraftRow,
    LotteryEntryRow,
    LotteryRow,
    LotteryWinnerRow,
    MemberRow,
    UserRow,
)
from storage.sql import insert_ignoring_conflict


def _lottery(row: LotteryRow) -> Lottery:
    return Lottery(
        id=row.id,
        community_id=row.community_id,
        title=row.title,
        prize=row.prize,
        winners=row.winners,
        draw_at=row.draw_at,
        cost=row.cost,
        max_entries=row.max_entries,
        eligibility=Eligibility(
            min_tier=Tier(row.min_tier),
            badge=Badge(row.badge) if row.badge else None,
            min_days=row.min_days,
            late_joiners=row.late_joiners,
        ),
        seed=row.seed,
        commitment=row.commitment,
        status=LotteryStatus(row.status),
        created_at=row.created_at,
        created_by=row.created_by,
        drawn_at=row.drawn_at,
        entries_count=row.entries_count,
        entries_hash=row.entries_hash,
        drawn_entries=row.drawn_entries,
        picks_taken=row.picks_taken,
        repeat_schedule=row.repeat_schedule,
        repeat_next_at=row.repeat_next_at,
    )


class SqlLotteryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, lottery: Lottery) -> int:
        rules = lottery.eligibility
        row = LotteryRow(
            community_id=lottery.community_id,
            title=lottery.title,
            prize=lottery.prize,
            winners=lottery.winners,
            draw_at=lottery.draw_at,
            cost=lottery.cost,
            max_entries=lottery.max_entries,
            min_tier=int(rules.min_tier),
            badge=str(rules.badge) if rules.badge else None,
            min_days=rules.min_days,
            late_joiners=rules.late_joiners,
            seed=lottery.seed,
            commitment=lottery.commitment,
            status=str(lottery.status),
            created_by=lottery.created_by,
            created_at=lottery.created_at,
            picks_taken=0,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def get(self, community_id: int, lottery_id: int) -> Lottery | None:
        row = await self._session.scalar(
            select(LotteryRow).where(
                LotteryRow.id == lottery_id, LotteryRow.community_id == community_id
            )
        )
        return _lottery(row) if row is not None else None

    async def of_community(self, community_id: int, limit: int) -> Sequence[Lottery]:
        rows = await self._session.scalars(
            select(LotteryRow)
            .where(LotteryRow.community_id == community_id)
            .order_by(LotteryRow.id.desc())
            .limit(limit)
        )
        return [_lottery(row) for row in rows]

    async def due(self, now: datetime, community_id: int) -> Sequence[Lottery]:
        rows = await self._session.scalars(
            select(LotteryRow)
            .where(
                LotteryRow.community_id == community_id,
                LotteryRow.status == str(LotteryStatus.OPEN),
                LotteryRow.draw_at <= now,
            )
            .order_by(LotteryRow.draw_at, LotteryRow.id)
        )
        return [_lottery(row) for row in rows]

    async def communities_due(self, now: datetime) -> Sequence[int]:
        """Communities with a draw or a repeat due."""
        rows = await self._session.scalars(
            select(LotteryRow.community_id)
            .where(
                ((LotteryRow.status == str(LotteryStatus.OPEN)) & (LotteryRow.draw_at <= now))
                | (LotteryRow.repeat_next_at <= now)
            )
            .distinct()
        )
        return list(rows)

    async def repeats_due(self, now: datetime, community_id: int) -> Sequence[Lottery]:
        rows = await self._session.scalars(
            select(LotteryRow)
            .where(LotteryRow.community_id == community_id, LotteryRow.repeat_next_at <= now)
            .order_by(LotteryRow.repeat_next_at, LotteryRow.id)
        )
        return [_lottery(row) for row in rows]

    async def set_repeat(
        self,
        lottery_id: int,
        schedule: str | None,
        next_at: datetime | None,
        expected_next_at: datetime | None = None,
    ) -> bool:
        """Sets the repeat; with `expected_next_at`, only if the next time is still that one
        (the conditional UPDATE that claims a repeat's run)."""
        statement = update(LotteryRow).where(LotteryRow.id == lottery_id)
        if expected_next_at is not None:
            statement = statement.where(LotteryRow.repeat_next_at == expected_next_at)
        result = await self._session.execute(
            statement.values(repeat_schedule=schedule, repeat_next_at=next_at)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def change_status(
        self, lottery_id: int, before: LotteryStatus, after: LotteryStatus, now: datetime
    ) -> bool:
        """The conditional UPDATE that claims a draw or a cancel: True for exactly one caller."""
        values: dict[str, object] = {"status": str(after)}
        if after == LotteryStatus.DRAWN:
            values["drawn_at"] = now
        result = await self._session.execute(
            update(LotteryRow)
            .where(LotteryRow.id == lottery_id, LotteryRow.status == str(before))
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def record_draw(
        self, lottery_id: int, entries_count: int, entries_hash: str, entries_text: str
    ) -> None:
        await self._session.execute(
            update(LotteryRow)
            .where(LotteryRow.id == lottery_id)
            .values(
                entries_count=entries_count,
                entries_hash=entries_hash,
                drawn_entries=entries_text,
            )
        )

    async def take_pick(self, lottery_id: int, expected: int) -> bool:
        """Moves the count of picks taken from `expected` to the next one; False if another
        transaction took that pick first."""
        result = await self._session.execute(
            update(LotteryRow)
            .where(LotteryRow.id == lottery_id, LotteryRow.picks_taken == expected)
            .values(picks_taken=expected + 1)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def entries_of(self, lottery_id: int, user_id: int) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(LotteryEntryRow)
            .where(LotteryEntryRow.lottery_id == lottery_id, LotteryEntryRow.user_id == user_id)
        )
        return int(count or 0)

    async def count_entries(self, lottery_id: int) -> tuple[int, int]:
        """(entries, entrants)."""
        row = (
            await self._session.execute(
                select(func.count(), func.count(func.distinct(LotteryEntryRow.user_id))).where(
                    LotteryEntryRow.lottery_id == lottery_id
                )
            )
        ).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def add_entry(
        self, lottery_id: int, user_id: int, number: int, cost: int, now: datetime
    ) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            LotteryEntryRow,
            {
                "lottery_id": lottery_id,
                "user_id": user_id,
                "number": number,
                "cost": cost,
                "created_at": now,
                "refunded_at": None,
            },
        )

    async def entries(self, lottery_id: int) -> Sequence[LotteryEntry]:
        rows = (
            await self._session.execute(
                select(
                    LotteryEntryRow.user_id,
                    LotteryEntryRow.number,
                    LotteryEntryRow.cost,
                    LotteryEntryRow.refunded_at,
                )
                .where(LotteryEntryRow.lottery_id == lottery_id)
                .order_by(LotteryEntryRow.user_id, LotteryEntryRow.number)
            )
        ).all()
        return [
            LotteryEntry(user_id=u, number=n, cost=c, refunded=r is not None) for u, n, c, r in rows
        ]

    async def mark_refunded(
        self, lottery_id: int, user_id: int, number: int, now: datetime
    ) -> bool:
        result = await self._session.execute(
            update(LotteryEntryRow)
            .where(
                LotteryEntryRow.lottery_id == lottery_id,
                LotteryEntryRow.user_id == user_id,
                LotteryEntryRow.number == number,
                LotteryEntryRow.refunded_at.is_(None),
            )
            .values(refunded_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def tickets_of_members(self, lottery_id: int, community_id: int) -> Sequence[Ticket]:
        """The entries of entrants who are still members (those who left or were banned are
        left out)."""
        rows = (
            await self._session.execute(
                select(LotteryEntryRow.user_id, LotteryEntryRow.number)
                .join(
                    MemberRow,
                    (MemberRow.user_id == LotteryEntryRow.user_id)
                    & (MemberRow.community_id == community_id),
                )
                .where(
                    LotteryEntryRow.lottery_id == lottery_id,
                    LotteryEntryRow.refunded_at.is_(None),
                    MemberRow.is_member.is_(True),
                )
            )
        ).all()
        return sorted(Ticket(int(user_id), int(number)) for user_id, number in rows)

    async def add_winner(self, lottery_id: int, pick: int, ticket: Ticket) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            LotteryWinnerRow,
            {
                "lottery_id": lottery_id,
                "pick": pick,
                "user_id": ticket.user_id,
                "number": ticket.number,
                "replaced_at": None,
            },
        )

    async def winners(self, lottery_id: int) -> Sequence[LotteryWinner]:
        rows = (
            await self._session.execute(
                select(LotteryWinnerRow, UserRow.first_name)
                .outerjoin(UserRow, UserRow.id == LotteryWinnerRow.user_id)
                .where(LotteryWinnerRow.lottery_id == lottery_id)
                .order_by(LotteryWinnerRow.pick)
            )
        ).all()
        return [
            LotteryWinner(
                pick=row.pick,
                user_id=row.user_id,
                number=row.number,
                display_name=first_name or str(row.user_id),
                replaced=row.replaced_at is not None,
            )
            for row, first_name in rows
        ]

    async def replace_winner(self, lottery_id: int, pick: int, now: datetime) -> bool:
        result = await self._session.execute(
            update(LotteryWinnerRow)
            .where(
                LotteryWinnerRow.lottery_id == lottery_id,
                LotteryWinnerRow.pick == pick,
                LotteryWinnerRow.replaced_at.is_(None),
            )
            .values(replaced_at=now)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def draft(
        self, community_id: int, user_id: int
    ) -> tuple[dict[str, Any], datetime] | None:
        row = (
            await self._session.execute(
                select(LotteryDraftRow.data, LotteryDraftRow.updated_at).where(
                    LotteryDraftRow.community_id == community_id,
                    LotteryDraftRow.user_id == user_id,
                )
            )
        ).one_or_none()
        return (dict(row[0]), row[1]) if row is not None else None

    async def save_draft(
        self, community_id: int, user_id: int, data: dict[str, Any], now: datetime
    ) -> None:
        await self.drop_draft(community_id, user_id)
        await insert_ignoring_conflict(
            self._session,
            LotteryDraftRow,
            {"community_id": community_id, "user_id": user_id, "data": data, "updated_at": now},
        )

    async def drop_draft(self, community_id: int, user_id: int) -> None:
        await self._session.execute(
            delete(LotteryDraftRow).where(
                LotteryDraftRow.community_id == community_id, LotteryDraftRow.user_id == user_id
            )
        )
