"""Campaign runs and the outgoing queue against real repositories (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import RunOutcome
from bot.parsing.campaigns import parse_draft
from bot.services import campaigns
from bot.services.membership import CommunityDefaults, ensure_community
from storage.models import OutgoingMessageRow
from storage.uow import unit_of_work

GROUP = -100777
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai

Factory = async_sessionmaker[AsyncSession]


async def make_campaign(factory: Factory, spec: str) -> int:
    async with unit_of_work(factory) as uow:
        community, _ = await ensure_community(
            uow, GROUP, "Seeds", START, CommunityDefaults("Asia/Shanghai", "en")
        )
        draft = parse_draft(spec, None)
        return (await campaigns.create(uow, community, draft, 1, START)).id


async def test_a_run_claimed_by_another_worker_is_not_claimed_again(
    session_factory: Factory,
) -> None:
    campaign_id = await make_campaign(session_factory, "daily 09:00 Morning")
    nine = START + timedelta(hours=1)
    # Another worker read the same campaign and claimed 09:00 first.
    async with unit_of_work(session_factory) as uow:
        assert await uow.campaigns.record_run(campaign_id, nine, RunOutcome.POSTED, None, nine)
    async with unit_of_work(session_factory) as uow:
        assert await campaigns.claim_due_runs(uow, nine + timedelta(minutes=1)) == []
        campaign = await uow.campaigns.get(GROUP, campaign_id)
    assert campaign is not None and campaign.next_run_at == nine + timedelta(days=1)


async def test_due_runs_are_claimed_once(session_factory: Factory) -> None:
    await make_campaign(session_factory, "daily 09:00 Morning")
    at = START + timedelta(hours=1, minutes=5)
    async with unit_of_work(session_factory) as uow:
        first = await campaigns.claim_due_runs(uow, at)
    async with unit_of_work(session_factory) as uow:
        second = await campaigns.claim_due_runs(uow, at)
    assert len(first) == 1 and second == []


async def test_the_queue_takes_a_key_once_and_a_claim_once(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as uow:
        assert await uow.outgoing.enqueue(GROUP, "x", {"text": "a"}, "key-1", START, START)
        assert not await uow.outgoing.enqueue(GROUP, "x", {"text": "b"}, "key-1", START, START)
        (message,) = await uow.outgoing.due(START, 10)
        assert await uow.outgoing.claim(message.id)
        assert not await uow.outgoing.claim(message.id)
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(OutgoingMessageRow)) == 1
