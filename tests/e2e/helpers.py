from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import LedgerRow, MemberRow
from tests.e2e.conftest import GROUP_ID, Harness


def add_members(harness: Harness, user_ids: Iterable[int]) -> None:
    """People already in the group (no join update): named "User <id>", @user<id>."""
    for user_id in user_ids:
        harness.api.add_user(user_id, f"User {user_id}", username=f"user{user_id}")
        harness.api.add_member(GROUP_ID, user_id)


@asynccontextmanager
async def stored(harness: Harness) -> AsyncIterator[AsyncSession]:
    async with harness.app.session_factory() as session:
        yield session


async def ledger_matches_balances(harness: Harness) -> None:
    """The invariant: every balance equals the sum of its ledger rows and is never negative."""
    async with stored(harness) as session:
        members = (await session.execute(select(MemberRow))).scalars().all()
        assert members
        for member in members:
            total = await session.scalar(
                select(func.coalesce(func.sum(LedgerRow.amount), 0)).where(
                    LedgerRow.community_id == member.community_id,
                    LedgerRow.user_id == member.user_id,
                )
            )
            assert member.balance == total, member.user_id
            assert member.balance >= 0


async def each_balance_is_its_ledger(engine: AsyncEngine, members: list[int], points: int) -> None:
    """For a bot run as its own process: each member holds `points`, as their ledger says."""
    async with engine.connect() as connection:
        for user_id in members:
            balance = await connection.scalar(
                select(MemberRow.balance).where(MemberRow.user_id == user_id)
            )
            ledger = await connection.scalar(
                select(func.sum(LedgerRow.amount)).where(LedgerRow.user_id == user_id)
            )
            assert balance == ledger == points, user_id
