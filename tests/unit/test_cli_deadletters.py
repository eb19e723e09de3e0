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


def _with_dead_letters(tmp_path: Path, failed: dict[int, str]) -> None:
    import asyncio
    from datetime import UTC, datetime

    from storage.engine import build_engine, build_session_factory
    from storage.uow import unit_of_work

    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    upgrade_to_head(url)

    async def add() -> None:
        engine = build_engine(url)
        try:
            async with unit_of_work(build_session_factory(engine)) as uow:
                for update_id, day in failed.items():
                    when = datetime.fromisoformat(day).replace(tzinfo=UTC)
                    payload = {"update_id": update_id, "poll_answer": {"poll_id": "1"}}
                    await uow.dead_letters.add(123456, update_id, payload, "ValidationError", when)
        finally:
            await engine.dispose()

    asyncio.run(add())


def test_discard_drops_one_dead_letter_and_the_list_no_longer_shows_it(tmp_path: Path) -> None:
    _with_dead_letters(tmp_path, {41: "2026-11-01", 42: "2026-11-02"})
    result = seedbot(tmp_path, "deadletters", "discard", "41")
    assert result.returncode == 0, result.stderr
    assert "41" in result.stdout and "discarded" in result.stdout
    listed = seedbot(tmp_path, "deadletters").stdout
    assert "update 42" in listed and "update 41" not in listed

    again = seedbot(tmp_path, "deadletters", "discard", "41")
    assert again.returncode == 2
    assert "No dead letter for update 41" in again.stderr


def test_discard_all_before_a_date_keeps_the_later_ones(tmp_path: Path) -> None:
    _with_dead_letters(tmp_path, {41: "2026-11-01", 42: "2026-11-02T12:00", 43: "2026-11-03"})
    result = seedbot(tmp_path, "deadletters", "discard", "--all-before", "2026-11-03")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2 dead letter(s)")
    listed = seedbot(tmp_path, "deadletters").stdout
    assert "update 43" in listed and "update 41" not in listed and "update 42" not in listed


@pytest.mark.parametrize(
    "arguments",
    [
        ("discard",),
        ("discard", "41", "--all-before", "2026-11-03"),
        ("discard", "--all-before", "last week"),
        ("discard", "forty-one"),
    ],
)
def test_discard_with_bad_arguments_says_how_and_does_nothing(
    arguments: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    from seedbot.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["deadletters", *arguments])  # refused before any setting or database is read
    assert stopped.value.code == 2
    assert "usage: seedbot deadletters discard" in capsys.readouterr().err
