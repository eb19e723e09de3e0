"""Operator-written HTML is checked by Telegram's rules when it is set, not when it is sent."""

from __future__ import annotations

import pytest

from bot.domain.errors import InvalidMarkup
from bot.domain.markup import check_html


@pytest.mark.parametrize(
    "text",
    [
        "<b>News</b> for R&amp;D &lt;Beta&gt;",
        '<span class="tg-spoiler">secret</span> <tg-spoiler>also</tg-spoiler>',
        '<a href="https://example.org/?a=1&amp;b=2">rules</a>',
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
        "<blockquote expandable>quote</blockquote> 1 > 0",
    ],
)
def test_html_telegram_accepts(text: str) -> None:
    check_html(text)


@pytest.mark.parametrize(
    "text",
    [
        "R&D",
        "<Beta>",
        "<b>open",
        "<span>plain span</span>",
        "<a>no link</a>",
        "<tg-emoji>x</tg-emoji>",
    ],
)
def test_html_telegram_refuses(text: str) -> None:
    with pytest.raises(InvalidMarkup):
        check_html(text)
