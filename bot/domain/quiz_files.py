"""Quiz questions read from what moderators send: a question file (YAML, JSON or CSV, taken
whole or not at all) and the text of /quiz add. Pure parsing and checking against Telegram's
quiz poll limits, no storage: CPU-heavy on a large file, so the import reads it off the loop
(runtime.parsing)."""

from __future__ import annotations

import csv
import importlib
import io
import json
import logging
import math
from typing import Any

from bot.domain.errors import (
    N_,
    QuizFileInvalid,
    QuizFileUnreadable,
    QuizQuestionInvalid,
    UsageError,
)
from bot.domain.models import QuizQuestion

logger = logging.getLogger(__name__)

MAX_QUESTION = 300  # Telegram's limits for a quiz poll
MAX_OPTION = 100
MAX_EXPLANATION = 200
MIN_OPTIONS = 2
MAX_OPTIONS = 12
MAX_TOPIC = 64
MAX_DIFFICULTY = 32
MAX_QUESTIONS_PER_FILE = 1000
MAX_FILE_BYTES = 1024 * 1024
MAX_DIGITS = 6
FILE_LIMIT = "1 MB"

ADD_USAGE = N_(
    "/quiz add <question> | <option> | *<correct option> | <option> "
    "[| explanation: …] [| topic: …] [| difficulty: …]"
)
UNREADABLE = N_("the file could not be read as YAML, JSON or CSV")
TOO_LARGE = N_("the file is larger than 1 MB")
TOO_MANY = N_("a file may hold at most 1000 questions")
LINE = N_("Line {number}")
ENTRY = N_("Entry {number}")


class QuestionProblem(Exception):
    """What is wrong with one question: a msgid and its params."""

    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params


NOT_TEXT = N_("a value that should be text is not text")
MISSING = {
    "question": N_("the question is missing"),
    "option": N_("an option is empty"),
}
TOO_LONG = {
    "question": N_("the question is longer than {maximum} characters"),
    "option": N_("an option is longer than {maximum} characters"),
    "explanation": N_("the explanation is longer than {maximum} characters"),
    "topic": N_("the topic is longer than {maximum} characters"),
    "difficulty": N_("the difficulty is longer than {maximum} characters"),
}


