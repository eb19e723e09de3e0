"""SQL implementation of the user repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import UserInfo
from storage.caches import caches_of, user_written, user_written_here
from storage.engine import READ_ONLY
from storage.models import UserRow
from storage.prepared import PerDialect, Prepared
from storage.sql import _table


def _upsert_user(dialect: Any) -> Any:
    insert = dialect.insert(_USERS).values(
        id=bindparam("id"),
        first_name=bindparam("first_name"),
        username=bindparam("username"),
        language_code=bindparam("language_code"),
        is_bot=bindparam("is_bot"),
    )
    return insert.on_conflict_do_update(
        index_elements=[_USERS.c.id],
        set_={
            "first_name": insert.excluded.first_name,
            "username": insert.excluded.username,
            "language_code": insert.excluded.language_code,
        },
    )


_USERS = _table(UserRow)
_UPSERT_USER = PerDialect(_upsert_user)
_RELEASE_USERNAME = Prepared(
    update(_USERS)
    .where(_USERS.c.username == bindparam("taken"), _USERS.c.id != bindparam("keep"))
    .values(username=None)
)
_USER_BY_ID = select(*_USERS.c).where(_USERS.c.id == bindparam("id"))


def _user_from_row(row: Any) -> UserInfo:
    return UserInfo(
        id=row.id,
        first_name=row.first_name,
        username=row.username,
        language_code=row.language_code,
        is_bot=row.is_bot,
    )


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert(self, user: UserInfo) -> None:
        """Writes the user's details unless this process last wrote the very same ones (in
        this transaction or a committed one)."""
        await self._write(user, in_read_only=True)

    async def note(self, user: UserInfo) -> None:
        """As upsert, but a read-only transaction (a command that only looks) writes nothing:
        the user's next update that writes records them."""
        await self._write(user, in_read_only=False)

    async def _write(self, user: UserInfo, *, in_read_only: bool) -> None:
        username = user.username.lower() if user.username else None
        details = (user.first_name[:255], username, user.language_code)
        caches = caches_of(self._session)
        if caches is not None and caches.user_unchanged(user.id, details):
            return
        if user_written_here(self._session, user.id, details):
            return
        if not in_read_only:
            connection = (await self._session.connection()).sync_connection
            if connection is not None and connection.get_execution_options().get(READ_ONLY):
                return
        if username:
            # A username belongs to one account at a time; whoever had it before moved on.
            await _RELEASE_USERNAME.run(self._session, {"taken": username, "keep": user.id})
        await _UPSERT_USER.run(
            self._session,
            {
                "id": user.id,
                "first_name": details[0],
                "username": username,
                "language_code": user.language_code,
                "is_bot": user.is_bot,
            },
        )
        user_written(self._session, user.id, details)

    async def get(self, user_id: int) -> UserInfo | None:
        row = (await self._session.execute(_USER_BY_ID, {"id": user_id})).one_or_none()
        return _user_from_row(row) if row else None

    async def set_can_message(self, user_id: int, can_message: bool) -> None:
        await self._session.execute(
            update(UserRow).where(UserRow.id == user_id).values(can_message=can_message)
        )

    async def can_message(self, user_id: int) -> bool:
        return bool(
            await self._session.scalar(select(UserRow.can_message).where(UserRow.id == user_id))
        )

    async def find_by_username(self, username: str) -> UserInfo | None:
        row = (
            await self._session.execute(
                select(*_USERS.c).where(_USERS.c.username == username.lower().lstrip("@")).limit(1)
            )
        ).one_or_none()
        return _user_from_row(row) if row else None
