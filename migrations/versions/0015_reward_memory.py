"""reward memory: one-time rewards kept through /forgetme under a keyed hash, its secret, and
who posted a ticket's photo

Revision ID: 0015_reward_memory
Revises: 0014_press_answers
Create Date: 2026-12-07

New tables, and one new nullable column (tickets.photo_user_id, unknown for tickets filed
before): nothing stored before is changed. The reward memory's secret is generated at random
by the bot when it is first needed (storage/reward_memory.py); a downgrade drops it with the
memory it keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_reward_memory"
down_revision: str | None = "0014_press_answers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )
    op.create_table(
        "reward_memory",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("occasion", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_reward_memory_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "kind", "community_id", "subject", "occasion", name=op.f("pk_reward_memory")
        ),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("photo_user_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("photo_user_id")
    op.drop_table("reward_memory")
    op.drop_table("app_secrets")