def _text(value: Any, what: str, maximum: int, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise QuestionProblem(MISSING[what])
        return None
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise QuestionProblem(NOT_TEXT)
    if isinstance(value, float) and not math.isfinite(value):
        raise QuestionProblem(NOT_TEXT)
    text = str(value).strip()
    if not _storable(text):
        raise QuestionProblem(NOT_TEXT)
    if len(text) > maximum:
        raise QuestionProblem(TOO_LONG[what], maximum=maximum)
    return text


def _storable(text: str) -> bool:
    """No control characters (PostgreSQL refuses NUL) and no lone surrogates."""
    if any(ord(char) < 32 and char not in "\t\n\r" for char in text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def build_question(
    text: Any,
    options: Any,
    correct: Any,
    explanation: Any = None,
    topic: Any = None,
    difficulty: Any = None,
) -> QuizQuestion:
    """A question checked against Telegram's limits; `correct` holds 1-based option numbers
    (a number, a list of numbers, or text like "1;3")."""
    question = _text(text, "question", MAX_QUESTION, required=True)
    assert question is not None
    if not isinstance(options, list | tuple):
        raise QuestionProblem(N_("the options must be a list"))
    checked = [_text(option, "option", MAX_OPTION, required=True) or "" for option in options]
    if not MIN_OPTIONS <= len(checked) <= MAX_OPTIONS:
        raise QuestionProblem(
            N_("a question needs {lowest} to {highest} options"),
            lowest=MIN_OPTIONS,
            highest=MAX_OPTIONS,
        )
    if len({option.casefold() for option in checked}) != len(checked):
        raise QuestionProblem(N_("two options are the same"))
    numbers = _correct_numbers(correct)
    if not numbers:
        raise QuestionProblem(N_("the correct option is missing"))
    if any(not 1 <= number <= len(checked) for number in numbers):
        raise QuestionProblem(
            N_("the correct option must be a number from 1 to {highest}"), highest=len(checked)
        )
    return QuizQuestion(
        text=question,
        options=tuple(checked),
        correct=tuple(sorted({number - 1 for number in numbers})),
        explanation=_text(explanation, "explanation", MAX_EXPLANATION, required=False),
        topic=_text(topic, "topic", MAX_TOPIC, required=False),
        difficulty=_text(difficulty, "difficulty", MAX_DIFFICULTY, required=False),
    )


def _correct_numbers(correct: Any) -> list[int]:
    if correct is None or isinstance(correct, bool):
        return []
    if isinstance(correct, int):
        return [correct]
    items: list[Any]
    if isinstance(correct, str):
        items = [part for part in correct.replace(",", ";").split(";") if part.strip()]
    elif isinstance(correct, list | tuple):
        items = list(correct)
    else:
        raise QuestionProblem(N_("the correct option must be an option's number"))
    numbers = []
    for item in items:
        digits = str(item).strip() if isinstance(item, str | int) else ""
        if isinstance(item, bool) or not digits.isdecimal() or len(digits) > MAX_DIGITS:
            raise QuestionProblem(N_("the correct option must be an option's number"))
        numbers.append(int(digits))
    return numbers


def parse_question_file(content: bytes, file_name: str | None) -> list[QuizQuestion]:
    """Every question of a YAML, JSON or CSV file, or QuizFileInvalid naming the first bad
    line (CSV) or entry (YAML, JSON) and why: a file is taken whole or not at all. Whatever
    the file holds (nesting too deep, numbers too long, garbage), the refusal is a
    QuizFileInvalid or QuizFileUnreadable. Slow on a large YAML file: call it off the loop."""
    if len(content) > MAX_FILE_BYTES:
        raise QuizFileUnreadable(reason=TOO_LARGE)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise QuizFileUnreadable(reason=N_("the file is not UTF-8 text")) from None
    try:
        questions = _questions_of(text, (file_name or "").lower())
    except (QuizFileInvalid, QuizFileUnreadable):
        raise
    except RecursionError:
        raise QuizFileUnreadable(reason=N_("the file is nested too deeply")) from None
    except ValueError as error:
        if "digits" in str(error):  # Python's limit on converting long integers
            raise QuizFileUnreadable(reason=N_("a number in the file is too long")) from None
        logger.warning("A question file could not be read: %r", error)
        raise QuizFileUnreadable(reason=UNREADABLE) from None
    except Exception as error:
        logger.warning("A question file could not be read: %r", error)
        raise QuizFileUnreadable(reason=UNREADABLE) from None
    if not questions:
        raise QuizFileUnreadable(reason=N_("the file holds no questions"))
    if len(questions) > MAX_QUESTIONS_PER_FILE:
        raise QuizFileUnreadable(reason=TOO_MANY)
    return questions


def _questions_of(text: str, name: str) -> list[QuizQuestion]:
    if name.endswith(".csv"):
        return _from_csv(text)
    if name.endswith((".yaml", ".yml")):
        return _from_entries(_load_yaml(text))
    if name.endswith(".json") or text.lstrip().startswith(("[", "{")):
        try:
            entries = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as error:
            raise QuizFileInvalid(
                place=LINE, number=error.lineno, reason=N_("this is not valid JSON")
            ) from None
        return _from_entries(entries)
    return _from_csv(text)


def _no_constant(name: str) -> Any:
    raise QuizFileUnreadable(reason=N_("the file holds {value}, which is not a number"), value=name)


def _load_yaml(text: str) -> Any:
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise QuizFileUnreadable(
            reason=N_("YAML files cannot be read here yet; send JSON or CSV")
        ) from None
    try:
        # libyaml's loader when installed: about 4 times faster than the pure-Python one.
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise QuizFileInvalid(
            place=LINE, number=line, reason=N_("this is not valid YAML")
        ) from None


def _from_entries(entries: Any) -> list[QuizQuestion]:
    if isinstance(entries, dict) and "questions" in entries:
        entries = entries["questions"]
    if not isinstance(entries, list):
        raise QuizFileUnreadable(reason=N_("the file must hold a list of questions"))
    if len(entries) > MAX_QUESTIONS_PER_FILE:
        raise QuizFileUnreadable(reason=TOO_MANY)
    questions = []
    for number, entry in enumerate(entries, start=1):
        try:
            if not isinstance(entry, dict):
                raise QuestionProblem(N_("a question must be an object with named fields"))
            questions.append(
                build_question(
                    entry.get("question", entry.get("text")),
                    entry.get("options"),
                    entry.get("correct"),
                    entry.get("explanation"),
                    entry.get("topic"),
                    entry.get("difficulty"),
                )
            )
        except QuestionProblem as problem:
            raise QuizFileInvalid(
                place=ENTRY, number=number, reason=problem.reason, **problem.params
            ) from None
    return questions


def _from_csv(text: str) -> list[QuizQuestion]:
    reader = csv.reader(io.StringIO(text))
    questions: list[QuizQuestion] = []
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        if "question" not in header or "correct" not in header:
            raise QuizFileInvalid(
                place=LINE, number=1, reason=N_("the header needs question, option1…, correct")
            )
        option_columns = [index for index, name in enumerate(header) if name.startswith("option")]
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(questions) >= MAX_QUESTIONS_PER_FILE:
                raise QuizFileUnreadable(reason=TOO_MANY)
            cells = dict(zip(header, row, strict=False))
            options = [row[index] for index in option_columns if index < len(row)]
            while options and not options[-1].strip():
                options.pop()
            try:
                questions.append(
                    build_question(
                        cells.get("question"),
                        options,
                        cells.get("correct"),
                        cells.get("explanation"),
                        cells.get("topic"),
                        cells.get("difficulty"),
                    )
                )
            except QuestionProblem as problem:
                raise QuizFileInvalid(
                    place=LINE, number=reader.line_num, reason=problem.reason, **problem.params
                ) from None
    except csv.Error:
        raise QuizFileInvalid(
            place=LINE, number=reader.line_num, reason=N_("this is not valid CSV")
        ) from None
    return questions


def parse_added_question(text: str) -> QuizQuestion:
    """`<question> | <option> | *<correct option> | … [| explanation: …] [| topic: …]
    [| difficulty: …]`."""
    parts = [part.strip() for part in text.split("|")]
    fields: dict[str, str] = {}
    options: list[str] = []
    correct: list[int] = []
    for part in parts[1:]:
        key, colon, value = part.partition(":")
        if colon and key.strip().lower() in ("explanation", "topic", "difficulty"):
            fields[key.strip().lower()] = value.strip()
            continue
        if part.startswith("*"):
            correct.append(len(options) + 1)
        options.append(part.removeprefix("*").strip())
    if len(parts) < 3:
        raise UsageError(usage=ADD_USAGE)
    try:
        return build_question(
            parts[0],
            options,
            correct,
            fields.get("explanation"),
            fields.get("topic"),
            fields.get("difficulty"),
        )
    except QuestionProblem as problem:
        raise QuizQuestionInvalid(reason=problem.reason, **problem.params) from None
