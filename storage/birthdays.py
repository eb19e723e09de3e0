"""Members' birthdays (month and day only) and the once-a-year greeting claims. Never commits."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.care import BirthdayCandidate
from storage.models import BirthdayGreetingRow, BirthdayRow, MemberRow, UserRow
from storage.sql import insert_ignoring_conflict


class SqlBirthdayRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def save(self, user_id: int, month: int, day: int, now: datetime) -> None:
        values = {"month": month, "day": day, "updated_at": now}
        if not await insert_ignoring_conflict(
            self._session, BirthdayRow, {"user_id": user_id, **values}
        ):
            await self._session.execute(
                update(BirthdayRow).where(BirthdayRow.user_id == user_id).values(**values)
            )

    async def remove(self, user_id: int) -> bool:
        result = await self._session.execute(
            delete(BirthdayRow).where(BirthdayRow.user_id == user_id)
        )
        return bool(getattr(result, "rowcount", 0))

    async def get(self, user_id: int) -> tuple[int, int] | None:
        row = await self._session.get(BirthdayRow, user_id)
        return (row.month, row.day) if row is not None else None

    async def candidates(self, days: Collection[tuple[int, int]]) -> Sequence[BirthdayCandidate]:
        """Members (still in their group) whose birthday is one of the month-days."""
        if not days:
            return []
        statement = (
            select(
                MemberRow.community_id,
                MemberRow.user_id,
                UserRow.first_name,
                UserRow.username,
                BirthdayRow.month,
                BirthdayRow.day,
            )
            .join(BirthdayRow, BirthdayRow.user_id == MemberRow.user_id)
            .join(UserRow, UserRow.id == MemberRow.user_id)
            .where(
                MemberRow.is_member.is_(True),
                or_(*(and_(BirthdayRow.month == m, BirthdayRow.day == d) for m, d in days)),
            )
            .order_by(MemberRow.community_id, MemberRow.user_id)
        )
        found = []
        for community_id, user_id, first_name, username, month, day in await self._session.execute(
            statement
        ):
            shown = first_name or (f"@{username}" if username else str(user_id))
            found.append(BirthdayCandidate(community_id, user_id, shown, month, day))
        return found

    async def greeted(
        self, user_ids: Collection[int], years: Collection[int]
    ) -> set[tuple[int, int, int]]:
        """(community, user, year) of the greetings already given to those users."""
        if not user_ids:
            return set()
        rows = await self._session.execute(
            select(
                BirthdayGreetingRow.community_id,
                BirthdayGreetingRow.user_id,
                BirthdayGreetingRow.year,
            ).where(
                BirthdayGreetingRow.user_id.in_(list(user_ids)),
                BirthdayGreetingRow.year.in_(list(years)),
            )
        )
        return {(community_id, user_id, year) for community_id, user_id, year in rows}

    async def claim(
        self, community_id: int, user_id: int, year: int, gift: int, now: datetime
    ) -> bool:
        """The year's greeting of the member in that community: True once, ever."""
        return await insert_ignoring_conflict(
            self._session,
            BirthdayGreetingRow,
            {
                "community_id": community_id,
                "user_id": user_id,
                "year": year,
                "greeted_at": now,
                "gift": gift,
            },
        )
