"""The import arrows point one way: seedbot (the root) → handlers → runtime → storage → bot.

Every import statement of every module is read with `ast` (imports inside functions and under
TYPE_CHECKING count too), so a layer cannot reach upwards by hiding an import."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"bot", "handlers", "runtime", "storage", "seedbot"}
# The core's libraries besides the stdlib: gettext catalogs (babel) and cron parsing
# (apscheduler's triggers, pure computation).
CORE_LIBRARIES = {"babel", "apscheduler.triggers"}
ENTRY_SHIMS = {Path("bot/__main__.py")}  # `python -m bot` hands over to seedbot.cli

FORBIDDEN = {
    "runtime": {"handlers", "seedbot"},
    "storage": {"handlers", "runtime", "seedbot"},
    "handlers": {"seedbot"},
}


def modules_of(package: str) -> Iterator[Path]:
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT)
        if relative not in ENTRY_SHIMS:
            yield relative


def imported_names(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), filename=str(path))
    package = list(path.with_suffix("").parts)[:-1]  # a module's package, or an __init__'s
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the module's own package
                base = package[: len(package) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            elif node.module is not None:
                yield node.lineno, node.module


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def is_allowed_in_core(name: str) -> bool:
    if top(name) == "bot" or top(name) in sys.stdlib_module_names:
        return True
    return any(name == library or name.startswith(library + ".") for library in CORE_LIBRARIES)


def test_the_core_imports_nothing_outside_itself_but_the_stdlib_and_its_libraries() -> None:
    wrong = [
        f"{path}:{line} imports {name}"
        for path in modules_of("bot")
        for line, name in imported_names(path)
        if not is_allowed_in_core(name)
    ]
    assert wrong == []


def test_no_layer_imports_a_layer_above_it() -> None:
    wrong = [
        f"{path}:{line} imports {name}"
        for package, above in FORBIDDEN.items()
        for path in modules_of(package)
        for line, name in imported_names(path)
        if top(name) in above
    ]
    assert wrong == []


def test_the_walk_sees_every_layer() -> None:
    """Guards the test itself: an empty walk would pass everything."""
    for package in PROJECT_PACKAGES:
        assert any(True for _ in modules_of(package)), package
