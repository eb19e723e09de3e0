from __future__ import annotations

import gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "seedbot"
LANGUAGES = ("zh", "en")
CATALOG_OF_LANGUAGE = {"zh": "zh_CN", "en": "en"}


class Translator:
    """Translates a msgid and fills its `{name}` placeholders."""

    def __init__(self, language: str, translations: gettext.NullTranslations) -> None:
        self.language = language
        self._translations = translations

    def __call__(self, msgid: str, /, **params: object) -> str:
        text = self._translations.gettext(msgid)
        return text.format(**params) if params else text


@cache
def _load(language: str) -> gettext.NullTranslations:
    po_path = LOCALES_DIR / CATALOG_OF_LANGUAGE[language] / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=CATALOG_OF_LANGUAGE[language])
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def translator(language: str) -> Translator:
    language = language if language in LANGUAGES else "en"
    return Translator(language, _load(language))


def language_of_user(language_code: str | None, default: str) -> str:
    """A private chat follows the user's Telegram language: Chinese for zh*, else English."""
    if not language_code:
        return default
    return "zh" if language_code.lower().startswith("zh") else "en"
