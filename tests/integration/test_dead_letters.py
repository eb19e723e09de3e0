"""The dead-letter repository, and which database failures count as transient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from runtime.retry import is_transient
from storage.uow import unit_of_work

BOT_ID = 123456789
BIG_UPDATE_ID = 2**40
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PAYLOAD = {"update_id": BIG_UPDATE_ID, "message": {"message_id": 5, "text": "签到 /checkin"}}


async def test_dead_letters_are_kept_listed_and_marked_replayed(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as uow:
        await uow.dead_letters.add(BOT_ID, BIG_UPDATE_ID, PAYLOAD, "RuntimeError: boom", NOW)
        await uow.dead_letters.add(BOT_ID + 1, 7, {"update_id": 7}, "KeyError: 'x'", NOW)
    async with unit_of_work(session_factory) as uow:
        (letter,) = await uow.dead_letters.pending(BOT_ID)
        assert (letter.update_id, letter.payload, letter.kind) == (
            BIG_UPDATE_ID,
            PAYLOAD,
            "message",
        )
        assert letter.failed_at == NOW
        assert await uow.dead_letters.mark_replayed(BOT_ID, BIG_UPDATE_ID, NOW)
        assert not await uow.dead_letters.mark_replayed(BOT_ID, 999, NOW)
    async with unit_of_work(session_factory) as uow:
        assert await uow.dead_letters.pending(BOT_ID) == []
        # failing again (a redelivery before the fix) brings it back with the new error
        later = NOW + timedelta(hours=1)
        await uow.dead_letters.add(BOT_ID, BIG_UPDATE_ID, PAYLOAD, "RuntimeError: again", later)
    async with unit_of_work(session_factory) as uow:
        (letter,) = await uow.dead_letters.pending(BOT_ID)
        assert (letter.error, letter.failed_at, letter.replayed_at) == (
            "RuntimeError: again",
            later,
            None,
        )


async def test_a_lost_postgresql_connection_is_transient(
    session_factory: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server-side disconnect is a PostgreSQL matter")
    async with session_factory() as victim:
        pid = await victim.scalar(text("SELECT pg_backend_pid()"))
        async with session_factory() as killer:
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await killer.commit()
        with pytest.raises(DBAPIError) as failure:
            await victim.execute(text("SELECT 1"))
    assert is_transient(failure.value)


def test_bugs_are_not_transient() -> None:
    assert not is_transient(RuntimeError("boom"))
    assert not is_transient(KeyError("x"))
    assert is_transient(ConnectionRefusedError())
