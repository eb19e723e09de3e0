"""community metrics: daily ledger aggregates and a covering index on activity days

Revision ID: 0010_metrics
Revises: 0009_activity
Create Date: 2026-11-23

`ledger_days` starts empty: /stats fills it from points_ledger for the days that have ended.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_metrics"
down_revision: str | None = "0009_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRIC_COLUMNS = [
    "community_id",
    "day",
    "user_id",
    "checkins",
    "quiz_answers",
    "lottery_entries",
    "orders",
]


def upgrade() -> None:
    op.create_table(
        "ledger_days",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("issued", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "community_id", "timezone", "day", "kind", name=op.f("pk_ledger_days")
        ),
    )
    op.create_index("ix_activity_days_metrics", "activity_days", METRIC_COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index("ix_activity_days_metrics", table_name="activity_days")
    op.drop_table("ledger_days")
