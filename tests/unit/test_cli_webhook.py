"""`seedbot run --webhook` refuses, in one sentence, what would break a worker: no secret,
a bad secret, or a schema the deploy step has not migrated yet (workers never migrate)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from storage.migrate import database_revision

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token"


def run_worker(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "WEBHOOK_"))}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    env["BOT_TOKEN"] = TOKEN
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "bot", "run", "--webhook"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_worker_without_the_secret_refuses_to_start(tmp_path: Path) -> None:
    result = run_worker(tmp_path)
    assert result.returncode == 2
    assert "WEBHOOK_SECRET is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_secret_telegram_would_refuse_is_named(tmp_path: Path) -> None:
    result = run_worker(tmp_path, WEBHOOK_SECRET="has spaces")
    assert result.returncode == 2
    assert "WEBHOOK_SECRET" in result.stderr and "Traceback" not in result.stderr


def test_a_worker_does_not_migrate_and_says_to(tmp_path: Path) -> None:
    result = run_worker(tmp_path, WEBHOOK_SECRET="good_secret-123")
    assert result.returncode == 2
    assert "run `seedbot migrate` once before starting the webhook workers" in result.stderr
    assert database_revision(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}") is None
