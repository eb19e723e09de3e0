"""Bringing the database to the newest schema: backups of SQLite files first, the revision
before and after, and the foreign key check the migrations end with."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

from storage.engine import build_engine, ensure_sqlite_folder

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
BACKUPS_KEPT = 3
DANGLING_ROWS_NAMED = 20


class DanglingRowsError(RuntimeError):
    """A migration left rows whose foreign keys point at rows that do not exist."""


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Brings the database to the newest schema (synchronous: call outside an event loop)."""
    ensure_sqlite_folder(database_url)
    command.upgrade(alembic_config(database_url), "head")


def upgrade_to_head_with_backup(database_url: str, report: Callable[[str], None]) -> Path | None:
    """Like `upgrade_to_head`, but first backs up a SQLite file that has an upgrade pending,
    reporting where before upgrading (so the operator knows even if the upgrade fails)."""
    backup = backup_before_upgrade(database_url)
    if backup is not None:
        report(f"Backed up {sqlite_file(database_url)} to {backup}")
    upgrade_to_head(database_url)
    return backup


def migrate_with_summary(database_url: str, report: Callable[[str], None]) -> str:
    """`upgrade_to_head_with_backup`, then one line for the operator: the revision the
    database is at and whether anything was applied (synchronous: outside an event loop)."""
    ensure_sqlite_folder(database_url)
    before = database_revision(database_url)
    upgrade_to_head_with_backup(database_url, report)
    return migration_summary(before, database_revision(database_url))


def migration_summary(before: str | None, after: str | None) -> str:
    if before == after:
        return f"Database at revision {after or 'base'}: up to date, nothing applied."
    start = f"revision {before}" if before else "an empty database"
    return f"Database at revision {after or 'base'}: migrations applied (from {start})."


def database_revision(database_url: str) -> str | None:
    """The revision any database (SQLite or PostgreSQL) is at; None before the first (a
    SQLite file that does not exist yet is not created)."""
    database = sqlite_file(database_url)
    if database is not None and not database.is_file():
        return None
    return asyncio.run(_database_revision(database_url))


async def _database_revision(database_url: str) -> str | None:
    engine = build_engine(database_url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            heads = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_heads()
            )
    finally:
        await engine.dispose()
    return "+".join(sorted(heads)) or None


def downgrade_to_base(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")


def sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser()


def stored_revision(database: Path) -> str | None:
    with closing(sqlite3.connect(database)) as connection:
        try:
            rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.OperationalError:
            return None
    return "+".join(sorted(str(row[0]) for row in rows)) or None


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    return "+".join(sorted(heads))


def backup_before_upgrade(database_url: str) -> Path | None:
    """Copies an existing SQLite database file that is not at head to
    `<file name>.before-<revision>.bak` beside it, through SQLite's online backup (consistent
    even in WAL mode), keeps the newest `BACKUPS_KEPT` such copies and returns the new one."""
    database = sqlite_file(database_url)
    if database is None or not database.is_file():
        return None
    revision = stored_revision(database)
    if revision == head_revision():
        return None
    backup = database.with_name(f"{database.name}.before-{revision or 'base'}.bak")
    partial = backup.with_name(f"{backup.name}.partial")
    partial.unlink(missing_ok=True)
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(partial)) as copy:
        source.backup(copy)
    partial.replace(backup)
    _drop_old_backups(database)
    return backup


def _drop_old_backups(database: Path) -> None:
    prefix = f"{database.name}.before-"
    backups = sorted(
        (
            path
            for path in database.parent.iterdir()
            if path.name.startswith(prefix) and path.name.endswith(".bak")
        ),
        key=lambda path: (path.stat().st_mtime_ns, path.name),
    )
    for old in backups[:-BACKUPS_KEPT]:
        old.unlink()


def check_foreign_keys(connection: Connection) -> None:
    """Raises `DanglingRowsError` naming the rows when a SQLite database holds rows whose
    foreign keys point nowhere (migrations run with enforcement off, so they check at the end)."""
    if connection.dialect.name != "sqlite":
        return
    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if not dangling:
        return
    named = "; ".join(
        _describe_dangling(connection, table, rowid, parent, key_id)
        for table, rowid, parent, key_id in dangling[:DANGLING_ROWS_NAMED]
    )
    more = (
        f" and {len(dangling) - DANGLING_ROWS_NAMED} more"
        if len(dangling) > DANGLING_ROWS_NAMED
        else ""
    )
    raise DanglingRowsError(
        f"the migration was rolled back: {len(dangling)} rows point at missing rows: {named}{more}"
    )


def _describe_dangling(
    connection: Connection, table: str, rowid: int | None, parent: str, key_id: int
) -> str:
    links = connection.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")').all()
    columns = [str(link[3]) for link in links if link[0] == key_id]
    if rowid is None or not columns:
        return f"a row of {table} -> {parent}"
    selected = ", ".join(f'"{column}"' for column in columns)
    values = connection.exec_driver_sql(
        f'SELECT {selected} FROM "{table}" WHERE rowid = ?', (rowid,)
    ).one()
    pairs = ", ".join(f"{column}={value!r}" for column, value in zip(columns, values, strict=True))
    return f"{table} row {rowid} ({pairs}) -> {parent}"
