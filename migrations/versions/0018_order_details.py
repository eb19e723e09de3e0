"""shop items may ask the buyer for delivery details; a rejection is drafted before it refunds

Revision ID: 0018_order_details
Revises: 0017_care_settings_on_community
Create Date: 2026-12-07

`shop_items.asks_details`: after a redemption the bot asks the buyer privately for a
free-text answer, kept in `shop_orders.details` (`details_wanted` marks the orders still
waiting for one). `shop_orders.rejecting_message_id` is the /orders message on which a
moderator pressed Reject and the confirmation is awaited (the reason, if any, in `note`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_order_details"
down_revision: str | None = "0017_care_settings_on_community"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shop_items") as batch:
        batch.add_column(
            sa.Column("asks_details", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("shop_orders") as batch:
        batch.add_column(sa.Column("details", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("details_wanted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("rejecting_message_id", sa.BigInteger(), nullable=True))
        batch.create_index("ix_shop_orders_details_wanted", ["user_id", "details_wanted"])


def downgrade() -> None:
    with op.batch_alter_table("shop_orders") as batch:
        batch.drop_index("ix_shop_orders_details_wanted")
        batch.drop_column("rejecting_message_id")
        batch.drop_column("details_wanted")
        batch.drop_column("details")
    with op.batch_alter_table("shop_items") as batch:
        batch.drop_column("asks_details")
