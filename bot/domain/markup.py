"""Checks of operator-written text before it is stored, so that sending never fails on it."""

from __future__ import annotations

import re
import string

from bot.domain.errors import N_, InvalidMarkup, InvalidTemplate, TextTooLong

TELEGRAM_TAGS = "b|strong|i|em|u|ins|s|strike|del|a|code|pre|tg-spoiler|span|blockquote|tg-emoji"
_TAG = re.compile(rf"</?({TELEGRAM_TAGS})(\s[^<>]*)?>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_ATTRIBUTE = re.compile(r"([a-z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'<>=]+)))?")
_REQUIRED_ATTRIBUTE = {"a": "href", "tg-emoji": "emoji-id"}


def _check_attributes(tag: str, attributes: str) -> None:
    values = {
        match.group(1): next((v for v in match.groups()[1:] if v is not None), "")
        for match in _ATTRIBUTE.finditer(attributes)
    }
    if tag == "span" and values.get("class") != "tg-spoiler":
        raise InvalidMarkup(problem=N_('<span> is only for spoilers: <span class="tg-spoiler">'))
    required = _REQUIRED_ATTRIBUTE.get(tag)
    if required is not None and not values.get(required):
        raise InvalidMarkup(
            problem=N_("<{tag}> needs its {attribute} attribute"), tag=tag, attribute=required
        )


def check_html(text: str) -> None:
    """Telegram's HTML: only its own tags (a span only as a spoiler, a link with its href),
    properly nested; other < and & escaped."""
    open_tags: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            tag = _TAG.match(text, position)
            if tag is None:
                raise InvalidMarkup(problem=N_("use &lt; for a < that is not a tag"))
            name = tag.group(1)
            if tag.group(0).startswith("</"):
                if not open_tags or open_tags.pop() != name:
                    raise InvalidMarkup(problem=N_("</{tag}> does not close an open tag"), tag=name)
            else:
                _check_attributes(name, tag.group(2) or "")
                open_tags.append(name)
            position = tag.end()
            continue
        if char == "&" and _ENTITY.match(text, position) is None:
            raise InvalidMarkup(problem=N_("use &amp; for a & on its own"))
        position += 1
    if open_tags:
        raise InvalidMarkup(problem=N_("<{tag}> is never closed"), tag=open_tags[-1])


def check_template(text: str, allowed: tuple[str, ...], maximum: int) -> None:
    """Rejects unknown `{placeholders}` and oversized text when the text is set, not when used."""
    if len(text) > maximum:
        raise TextTooLong(maximum=maximum)
    known = ", ".join("{" + name + "}" for name in allowed)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise InvalidTemplate(placeholder="{", allowed=known) from None
    for _, field, format_spec, conversion in parsed:
        if field is None:
            continue
        if field not in allowed or format_spec or conversion:
            shown = (
                field
                + (f"!{conversion}" if conversion else "")
                + (f":{format_spec}" if format_spec else "")
            )
            raise InvalidTemplate(placeholder="{" + shown + "}", allowed=known)
