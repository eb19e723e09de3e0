"""SQL implementation of the community repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.care import CareSettings
from bot.domain.models import (
    ActivityRules,
    CheckinRules,
    Community,
    GrowthRules,
    JoinRequestPolicy,
    LifecycleRules,
    ModerationRules,
)
from bot.domain.tickets import TicketRules
from storage.caches import caches_of, community_changed_here
from storage.models import CommunityRow
from storage.sql import insert_ignoring_conflict

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Rules = TypeVar("Rules", bound="DataclassInstance")


def _community_settings(community: Community) -> dict[str, Any]:
    return {
        "checkin": asdict(community.checkin_rules),
        "activity": asdict(community.activity_rules),
        "tier_thresholds": list(community.tier_thresholds),
        "checkin_keywords": list(community.checkin_keywords),
        "growth": asdict(community.growth),
        "moderation": asdict(community.moderation),
        "lifecycle": asdict(community.lifecycle),
        "tickets": asdict(community.tickets),
        "care": asdict(community.care),
    }


def _community_from_row(row: CommunityRow) -> Community:
    settings = row.settings or {}
    defaults = Community(id=row.id, title=row.title, timezone=row.timezone, language=row.language)
    return Community(
        id=row.id,
        title=row.title,
        timezone=row.timezone,
        language=row.language,
        checkin_rules=CheckinRules(**settings.get("checkin", {})),
        activity_rules=ActivityRules(**settings.get("activity", {})),
        tier_thresholds=tuple(settings.get("tier_thresholds", defaults.tier_thresholds)),
        checkin_keywords=tuple(settings.get("checkin_keywords", defaults.checkin_keywords)),
        growth=_growth_from_settings(settings.get("growth", {})),
        public_code=row.public_code,
        moderation=_known(ModerationRules, settings.get("moderation", {})),
        lifecycle=_known(LifecycleRules, settings.get("lifecycle", {})),
        tickets=_known(TicketRules, settings.get("tickets", {})),
        care=_known(CareSettings, settings.get("care", {})),
    )


def _known(kind: type[Rules], values: dict[str, Any]) -> Rules:
    """The rules from their stored values, ignoring keys a newer or older release wrote."""
    known = {field.name for field in fields(kind)}
    return kind(**{key: value for key, value in values.items() if key in known})


def _growth_from_settings(values: dict[str, Any]) -> GrowthRules:
    known = {key: value for key, value in values.items() if key in GrowthRules.__dataclass_fields__}
    if "join_requests" in known:
        known["join_requests"] = JoinRequestPolicy(known["join_requests"])
    return GrowthRules(**known)


class SqlCommunityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, community_id: int) -> Community | None:
        """Served from the process cache (see storage/caches.py) when it can be."""
        caches = None if community_changed_here(self._session) else caches_of(self._session)
        if caches is not None:
            cached = caches.community(community_id)
            if cached is not None:
                return cached
            generation = caches.community_generation
        row = await self._session.get(CommunityRow, community_id)
        community = _community_from_row(row) if row else None
        if caches is not None and community is not None:
            caches.remember_community(community, generation)
        return community

    async def add(self, community: Community, now: datetime) -> None:
        await insert_ignoring_conflict(
            self._session,
            CommunityRow,
            {
                "id": community.id,
                "title": community.title,
                "timezone": community.timezone,
                "language": community.language,
                "settings": _community_settings(community),
                "created_at": now,
            },
        )

    async def set_language(self, community_id: int, language: str) -> None:
        await self._session.execute(
            update(CommunityRow).where(CommunityRow.id == community_id).values(language=language)
        )

    async def set_title(self, community_id: int, title: str) -> None:
        await self._session.execute(
            update(CommunityRow).where(CommunityRow.id == community_id).values(title=title)
        )

    async def set_timezone(self, community_id: int, timezone: str) -> None:
        await self._session.execute(
            update(CommunityRow).where(CommunityRow.id == community_id).values(timezone=timezone)
        )

    async def save_settings(self, community: Community) -> None:
        await self._session.execute(
            update(CommunityRow)
            .where(CommunityRow.id == community.id)
            .values(settings=_community_settings(community))
        )

    async def set_public_code(self, community_id: int, code: str) -> None:
        await self._session.execute(
            update(CommunityRow).where(CommunityRow.id == community_id).values(public_code=code)
        )

    async def by_public_code(self, code: str) -> Community | None:
        row = (
            await self._session.execute(
                select(CommunityRow).where(CommunityRow.public_code == code)
            )
        ).scalar_one_or_none()
        return _community_from_row(row) if row else None
