from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage.engine import build_engine
from storage.migrate import (
    DanglingRowsError,
    alembic_config,
    downgrade_to_base,
    stored_revision,
    upgrade_to_head,
)
from storage.models import Base
from tests.conftest import POSTGRES_URL

EXPECTED_TABLES = set(Base.metadata.tables)


def table_names(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = build_engine(url)
        try:
            async with engine.connect() as connection:
                names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        finally:
            await engine.dispose()
        return set(names) - {"alembic_version"}

    return asyncio.run(read())


def stairway(url: str) -> None:
    upgrade_to_head(url)
    downgrade_to_base(url)
    upgrade_to_head(url)


def test_migrations_up_down_up_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'stairway.db'}"
    stairway(url)
    assert table_names(url) == EXPECTED_TABLES
    downgrade_to_base(url)
    assert table_names(url) == set()


@pytest.mark.skipif(not POSTGRES_URL, reason="set TEST_DATABASE_URL to run against PostgreSQL")
def test_migrations_up_down_up_on_postgresql() -> None:
    assert POSTGRES_URL is not None
    downgrade_to_base(POSTGRES_URL)
    stairway(POSTGRES_URL)
    assert table_names(POSTGRES_URL) >= EXPECTED_TABLES
    downgrade_to_base(POSTGRES_URL)
    assert not EXPECTED_TABLES & table_names(POSTGRES_URL)


def schema_differences(url: str) -> list[object]:
    async def read() -> list[object]:
        engine = build_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'compare.db'}"
    upgrade_to_head(url)
    assert schema_differences(url) == []


def test_an_upgrade_leaving_dangling_rows_fails_naming_them_and_changes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dangling.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0001")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute(
            "INSERT INTO checkins (community_id, user_id, day, streak, points, created_at)"
            " VALUES (-1009999999999, 4503599627370495, '2026-11-22', 1, 5,"
            " '2026-11-22 08:00:00')"
        )
        connection.commit()

    with pytest.raises(DanglingRowsError) as error:
        upgrade_to_head(url)

    assert "checkins row 1 (community_id=-1009999999999) -> communities" in str(error.value)
    assert "checkins row 1 (user_id=4503599627370495) -> users" in str(error.value)
    assert stored_revision(path) == "0001"
    assert "invite_links" not in table_names(url)
