from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seedbot.cli import quiet_scheduler_logs

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_seedbot(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("token", [None, "", "   "])
def test_run_without_token_exits_2_with_one_clear_sentence(
    tmp_path: Path, token: str | None
) -> None:
    result = run_seedbot(tmp_path, **({} if token is None else {"BOT_TOKEN": token}))
    assert result.returncode == 2
    assert "BOT_TOKEN" in result.stderr and ".env.example" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BOT_TOKEN", "not-a-token"),
        ("TIMEZONE", "Asia/Shangai"),
        ("BOT_API_BASE_URL", "localhost:8081"),
        ("LOG_LEVEL", "LOUD"),
        ("DEFAULT_LANGUAGE", "fr"),
    ],
)
def test_invalid_settings_exit_2_naming_the_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    variables = {"BOT_TOKEN": "123456:TEST-token", variable: value}
    result = run_seedbot(tmp_path, **variables)
    assert result.returncode == 2
    assert variable in result.stderr and ".env.example" in result.stderr
    assert "Traceback" not in result.stderr
    assert "TEST-token" not in result.stderr


@pytest.mark.parametrize(("log_level", "expected"), [("INFO", "WARNING"), ("DEBUG", "DEBUG")])
def test_the_schedulers_lines_are_quiet_unless_debugging(log_level: str, expected: str) -> None:
    scheduler_logs = logging.getLogger("apscheduler")
    before = scheduler_logs.level
    try:
        quiet_scheduler_logs(log_level)
        assert logging.getLevelName(scheduler_logs.getEffectiveLevel()) == expected
        assert scheduler_logs.isEnabledFor(logging.INFO) is (log_level == "DEBUG")
    finally:
        scheduler_logs.setLevel(before)
