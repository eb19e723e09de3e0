"""/stats on a large community: the summary's numbers (SQL) and its four charts, end to end.

    .venv/bin/python -m bench.insights [--members 100000] [--days 90] [--period 30]
        [--repeat 5] [--database-url URL]

Generates the community with bench.history (into a fresh SQLite file built by the real
migrations, or into --database-url, which must be an empty migrated database), then measures
in a separate process (so that its memory is the command's, not the generator's): each run
reads the report in a read-only unit of work (bot.services.insights), writes the summary
text and draws the charts in the chart worker (runtime.charts) as the bot does after the
commit. The first run also keeps the daily ledger aggregates of the ended days, as the bot's
first /stats does; it is shown apart. Prints the median and the worst of the later runs, and
the process's peak memory (max RSS)."""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import history

TIME_BUDGET_SECONDS = 2.0
MEMORY_BUDGET_MB = 300


@dataclass(frozen=True)
class Options:
    members: int
    days: int
    period: int
    repeat: int
    database_url: str | None
    measure: bool


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.insights", description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90, help="days of history")
    parser.add_argument("--period", type=int, default=30, help="/stats [days]")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    return Options(
        args.members, args.days, args.period, args.repeat, args.database_url, args.measure
    )


async def measure(database_url: str, period: int, repeat: int) -> dict[str, object]:
    """In this process: `repeat` runs of /stats' work; seconds per run and the peak RSS."""
    from bot.i18n import translator
    from bot.services import insights
    from handlers.insights import chart_labels, summary
    from runtime.charts import ChartRenderer
    from storage.engine import build_engine, build_session_factory
    from storage.uow import unit_of_work

    engine = build_engine(database_url)
    factory = build_session_factory(engine)
    renderer = ChartRenderer()
    await renderer.warm_up()  # as the bot does when it starts
    _ = translator("en")
    runs: list[dict[str, float]] = []
    sizes: list[int] = []
    try:
        for _run in range(repeat):
            started = time.perf_counter()
            async with unit_of_work(factory, read_only=True) as uow:
                community = await uow.communities.get(history.COMMUNITY_ID)
                assert community is not None, "no community: generate it first"
                report = await insights.community_report(uow, community, period, datetime.now(UTC))
            if report.new_ledger_days:
                async with unit_of_work(factory) as uow:
                    await insights.keep_aggregates(uow, report)
            text = summary(_, report)
            counted = time.perf_counter()
            images = await renderer.render(report, chart_labels(_))
            drawn = time.perf_counter()
            sizes = [len(text), *(len(image) for image in images)]
            runs.append(
                {"sql": counted - started, "charts": drawn - counted, "total": drawn - started}
            )
    finally:
        renderer.close()
        await engine.dispose()
    return {"runs": runs, "peak_mb": _peak_kb() / 1024, "sizes": sizes}


def _peak_kb() -> int:
    """This process's own peak RSS: VmHWM (ru_maxrss is carried over a fork and exec, so it
    could show the generator's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _measure_in_child(database_url: str, period: int, repeat: int) -> dict[str, object]:
    command = [
        sys.executable,
        "-m",
        "bench.insights",
        "--measure",
        "--database-url",
        database_url,
        "--period",
        str(period),
        "--repeat",
        str(repeat),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{done.stderr}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def main(options: Options) -> int:
    if options.measure:
        assert options.database_url is not None
        print(json.dumps(await measure(options.database_url, options.period, options.repeat)))
        return 0
    with tempfile.TemporaryDirectory(prefix="seedbot-insights-") as folder:
        database_url = options.database_url
        if database_url is None:
            from storage.migrate import upgrade_to_head

            database_url = f"sqlite+aiosqlite:///{Path(folder) / 'insights.db'}"
            await asyncio.to_thread(upgrade_to_head, database_url)
        started = time.perf_counter()
        made = await history.generate(database_url, options.members, options.days)
        print(
            f"history: {made.members:,} members, {options.days} days, "
            f"{made.activity_days:,} activity days, {made.ledger_rows:,} ledger rows "
            f"({time.perf_counter() - started:.1f} s to generate)"
        )
        result = await asyncio.to_thread(
            _measure_in_child, database_url, options.period, options.repeat
        )
    runs = result["runs"]
    assert isinstance(runs, list)
    first, runs = runs[0], runs[1:] or runs
    print(
        f"/stats {options.period}, first run (keeps the ended days' ledger aggregates): "
        f"{first['total']:.2f} s (SQL {first['sql']:.2f} s, charts {first['charts']:.2f} s)"
    )
    totals = [run["total"] for run in runs]
    median = statistics.median(totals)
    print(
        f"/stats {options.period}: median {median:.2f} s "
        f"(SQL {statistics.median(run['sql'] for run in runs):.2f} s, "
        f"charts {statistics.median(run['charts'] for run in runs):.2f} s), "
        f"worst {max(totals):.2f} s over {len(totals)} later runs; "
        f"budget {TIME_BUDGET_SECONDS} s"
    )
    peak = float(str(result["peak_mb"]))
    print(
        f"peak memory of the measuring process (VmHWM): {peak:.0f} MB; budget {MEMORY_BUDGET_MB} MB"
    )
    print(f"summary and chart sizes (bytes): {result['sizes']}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
