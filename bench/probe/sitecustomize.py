"""Counts the SQL statements a bot process sends to its database, for the benchmark.

`bench.burst` starts `python -m bot run` with this folder on PYTHONPATH, so Python imports this
module at start-up; with SEEDBOT_BENCH_SQL_COUNT set it counts every statement SQLAlchemy
executes, every commit and rollback (a round trip each), and on SIGUSR1 writes the running
total to that file. The bot's code is not changed."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

COUNT_FILE_VARIABLE = "SEEDBOT_BENCH_SQL_COUNT"


def install(count_file: Path) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.pool import Pool

    statements = [0]

    def count(*_: Any, **__: Any) -> None:
        statements[0] += 1

    event.listen(Engine, "before_cursor_execute", count)
    event.listen(Connection, "commit", count)
    event.listen(Connection, "rollback", count)
    event.listen(Pool, "reset", count)

    def report(*_: Any) -> None:
        count_file.write_text(str(statements[0]))

    signal.signal(signal.SIGUSR1, report)


if os.environ.get(COUNT_FILE_VARIABLE):
    install(Path(os.environ[COUNT_FILE_VARIABLE]))
