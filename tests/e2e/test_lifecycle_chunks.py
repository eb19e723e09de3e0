"""The daily judgement of a large community runs in chunks of members, each its own short
transaction with its win-backs: judged in chunks the stages are the same, and a job that
stops half-way is taken over later, with every win-back (and its gift) sent exactly once.
Runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.domain.models import Community, Stage
from bot.ports import UnitOfWork
from bot.services import lifecycle
from handlers import lifecycle_work
from storage.models import LedgerRow, LifecycleClaimRow, WinbackRow
from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    start_bot,
    stop_bot,
)
from tests.e2e.helpers import ledger_matches_balances, stored
from tests.e2e.test_lifecycle import (
    DAILY,
    DAILY_SILENT_4,
    EVERY_2_DAYS,
    MEMBERS,
    RHYTHMS,
    set_history,
    settle_in,
    stages,
)
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    await stop_bot(app, task)


@pytest.fixture
def one_member_a_chunk(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int | None]]:
    """Every chunk judges one member; the chunks judged are recorded (after, last)."""
    monkeypatch.setattr(lifecycle, "JUDGE_CHUNK", 1)
    monkeypatch.setattr(lifecycle_work, "MAX_CHUNK", 1)
    monkeypatch.setattr(lifecycle_work, "MIN_CHUNK", 1)
    chunks: list[tuple[int, int | None]] = []
    judge = lifecycle.judge_chunk

    async def recorded(
        uow: UnitOfWork, community: Community, today: date, now: datetime, after: int, size: int
    ) -> Any:
        winbacks, last = await judge(uow, community, today, now, after, size)
        chunks.append((after, last))
        return winbacks, last

    monkeypatch.setattr(lifecycle, "judge_chunk", recorded)
    return chunks


async def test_judged_a_member_at_a_time_the_stages_are_the_same(
    harness: Harness, one_member_a_chunk: list[tuple[int, int | None]]
) -> None:
    await settle_in(harness, MEMBERS)
    await set_history(harness, RHYTHMS)
    await harness.run_due_work()
    found = await stages(harness)
    assert found[EVERY_2_DAYS] == Stage.AT_RISK
    assert found[DAILY] == Stage.LOYAL
    assert found[DAILY_SILENT_4] == Stage.AT_RISK
    judged = [last for _after, last in one_member_a_chunk if last is not None]
    assert len(judged) == len(found) >= len(MEMBERS)  # one transaction per member
    assert judged == sorted(judged)


async def test_a_judgement_stopped_half_way_is_taken_over_and_sends_each_win_back_once(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    one_member_a_chunk: list[tuple[int, int | None]],
) -> None:
    await settle_in(harness, [EVERY_2_DAYS, DAILY_SILENT_4])
    for user_id in (EVERY_2_DAYS, DAILY_SILENT_4):
        await harness.say(user_id, "/start", chat_id=user_id)
    await harness.say(ADMIN_ID, "/winback on")
    await harness.say(ADMIN_ID, "/winback gift 5")
    await set_history(
        harness,
        {EVERY_2_DAYS: RHYTHMS[EVERY_2_DAYS], DAILY_SILENT_4: RHYTHMS[DAILY_SILENT_4]},
    )
    judge = lifecycle.judge_chunk

    async def crashing(
        uow: UnitOfWork, community: Community, today: date, now: datetime, after: int, size: int
    ) -> Any:
        if after >= EVERY_2_DAYS:
            raise RuntimeError("the process stopped")
        return await judge(uow, community, today, now, after, size)

    monkeypatch.setattr(lifecycle, "judge_chunk", crashing)
    await harness.run_due_work()

    def winbacks_to(user_id: int) -> int:
        return len([m for m in harness.replies(chat_id=user_id) if "We miss you" in (m.text or "")])

    assert (winbacks_to(EVERY_2_DAYS), winbacks_to(DAILY_SILENT_4)) == (1, 0)
    monkeypatch.setattr(lifecycle, "judge_chunk", judge)
    await harness.run_due_work()  # the claim is held: nothing is judged twice meanwhile
    assert (winbacks_to(EVERY_2_DAYS), winbacks_to(DAILY_SILENT_4)) == (1, 0)

    harness.clock.advance(seconds=lifecycle.CLAIM_LEASE.total_seconds() + 60)
    await harness.run_due_work()  # taken over: the whole day judged again, from the start
    assert (winbacks_to(EVERY_2_DAYS), winbacks_to(DAILY_SILENT_4)) == (1, 1)
    harness.clock.advance(seconds=60)
    await harness.run_due_work()  # done for the day
    assert (winbacks_to(EVERY_2_DAYS), winbacks_to(DAILY_SILENT_4)) == (1, 1)
    async with stored(harness) as session:
        gifts = (await session.execute(select(LedgerRow).where(LedgerRow.kind == "winback"))).all()
        assert len(gifts) == 2
        assert len((await session.execute(select(WinbackRow))).all()) == 2
        kinds = sorted(claim.kind for claim in (await session.scalars(select(LifecycleClaimRow))))
    assert kinds.count(lifecycle.DAILY) == 1 and kinds.count(lifecycle.DAILY_DONE) == 1
    assert (await stages(harness))[DAILY_SILENT_4] == Stage.AT_RISK
    await ledger_matches_balances(harness)
