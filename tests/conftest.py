from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import TelegramMethod
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ports import transaction_open
from storage.engine import build_engine, build_session_factory
from storage.migrate import downgrade_to_base, upgrade_to_head

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")


class BotApiCallInTransaction(AssertionError):
    """A Bot API request was issued while this task held a database transaction open."""


@pytest.fixture(autouse=True)
def no_bot_api_call_in_transaction(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fails the test when any Bot API request is made inside a transaction: the request
    raises, and since a handler may swallow that, the test fails at teardown as well."""
    offending: list[str] = []
    send = AiohttpSession.make_request

    async def guarded(
        self: AiohttpSession,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> Any:
        if transaction_open.get():
            offending.append(method.__api_method__)
            raise BotApiCallInTransaction(
                f"{method.__api_method__} requested while a database transaction is open"
            )
        return await send(self, bot, method, timeout)

    monkeypatch.setattr(AiohttpSession, "make_request", guarded)
    yield offending
    if offending:
        pytest.fail(f"Bot API requests made inside a database transaction: {offending}")


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh SQLite database at the newest schema (a copy of one migrated per session)."""
    path = tmp_path / "seedbot.db"
    shutil.copy(migrated_sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    """Each storage test runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    if not POSTGRES_URL:
        pytest.skip(
            "PostgreSQL tests need TEST_DATABASE_URL (.ci/run sets it when a server answers)"
        )
    downgrade_to_base(POSTGRES_URL)
    upgrade_to_head(POSTGRES_URL)
    yield POSTGRES_URL
    downgrade_to_base(POSTGRES_URL)


@pytest.fixture
async def session_factory(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = build_engine(database_url)
    yield build_session_factory(engine)
    await engine.dispose()
