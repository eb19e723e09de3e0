"""the groups a moderator manages from the private chat with the bot, and where a quiz
import is answered

Revision ID: 0019_console_links
Revises: 0018_order_details
Create Date: 2026-12-07

A new table, and a new nullable column on quiz_imports: nothing stored before changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_console_links"
down_revision: str | None = "0018_order_details"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_links",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("chosen_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_console_links_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_links")),
        sa.UniqueConstraint("user_id", "community_id", name=op.f("uq_console_links_user_id")),
    )
    op.create_index(op.f("ix_console_links_user_id"), "console_links", ["user_id"], unique=False)
    op.add_column("quiz_imports", sa.Column("answer_chat_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quiz_imports") as batch:
        batch.drop_column("answer_chat_id")
    op.drop_index(op.f("ix_console_links_user_id"), table_name="console_links")
    op.drop_table("console_links")
