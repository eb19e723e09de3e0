"""Upgrading a database that already holds members and their activity carries it over into
the records behind /stats: joins and leaves become events, and stored check-ins, quiz
answers, lottery entries and orders become activity days in the community's timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from storage.migrate import alembic_config
from tests.integration.test_migration_data import on_database

GROUP = -1001
SHANGHAI_EVENING = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on 3 March in Shanghai


def populate(connection: sa.Connection) -> None:
    def insert(table: str, **values: object) -> None:
        columns = ", ".join(values)
        names = ", ".join(f":{name}" for name in values)
        connection.execute(sa.text(f"INSERT INTO {table} ({columns}) VALUES ({names})"), values)

    insert(
        "communities",
        id=GROUP,
        title="种子",
        timezone="Asia/Shanghai",
        language="zh",
        settings="{}",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    for user_id in (1, 2):
        insert("users", id=user_id, first_name=f"u{user_id}", is_bot=False, can_message=False)
    common = {
        "community_id": GROUP,
        "balance": 0,
        "lifetime_earned": 0,
        "streak": 0,
        "tier": 0,
        "activity_points_today": 0,
    }
    insert(
        "members", user_id=1, is_member=True, joined_at=datetime(2026, 2, 1, tzinfo=UTC), **common
    )
    insert(
        "members",
        user_id=2,
        is_member=False,
        joined_at=datetime(2026, 2, 2, tzinfo=UTC),
        left_at=datetime(2026, 2, 3, tzinfo=UTC),
        **common,
    )
    insert(
        "checkins",
        community_id=GROUP,
        user_id=1,
        day=date(2026, 3, 2),
        streak=1,
        points=10,
        created_at=datetime(2026, 3, 2, 1, tzinfo=UTC),
    )
    insert(
        "shop_items",
        id=7,
        community_id=GROUP,
        title="mug",
        price=5,
        stock=1,
        min_tier=0,
        active=True,
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    insert(
        "shop_orders",
        community_id=GROUP,
        item_id=7,
        user_id=1,
        title="mug",
        price=5,
        status="pending",
        request_key="k",
        created_at=SHANGHAI_EVENING,
    )


def read(connection: sa.Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    days = connection.execute(
        sa.text(
            "SELECT user_id, day, messages, checkins, quiz_answers, lottery_entries, orders "
            "FROM activity_days ORDER BY user_id, day"
        )
    ).all()
    events = connection.execute(
        sa.text("SELECT user_id, kind FROM membership_events ORDER BY at")
    ).all()
    return [tuple(row) for row in days], [tuple(row) for row in events]


def test_an_upgrade_carries_existing_members_and_activity_over(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0008_sent_message_ids")
    on_database(url, populate)
    command.upgrade(config, "0009_activity")
    days, events = on_database(url, read)
    assert [(user, str(day)[:10], *counts) for user, day, *counts in days] == [
        (1, "2026-03-02", 0, 1, 0, 0, 0),
        (1, "2026-03-03", 0, 0, 0, 0, 1),
    ]
    assert events == [(1, "join"), (2, "join"), (2, "leave")]
