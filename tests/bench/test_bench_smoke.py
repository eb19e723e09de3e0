"""The benchmark runs end to end on a small burst (no timing is asserted: figures vary by
machine; `make bench` reports them)."""

from __future__ import annotations

import pytest

from bench import burst


async def test_a_small_burst_runs_and_every_press_is_answered_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    options = burst.parse(["--members", "40", "--known", "0", "--no-steady"])

    exit_code = await burst.main(options)

    output = capsys.readouterr().out
    assert exit_code == 0, output
    assert "ratio seedbot / bare" in output
    assert "SQL statements/update" in output
    assert "correctness: every press answered once" in output


def test_the_daily_lifecycle_job_judges_every_member_of_a_small_history(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import lifecycle

    exit_code = lifecycle.main(members=300, days=40)

    output = capsys.readouterr().out
    assert exit_code == 0, output
    assert "daily lifecycle job:" in output and "peak memory" in output


async def test_the_insights_benchmark_runs_on_a_small_community(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import insights

    options = insights.parse(
        ["--members", "300", "--days", "20", "--period", "14", "--repeat", "1"]
    )

    exit_code = await insights.main(options)

    output = capsys.readouterr().out
    assert exit_code == 0, output
    assert "history: 300 members, 20 days" in output
    assert "/stats 14: median" in output
    assert "peak memory of the measuring process" in output


async def test_the_webhook_benchmark_runs_against_the_bare_webhook_bot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import webhook

    options = webhook.parse(["--presses", "30", "--groups", "3", "--bot", "bare"])

    exit_code = await webhook.main(options)

    output = capsys.readouterr().out
    assert exit_code == 0, output
    assert "bare aiogram, spread over 3 groups: 30 presses" in output
    assert "bare aiogram, one group: 30 presses" in output
    assert "per chat: 1" in output
    assert "correctness: every press answered once" in output
