"""Hostile question files: whatever a YAML, JSON or CSV file holds, reading it either gives
questions or a refusal that says why ("Nothing was imported…"), never another exception."""

from __future__ import annotations

import contextlib
import json
import random
import time

import pytest

from bot.domain.errors import QuizFileInvalid, QuizFileUnreadable
from bot.domain.quiz_files import MAX_FILE_BYTES, parse_question_file

HUGE_INT = "7" * 5000
DEEP = 100_000

LAUGHS = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    "questions: [*i,*i,*i,*i,*i,*i,*i,*i,*i]\n"
)
LAUGHING_QUESTION = (
    'o: &o ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "p: &p [*o,*o,*o,*o,*o,*o,*o,*o,*o]\n"
    "q: &q [*p,*p,*p,*p,*p,*p,*p,*p,*p]\n"
    "questions:\n"
    "  - question: *q\n"
    "    options: *q\n"
    "    correct: *q\n"
    "  - question: Fine\n"
    "    options: *o\n"
    "    correct: 1\n"
)


def _entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {"question": "Fine?", "options": ["Yes", "No"], "correct": 1}
    entry.update(changes)
    return entry


HOSTILE: dict[str, tuple[bytes, str]] = {
    "json deep list": (b"[" * DEEP + b"]" * DEEP, "bank.json"),
    "json deep object": (b'{"a":' * DEEP + b"1" + b"}" * DEEP, "bank.json"),
    "json deep in an entry": (
        b'[{"question": "q", "options": ' + b"[" * DEEP + b"]" * DEEP + b"}]",
        "bank.json",
    ),
    "json huge int": (
        f'[{{"question": "Q?", "options": ["a", "b"], "correct": {HUGE_INT}}}]'.encode(),
        "bank.json",
    ),
    "json huge int option": (
        f'[{{"question": "Q?", "options": [{HUGE_INT}, 2], "correct": 1}}]'.encode(),
        "bank.json",
    ),
    "json NaN": (b'[{"question": NaN, "options": ["a", "b"], "correct": 1}]', "bank.json"),
    "json Infinity": (
        b'[{"question": "Q?", "options": [Infinity, -Infinity], "correct": 1}]',
        "bank.json",
    ),
    "json float correct": (json.dumps([_entry(correct=1e308)]).encode(), "bank.json"),
    "json overflowing float": (
        b'[{"question": "Q?", "options": ["a", "b"], "correct": 1e999}]',
        "bank.json",
    ),
    "json wrong top": (b'"just a string"', "bank.json"),
    "json number top": (HUGE_INT.encode()[:4000], "bank.json"),
    "json questions not a list": (b'{"questions": 5}', "bank.json"),
    "json entry not an object": (b"[1, 2, 3]", "bank.json"),
    "json options object": (json.dumps([_entry(options={"a": 1})]).encode(), "bank.json"),
    "json question list": (json.dumps([_entry(question=["a"])]).encode(), "bank.json"),
    "json correct object": (json.dumps([_entry(correct={"n": 1})]).encode(), "bank.json"),
    "json correct nested": (json.dumps([_entry(correct=[[1]])]).encode(), "bank.json"),
    "json correct bool": (json.dumps([_entry(correct=True)]).encode(), "bank.json"),
    "json null": (b"null", "bank.json"),
    "json empty": (b"", "bank.json"),
    "json huge string": (
        json.dumps([_entry(question="Q" * (MAX_FILE_BYTES - 100))]).encode(),
        "bank.json",
    ),
    "json many entries": (json.dumps([{}] * 200_000).encode(), "bank.json"),
    "json utf-16": (json.dumps([_entry()]).encode("utf-16"), "bank.json"),
    "json latin-1": ('[{"question": "Café?"}]'.encode("latin-1"), "bank.json"),
    "json surrogate escape": (
        b'[{"question": "\\ud800", "options": ["a", "b"], "correct": 1}]',
        "bank.json",
    ),
    "yaml deep list": (b"[" * DEEP + b"]" * DEEP, "bank.yaml"),
    "yaml deep block": (
        "".join(f"{' ' * depth}- \n" for depth in range(1200)).encode(),
        "bank.yaml",
    ),
    "yaml huge int": (
        f"- question: Q?\n  options: [a, b]\n  correct: {HUGE_INT}\n".encode(),
        "bank.yaml",
    ),
    "yaml huge int option": (
        f"- question: Q?\n  options: [{HUGE_INT}, b]\n  correct: 1\n".encode(),
        "bank.yml",
    ),
    "yaml billion laughs": (LAUGHS.encode(), "bank.yaml"),
    "yaml laughing question": (LAUGHING_QUESTION.encode(), "bank.yaml"),
    "yaml recursive alias": (b"- &a {question: *a, options: [*a, *a], correct: 1}\n", "bank.yaml"),
    "yaml merge bomb": (
        b"a: &a {x: 1, y: 2}\nb: &b {<<: [*a, *a, *a]}\nquestions: [{<<: [*b, *b]}]\n",
        "bank.yaml",
    ),
    "yaml nan and inf": (
        b"- question: .nan\n  options: [.inf, -.inf]\n  correct: 1\n",
        "bank.yaml",
    ),
    "yaml python tag": (b"- !!python/object/apply:os.system [echo hi]\n", "bank.yaml"),
    "yaml binary": (
        b"- question: !!binary aGVsbG8=\n  options: [a, b]\n  correct: 1\n",
        "bank.yaml",
    ),
    "yaml timestamp": (b"- question: Q?\n  options: [a, b]\n  correct: 2001-12-14\n", "bank.yaml"),
    "yaml set": (b"- question: Q?\n  options: !!set {a, b}\n  correct: 1\n", "bank.yaml"),
    "yaml many documents": (b"---\n- a\n---\n- b\n", "bank.yaml"),
    "yaml scalar": (b"just words", "bank.yaml"),
    "yaml garbage": (bytes(range(1, 128)) * 10, "bank.yaml"),
    "yaml nul": (b"- question: Q\x00?\n  options: [a, b]\n  correct: 1\n", "bank.yaml"),
    "csv huge int correct": (
        f"question,option1,option2,correct\nQ?,a,b,{HUGE_INT}\n".encode(),
        "bank.csv",
    ),
    "csv nul in header": (b"question,opt\x00ion1,option2,correct\n", "bank.csv"),
    "csv nul in row": (b"question,option1,option2,correct\nQ\x00?,a,b,1\n", "bank.csv"),
    "csv huge field in header": (b"question," + b"x" * 200_000 + b",correct\n", "bank.csv"),
    "csv huge field": (
        b"question,option1,option2,correct\n" + b'"' + b"x" * 200_000 + b'",a,b,1\n',
        "bank.csv",
    ),
    "csv unclosed quote": (b'question,option1,option2,correct\n"Q?,a,b,1\n', "bank.csv"),
    "csv wrong correct": (b"question,option1,option2,correct\nQ?,a,b,\xc2\xb2\n", "bank.csv"),
    "csv garbage": (bytes(range(1, 128)) * 10, "bank.csv"),
    "csv many columns": (
        ("question," + ",".join(f"option{n}" for n in range(5000)) + ",correct\n").encode()
        + ("Q?," + ",".join("a" for _ in range(5000)) + ",1\n").encode(),
        "bank.csv",
    ),
    "binary garbage": (random.Random(16).randbytes(4096), "bank.bin"),
    "binary garbage as json": (random.Random(17).randbytes(4096), "bank.json"),
    "too large": (b" " * (MAX_FILE_BYTES + 1), "bank.json"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_refused_with_a_reason(case: str) -> None:
    content, file_name = HOSTILE[case]
    started = time.monotonic()
    with pytest.raises((QuizFileInvalid, QuizFileUnreadable)) as refusal:
        parse_question_file(content, file_name)
    assert time.monotonic() - started < 5
    assert str(refusal.value).startswith("Nothing was imported")
    assert refusal.value.params.get("reason")


def test_random_bytes_in_every_format_are_refused_or_read() -> None:
    rng = random.Random(2026)
    alphabet = b"[]{}:,-&*!\"'\n #|>0123456789.eE+nulltrueNaN\\\x00\xff\xc3"
    for attempt in range(300):
        content = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 400)))
        file_name = ("bank.json", "bank.yaml", "bank.csv", "bank")[attempt % 4]
        with contextlib.suppress(QuizFileInvalid, QuizFileUnreadable):
            parse_question_file(content, file_name)


def test_a_good_file_is_still_read() -> None:
    questions = parse_question_file(json.dumps([_entry(correct=2)]).encode(), "bank.json")
    assert [question.correct for question in questions] == [(1,)]
    questions = parse_question_file(b"- question: Q?\n  options: [1, 2]\n  correct: 1\n", "b.yml")
    assert questions[0].options == ("1", "2")
