"""Counts the SQL statements a bot process sends to its database, for the benchmark.

`bench.burst` starts `python -m bot run` with this folder on PYTHONPATH, so Python imports this
module at start-up; with SEEDBOT_BENCH_SQL_COUNT set it counts every statement sent to the
database (bench/statement_count.py; on PostgreSQL every round trip to the server) and on
SIGUSR1 writes the running total to that file. The bot's code is not changed."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

COUNT_FILE_VARIABLE = "SEEDBOT_BENCH_SQL_COUNT"


def install(count_file: Path) -> None:
    from sqlalchemy.engine import Engine

    from bench.statement_count import count_round_trips, count_statements

    statements = [0]

    def count(_statement: str) -> None:
        statements[0] += 1

    if os.environ.get("DATABASE_URL", "").startswith("postgresql"):
        count_round_trips(count)
    else:
        count_statements(Engine, count)

    def report(*_: Any) -> None:
        count_file.write_text(str(statements[0]))

    signal.signal(signal.SIGUSR1, report)


if os.environ.get(COUNT_FILE_VARIABLE):
    install(Path(os.environ[COUNT_FILE_VARIABLE]))
