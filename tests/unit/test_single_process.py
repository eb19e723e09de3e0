"""SQLite serves one bot process: a second `seedbot run` (or a `seedbot migrate` beside a
running bot) on the same file is refused with one sentence naming PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.single_process import AnotherProcessRunning, lock_path, single_process

REPO_ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys
from storage.single_process import single_process
with single_process(sys.argv[1]):
    print("holding", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def running_bot(tmp_path: Path) -> Iterator[str]:
    """Another process holding the database's lock, as a running `seedbot run` does."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'seedbot.db'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        yield url
    finally:
        holder.communicate(input="", timeout=30)


def run_seedbot(command: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "DATABASE_URL": url}
    env["BOT_TOKEN"] = "123456:TEST-token"
    return subprocess.run(
        [sys.executable, "-m", "bot", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_process_is_refused_while_the_first_holds_the_file(running_bot: str) -> None:
    with pytest.raises(AnotherProcessRunning) as refused, single_process(running_bot):
        pass
    message = str(refused.value)
    assert message.count(".") >= 1 and "\n" not in message
    assert "SQLite serves one process" in message and "PostgreSQL" in message
    assert "seedbot.db" in message


@pytest.mark.parametrize(
    ("command", "doing"), [("run", "a second bot"), ("migrate", "migrating while it runs")]
)
def test_seedbot_run_and_migrate_beside_a_running_bot_exit_2_with_one_sentence(
    running_bot: str, tmp_path: Path, command: str, doing: str
) -> None:
    result = run_seedbot(command, running_bot, tmp_path)
    assert result.returncode == 2, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("Another seedbot process is already running on ")
    assert doing in line and "PostgreSQL (DATABASE_URL=postgresql+asyncpg://" in line
    assert not Path(running_bot.removeprefix("sqlite+aiosqlite:///")).exists()  # not migrated


def test_the_lock_is_let_go_when_the_process_ends(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'seedbot.db'}"
    with single_process(url):
        assert lock_path(tmp_path / "seedbot.db").exists()
    # The same process asking twice is refused too (the lock is per open file).
    with single_process(url), pytest.raises(AnotherProcessRunning), single_process(url):
        pass


def test_postgresql_and_memory_databases_take_no_lock(tmp_path: Path) -> None:
    for url in ("postgresql+asyncpg://u@localhost/db", "sqlite+aiosqlite:///:memory:"):
        with single_process(url), single_process(url):
            pass
