"""satisfaction surveys (NPS, CSAT), their schedules, birthdays and birthday greetings

Revision ID: 0013_surveys
Revises: 0012_tickets
Create Date: 2026-11-23

New tables only: nothing stored before is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_surveys"
down_revision: str | None = "0012_tickets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)


def _community_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["community_id"],
        ["communities.id"],
        name=op.f(f"fk_{table}_community_id_communities"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "surveys",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", MOMENT, nullable=False),
        sa.Column("closes_at", MOMENT, nullable=False),
        sa.Column("closed_at", MOMENT, nullable=True),
        sa.Column("thanks_points", sa.Integer(), nullable=False),
        sa.Column("answer_count", sa.Integer(), nullable=True),
        sa.Column("score_hundredths", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        _community_fk("surveys"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
    )
    op.create_index("ix_surveys_due", "surveys", ["status", "closes_at"], unique=False)
    op.create_index(
        "ix_surveys_community_kind",
        "surveys",
        ["community_id", "kind", "closed_at"],
        unique=False,
    )
    op.create_table(
        "survey_answers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("survey_id", ID, nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("answered_at", MOMENT, nullable=False),
        sa.Column("changed_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["survey_id"],
            ["surveys.id"],
            name=op.f("fk_survey_answers_survey_id_surveys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
        sa.UniqueConstraint("survey_id", "user_id", name=op.f("uq_survey_answers_survey_id")),
    )
    op.create_table(
        "survey_schedules",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("schedule", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("next_run_at", MOMENT, nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", MOMENT, nullable=False),
        _community_fk("survey_schedules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_schedules")),
    )
    op.create_index(
        op.f("ix_survey_schedules_community_id"),
        "survey_schedules",
        ["community_id"],
        unique=False,
    )
    op.create_index(
        "ix_survey_schedules_due", "survey_schedules", ["status", "next_run_at"], unique=False
    )
    op.create_table(
        "care_settings",
        sa.Column("community_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("survey_days", sa.Integer(), nullable=False),
        sa.Column("survey_thanks", sa.Integer(), nullable=False),
        sa.Column("birthday_group", sa.Boolean(), nullable=False),
        sa.Column("birthday_gift", sa.Integer(), nullable=False),
        sa.Column("birthday_vip_gift", sa.Integer(), nullable=True),
        _community_fk("care_settings"),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_care_settings")),
    )
    op.create_table(
        "birthdays",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("month", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_birthdays")),
    )
    op.create_table(
        "birthday_greetings",
        sa.Column("community_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("greeted_at", MOMENT, nullable=False),
        sa.Column("gift", sa.Integer(), nullable=False),
        _community_fk("birthday_greetings"),
        sa.PrimaryKeyConstraint(
            "community_id", "user_id", "year", name=op.f("pk_birthday_greetings")
        ),
    )


def downgrade() -> None:
    op.drop_table("birthday_greetings")
    op.drop_table("birthdays")
    op.drop_table("care_settings")
    op.drop_index("ix_survey_schedules_due", table_name="survey_schedules")
    op.drop_index(op.f("ix_survey_schedules_community_id"), table_name="survey_schedules")
    op.drop_table("survey_schedules")
    op.drop_table("survey_answers")
    op.drop_index("ix_surveys_community_kind", table_name="surveys")
    op.drop_index("ix_surveys_due", table_name="surveys")
    op.drop_table("surveys")
