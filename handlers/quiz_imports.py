"""/quiz import carried out off the intake: the command only stores a request; this worker
claims it (a durable row, so a crash retries it), downloads the file with no transaction
open, reads it in a worker thread, imports it in a transaction of its own that also marks
it done (so nothing is imported twice), and queues the moderator's answer in that same
transaction. One import at a time; right after the command's commit (the reply path runs
it aside, not holding the next batch) and again with the timed work."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from typing import Any

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import TelegramMethod

from bot.domain.errors import DomainError, QuizFileNotReady, QuizFileTooLarge, QuizFileUnreadable
from bot.domain.models import QuizImport, QuizQuestion
from bot.domain.quiz_files import FILE_LIMIT, MAX_FILE_BYTES, UNREADABLE
from bot.ports import Clock, QuizFileSource, UnitOfWorkFactory
from bot.services import quizzes
from handlers.quizzes import queue_import_reply
from runtime.outbox import Outbox
from runtime.parsing import read_question_file

logger = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60  # seconds
IMPORTS_PER_RUN = 20


QUIZ_IMPORTS_WORKER = "quiz_import_worker"  # its key among the quizzes feature's wiring


class _TooLarge(Exception):
    pass


class _CappedBuffer(io.BytesIO):
    """Stops a download that grows past the limit, whatever the file said its size was."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self._limit:
            raise _TooLarge()
        return super().write(data)


class BotQuizFiles:
    """The QuizFileSource of bot.ports over the Bot API (getFile, then the download)."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def fetch(self, file_id: str, limit: int) -> bytes:
        try:
            file = await self._bot.get_file(file_id)
        except TelegramBadRequest as error:
            if "too big" in error.message.lower():
                raise QuizFileTooLarge(limit=FILE_LIMIT) from None
            logger.warning("Telegram refused the question file %s: %s", file_id, error.message)
            raise QuizFileNotReady() from None
        except TelegramForbiddenError:
            raise QuizFileNotReady() from None
        if file.file_size is not None and file.file_size > limit:
            raise QuizFileTooLarge(limit=FILE_LIMIT)
        if file.file_path is None:
            raise QuizFileNotReady()
        buffer = _CappedBuffer(limit)
        try:
            await self._bot.download_file(
                file.file_path, destination=buffer, timeout=DOWNLOAD_TIMEOUT
            )
        except _TooLarge:
            raise QuizFileTooLarge(limit=FILE_LIMIT) from None
        return buffer.getvalue()


class QuizImports:
    """Carries out the stored /quiz imports (see the module docstring)."""

    def __init__(self, open_uow: UnitOfWorkFactory, clock: Clock, files: QuizFileSource) -> None:
        self._open_uow = open_uow
        self._clock = clock
        self._files = files
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        """Every import due now, one after another."""
        async with self._lock:
            for _ in range(IMPORTS_PER_RUN):
                async with self._open_uow() as uow:
                    claim = await quizzes.claim_import(uow, self._clock.now())
                if claim is None:
                    return
                await self._carry_out(claim)

    async def after_commit(self) -> Sequence[TelegramMethod[Any]]:
        """The reply path's hook (Outbox.later): the imports run, their answers queued."""
        try:
            await self.run()
        except Exception:
            logger.exception("Quiz imports failed; the timed work tries them again")
        return []

    async def _carry_out(self, claim: QuizImport) -> None:
        read: Sequence[QuizQuestion] | DomainError
        if quizzes.out_of_attempts(claim):
            read = QuizFileNotReady()
        else:
            try:
                content = await self._files.fetch(claim.file_id, MAX_FILE_BYTES)
            except DomainError as refusal:
                read = refusal
            except Exception as error:
                logger.warning("Question file of import %d not downloaded: %r", claim.id, error)
                await self._settle(claim, None)
                return
            else:
                read = await self._read(claim, content)
        await self._settle(claim, read)

    @staticmethod
    async def _read(claim: QuizImport, content: bytes) -> Sequence[QuizQuestion] | DomainError:
        try:
            return await read_question_file(content, claim.file_name)
        except DomainError as refusal:
            return refusal
        except Exception:
            logger.exception("Question file of import %d could not be read", claim.id)
            return QuizFileUnreadable(reason=UNREADABLE)

    async def _settle(
        self, claim: QuizImport, read: Sequence[QuizQuestion] | DomainError | None
    ) -> None:
        """The import (or its refusal) recorded and its answer queued; with nothing read,
        tried again later."""
        now = self._clock.now()
        outbox = Outbox()
        async with self._open_uow() as uow:
            if read is None:
                outcome = await quizzes.retry_import(uow, claim, now)
            else:
                outcome = await quizzes.finish_import(uow, claim, read, now)
            if outcome is not None:
                queue_import_reply(outbox, outcome)
                await outbox.queue_announcements(uow.outgoing, now)
