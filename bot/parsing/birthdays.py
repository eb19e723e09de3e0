"""The words of `/birthday`: a month and day, or a word that removes it."""

from __future__ import annotations

import re

from bot.domain.care import InvalidBirthday, valid_birthday

MONTH_DAY = re.compile(r"([0-9]{1,2})\s*(?:-|/|月)\s*([0-9]{1,2})\s*[日号]?")
OFF_WORDS = frozenset({"off", "remove", "delete", "关闭", "删除"})


def parse_birthday(text: str) -> tuple[int, int] | None:
    """`MM-DD`, `MM/DD` or `12月7日` (also `7号`) -> (month, day); `off` -> None; anything
    else is refused."""
    word = text.strip().lower()
    if word in OFF_WORDS:
        return None
    match = MONTH_DAY.fullmatch(word)
    if match is None:
        raise InvalidBirthday()
    month, day = int(match.group(1)), int(match.group(2))
    if not valid_birthday(month, day):
        raise InvalidBirthday()
    return month, day
