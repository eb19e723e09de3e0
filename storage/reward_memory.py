"""The reward memory (bot.ports.RewardMemory): one-time rewards already given, per community,
person and occasion, the person stored only as HMAC-SHA256 of their user id under a secret the
bot generated at random (app_secrets). Without the database the hashes lead to no one; with
it, a known user id can be checked, which is the point: a forgotten member who comes back is
recognised as a rejoiner. The secret is generated on first use (INSERT ... ON CONFLICT DO
NOTHING, then read back, so concurrent first uses agree). It never commits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from weakref import WeakKeyDictionary

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import LedgerKind, ReferralStatus
from bot.domain.rewards import OneTimeReward
from bot.ports import RewardKey
from storage.models import (
    AppSecretRow,
    BirthdayGreetingRow,
    LedgerRow,
    MemberRow,
    ReferralRow,
    RewardMemoryRow,
    SurveyAnswerRow,
    SurveyRow,
)
from storage.sql import _dialect_insert, insert_ignoring_conflict

REWARD_SECRET = "reward_memory"
_SECRET_CREATED = "seedbot.reward_secret_created"

# A committed secret never changes: read once per engine.
_secrets: WeakKeyDictionary[Engine, bytes] = WeakKeyDictionary()


def subject_of(secret: bytes, user_id: int) -> str:
    return hmac.new(secret, str(user_id).encode(), hashlib.sha256).hexdigest()


class SqlRewardMemory:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._secret: bytes | None = None

    async def remember(
        self, reward: OneTimeReward, community_id: int, user_id: int, occasion: str = ""
    ) -> None:
        await self.remember_all(reward, [(community_id, user_id, occasion)])

    async def remember_all(self, reward: OneTimeReward, keys: Collection[RewardKey]) -> None:
        if not keys:
            return
        secret = await self._key()
        rows = [
            {
                "kind": str(reward),
                "community_id": community_id,
                "subject": subject_of(secret, user_id),
                "occasion": occasion,
            }
            for community_id, user_id, occasion in sorted(set(keys))
        ]
        statement = _dialect_insert(self._session, RewardMemoryRow).values(rows)
        await self._session.execute(statement.on_conflict_do_nothing())

    async def given(self, reward: OneTimeReward, keys: Collection[RewardKey]) -> set[RewardKey]:
        if not keys:
            return set()
        secret = await self._key()
        by_stored = {
            (community_id, subject_of(secret, user_id), occasion): (community_id, user_id, occasion)
            for community_id, user_id, occasion in keys
        }
        columns = (RewardMemoryRow.community_id, RewardMemoryRow.subject, RewardMemoryRow.occasion)
        rows = await self._session.execute(
            select(*columns).where(
                RewardMemoryRow.kind == str(reward), tuple_(*columns).in_(list(by_stored))
            )
        )
        return {by_stored[(row[0], row[1], row[2])] for row in rows}

    async def _key(self) -> bytes:
        if self._secret is not None:
            return self._secret
        engine = _engine_of(self._session)
        cached = _secrets.get(engine) if engine is not None else None
        if cached is not None:
            self._secret = cached
            return cached
        stored = await self._read_secret()
        if stored is None:  # the first use ever: generated once, at random
            values = {"name": REWARD_SECRET, "value": secrets.token_hex(32)}
            await insert_ignoring_conflict(self._session, AppSecretRow, values)
            self._session.sync_session.info[_SECRET_CREATED] = True
            created = await self._read_secret()
            assert created is not None
            return created  # not cached: a rollback may still undo it
        if engine is not None and not self._session.sync_session.info.get(_SECRET_CREATED):
            _secrets[engine] = stored
            self._secret = stored
        return stored

    async def _read_secret(self) -> bytes | None:
        value = await self._session.scalar(
            select(AppSecretRow.value).where(AppSecretRow.name == REWARD_SECRET)
        )
        return bytes.fromhex(value) if value is not None else None


def _engine_of(session: AsyncSession) -> Engine | None:
    bind = session.sync_session.bind
    return bind if isinstance(bind, Engine) else getattr(bind, "engine", None)


async def remember_before_erasure(session: AsyncSession, user_id: int) -> None:
    """/forgetme: the one-time rewards the user's rows (about to be erased) show as given, kept
    in the reward memory: also those given before the memory existed."""
    memory = SqlRewardMemory(session)
    referrals = await session.execute(
        select(ReferralRow.community_id).where(
            ReferralRow.invitee_id == user_id,
            ReferralRow.status == str(ReferralStatus.QUALIFIED),
        )
    )
    bonuses = await session.execute(
        select(LedgerRow.community_id).where(
            LedgerRow.user_id == user_id, LedgerRow.kind == str(LedgerKind.WELCOME_BONUS)
        )
    )
    await memory.remember_all(
        OneTimeReward.REFERRAL,
        {(community_id, user_id, "") for (community_id,) in [*referrals, *bonuses]},
    )
    memberships = await session.execute(
        select(MemberRow.community_id).where(MemberRow.user_id == user_id)
    )
    await memory.remember_all(
        OneTimeReward.MEMBERSHIP,
        {(community_id, user_id, "") for (community_id,) in memberships},
    )
    greetings = await session.execute(
        select(BirthdayGreetingRow.community_id, BirthdayGreetingRow.year).where(
            BirthdayGreetingRow.user_id == user_id
        )
    )
    await memory.remember_all(
        OneTimeReward.BIRTHDAY_GIFT,
        {(community_id, user_id, str(year)) for community_id, year in greetings},
    )
    thanked = await session.execute(
        select(SurveyAnswerRow.community_id, SurveyAnswerRow.survey_id)
        .join(SurveyRow, SurveyRow.id == SurveyAnswerRow.survey_id)
        .where(SurveyAnswerRow.user_id == user_id, SurveyRow.thanks_points > 0)
    )
    await memory.remember_all(
        OneTimeReward.SURVEY_THANKS,
        {(community_id, user_id, str(survey_id)) for community_id, survey_id in thanked},
    )
