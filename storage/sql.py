"""Helpers the SQL repositories share (bot.ports implementations; they never commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base


async def insert_ignoring_conflict(
    session: AsyncSession, model: type[Base], values: dict[str, Any]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when a row was inserted."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
    statement = insert.values(**values).on_conflict_do_nothing()
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0) == 1)


def _dialect_insert(session: AsyncSession, model: type[Base]) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table
