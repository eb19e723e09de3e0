"""The reward memory against a real database (SQLite, and PostgreSQL when configured): it keeps
a keyed hash of the user id, never the id; /forgetme keeps there the one-time rewards that the
erased rows show as given, also those given before the memory existed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import Community, UserInfo
from bot.domain.rewards import OneTimeReward
from bot.services.membership import CommunityDefaults, ensure_community, member_joined
from storage.models import (
    AppSecretRow,
    BirthdayGreetingRow,
    LedgerRow,
    ReferralRow,
    RewardMemoryRow,
    SurveyAnswerRow,
    SurveyRow,
)
from storage.uow import unit_of_work

GROUP = -100123
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
INVITER = UserInfo(id=11, first_name="Ines", username="ines")
FRIEND = UserInfo(id=777000444, first_name="Fred", username="fred")

Factory = async_sessionmaker[AsyncSession]


async def make_community(factory: Factory) -> Community:
    async with unit_of_work(factory) as uow:
        community, _created = await ensure_community(
            uow, GROUP, "Seeds", START, CommunityDefaults(timezone="Asia/Shanghai", language="en")
        )
        for user in (INVITER, FRIEND):
            await member_joined(uow, community, user, START)
        return community


async def memory_rows(factory: Factory) -> list[RewardMemoryRow]:
    async with factory() as session:
        return list((await session.execute(select(RewardMemoryRow))).scalars())


async def test_the_memory_holds_a_keyed_hash_of_the_id_and_never_the_id(
    session_factory: Factory,
) -> None:
    await make_community(session_factory)
    async with unit_of_work(session_factory) as uow:
        await uow.reward_memory.remember(OneTimeReward.SURVEY_THANKS, GROUP, FRIEND.id, "7")
        await uow.reward_memory.remember(OneTimeReward.SURVEY_THANKS, GROUP, FRIEND.id, "7")
    async with session_factory() as session:
        secrets = list((await session.execute(select(AppSecretRow))).scalars())
    assert len(secrets) == 1 and len(bytes.fromhex(secrets[0].value)) == 32
    [row] = await memory_rows(session_factory)
    expected = hmac.new(
        bytes.fromhex(secrets[0].value), str(FRIEND.id).encode(), hashlib.sha256
    ).hexdigest()
    assert (row.kind, row.community_id, row.subject, row.occasion) == (
        "survey",
        GROUP,
        expected,
        "7",
    )
    assert str(FRIEND.id) not in row.subject
    assert row.subject != hashlib.sha256(str(FRIEND.id).encode()).hexdigest()  # keyed
    async with unit_of_work(session_factory) as uow:
        asked = [(GROUP, FRIEND.id, "7"), (GROUP, FRIEND.id, "8"), (GROUP, INVITER.id, "7")]
        assert await uow.reward_memory.given(OneTimeReward.SURVEY_THANKS, asked) == {asked[0]}
        assert await uow.reward_memory.given(OneTimeReward.BIRTHDAY_GIFT, asked) == set()


async def test_erasure_remembers_rewards_given_before_the_memory_existed(
    session_factory: Factory,
) -> None:
    """Rows as the bot stored them before this memory: a qualified referral with its welcome
    bonus, a birthday greeting, a thanked and an unthanked survey answer, no memory rows."""
    await make_community(session_factory)
    async with session_factory() as session, session.begin():
        session.add(
            ReferralRow(
                community_id=GROUP,
                invitee_id=FRIEND.id,
                inviter_id=INVITER.id,
                status="qualified",
                source="invite_link",
                joined_at=START,
                qualified_at=START + timedelta(days=1),
            )
        )
        session.add(
            LedgerRow(
                community_id=GROUP,
                user_id=FRIEND.id,
                amount=20,
                kind="welcome_bonus",
                idempotency_key=f"welcome_bonus:{GROUP}:{FRIEND.id}",
                created_at=START,
            )
        )
        session.add(
            BirthdayGreetingRow(
                community_id=GROUP, user_id=FRIEND.id, year=2026, greeted_at=START, gift=20
            )
        )
        for survey_id, thanks in ((1, 5), (2, 0)):
            session.add(
                SurveyRow(
                    id=survey_id,
                    community_id=GROUP,
                    kind="nps",
                    status="open",
                    opened_at=START,
                    closes_at=START + timedelta(days=3),
                    thanks_points=thanks,
                )
            )
            await session.flush()
            session.add(
                SurveyAnswerRow(
                    survey_id=survey_id,
                    community_id=GROUP,
                    user_id=FRIEND.id,
                    score=9,
                    answered_at=START,
                )
            )
    assert await memory_rows(session_factory) == []

    async with unit_of_work(session_factory) as uow:
        await uow.privacy.erase_user(FRIEND.id)

    rows = await memory_rows(session_factory)
    kept = {(row.kind, row.community_id, row.occasion) for row in rows}
    assert kept == {
        ("referral", GROUP, ""),
        ("member", GROUP, ""),
        ("birthday", GROUP, "2026"),
        ("survey", GROUP, "1"),
    }
    async with unit_of_work(session_factory) as uow:
        memory = uow.reward_memory
        assert await memory.given(OneTimeReward.REFERRAL, [(GROUP, FRIEND.id, "")])
        assert await memory.given(OneTimeReward.BIRTHDAY_GIFT, [(GROUP, FRIEND.id, "2026")])
        assert await memory.given(OneTimeReward.SURVEY_THANKS, [(GROUP, FRIEND.id, "1")])
        assert not await memory.given(OneTimeReward.REFERRAL, [(GROUP, INVITER.id, "")])
        await uow.privacy.erase_user(INVITER.id)  # the inviter was paid nothing of these
    kinds = sorted(row.kind for row in await memory_rows(session_factory))
    assert kinds == ["birthday", "member", "member", "referral", "survey"]  # + their membership
