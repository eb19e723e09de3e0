"""member lifecycle: stages, win-back messages and the periodic work's claims

Revision ID: 0011_lifecycle
Revises: 0010_metrics
Create Date: 2026-11-23

New tables only; stages are judged from activity_days by the first daily run.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_lifecycle"
down_revision: str | None = "0010_metrics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _member_keys(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f(f"fk_{table}_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f(f"fk_{table}_user_id_users"),
            ondelete="CASCADE",
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "member_lifecycle",
        *_member_keys("member_lifecycle"),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("stage_since", sa.Date(), nullable=False),
        sa.Column("usual_gap_days", sa.Float(), nullable=True),
        sa.Column("last_active_day", sa.Date(), nullable=True),
        sa.Column("risk_since", sa.Date(), nullable=True),
        sa.Column("key_since", sa.Date(), nullable=True),
        sa.Column("key_noticed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("judged_on", sa.Date(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "user_id", name=op.f("pk_member_lifecycle")),
    )
    op.create_index(
        "ix_member_lifecycle_stage", "member_lifecycle", ["community_id", "stage"], unique=False
    )
    op.create_table(
        "winbacks",
        *_member_keys("winbacks"),
        sa.Column("episode", sa.Date(), nullable=False),
        sa.Column("sent_day", sa.Date(), nullable=False),
        sa.Column("deadline_day", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "user_id", "episode", name=op.f("pk_winbacks")),
    )
    op.create_index(
        "ix_winbacks_community_sent", "winbacks", ["community_id", "sent_at"], unique=False
    )
    op.create_table(
        "lifecycle_claims",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_lifecycle_claims_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "kind", "period", name=op.f("pk_lifecycle_claims")),
    )


def downgrade() -> None:
    op.drop_table("lifecycle_claims")
    op.drop_index("ix_winbacks_community_sent", table_name="winbacks")
    op.drop_table("winbacks")
    op.drop_index("ix_member_lifecycle_stage", table_name="member_lifecycle")
    op.drop_table("member_lifecycle")
