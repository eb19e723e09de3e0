"""Every table that holds a Telegram user id has a part in the privacy registry."""

from __future__ import annotations

from storage.models import Base
from storage.privacy import PARTS, USER_ID_COLUMNS, user_id_tables


def test_every_table_with_a_user_id_is_covered() -> None:
    found = user_id_tables()
    assert {"users", "members", "points_ledger", "referrals", "quiz_answers"} <= set(found) | {
        "users"
    }
    covered: dict[str, set[str]] = {}
    for part in PARTS:
        covered.setdefault(part.table, set()).update(part.columns)
    missing = {
        table: columns - covered.get(table, set())
        for table, columns in found.items()
        if columns - covered.get(table, set())
    }
    assert not missing, f"tables with user ids not in storage.privacy.PARTS: {missing}"


def test_the_parts_name_real_tables_and_columns() -> None:
    for part in PARTS:
        table = Base.metadata.tables[part.table]
        for column in part.columns:
            assert column in table.columns, (part.table, column)
    assert "users" in {part.table for part in PARTS}


def test_columns_ending_in_a_user_like_name_are_recognised() -> None:
    """A new column named like a person (…_user_id, …_by) must be added to USER_ID_COLUMNS."""
    suspicious = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if (column.name.endswith("user_id") or column.name.endswith("_by"))
        and column.name not in USER_ID_COLUMNS
    }
    assert not suspicious, suspicious
