"""The words of `/survey`: survey and schedule ids, the kind with its question, and a
survey schedule."""

from __future__ import annotations

from bot.domain.care import SurveyKind, SurveyQuestionMissing, SurveyQuestionTooLong
from bot.domain.errors import N_, UsageError
from bot.domain.schedules import Schedule, parse_schedule

MAX_QUESTION = 250
USAGE = N_(
    "/survey nps | csat <question> | schedule <schedule> nps|csat <question> | list | "
    "close <id> | cancel <id> | unschedule <id> | duration <days> | thanks <points>"
)


def parse_id(text: str) -> int:
    word = text.strip().lstrip("#")
    if not word.isdecimal() or len(word) > 12:
        raise UsageError(usage=USAGE)
    return int(word)


def parse_kind(text: str) -> tuple[SurveyKind, str | None]:
    """`nps` or `csat <question>`."""
    kind_word, _sep, question = text.strip().partition(" ")
    kind_word = kind_word.lower()
    if kind_word == SurveyKind.NPS.value and not question.strip():
        return SurveyKind.NPS, None
    if kind_word == SurveyKind.CSAT.value:
        question = question.strip()
        if not question:
            raise SurveyQuestionMissing()
        if len(question) > MAX_QUESTION:
            raise SurveyQuestionTooLong(maximum=MAX_QUESTION)
        return SurveyKind.CSAT, question
    raise UsageError(usage=USAGE)


def parse_planned(text: str) -> tuple[Schedule, SurveyKind, str | None]:
    """`<schedule> nps` or `<schedule> csat <question>`, with the schedule forms of
    /campaign add."""
    schedule, rest = parse_schedule(text)
    kind, question = parse_kind(rest)
    return schedule, kind, question
