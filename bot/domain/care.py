"""Satisfaction surveys (NPS and CSAT) and birthdays: plain data and the rules that need no
storage (the NPS score, the CSAT average, when a birthday is celebrated)."""

from __future__ import annotations

import calendar
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from bot.domain.errors import N_, DomainError

DEFAULT_SURVEY_DAYS = 3
DEFAULT_SURVEY_THANKS = 5
DEFAULT_BIRTHDAY_GIFT = 20
PROMOTER_FROM = 9  # NPS: 9 and 10 are promoters
DETRACTOR_UP_TO = 6  # 0 to 6 are detractors, 7 and 8 passives


class SurveyKind(enum.StrEnum):
    NPS = "nps"
    CSAT = "csat"

    @property
    def scores(self) -> range:
        return range(0, 11) if self == SurveyKind.NPS else range(1, 6)


class SurveyStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Survey:
    id: int
    community_id: int
    kind: SurveyKind
    question: str | None  # the moderator's CSAT question; None for NPS (the standard one)
    status: SurveyStatus
    opened_at: datetime
    closes_at: datetime
    closed_at: datetime | None
    thanks_points: int
    answer_count: int | None = None
    score_hundredths: int | None = None  # NPS × 100 or the CSAT average × 100
    created_by: int | None = None  # the moderator who opened it, or who scheduled it


@dataclass(frozen=True)
class SurveySchedule:
    id: int
    community_id: int
    schedule: str
    kind: SurveyKind
    question: str | None
    status: str
    next_run_at: datetime | None
    created_by: int | None = None


@dataclass(frozen=True)
class CareSettings:
    survey_days: int = DEFAULT_SURVEY_DAYS
    survey_thanks: int = DEFAULT_SURVEY_THANKS
    birthday_group: bool = False
    birthday_gift: int = DEFAULT_BIRTHDAY_GIFT
    birthday_vip_gift: int | None = None  # reserved: VIP members' bigger gift


@dataclass(frozen=True)
class BirthdayCandidate:
    """A member whose birthday may be today in their community (to be checked locally)."""

    community_id: int
    user_id: int
    display_name: str
    month: int
    day: int


def nps_score(scores: Iterable[int]) -> int | None:
    """NPS = % promoters (9-10) − % detractors (0-6), rounded to a whole number from −100 to
    100 (half away from zero); None without answers."""
    answers = list(scores)
    if not answers:
        return None
    promoters = sum(1 for score in answers if score >= PROMOTER_FROM)
    detractors = sum(1 for score in answers if score <= DETRACTOR_UP_TO)
    difference = 100 * (promoters - detractors)
    magnitude = (2 * abs(difference) + len(answers)) // (2 * len(answers))
    return magnitude if difference >= 0 else -magnitude


def csat_hundredths(scores: Iterable[int]) -> int | None:
    """The CSAT average × 100, rounded half up; None without answers."""
    answers = list(scores)
    if not answers:
        return None
    return (200 * sum(answers) + len(answers)) // (2 * len(answers))


def celebrated_on(month: int, day: int, year: int) -> date:
    """The day a birthday is celebrated in a year: 02-29 falls on 02-28 in other years."""
    if month == 2 and day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def valid_birthday(month: int, day: int) -> bool:
    """A real month-day in some year (02-29 included)."""
    if not 1 <= month <= 12:
        return False
    return 1 <= day <= calendar.monthrange(2024, month)[1]


class UnknownSurvey(DomainError):
    message = N_("There is no survey #{survey_id} in this group.")


class SurveyClosed(DomainError):
    message = N_("Survey #{survey_id} is closed.")


class NotASurveyMember(DomainError):
    message = N_(
        "Only members of this group can answer. If you are one, say something in the "
        "group first, then press again."
    )


class SurveyQuestionMissing(DomainError):
    message = N_("Write the question after the command, e.g. /survey csat How was the meetup?")


class SurveyQuestionTooLong(DomainError):
    message = N_("The question is too long (at most {maximum} characters).")


class UnknownSurveySchedule(DomainError):
    message = N_("There is no scheduled survey #{schedule_id} in this group.")


class InvalidSurveySetting(DomainError):
    message = N_("Give a whole number from {lowest} to {highest}.")


class InvalidBirthday(DomainError):
    message = N_(
        "That is not a date I can use. Send it as month-day, e.g. /birthday 07-15 "
        "(no year), or /birthday off to remove it."
    )


class BirthdayInPrivate(DomainError):
    message = N_(
        "Birthdays are set in a private chat with me, so nobody else sees them: "
        "open a chat with me and send /birthday MM-DD."
    )
