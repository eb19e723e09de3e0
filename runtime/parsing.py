"""CPU-heavy parsing off the event loop, after a size check. A small question file is read
in a worker thread; a large one in a process of its own, since pure-Python parsing in a
thread holds the GIL and so, by slices, the loop (measured: 1 MB of YAML made other groups'
answers wait up to 1.4 s from a thread)."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from bot.domain import quiz_files
from bot.domain.errors import DomainError, QuizFileUnreadable
from bot.domain.models import QuizQuestion

IN_THREAD_BYTES = 64 * 1024  # below this a file is read in a thread (a process costs more)


async def read_question_file(content: bytes, file_name: str | None) -> list[QuizQuestion]:
    """quiz_files.parse_question_file, off the loop; its refusals raised here as they are."""
    if len(content) > quiz_files.MAX_FILE_BYTES:
        raise QuizFileUnreadable(reason=quiz_files.TOO_LARGE)
    if len(content) <= IN_THREAD_BYTES:
        return await asyncio.to_thread(quiz_files.parse_question_file, content, file_name)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as worker:
        outcome = await loop.run_in_executor(worker, _parse, content, file_name)
    if isinstance(outcome, tuple):
        kind, params = outcome
        raise kind(**params)
    return list(outcome)


def _parse(
    content: bytes, file_name: str | None
) -> Sequence[QuizQuestion] | tuple[type[DomainError], dict[str, Any]]:
    """In the worker process: the questions, or the refusal as (class, params) (a domain
    error's keyword-only constructor does not survive pickling)."""
    try:
        return quiz_files.parse_question_file(content, file_name)
    except DomainError as refusal:
        return type(refusal), dict(refusal.params)
