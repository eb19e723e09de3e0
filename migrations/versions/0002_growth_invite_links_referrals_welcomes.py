"""growth: invite links, referrals, welcomes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "invite_links",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_invite_links_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_invite_links_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_links")),
        sa.UniqueConstraint("code", name=op.f("uq_invite_links_code")),
    )
    with op.batch_alter_table("invite_links", schema=None) as batch_op:
        batch_op.create_index("ix_invite_links_member", ["community_id", "user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_invite_links_url"), ["url"], unique=False)

    op.create_table(
        "referrals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("invitee_id", sa.BigInteger(), nullable=False),
        sa.Column("inviter_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_referrals_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("community_id", "invitee_id", name=op.f("uq_referrals_community_id")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_inviter", ["community_id", "inviter_id"], unique=False)
        batch_op.create_index("ix_referrals_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "remembered_referrals",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("invitee_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("inviter_id", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_remembered_referrals_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", "invitee_id", name=op.f("pk_remembered_referrals")),
    )
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_code", sa.String(length=16), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_communities_public_code"), ["public_code"])

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("welcome_due_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("can_message", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("can_message")

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("welcome_due_at")

    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_communities_public_code"), type_="unique")
        batch_op.drop_column("public_code")

    op.drop_table("remembered_referrals")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_status_due")
        batch_op.drop_index("ix_referrals_inviter")

    op.drop_table("referrals")
    with op.batch_alter_table("invite_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_links_url"))
        batch_op.drop_index("ix_invite_links_member")

    op.drop_table("invite_links")
