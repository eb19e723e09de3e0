"""activity days and membership events: the raw records behind community metrics

Revision ID: 0009_activity
Revises: 0008_sent_message_ids
Create Date: 2026-11-23

Existing data is carried over: every stored join and leave becomes an event, and the days of
stored check-ins, quiz answers, lottery entries and orders become activity days (in each
community's timezone). Message counts before this revision were never stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0009_activity"
down_revision: str | None = "0008_sent_message_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVITY_COLUMNS = ("messages", "checkins", "quiz_answers", "lottery_entries", "orders")


def upgrade() -> None:
    op.create_table(
        "activity_days",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in ACTIVITY_COLUMNS),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_activity_days_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_activity_days_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "user_id", "day", name=op.f("pk_activity_days")),
    )
    op.create_index(
        "ix_activity_days_community_day", "activity_days", ["community_id", "day"], unique=False
    )
    op.create_table(
        "membership_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_membership_events_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_membership_events_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_events")),
    )
    op.create_index(
        "ix_membership_events_community_at",
        "membership_events",
        ["community_id", "at"],
        unique=False,
    )
    op.create_index(
        "ix_membership_events_member",
        "membership_events",
        ["community_id", "user_id"],
        unique=False,
    )
    _carry_over_memberships()
    _carry_over_activity()


def downgrade() -> None:
    op.drop_index("ix_membership_events_member", table_name="membership_events")
    op.drop_index("ix_membership_events_community_at", table_name="membership_events")
    op.drop_table("membership_events")
    op.drop_index("ix_activity_days_community_day", table_name="activity_days")
    op.drop_table("activity_days")


def _carry_over_memberships() -> None:
    for kind, column in (("join", "joined_at"), ("leave", "left_at")):
        op.execute(
            "INSERT INTO membership_events (community_id, user_id, kind, at) "
            f"SELECT community_id, user_id, '{kind}', {column} FROM members "
            f"WHERE {column} IS NOT NULL ORDER BY {column}"
        )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(zone).date()


def _carry_over_activity() -> None:
    connection = op.get_bind()
    zones = {
        community_id: _zone(timezone)
        for community_id, timezone in connection.execute(
            sa.text("SELECT id, timezone FROM communities")
        )
    }
    users = {user_id for (user_id,) in connection.execute(sa.text("SELECT id FROM users"))}
    tally: Counter[tuple[int, int, date, str]] = Counter()
    moment = sa.DateTime(timezone=True)
    sources = {
        "checkins": None,
        "quiz_answers": sa.select(
            sa.column("community_id"), sa.column("user_id"), sa.column("answered_at", moment)
        ).select_from(sa.table("quiz_answers")),
        "lottery_entries": sa.text(
            "SELECT lotteries.community_id, lottery_entries.user_id, lottery_entries.created_at "
            "FROM lottery_entries JOIN lotteries ON lotteries.id = lottery_entries.lottery_id"
        ).columns(
            sa.column("community_id", sa.BigInteger()),
            sa.column("user_id", sa.BigInteger()),
            sa.column("created_at", moment),
        ),
        "orders": sa.select(
            sa.column("community_id"), sa.column("user_id"), sa.column("created_at", moment)
        ).select_from(sa.table("shop_orders")),
    }
    checkins = sa.select(
        sa.column("community_id"), sa.column("user_id"), sa.column("day", sa.Date())
    ).select_from(sa.table("checkins"))
    for community_id, user_id, day in connection.execute(checkins):
        tally[(community_id, user_id, day, "checkins")] += 1
    for column, query in sources.items():
        if query is None:
            continue
        for community_id, user_id, at in connection.execute(query):
            if community_id in zones and at is not None:
                tally[(community_id, user_id, _local_day(at, zones[community_id]), column)] += 1
    days: dict[tuple[int, int, date], dict[str, int]] = {}
    for (community_id, user_id, day, column), count in tally.items():
        if community_id not in zones or user_id not in users:
            continue
        row = days.setdefault(
            (community_id, user_id, day),
            {"community_id": community_id, "user_id": user_id, "day": day}
            | dict.fromkeys(ACTIVITY_COLUMNS, 0),
        )
        row[column] += count
    if days:
        table = sa.table(
            "activity_days",
            sa.column("community_id"),
            sa.column("user_id"),
            sa.column("day", sa.Date()),
            *(sa.column(name) for name in ACTIVITY_COLUMNS),
        )
        op.bulk_insert(table, list(days.values()))
