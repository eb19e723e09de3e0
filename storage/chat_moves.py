"""Moving a community to another chat id (a group upgraded to a supergroup). Never commits."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, UniqueConstraint, and_, delete, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Base,
    BlockedChatRow,
    CommunityRow,
    MemberRow,
    OutgoingMessageRow,
)

COMMUNITY_COLUMN = "community_id"
# Per-member totals that add up when a member has rows in both chats.
MEMBER_SUMS = ("balance", "lifetime_earned")
MEMBER_LATEST = ("last_active_at", "last_activity_point_at")


def _community_tables() -> list[Table]:
    """Every table holding a community's data, found from the models, so that a table added
    later moves too."""
    return [
        table
        for table in Base.metadata.sorted_tables
        if COMMUNITY_COLUMN in table.c and table.name != CommunityRow.__tablename__
    ]


def _unique_keys(table: Table) -> list[list[str]]:
    """The unique keys (primary key included) that contain the community, as the other
    column names."""
    keys: list[list[str]] = []
    candidates = [list(table.primary_key.columns)]
    candidates.extend(
        list(constraint.columns)
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint)
    )
    candidates.extend(list(index.columns) for index in table.indexes if index.unique)
    for columns in candidates:
        names = [column.name for column in columns]
        if COMMUNITY_COLUMN in names and len(names) > 1:
            keys.append([name for name in names if name != COMMUNITY_COLUMN])
    return keys


class SqlChatMoves:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def move_community(self, old_id: int, new_id: int) -> bool:
        """Moves the community and all its data from `old_id` to `new_id`: the new row is
        inserted (or, if the new chat was already seen, given the old one's settings), the
        children are repointed, the old row is deleted; queued messages and a block follow.
        Works with foreign keys on. False when there was nothing left to move."""
        await self._session.flush()
        await self._move_outgoing(old_id, new_id)
        old = await self._session.get(CommunityRow, old_id)
        if old is None or old_id == new_id:
            return False
        code = old.public_code
        old.public_code = None
        await self._session.flush()
        new = await self._session.get(CommunityRow, new_id)
        if new is None:
            await self._session.execute(
                insert(CommunityRow).values(
                    id=new_id,
                    title=old.title,
                    timezone=old.timezone,
                    language=old.language,
                    settings=old.settings,
                    created_at=old.created_at,
                    public_code=code,
                )
            )
        else:
            await self._merge_members(old_id, new_id)
            new.timezone = old.timezone
            new.language = old.language
            new.settings = old.settings
            new.created_at = min(old.created_at, new.created_at)
            new.public_code = code or new.public_code
            await self._session.flush()
        for table in _community_tables():
            await self._drop_conflicts(table, old_id, new_id)
            await self._session.execute(
                update(table)
                .where(table.c[COMMUNITY_COLUMN] == old_id)
                .values({COMMUNITY_COLUMN: new_id})
            )
        await self._session.execute(delete(CommunityRow).where(CommunityRow.id == old_id))
        self._session.expire_all()  # rows loaded before still name the old chat
        return True

    async def _move_outgoing(self, old_id: int, new_id: int) -> None:
        await self._session.execute(
            update(OutgoingMessageRow)
            .where(OutgoingMessageRow.chat_id == old_id)
            .values(chat_id=new_id)
        )
        if await self._session.get(BlockedChatRow, new_id) is None:
            await self._session.execute(
                update(BlockedChatRow)
                .where(BlockedChatRow.chat_id == old_id)
                .values(chat_id=new_id)
            )
        else:
            await self._session.execute(
                delete(BlockedChatRow).where(BlockedChatRow.chat_id == old_id)
            )

    async def _merge_members(self, old_id: int, new_id: int) -> None:
        """A member seen in both chats keeps one row with both chats' points (their ledger
        rows all move, so balances still equal the ledger); the new chat's row goes."""
        members = cast(Table, MemberRow.__table__)
        newer = members.alias("newer")
        pairs = await self._session.execute(
            select(members, newer.c.id.label("newer_id"))
            .join(
                newer,
                and_(newer.c.user_id == members.c.user_id, newer.c[COMMUNITY_COLUMN] == new_id),
            )
            .where(members.c[COMMUNITY_COLUMN] == old_id)
        )
        for pair in pairs.mappings().all():
            other = (
                (
                    await self._session.execute(
                        select(members).where(members.c.id == pair["newer_id"])
                    )
                )
                .mappings()
                .one()
            )
            await self._session.execute(delete(members).where(members.c.id == other["id"]))
            changes = {name: pair[name] + other[name] for name in MEMBER_SUMS}
            changes["tier"] = max(pair["tier"], other["tier"])
            changes["is_member"] = other["is_member"]
            for latest in MEMBER_LATEST:
                if other[latest] is not None and (
                    pair[latest] is None or other[latest] > pair[latest]
                ):
                    changes[latest] = other[latest]
            await self._session.execute(
                update(members).where(members.c.id == pair["id"]).values(changes)
            )

    async def _drop_conflicts(self, table: Table, old_id: int, new_id: int) -> None:
        """Rows the new chat already has under a key the old chat's rows hold too: the old
        chat's row (the longer history) wins."""
        for key in _unique_keys(table):
            older = table.alias("older")
            same_key = [older.c[name] == table.c[name] for name in key]
            await self._session.execute(
                delete(table).where(
                    table.c[COMMUNITY_COLUMN] == new_id,
                    exists().where(older.c[COMMUNITY_COLUMN] == old_id, *same_key),
                )
            )
