"""Hot-path statements (storage/prepared.py) store and return the same values whether they run
on the in-loop driver connection or through SQLAlchemy (aiosqlite here, PostgreSQL in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.models import CheckinMark, Community, LedgerEntry, LedgerKind, Tier, UserInfo
from storage.engine import SQLITE_DRIVER_VARIABLE, build_engine, build_session_factory
from storage.models import MemberRow, UserRow
from storage.prepared import Prepared
from storage.sqlite_inloop import SQLiteDialect_inloop
from storage.uow import unit_of_work

GROUP = -1001
NOW = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
TODAY = date(2026, 3, 3)


@pytest.fixture(params=["inloop", "aiosqlite", "postgresql"])
async def engine(
    request: pytest.FixtureRequest,
    sqlite_url: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[AsyncEngine]:
    if request.param == "postgresql":
        if not database_url.startswith("postgresql"):
            pytest.skip("PostgreSQL is covered by the database_url fixture's own parameter")
        url = database_url
    elif database_url.startswith("postgresql"):
        pytest.skip("SQLite routes run once, under the sqlite parameter")
    else:
        url = sqlite_url.replace("+aiosqlite", f"+{request.param}")
        monkeypatch.setenv(SQLITE_DRIVER_VARIABLE, request.param)
    built = build_engine(url)
    assert isinstance(built.dialect, SQLiteDialect_inloop) == (request.param == "inloop")
    yield built
    await built.dispose()


async def test_a_check_in_writes_and_returns_the_same_values_on_every_route(
    engine: AsyncEngine,
) -> None:
    factory = build_session_factory(engine)
    user = UserInfo(1001, "Ann 安", "Ann_Z", "zh-hans", False)
    async with unit_of_work(factory) as uow:
        await uow.communities.add(
            Community(id=GROUP, title="种子", timezone="Asia/Shanghai", language="zh"), NOW
        )
        await uow.users.upsert(user)
        member = await uow.members.add(GROUP, user.id, NOW, joined=True, display_name="Ann 安")
        assert (member.balance, member.tier, member.joined_at) == (0, Tier.NEWCOMER, NOW)
        assert await uow.checkins.add(GROUP, user.id, TODAY, 1, 10, NOW)
        assert not await uow.checkins.add(GROUP, user.id, TODAY, 1, 10, NOW)
        entry = LedgerEntry(
            community_id=GROUP,
            user_id=user.id,
            amount=10,
            kind=LedgerKind.CHECKIN,
            idempotency_key="checkin:x",
            created_at=NOW,
            reason="streak 1",
        )
        assert await uow.ledger.add(entry) is not None
        assert await uow.ledger.add(entry) is None
        totals = await uow.members.apply_points(
            GROUP, user.id, 10, 10, CheckinMark(streak=1, day=TODAY, at=NOW)
        )
        assert totals is not None and (totals.balance, totals.lifetime_earned) == (10, 10)
        assert await uow.members.apply_points(GROUP, user.id, -11, 0) is None  # never below 0
        found = await uow.members.get_for_checkin(GROUP, user.id)
        assert found is not None
        stored, pending_referral = found
        assert not pending_referral
        assert (stored.streak, stored.last_checkin_day, stored.last_active_at) == (1, TODAY, NOW)
        assert stored.last_active_at is not None and stored.last_active_at.tzinfo is not None
    async with factory() as session:
        row = (await session.execute(select(UserRow).where(UserRow.id == user.id))).scalar_one()
        assert (row.first_name, row.username, row.can_message) == ("Ann 安", "ann_z", False)
        member_row = (
            await session.execute(select(MemberRow).where(MemberRow.user_id == user.id))
        ).scalar_one()
        assert (member_row.balance, member_row.last_checkin_day) == (10, TODAY)
        assert member_row.last_active_at == NOW


async def test_a_refused_statement_raises_sqlalchemys_error_and_leaves_the_rest(
    engine: AsyncEngine,
) -> None:
    factory = build_session_factory(engine)
    async with unit_of_work(factory) as uow:
        await uow.communities.add(
            Community(id=GROUP, title="Seeds", timezone="UTC", language="en"), NOW
        )
        await uow.users.upsert(UserInfo(1001, "Ann", None, None, False))
        with pytest.raises(IntegrityError):
            async with uow.savepoint():
                await uow.checkins.add(GROUP, 4242, TODAY, 1, 10, NOW)  # no such user
        assert await uow.users.get(1001) is not None


def test_a_column_default_the_driver_route_cannot_compute_is_refused_when_compiled() -> None:
    from sqlalchemy import Column, Integer, MetaData, Table, insert

    table = Table(
        "t", MetaData(), Column("id", Integer, primary_key=True), Column("n", Integer, default=len)
    )
    prepared = Prepared(insert(table).values(id=1))
    with pytest.raises(TypeError, match="cannot compute"):
        prepared._compile(SQLiteDialect_inloop())
