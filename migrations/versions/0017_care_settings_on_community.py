"""survey and birthday settings kept with the community's other settings

Revision ID: 0017_care_settings_on_community
Revises: 0016_quiz_imports
Create Date: 2026-12-07

Every feature's settings now live in one shape, the JSON document `communities.settings`: each
`care_settings` row becomes that community's "care" entry, and the table goes. The downgrade
turns each "care" entry back into a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0017_care_settings_on_community"
down_revision: str | None = "0016_quiz_imports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARE = "care"
# What a community without a care_settings row had (bot.domain.care at this revision).
CARE_DEFAULTS: dict[str, Any] = {
    "survey_days": 3,
    "survey_thanks": 5,
    "birthday_group": False,
    "birthday_gift": 20,
    "birthday_vip_gift": None,
}

communities = sa.table(
    "communities", sa.column("id", sa.BigInteger()), sa.column("settings", sa.JSON())
)


care_settings = sa.table(
    "care_settings",
    sa.column("community_id", sa.BigInteger()),
    sa.column("survey_days", sa.Integer()),
    sa.column("survey_thanks", sa.Integer()),
    sa.column("birthday_group", sa.Boolean()),
    sa.column("birthday_gift", sa.Integer()),
    sa.column("birthday_vip_gift", sa.Integer()),
)


def _create_care_settings() -> None:
    op.create_table(
        "care_settings",
        sa.Column("community_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("survey_days", sa.Integer(), nullable=False),
        sa.Column("survey_thanks", sa.Integer(), nullable=False),
        sa.Column("birthday_group", sa.Boolean(), nullable=False),
        sa.Column("birthday_gift", sa.Integer(), nullable=False),
        sa.Column("birthday_vip_gift", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["communities.id"],
            name=op.f("fk_care_settings_community_id_communities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_care_settings")),
    )


def _document(community_id: int, settings: Any) -> dict[str, Any]:
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise RuntimeError(
            f"communities.settings of community {community_id} is not a JSON object: "
            "its survey and birthday settings have nowhere to go"
        )
    return dict(settings)


def _set_settings(connection: sa.Connection, community_id: int, settings: dict[str, Any]) -> None:
    connection.execute(
        communities.update().where(communities.c.id == community_id).values(settings=settings)
    )


def upgrade() -> None:
    connection = op.get_bind()
    stored = {
        row.community_id: {name: getattr(row, name) for name in CARE_DEFAULTS}
        for row in connection.execute(sa.select(care_settings))
    }
    for community_id, settings in connection.execute(
        sa.select(communities.c.id, communities.c.settings)
    ):
        if community_id not in stored:
            continue
        document = _document(community_id, settings)
        document[CARE] = stored[community_id]
        _set_settings(connection, community_id, document)
    op.drop_table("care_settings")


def downgrade() -> None:
    _create_care_settings()
    connection = op.get_bind()
    rows: list[dict[str, Any]] = []
    for community_id, settings in connection.execute(
        sa.select(communities.c.id, communities.c.settings)
    ):
        if not isinstance(settings, dict) or not isinstance(settings.get(CARE), dict):
            continue
        document = dict(settings)
        care = document.pop(CARE)
        rows.append(
            {
                "community_id": community_id,
                **{name: care.get(name, default) for name, default in CARE_DEFAULTS.items()},
            }
        )
        _set_settings(connection, community_id, document)
    if rows:
        connection.execute(care_settings.insert(), rows)
