"""Every feature's settings live in one shape, the community's settings document: the survey
and birthday settings are stored and read back with the rest, and each feature's change
keeps the others' settings."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.care import CareSettings
from bot.domain.models import Community
from bot.ports import UnitOfWork
from bot.services import birthdays, surveys, tickets
from bot.services.membership import CommunityDefaults, ensure_community
from storage.models import CommunityRow
from storage.uow import unit_of_work

GROUP = -100_424_242
START = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
DEFAULTS = CommunityDefaults(timezone="Asia/Shanghai", language="zh_CN")


async def stored_community(uow: UnitOfWork) -> Community:
    community = await uow.communities.get(GROUP)
    assert community is not None
    return community


async def test_care_settings_are_kept_in_the_community_settings_beside_the_others(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as uow:
        community, _ = await ensure_community(uow, GROUP, "种子", START, DEFAULTS)
        assert surveys.settings(community) == CareSettings()
        await surveys.set_days(uow, community, "7", None, START)
    async with unit_of_work(session_factory) as uow:
        community = await stored_community(uow)
        await birthdays.set_group(uow, community, True, None, START)
    async with unit_of_work(session_factory) as uow:
        community = await stored_community(uow)
        await birthdays.set_gift(uow, community, "30", None, START)
    async with unit_of_work(session_factory) as uow:
        community = await stored_community(uow)
        await tickets.set_rule(uow, community, "limit", "9", None, START)

    async with unit_of_work(session_factory) as uow:
        community = await stored_community(uow)
        assert surveys.settings(community) == CareSettings(
            survey_days=7, birthday_group=True, birthday_gift=30
        )
        assert community.tickets.daily_limit == 9
        stored = (
            await uow.session.execute(select(CommunityRow.settings).where(CommunityRow.id == GROUP))
        ).scalar_one()
    assert stored["care"] == {
        "survey_days": 7,
        "survey_thanks": 5,
        "birthday_group": True,
        "birthday_gift": 30,
        "birthday_vip_gift": None,
    }
    assert stored["tickets"]["daily_limit"] == 9
