"""Refreshes the gettext catalogs from the source: `python scripts/catalogs.py`.

Extracts every `_()` / `N_()` message from bot/, handlers/ and runtime/, keeps the translations the
catalogs already have, and reports messages that still lack a Chinese translation.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "bot" / "locales"
TEMPLATE = LOCALES / "seedbot.pot"


def main() -> int:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-k",
            "_",
            "-k",
            "N_",
            "--no-location",
            "--sort-output",
            "--project",
            "seedbot",
            "-o",
            str(TEMPLATE),
            "bot",
            "handlers",
            "runtime",
        ],
        cwd=ROOT,
        check=True,
    )
    with TEMPLATE.open("rb") as file:
        template = read_po(file)
    missing = 0
    for locale in ("zh_CN", "en"):
        path = LOCALES / locale / "LC_MESSAGES" / "seedbot.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as file:
                catalog = read_po(file, locale=locale)
            catalog.update(template, no_fuzzy_matching=True)
        else:
            catalog = read_po(TEMPLATE.open("rb"), locale=locale)
        with path.open("wb") as file:
            write_po(file, catalog, omit_header=False, sort_output=True, width=100)
        if locale == "zh_CN":
            for message in catalog:
                if message.id and not message.string:
                    print(f"untranslated ({locale}): {message.id!r}")
                    missing += 1
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
