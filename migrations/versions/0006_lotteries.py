"""lotteries, entries, winners

Revision ID: 0006_lotteries
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_lotteries"
down_revision: str | None = "0005_shop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "lotteries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("prize", sa.Text(), nullable=False),
        sa.Column("winners", sa.Integer(), nullable=False),
        sa.Column("draw_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("max_entries", sa.Integer(), nullable=False),
        sa.Column("min_tier", sa.Integer(), nullable=False),
        sa.Column("badge", sa.String(length=16), nullable=True),
        sa.Column("min_days", sa.Integer(), nullable=False),
        sa.Column("late_joiners", sa.Boolean(), nullable=False),
        sa.Column("seed", sa.String(length=128), nullable=False),
        sa.Column("commitment", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entries_count", sa.Integer(), nullable=True),
        sa.Column("entries_hash", sa.String(length=64), nullable=True),
        sa.Column("drawn_entries", sa.Text(), nullable=True),
        sa.Column("picks_taken", sa.Integer(), nullable=False),
        sa.Column("repeat_schedule", sa.String(length=64), nullable=True),
        sa.Column("repeat_next_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lotteries_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lotteries")),
    )
    with op.batch_alter_table("lotteries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lotteries_community_id"), ["community_id"], unique=False
        )
        batch_op.create_index("ix_lotteries_due", ["status", "draw_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_lotteries_repeat_next_at"), ["repeat_next_at"], unique=False
        )

    op.create_table(
        "lottery_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "lottery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["lottery_id"],
            ["lotteries.id"],
            name=op.f("fk_lottery_entries_lottery_id_lotteries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_entries")),
        sa.UniqueConstraint(
            "lottery_id", "user_id", "number", name=op.f("uq_lottery_entries_lottery_id")
        ),
    )
    op.create_table(
        "lottery_winners",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "lottery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("pick", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["lottery_id"],
            ["lotteries.id"],
            name=op.f("fk_lottery_winners_lottery_id_lotteries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_winners")),
        sa.UniqueConstraint("lottery_id", "pick", name=op.f("uq_lottery_winners_lottery_id")),
    )

    op.create_table(
        "lottery_drafts",
        sa.Column("community_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lottery_drafts_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "user_id", name=op.f("pk_lottery_drafts")),
    )


def downgrade() -> None:
    op.drop_table("lottery_drafts")

    op.drop_table("lottery_winners")
    op.drop_table("lottery_entries")
    with op.batch_alter_table("lotteries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lotteries_repeat_next_at"))
        batch_op.drop_index("ix_lotteries_due")
        batch_op.drop_index(batch_op.f("ix_lotteries_community_id"))

    op.drop_table("lotteries")
