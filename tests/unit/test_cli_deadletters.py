"""The CLI around dead letters and TELEGRAM_PROXY, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.migrate import upgrade_to_head

REPO_ROOT = Path(__file__).resolve().parents[2]


def seedbot(tmp_path: Path, *arguments: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("BOT_TOKEN", "TELEGRAM_PROXY")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    env["BOT_TOKEN"] = "123456:TEST-token"
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-m", "bot", *arguments],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_deadletters_on_a_database_without_any_says_so(tmp_path: Path) -> None:
    upgrade_to_head(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    result = seedbot(tmp_path, "deadletters")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "No dead letters."


@pytest.mark.parametrize(
    "value",
    [
        "ftp://user:hunter22@proxy.example:21",
        "socks5://user:hunter22@proxy.example",
        "http://user:hunter22@proxy.example:3128/path",
    ],
)
def test_an_invalid_proxy_exits_2_naming_the_variable_without_its_password(
    tmp_path: Path, value: str
) -> None:
    result = seedbot(tmp_path, "run", TELEGRAM_PROXY=value)
    assert result.returncode == 2
    assert "TELEGRAM_PROXY" in result.stderr and ".env.example" in result.stderr
    assert "hunter22" not in result.stderr and "Traceback" not in result.stderr
