"""quiz imports carried out off the intake (claimed work)

Revision ID: 0016_quiz_imports
Revises: 0015_reward_memory
Create Date: 2026-12-07

A new table only: nothing stored before is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_quiz_imports"
down_revision: str | None = "0015_reward_memory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "quiz_imports",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("command_message_id", sa.BigInteger(), nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        sa.Column("file_id", sa.String(length=256), nullable=False),
        sa.Column("file_name", sa.String(length=256), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", MOMENT, nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_quiz_imports_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quiz_imports")),
        sa.UniqueConstraint(
            "community_id",
            "command_message_id",
            name=op.f("uq_quiz_imports_community_id"),
        ),
    )
    op.create_index("ix_quiz_imports_due", "quiz_imports", ["status", "due_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_quiz_imports_due", table_name="quiz_imports")
    op.drop_table("quiz_imports")
