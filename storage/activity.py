"""Activity per member per local day (joins and leaves are recorded by the members
repository, with the membership they change). It never commits."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import bindparam, literal
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement

from bot.domain.models import Activity
from storage.models import ActivityDayRow
from storage.prepared import PerDialect

_DAYS = ActivityDayRow.__table__


def _count_statement(activity: Activity) -> PerDialect:
    def build(dialect: Any) -> ClauseElement:
        column = _DAYS.c[activity.value]
        values = {name: 0 for name in (a.value for a in Activity)} | {activity.value: 1}
        statement = dialect.insert(_DAYS).values(
            community_id=bindparam("community_id"),
            user_id=bindparam("user_id"),
            day=bindparam("day"),
            **values,
        )
        upsert: ClauseElement = statement.on_conflict_do_update(
            index_elements=[_DAYS.c.community_id, _DAYS.c.user_id, _DAYS.c.day],
            set_={activity.value: column + 1},
        ).returning(sum((_DAYS.c[a.value] for a in Activity), start=literal(0)))
        return upsert

    return PerDialect(build)


_COUNT = {activity: _count_statement(activity) for activity in Activity}


class SqlActivityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def note(self, community_id: int, user_id: int, day: date, activity: Activity) -> bool:
        """Counts one activity; True when it is the member's first of that day."""
        outcome = await _COUNT[activity].run(
            self._session, {"community_id": community_id, "user_id": user_id, "day": day}
        )
        total = outcome.one_or_none()
        return total is not None and int(total[0]) == 1
