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
        for column in (*part.columns, *part.shown):
            assert column in table.columns, (part.table, column)
    assert "users" in {part.table for part in PARTS}


def test_a_part_kept_whole_names_no_one() -> None:
    """/forgetme keeps a NOT_PERSONAL part's rows (the reward memory: keyed hashes, its
    secret): such a table has no user-id column, and a part without columns is one of them."""
    from storage.privacy import NOT_PERSONAL

    with_user_ids = user_id_tables()
    kept = {part.table for part in PARTS if part.erase is NOT_PERSONAL}
    assert {"reward_memory", "app_secrets"} <= kept
    assert not kept & set(with_user_ids)
    for part in PARTS:
        assert (part.erase is NOT_PERSONAL) == (not part.columns), part.section


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


def test_every_part_declares_how_it_is_erased() -> None:
    """/forgetme: each user-id column of each part says delete, set NULL or placeholder, and
    what it scrubs names real columns of the table."""
    from storage.privacy import MENTION_PARTS, Erase

    for part in (*PARTS, *MENTION_PARTS):
        table = Base.metadata.tables[part.table]
        for column in part.columns:
            erase = part.erase_of(column)
            assert isinstance(erase, Erase), f"{part.table}.{column}: no erase declared"
            assert erase.action in ("delete", "null", "placeholder"), (part.table, column)
            if erase.action == "null":
                assert table.c[column].nullable, f"{part.table}.{column} cannot be NULL"
        for column, erase in part.mentions.items():
            assert column in table.columns, (part.table, column)
            assert erase.action in ("delete", "keep"), (part.table, column)
        erases = [part.erase_of(c) for c in part.columns] + list(part.mentions.values())
        for erase in erases:
            assert erase is not None
            for scrubbed, _how in erase.scrub:
                assert scrubbed in table.columns, (part.table, scrubbed)
    assert [part.table for part in PARTS].count("users") == 1


def test_the_placeholder_user_is_not_a_telegram_user() -> None:
    from storage.privacy import ERASED_USER_ID

    assert ERASED_USER_ID == 0
