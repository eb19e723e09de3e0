"""The outgoing queue's turns and its runs' outcomes (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import RunOutcome
from bot.parsing.campaigns import parse_draft
from bot.services import campaigns
from bot.services.membership import CommunityDefaults, ensure_community
from runtime.outbox import Outbox
from storage.models import CampaignRunRow
from storage.uow import SqlUnitOfWork, unit_of_work

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
        draft = parse_draft("daily 09:00 Morning", None)
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


async def reminder_run(uow: SqlUnitOfWork, community_id: int, at: datetime) -> int:
    draft = parse_draft("daily 20:00 Keep your streak", None)
    community, _ = await ensure_community(
        uow, community_id, "Seeds", START, CommunityDefaults("Asia/Shanghai", "en")
    )
    campaign = await campaigns.create(uow, community, draft, 1, START)
    run_id = await uow.campaigns.record_run(campaign.id, at, RunOutcome.QUEUED, None, START)
    assert run_id is not None
    return run_id


async def run_state(factory: Factory, run_id: int) -> tuple[str, str | None]:
    async with factory() as session:
        run = await session.get(CampaignRunRow, run_id)
        assert run is not None
        return run.outcome, run.detail


async def remind(uow: SqlUnitOfWork, run_id: int, members: list[int]) -> None:
    outbox = Outbox()
    for member in members:
        outbox.announce(member, "Keep your streak", f"r:{run_id}:{member}", campaign_run_id=run_id)
    await outbox.queue_announcements(uow.outgoing, START)


async def test_a_reminder_run_settles_by_all_its_messages(session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as uow:
        for member in (401, 402, 403):
            await uow.outgoing.block(member, "Forbidden: bot was blocked by the user", START)
        everyone_blocked = await reminder_run(uow, BUSY, START)
        await remind(uow, everyone_blocked, [401, 402, 403])
        some_blocked = await reminder_run(uow, QUIET, START)
        await remind(uow, some_blocked, [401, 404, 405])
        one_sent = await reminder_run(uow, -100333, START)
        await remind(uow, one_sent, [406, 407])
    assert await run_state(session_factory, everyone_blocked) == ("failed", "chat is blocked")
    assert await run_state(session_factory, some_blocked) == ("queued", None)

    async def end(member: int, status: str, error: str | None, run_id: int) -> None:
        async with unit_of_work(session_factory) as uow:
            (message,) = [m for m in await uow.outgoing.due(START, 10) if m.chat_id == member]
            await uow.outgoing.finish(message.id, status, START, error)
            await uow.outgoing.settle_run_by_messages(run_id, error, START)

    await end(404, "failed", "Bad Request: chat not found", some_blocked)
    assert await run_state(session_factory, some_blocked) == ("queued", None)  # 405 to go
    await end(405, "uncertain", "Bad Gateway", some_blocked)
    assert await run_state(session_factory, some_blocked) == ("uncertain", "Bad Gateway")
    await end(406, "failed", "Bad Request: chat not found", one_sent)
    await end(407, "sent", None, one_sent)
    assert await run_state(session_factory, one_sent) == ("posted", None)
