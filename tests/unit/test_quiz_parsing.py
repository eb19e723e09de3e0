"""A question file is read off the event loop after a size check: a small one in a worker
thread, a large one in a process of its own, with the same questions and the same refusals
as reading it in place."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from bot.domain import quiz_files
from bot.domain.errors import QuizFileInvalid, QuizFileUnreadable
from runtime import parsing


def bank(count: int, *, padding: int = 0) -> bytes:
    entries = [
        {
            "question": f"Question {n} " + "q" * padding,
            "options": ["Yes", "No", "Maybe"],
            "correct": 1,
        }
        for n in range(count)
    ]
    return json.dumps(entries).encode()


async def test_a_file_over_the_limit_is_refused_before_it_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def never(*_args: Any) -> Any:
        raise AssertionError("parsed")

    monkeypatch.setattr(quiz_files, "parse_question_file", never)
    with pytest.raises(QuizFileUnreadable) as refused:
        await parsing.read_question_file(b"x" * (quiz_files.MAX_FILE_BYTES + 1), "bank.json")
    assert refused.value.params == {"reason": quiz_files.TOO_LARGE}


async def test_a_small_file_is_read_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    parse = quiz_files.parse_question_file

    def recorded(content: bytes, name: str | None) -> Any:
        threads.append(threading.current_thread())
        return parse(content, name)

    monkeypatch.setattr(quiz_files, "parse_question_file", recorded)
    content = bank(3)
    assert len(content) <= parsing.IN_THREAD_BYTES
    questions = await parsing.read_question_file(content, "bank.json")
    assert [q.text for q in questions] == ["Question 0", "Question 1", "Question 2"]
    assert threads and threads[0] is not threading.main_thread()


async def test_a_large_file_is_read_in_a_process_with_the_same_questions_and_refusals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    content = bank(400, padding=200)
    assert parsing.IN_THREAD_BYTES < len(content) <= quiz_files.MAX_FILE_BYTES

    def not_here(*_args: Any) -> Any:
        raise AssertionError("read in this process")

    in_place = quiz_files.parse_question_file(content, "bank.json")
    monkeypatch.setattr(quiz_files, "parse_question_file", not_here)  # not seen by the child
    assert await parsing.read_question_file(content, "bank.json") == in_place

    broken = content.replace(b'"correct": 1', b'"correct": 9', 1)
    monkeypatch.undo()
    with pytest.raises(QuizFileInvalid) as expected:
        quiz_files.parse_question_file(broken, "bank.json")
    with pytest.raises(QuizFileInvalid) as refused:
        await parsing.read_question_file(broken, "bank.json")
    assert refused.value.params == expected.value.params
