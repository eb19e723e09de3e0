from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from alembic import command

from seedbot import cli
from seedbot.config import Settings
from storage.migrate import (
    alembic_config,
    head_revision,
    stored_revision,
    upgrade_to_head_with_backup,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
RELATIVE_URL = "sqlite+aiosqlite:///data/seedbot.db"


def migrate_cli(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["DATABASE_URL"] = RELATIVE_URL
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def database_at(path: Path, revision: str) -> str:
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), revision)
    return url


def backups(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".bak"))


@pytest.fixture
def writer_keeping_a_wal(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """A database at 0003 whose newest row lives only in the WAL file, as in a running bot."""
    path = tmp_path / "data" / "seedbot.db"
    path.parent.mkdir()
    database_at(path, "0003")
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        connection.execute(
            "INSERT INTO communities (id, title, timezone, language, settings, created_at)"
            " VALUES (-1009999999999, '种子用户 🌱', 'Asia/Shanghai', 'zh', '{}',"
            " '2026-11-22 08:00:00')"
        )
        connection.commit()
        yield connection


def test_migrate_backs_up_the_file_with_the_revision_in_its_name_and_says_where(
    tmp_path: Path, writer_keeping_a_wal: sqlite3.Connection
) -> None:
    result = migrate_cli(tmp_path)

    assert "Backed up data/seedbot.db to data/seedbot.db.before-0003.bak" in result.stdout
    backup = tmp_path / "data" / "seedbot.db.before-0003.bak"
    assert backups(tmp_path / "data") == [backup.name]
    assert stored_revision(backup) == "0003"
    with closing(sqlite3.connect(backup)) as copy:
        assert copy.execute("SELECT id, title FROM communities").fetchall() == [
            (-1009999999999, "种子用户 🌱")
        ]
    assert stored_revision(tmp_path / "data" / "seedbot.db") == head_revision()


def test_migrate_on_a_new_database_or_at_head_makes_no_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", RELATIVE_URL)
    monkeypatch.chdir(tmp_path)

    cli.main(["migrate"])
    cli.main(["migrate"])

    assert stored_revision(tmp_path / "data" / "seedbot.db") == head_revision()
    assert backups(tmp_path / "data") == []
    assert "Backed up" not in capsys.readouterr().out


def test_migrate_ends_with_the_revision_and_whether_anything_was_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    head = head_revision()
    monkeypatch.setenv("DATABASE_URL", RELATIVE_URL)
    monkeypatch.chdir(tmp_path)

    cli.main(["migrate"])
    first = capsys.readouterr().out.strip().splitlines()
    cli.main(["migrate"])
    second = capsys.readouterr().out.strip().splitlines()

    assert first[-1] == f"Database at revision {head}: migrations applied (from an empty database)."
    assert second == [f"Database at revision {head}: up to date, nothing applied."]


def test_migrate_names_the_revision_it_started_from(
    tmp_path: Path, writer_keeping_a_wal: sqlite3.Connection
) -> None:
    lines = migrate_cli(tmp_path).stdout.strip().splitlines()
    assert lines[-1] == (
        f"Database at revision {head_revision()}: migrations applied (from revision 0003)."
    )


def test_only_the_three_newest_backups_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "seedbot.db"
    path.touch()
    url = f"sqlite+aiosqlite:///{path}"
    unrelated = {"other.db.before-0001.bak", "seedbot.db.bak"}
    for name in unrelated:
        (tmp_path / name).write_text("not ours")
    reports: list[str] = []

    made = [upgrade_to_head_with_backup(url, report=reports.append)]
    for revision in ("0001", "0002", "0003"):
        command.downgrade(alembic_config(url), revision)
        made.append(upgrade_to_head_with_backup(url, report=reports.append))

    names = ["base", "0001", "0002", "0003"]
    assert made == [tmp_path / f"seedbot.db.before-{name}.bak" for name in names]
    assert reports == [f"Backed up {path} to {backup}" for backup in made]
    assert set(backups(tmp_path)) - unrelated == {
        f"seedbot.db.before-{name}.bak" for name in names[1:]
    }
    assert {path.name for path in tmp_path.iterdir()} >= unrelated


def test_run_backs_up_before_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "seedbot.db"
    monkeypatch.setenv("DATABASE_URL", database_at(path, "0002"))
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST-token")
    monkeypatch.chdir(tmp_path)
    started: list[Settings] = []

    async def start(settings: Settings) -> None:
        started.append(settings)

    monkeypatch.setattr(cli, "_run", start)
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(root, "handlers", list(root.handlers))

    cli.main(["run"])

    assert len(started) == 1
    assert f"Backed up {path} to {path}.before-0002.bak" in capsys.readouterr().out
    assert stored_revision(path) == head_revision()
