"""Every migration keeps the data already stored: a populated database survives upgrades to
head, a downgrade and a second upgrade with every row and value intact. The revisions and the
tables are discovered, so a new migration or table is covered without editing this file; a
migration that moves data from one place to another declares the move in DATA_MOVES, and the
moved values are checked in their new place."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, Table, select, types
from sqlalchemy.engine import Connection

from storage.engine import build_engine
from storage.migrate import alembic_config, downgrade_to_base
from tests.conftest import POSTGRES_URL

T = TypeVar("T")
Key = tuple[Any, ...]
Snapshot = dict[str, dict[Key, dict[str, Any]]]

ROWS_PER_TABLE = 3
# Telegram user ids reach 2**52, supergroup chat ids look like -100xxxxxxxxxx; 2**53 + 1 is not
# a float, so any detour through a double would show.
BIG_INTEGERS = (2**52 - 1, -1_009_999_999_999, 2**53 + 1)
INTEGERS = (2**31 - 1, 0, 42)
SMALL_INTEGERS = (2**15 - 1, 0, 7)
TEXTS = ("种子用户 🌱", 'O\'Brien "quoted" \\ %s;\n-- 第二行', "")
DATETIMES = (
    dt.datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
    dt.datetime(2000, 2, 29, 0, 0, 0, 1, tzinfo=dt.UTC),
    dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=dt.UTC),
)
JSON_VALUES: tuple[Any, ...] = (
    {"名字": "种子用户 🌱", "ids": [2**52 - 1, -1_009_999_999_999], "ok": True, "none": None},
    ["a", 1, 2.5, {"nested": ["深", "层"]}],
    "plain 字符串",
)


# The community's settings document is a JSON object by contract (0017 adds keys to it), so its
# samples are objects holding the other JSON samples.
JSON_OBJECT_COLUMNS = {("communities", "settings")}


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


REVISIONS = revisions()


def text_value(row: int, length: int | None) -> str:
    value = f"{row}{TEXTS[row % len(TEXTS)]}"
    if row == 0:
        value = value * ((length or 5_000) // len(value) + 1)
    return value[:length] if length else value[:5_000]


def pick(values: tuple[T, ...], row: int) -> T:
    return values[row % len(values)]


def moment(kind: Any, row: int) -> dt.datetime:
    value = pick(DATETIMES, row)
    return value if kind.timezone else value.replace(tzinfo=None)


# Checked in order, so subclasses (Enum of String, BigInteger of Integer) come first.
SAMPLERS: tuple[tuple[type[types.TypeEngine[Any]], Callable[[Any, int], Any]], ...] = (
    (types.Boolean, lambda _, row: row % 2 == 0),
    (types.Enum, lambda kind, row: pick(tuple(kind.enums), row)),
    (types.String, lambda kind, row: text_value(row, kind.length)),
    (types.BigInteger, lambda _, row: pick(BIG_INTEGERS, row)),
    (types.SmallInteger, lambda _, row: pick(SMALL_INTEGERS, row)),
    (types.Integer, lambda _, row: pick(INTEGERS, row)),
    (types.Float, lambda _, row: 1.5 + row),
    (types.Numeric, lambda _, row: decimal.Decimal("12345.67") + row),
    (types.DateTime, moment),
    (types.Date, lambda _, row: pick(DATETIMES, row).date()),
    (types.Time, lambda _, row: pick(DATETIMES, row).time()),
    (types.Interval, lambda _, row: dt.timedelta(days=row, seconds=59)),
    (types.JSON, lambda _, row: pick(JSON_VALUES, row)),
    (types.LargeBinary, lambda _, row: bytes([row, 0, 255]) + "🌱".encode()),
    (types.Uuid, lambda _, row: uuid.UUID(int=row + 1)),
)


def sample(column: Column[Any], row: int) -> Any:
    """A representative value for the column's reflected type, distinct for each row."""
    if (column.table.name, column.name) in JSON_OBJECT_COLUMNS:
        return {"sample": pick(JSON_VALUES, row), "row": row}
    for kind, make in SAMPLERS:
        if isinstance(column.type, kind):
            return make(column.type, row)
    raise NotImplementedError(
        f"add a sampler for {column.table.name}.{column.name} ({column.type!r})"
    )


def reflected_tables(connection: Connection) -> dict[str, Table]:
    metadata = MetaData()
    metadata.reflect(connection)
    return {
        table.name: table for table in metadata.sorted_tables if table.name != "alembic_version"
    }


def row_key(table: Table, row: dict[str, Any]) -> Key:
    columns = list(table.primary_key.columns) or list(table.columns)
    return tuple(row[column.name] for column in columns)


