"""The NPS and CSAT arithmetic and the day a birthday is celebrated."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from bot.domain.care import (
    InvalidBirthday,
    celebrated_on,
    csat_hundredths,
    nps_score,
    valid_birthday,
)
from bot.parsing.birthdays import parse_birthday
from bot.services.birthdays import days_around


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], None),
        ([10] * 5, 100),
        ([0] * 5, -100),
        ([7, 8] * 3, 0),
        ([9, 10, 7, 8, 0, 6], 0),  # 2 promoters, 2 detractors
        ([10, 9, 9, 8, 6, 5], 17),  # 50% − 33.3% = 16.7, rounded
        ([10, 0, 0], -33),
        ([9, 0], 0),
        ([9, 9, 0], 33),
        ([10, 8, 8, 8, 8, 8, 8, 8], 13),  # 12.5 rounds away from zero
        ([0, 8, 8, 8, 8, 8, 8, 8], -13),
    ],
)
def test_nps_is_percent_promoters_minus_percent_detractors(
    scores: list[int], expected: int | None
) -> None:
    assert nps_score(scores) == expected


def test_csat_is_the_average_in_hundredths() -> None:
    assert csat_hundredths([]) is None
    assert csat_hundredths([5, 4, 4]) == 433
    assert csat_hundredths([1, 2]) == 150
    assert csat_hundredths([5, 5, 4]) == 467


def test_a_leap_day_birthday_falls_on_02_28_in_other_years() -> None:
    assert celebrated_on(2, 29, 2027) == date(2027, 2, 28)
    assert celebrated_on(2, 29, 2028) == date(2028, 2, 29)
    assert celebrated_on(2, 28, 2028) == date(2028, 2, 28)
    assert (2, 29) in days_around(datetime(2027, 2, 28, 12, tzinfo=UTC))
    assert (2, 29) in days_around(datetime(2028, 2, 29, 12, tzinfo=UTC))


@pytest.mark.parametrize("text", ["13-01", "02-30", "04-31", "00-10", "1-0", "2026-01-01", "x"])
def test_impossible_dates_are_refused(text: str) -> None:
    with pytest.raises(InvalidBirthday):
        parse_birthday(text)


def test_dates_and_off() -> None:
    assert parse_birthday("02-29") == (2, 29)
    assert parse_birthday("7-5") == (7, 5)
    assert parse_birthday("OFF") is None
    assert valid_birthday(2, 29)
    assert not valid_birthday(2, 30)
