"""Checks of operator-written text before it is stored, so that sending never fails on it."""

from __future__ import annotations

import re
import string

from bot.domain.errors import InvalidMarkup, InvalidTemplate, TextTooLong

TELEGRAM_TAGS = "b|strong|i|em|u|ins|s|strike|del|a|code|pre|tg-spoiler|span|blockquote|tg-emoji"
_TAG = re.compile(rf"</?({TELEGRAM_TAGS})(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")


def check_html(text: str) -> None:
    """Telegram's HTML: only its own tags, properly nested; other < and & escaped."""
    open_tags: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = _TAG.match(text, position)
            if tag is None:
                raise InvalidMarkup(problem="use &lt; for a < that is not a tag")
            name = tag.group(1)
            if tag.group(0).startswith("</"):
                if not open_tags or open_tags.pop() != name:
                    raise InvalidMarkup(problem=f"</{name}> does not close an open tag")
            else:
                open_tags.append(name)
            position = tag.end()
            continue
        if char == "&" and _ENTITY.match(text, position) is None:
            raise InvalidMarkup(problem="use &amp; for a & on its own")
        position += 1
    if open_tags:
        raise InvalidMarkup(problem=f"<{open_tags[-1]}> is never closed")


def check_template(text: str, allowed: tuple[str, ...], maximum: int) -> None:
    """Rejects unknown `{placeholders}` and oversized text when the text is set, not when used."""
    if len(text) > maximum:
        raise TextTooLong(maximum=maximum)
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]
    except ValueError:
        fields = ["{"]
    for field in fields:
        if field not in allowed:
            raise InvalidTemplate(
                placeholder="{" + field + "}", allowed=", ".join("{" + a + "}" for a in allowed)
            )
