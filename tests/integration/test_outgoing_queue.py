"""The outgoing queue's turns and its runs' outcomes (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import RunOutcome
from bot.services import campaigns
from bot.services.membership import CommunityDefaults, ensure_community
from storage.models import CampaignRunRow
from storage.uow import unit_of_work

BUSY, QUIET, PERSON = -100111, -100222, 333
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)

Factory = async_sessionmaker[AsyncSession]


async def test_chats_take_turns_and_busy_chats_are_skipped(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as uow:
        for index in range(5):
            at = START + timedelta(seconds=index)
            await uow.outgoing.enqueue(BUSY, "x", {"text": f"b{index}"}, f"b{index}", at, at)
        later = START + timedelta(minutes=1)
        await uow.outgoing.enqueue(QUIET, "x", {"text": "q"}, "q", later, later)
        await uow.outgoing.enqueue(PERSON, "x", {"text": "p"}, "p", later, later)
        now = START + timedelta(minutes=2)
        turns = await uow.outgoing.due(now, 10, per_chat=2)
        assert [m.dedup_key for m in turns] == ["b0", "q", "p", "b1"]
        skipping = await uow.outgoing.due(now, 10, skip_chats=[BUSY], per_chat=2)
        assert [m.dedup_key for m in skipping] == ["q", "p"]
        assert await uow.outgoing.chats_with_due(now, [BUSY, 999]) == [BUSY]


async def test_a_run_outcome_settles_forward_only(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as uow:
        community, _ = await ensure_community(
            uow, BUSY, "Seeds", START, CommunityDefaults("Asia/Shanghai", "en")
        )
        draft = campaigns.parse_draft("daily 09:00 Morning", None)
        campaign = await campaigns.create(uow, community, draft, 1, START)
        run_id = await uow.campaigns.record_run(campaign.id, START, RunOutcome.QUEUED, None, START)
        assert run_id is not None
        assert (
            await uow.campaigns.record_run(campaign.id, START, RunOutcome.QUEUED, None, START)
            is None
        )
        await uow.outgoing.enqueue(
            BUSY, "campaign", {"text": "m"}, "m", START, START, campaign_run_id=run_id
        )
        (message,) = await uow.outgoing.due(START, 10)
        assert message.campaign_run_id == run_id
        await uow.outgoing.claim(message.id)
        assert await uow.outgoing.abandon_interrupted() == 1
        await uow.campaigns.settle_run(run_id, RunOutcome.FAILED, "late", START)
    async with session_factory() as session:
        run = await session.scalar(select(CampaignRunRow))
        assert run is not None
        assert (run.outcome, run.detail) == ("uncertain", "the sender stopped while sending")
    async with unit_of_work(session_factory) as uow:
        await uow.campaigns.settle_run(run_id, RunOutcome.POSTED, None, START)
    async with session_factory() as session:
        run = await session.scalar(select(CampaignRunRow))
        assert run is not None and run.outcome == "posted"
