"""/quiz import as claimed work, against real repositories (SQLite, and PostgreSQL when
configured): a claim whose worker stopped is taken over after its lease and the file is
imported once; a download failing for now is tried again, then given up with a reply."""

from __future__ import annotations

import json
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain import quiz_files
from bot.domain.errors import QuizFileTooLarge
from bot.domain.models import Community, QuizImport
from bot.services import quizzes
from bot.services.membership import CommunityDefaults, ensure_community
from handlers.quiz_imports import QuizImports
from storage.models import OutgoingMessageRow, QuizImportRow, QuizQuestionRow
from storage.uow import unit_of_work
from tests.fakes.clock import FakeClock

GROUP = -100123
MODERATOR = 7
FILE = json.dumps(
    [{"question": f"Q{n}?", "options": ["a", "b"], "correct": 1} for n in range(3)]
).encode()

Factory = async_sessionmaker[AsyncSession]


class Files:
    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.fetched: list[str] = []

    async def fetch(self, file_id: str, limit: int) -> bytes:
        self.fetched.append(file_id)
        if self.failures:
            raise self.failures.pop(0)
        return FILE


async def request(factory: Factory, clock: FakeClock, message_id: int = 50) -> Community:
    async with unit_of_work(factory) as uow:
        community, _ = await ensure_community(
            uow, GROUP, "Seeds", clock.now(), CommunityDefaults("Asia/Shanghai", "en")
        )
        wanted = QuizImport(0, GROUP, message_id, None, "BQAC1", "bank.json", len(FILE), 0, 7)
        await quizzes.request_import(uow, community, wanted, clock.now())
    return community


async def counts(factory: Factory) -> tuple[int, int, list[str]]:
    async with factory() as session:
        questions = await session.scalar(select(func.count()).select_from(QuizQuestionRow))
        sent = list(await session.scalars(select(OutgoingMessageRow.payload)))
    return int(questions or 0), len(sent), [str(payload["text"]) for payload in sent]


async def test_a_claim_whose_worker_stopped_is_taken_over_and_imported_once(
    session_factory: Factory,
) -> None:
    clock = FakeClock()
    await request(session_factory, clock)
    await request(session_factory, clock)  # the same command again: stored once
    async with unit_of_work(session_factory) as uow:
        stopped = await quizzes.claim_import(uow, clock.now())  # then the bot stopped
    assert stopped is not None and stopped.attempt == 1
    files = Files()
    worker = QuizImports(partial(unit_of_work, session_factory), clock, files)
    await worker.run()
    assert files.fetched == []  # its claim still holds
    clock.advance(seconds=quizzes.IMPORT_LEASE.total_seconds() + 1)
    await worker.run()
    assert files.fetched == ["BQAC1"]
    async with unit_of_work(session_factory) as uow:
        assert await quizzes.finish_import(uow, stopped, [], clock.now()) is None
    await worker.run()
    questions, sent, texts = await counts(session_factory)
    assert (questions, sent) == (3, 1)
    assert texts == ["📚 Imported 3 new questions (0 were in the bank already)."]
    async with session_factory() as session:
        row = (await session.scalars(select(QuizImportRow))).one()
    assert (row.status, row.attempts, row.created_by) == ("done", 2, MODERATOR)


async def test_a_download_failing_for_now_is_tried_again_then_given_up(
    session_factory: Factory,
) -> None:
    clock = FakeClock()
    await request(session_factory, clock)
    files = Files(ConnectionError("down"), ConnectionError("down"))
    worker = QuizImports(partial(unit_of_work, session_factory), clock, files)
    await worker.run()
    await worker.run()
    assert len(files.fetched) == 1  # not before its retry is due
    clock.advance(seconds=quizzes.IMPORT_RETRY.total_seconds())
    await worker.run()
    clock.advance(seconds=quizzes.IMPORT_RETRY.total_seconds())
    await worker.run()
    assert len(files.fetched) == 3
    assert await counts(session_factory) == (
        3,
        1,
        ["📚 Imported 3 new questions (0 were in the bank already)."],
    )

    await request(session_factory, clock, message_id=51)
    files.failures = [ConnectionError("down")] * quizzes.IMPORT_ATTEMPTS
    for _ in range(quizzes.IMPORT_ATTEMPTS):
        await worker.run()
        clock.advance(seconds=quizzes.IMPORT_RETRY.total_seconds())
    await worker.run()
    _, sent, texts = await counts(session_factory)
    assert sent == 2
    assert texts[-1] == "I could not download that file. Try again in a moment."


async def test_a_file_found_too_large_while_downloading_is_refused(
    session_factory: Factory,
) -> None:
    clock = FakeClock()
    await request(session_factory, clock)
    files = Files(QuizFileTooLarge(limit=quiz_files.FILE_LIMIT))
    await QuizImports(partial(unit_of_work, session_factory), clock, files).run()
    assert await counts(session_factory) == (
        0,
        1,
        ["Nothing was imported: the file is larger than 1 MB."],
    )
