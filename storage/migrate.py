from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from storage.engine import ensure_sqlite_folder

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Brings the database to the newest schema (synchronous: call outside an event loop)."""
    ensure_sqlite_folder(database_url)
    command.upgrade(alembic_config(database_url), "head")


def downgrade_to_base(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
