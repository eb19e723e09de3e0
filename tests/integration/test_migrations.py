from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage.engine import build_engine
from storage.migrate import downgrade_to_base, upgrade_to_head
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
