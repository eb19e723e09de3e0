from __future__ import annotations

import string
from pathlib import Path

from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, translator

ZH_CATALOG = LOCALES_DIR / "zh_CN" / "LC_MESSAGES" / "seedbot.po"


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_message_has_a_chinese_translation_with_the_same_placeholders() -> None:
    with Path(ZH_CATALOG).open("rb") as file:
        catalog = read_po(file, locale="zh_CN")
    messages = [message for message in catalog if message.id]
    assert len(messages) > 50
    for message in messages:
        assert isinstance(message.id, str) and isinstance(message.string, str)
        assert message.string, f"untranslated: {message.id!r}"
        assert placeholders(message.id) == placeholders(message.string), message.id


def test_translators_fall_back_to_english() -> None:
    assert translator("zh")("Core") == "核心"
    assert translator("en")("Core") == "Core"
    assert translator("fr")("Core") == "Core"


def test_every_ledger_kind_has_a_name_in_stats() -> None:
    """/stats names the points issued and spent by kind; a new kind needs a translated name."""
    from bot.domain.models import LedgerKind
    from handlers.insights import LEDGER_KIND_NAMES

    assert set(LedgerKind) == set(LEDGER_KIND_NAMES)
