"""What is stored about one member, feature by feature (/mydata). It never commits.

PARTS is the registry: one entry per table that holds a Telegram user id, naming the
columns that do. tests/unit/test_privacy_registry.py walks the metadata and fails when a
table with such a column is missing here, so a new feature must declare its part."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base

# Column names that hold a Telegram user id (private chat ids equal user ids).
USER_ID_COLUMNS = frozenset(
    {
        "user_id",
        "invitee_id",
        "inviter_id",
        "actor_id",
        "target_user_id",
        "created_by",
        "settled_by",
    }
)


@dataclass(frozen=True)
class Part:
    """One feature's share of a member's data: a section name and the table's user-id columns."""

    section: str
    table: str
    columns: tuple[str, ...]


PARTS: tuple[Part, ...] = (
    Part("user", "users", ("id",)),
    Part("memberships", "members", ("user_id",)),
    Part("checkins", "checkins", ("user_id",)),
    Part("ledger", "points_ledger", ("user_id", "actor_id")),
    Part("badges", "member_badges", ("user_id",)),
    Part("audit", "audit_log", ("actor_id", "target_user_id")),
    Part("invite_links", "invite_links", ("user_id",)),
    Part("referrals", "referrals", ("invitee_id", "inviter_id")),
    Part("remembered_referrals", "remembered_referrals", ("invitee_id", "inviter_id")),
    Part("outgoing_messages", "outgoing_messages", ("chat_id",)),
    Part("blocked_chats", "blocked_chats", ("chat_id",)),
    Part("shop_orders", "shop_orders", ("user_id", "settled_by")),
    Part("campaigns_created", "campaigns", ("created_by",)),
    Part("shop_items_created", "shop_items", ("created_by",)),
    Part("lotteries_created", "lotteries", ("created_by",)),
    Part("quiz_sessions_started", "quiz_sessions", ("created_by",)),
    Part("quiz_schedules_created", "quiz_schedules", ("created_by",)),
    Part("lottery_entries", "lottery_entries", ("user_id",)),
    Part("lottery_wins", "lottery_winners", ("user_id",)),
    Part("lottery_drafts", "lottery_drafts", ("user_id",)),
    Part("quiz_answers", "quiz_answers", ("user_id",)),
    Part("activity_days", "activity_days", ("user_id",)),
    Part("membership_events", "membership_events", ("user_id",)),
)

# Per section, at most this many rows (newest first by primary key) go into one export.
EXPORT_ROW_LIMIT = 5000


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def user_id_tables() -> dict[str, set[str]]:
    """Every table with a column named like a user id, and those columns."""
    found: dict[str, set[str]] = {}
    for table in Base.metadata.sorted_tables:
        columns = {c.name for c in table.columns if c.name in USER_ID_COLUMNS}
        if columns:
            found[table.name] = columns
    return found


class SqlPrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._export = SqlCommunityExport(session)

    async def community_rows(
        self, community_id: int, kind: str, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """One of EXPORT_TABLES for a group, oldest first, at most `limit` rows."""
        return await self._export.rows(community_id, kind, limit)

    async def export_user(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Each part's rows about the user, as JSON-ready dicts."""
        sections: dict[str, list[dict[str, Any]]] = {}
        for part in PARTS:
            table: Table = Base.metadata.tables[part.table]
            keys = list(table.primary_key.columns)
            query = (
                select(table)
                .where(or_(*(table.c[name] == user_id for name in part.columns)))
                .order_by(*(key.desc() for key in keys))
                .limit(EXPORT_ROW_LIMIT)
            )
            rows = (await self._session.execute(query)).mappings().all()
            sections[part.section] = [
                {key: _plain(value) for key, value in row.items()} for row in rows
            ]
        return sections


EXPORT_TABLES = {
    "members": "members",
    "ledger": "points_ledger",
    "checkins": "checkins",
    "referrals": "referrals",
}


class SqlCommunityExport:
    """A group's table as header and rows for a CSV file (/export)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def rows(
        self, community_id: int, kind: str, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        table = Base.metadata.tables[EXPORT_TABLES[kind]]
        columns = list(table.columns)
        header = [column.name for column in columns]
        query = select(*columns)
        if kind == "members":
            users = Base.metadata.tables["users"]
            header += ["first_name", "username"]
            query = select(*columns, users.c.first_name, users.c.username).join(
                users, users.c.id == table.c.user_id
            )
        query = query.where(table.c.community_id == community_id).order_by(table.c.id).limit(limit)
        result = await self._session.execute(query)
        return header, [tuple(_plain(value) for value in row) for row in result.all()]
