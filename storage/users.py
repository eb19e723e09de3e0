"""SQL implementation of the user repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Boolean, String, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import UserInfo
from storage.caches import caches_of, user_written, user_written_here
from storage.engine import READ_ONLY
from storage.models import UserRow
from storage.prepared import PerDialect, Prepared, is_asyncpg
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
# PostgreSQL: a page's users written in one statement. Whoever else held one of their
# usernames loses it (the page's users are written with theirs, so they are left out).
_UPSERT_USERS = Prepared(
    text(
        """
WITH page AS (
  SELECT * FROM unnest(:ids, :first_names, :usernames, :language_codes, :is_bots)
    AS p(id, first_name, username, language_code, is_bot)
), released AS (
  UPDATE users SET username = NULL FROM page
  WHERE users.username = page.username AND users.id NOT IN (SELECT id FROM page)
)
INSERT INTO users (id, first_name, username, language_code, is_bot)
SELECT id, first_name, username, language_code, is_bot FROM page
ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name,
  username = excluded.username, language_code = excluded.language_code
"""
    ).bindparams(
        bindparam("ids", type_=ARRAY(BigInteger)),
        bindparam("first_names", type_=ARRAY(String)),
        bindparam("usernames", type_=ARRAY(String)),
        bindparam("language_codes", type_=ARRAY(String)),
        bindparam("is_bots", type_=ARRAY(Boolean)),
    )
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

    async def note_many(self, users: Sequence[UserInfo]) -> None:
        """On PostgreSQL the users not known to be written yet, in one statement; a user or
        username twice among them is left to `note`, as is every other database."""
        dialect = self._session.bind.dialect if self._session.bind is not None else None
        if not is_asyncpg(dialect) or await self._read_only():
            return
        ids = Counter(user.id for user in users)
        names = Counter(user.username.lower() for user in users if user.username)
        page: list[tuple[UserInfo, tuple[str, str | None, str | None]]] = []
        for user in users:
            username = user.username.lower() if user.username else None
            if ids[user.id] > 1 or (username is not None and names[username] > 1):
                continue
            details = (user.first_name[:255], username, user.language_code)
            if not self._known(user.id, details):
                page.append((user, details))
        if not page:
            return
        await _UPSERT_USERS.run(
            self._session,
            {
                "ids": [user.id for user, _ in page],
                "first_names": [details[0] for _, details in page],
                "usernames": [details[1] for _, details in page],
                "language_codes": [details[2] for _, details in page],
                "is_bots": [user.is_bot for user, _ in page],
            },
        )
        for user, details in page:
            user_written(self._session, user.id, details)

    def _known(self, user_id: int, details: tuple[str, str | None, str | None]) -> bool:
        """Whether these details were written already (committed, or in this transaction)."""
        caches = caches_of(self._session)
        if caches is not None and caches.user_unchanged(user_id, details):
            return True
        return user_written_here(self._session, user_id, details)

    async def _read_only(self) -> bool:
        connection = (await self._session.connection()).sync_connection
        return connection is not None and bool(connection.get_execution_options().get(READ_ONLY))

    async def _write(self, user: UserInfo, *, in_read_only: bool) -> None:
        username = user.username.lower() if user.username else None
        details = (user.first_name[:255], username, user.language_code)
        if self._known(user.id, details):
            return
        if not in_read_only and await self._read_only():
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