def populate(connection: Connection) -> Snapshot:
    """Fills every table with rows that satisfy its foreign keys and unique constraints, and
    returns them as read back."""
    tables = reflected_tables(connection)
    generated: dict[str, list[dict[str, Any]]] = {}
    for name, table in tables.items():
        rows = [
            {column.name: sample(column, row) for column in table.columns}
            for row in range(ROWS_PER_TABLE)
        ]
        for foreign_key in table.foreign_key_constraints:
            parents = rows if foreign_key.referred_table is table else None
            parents = parents or generated[foreign_key.referred_table.name]
            for index, row in enumerate(rows):
                parent = parents[index % len(parents)]
                for element in foreign_key.elements:
                    row[element.parent.name] = parent[element.column.name]
        connection.execute(table.insert(), rows)
        generated[name] = rows
    return read(
        connection, {name: [c.name for c in table.columns] for name, table in tables.items()}
    )


def read(connection: Connection, columns: dict[str, list[str]]) -> Snapshot:
    tables = reflected_tables(connection)
    snapshot: Snapshot = {}
    for name, wanted in columns.items():
        table = tables.get(name)
        if table is None:
            snapshot[name] = {}
            continue
        present = [table.c[column] for column in wanted if column in table.c]
        rows = [dict(row._mapping) for row in connection.execute(select(*present))]
        snapshot[name] = {row_key(table, row): row for row in rows}
    return snapshot


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    found: list[str] = []
    for table, rows in before.items():
        for key, row in rows.items():
            now = after[table].get(key)
            if now is None:
                found.append(f"{table} {key}: row lost")
                continue
            found.extend(
                f"{table} {key}.{column}: {value!r} became {now.get(column, '<column gone>')!r}"
                for column, value in row.items()
                if now.get(column, ...) != value
            )
    return found


def care_settings_into_community_settings(snapshot: Snapshot) -> Snapshot:
    """0017: each care_settings row becomes its community's "care" settings entry."""
    moved = {table: dict(rows) for table, rows in snapshot.items() if table != "care_settings"}
    if "communities" not in moved:
        return moved
    for row in snapshot.get("care_settings", {}).values():
        values = {name: value for name, value in row.items() if name != "community_id"}
        key = (row["community_id"],)
        community = dict(moved["communities"][key])
        community["settings"] = {**community["settings"], "care": values}
        moved["communities"][key] = community
    return moved


# Revision -> how the rows stored before it are found after it.
DATA_MOVES: dict[str, Callable[[Snapshot], Snapshot]] = {
    "0017_care_settings_on_community": care_settings_into_community_settings,
}


def expected_after(stored: Snapshot, stored_at: str, now_at: str) -> Snapshot:
    """The stored rows as they should read at `now_at`, after the moves declared since."""
    expected = stored
    for revision in REVISIONS[REVISIONS.index(stored_at) + 1 : REVISIONS.index(now_at) + 1]:
        move = DATA_MOVES.get(revision)
        if move is not None:
            expected = move(expected)
    return expected


def on_database(url: str, work: Callable[[Connection], T]) -> T:
    async def go() -> T:
        engine = build_engine(url)
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'populated.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(
            "PostgreSQL tests need TEST_DATABASE_URL (.ci/run sets it when a server answers)"
        )
    downgrade_to_base(POSTGRES_URL)
    try:
        yield POSTGRES_URL
    finally:
        downgrade_to_base(POSTGRES_URL)


@pytest.mark.parametrize("revision", REVISIONS)
def test_rows_stored_at_a_revision_survive_upgrade_downgrade_and_upgrade(
    empty_database: str, revision: str
) -> None:
    config = alembic_config(empty_database)
    command.upgrade(config, revision)
    stored = on_database(empty_database, populate)
    assert all(len(rows) == ROWS_PER_TABLE for rows in stored.values()), stored
    columns = {table: list(next(iter(rows.values()))) for table, rows in stored.items()}

    def assert_kept(moment: str, now_at: str) -> None:
        expected = expected_after(stored, revision, now_at)
        changes = differences(expected, on_database(empty_database, lambda c: read(c, columns)))
        assert not changes, f"rows stored at {revision} changed {moment}:\n" + "\n".join(changes)

    for later in REVISIONS[REVISIONS.index(revision) + 1 :]:
        command.upgrade(config, later)
        assert_kept(f"by the upgrade to {later}", later)
    command.downgrade(config, revision)
    assert_kept(f"by the downgrade back to {revision}", revision)
    command.upgrade(config, "head")
    assert_kept("by the second upgrade to head", REVISIONS[-1])


def test_the_stairway_walks_every_revision_from_the_first() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert REVISIONS[-1] == script.get_current_head()
    first = script.get_revision(REVISIONS[0])
    assert first is not None and first.down_revision is None
    assert len(REVISIONS) == len(set(REVISIONS)) == len(list(script.walk_revisions()))
