"""Webhook mode (`seedbot run --webhook`): the real worker's aiohttp server on 127.0.0.1,
requests posted to it as Telegram posts them, replies going to the fake Bot API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiogram.types import Update
from sqlalchemy import func, select, text

from runtime.intake import Unreadable
from seedbot.app import App, WebhookIsSet, build_app
from seedbot.cli import _webhook
from storage.models import CheckinRow, DeadLetterRow, ProcessedUpdateRow
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, make_settings
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

SECRET = "s3cret-Token_for-tests"
PATH = "/telegram/webhook"
MEMBERS = list(range(2001, 2021))


@dataclass
class Worker:
    api: FakeBotAPI
    app: App
    port: int
    http: aiohttp.ClientSession
    batches: list[int]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def post(
        self, update_id: int, *, secret: str | None = SECRET, body: bytes | None = None
    ) -> int:
        """Posts the fake's update as Telegram would; the answer's status."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        if body is None:
            body = json.dumps(self.api._history[update_id]).encode()
        async with self.http.post(self.url + PATH, data=body, headers=headers) as response:
            await response.read()
            return response.status

    async def count(self, query: Any) -> int:
        async with self.app.session_factory() as session:
            return int(await session.scalar(query) or 0)


@pytest.fixture
async def worker(api: FakeBotAPI, sqlite_url: str, clock: FakeClock) -> AsyncIterator[Worker]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    for user_id in MEMBERS:
        api.add_user(user_id, f"User {user_id}", username=f"user{user_id}")
        api.add_member(GROUP_ID, user_id)
    settings = make_settings(api, sqlite_url).model_copy(
        update={
            "webhook_secret": _secret(SECRET),
            "webhook_port": 0,
            "webhook_path": PATH,
            "webhook_max_body_bytes": 64 * 1024,
            "webhook_batch_ms": 20,
        }
    )

    async def no_sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    app = build_app(settings, clock=clock, sleep=no_sleep)
    batches: list[int] = []
    handle_batch = app.intake.handle_batch

    async def counted(updates: Sequence[Update], unreadable: Sequence[Unreadable] = ()) -> None:
        batches.append(len(updates) + len(unreadable))
        await handle_batch(updates, unreadable)

    app.intake.handle_batch = counted  # type: ignore[method-assign]
    task = asyncio.create_task(app.serve_webhook(handle_signals=False))
    port = await asyncio.wait_for(app.wait_serving(), 10)
    async with aiohttp.ClientSession() as http:
        worker = Worker(api, app, port, http, batches)
        assert await worker.post(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID)) == 200
        yield worker
    await app.stop_polling()
    await asyncio.wait_for(task, 10)
    await app.close()


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


async def test_a_request_without_the_secret_token_changes_nothing(worker: Worker) -> None:
    update_id = worker.api.send_message(GROUP_ID, MEMBERS[0], "/checkin")
    processed = select(func.count()).select_from(ProcessedUpdateRow)
    before = await worker.count(processed)
    assert await worker.post(update_id, secret=None) == 401
    assert await worker.post(update_id, secret="wrong") == 401
    assert await worker.post(update_id, secret=SECRET + "x") == 401
    assert await worker.post(update_id, secret="秘密") == 401
    assert await worker.count(processed) == before
    assert await worker.count(select(func.count()).select_from(CheckinRow)) == 0
    assert not [m for m in worker.api.messages_to(GROUP_ID) if "+" in (m.text or "")]


async def test_answered_only_after_the_update_committed_and_was_replied(worker: Worker) -> None:
    update_id = worker.api.send_message(GROUP_ID, MEMBERS[0], "/checkin")
    said = worker.api.message_id_of(update_id)
    assert await worker.post(update_id) == 200
    # At the moment of the 200, the check-in is stored and its reply sent.
    assert await worker.count(select(func.count()).select_from(CheckinRow)) == 1
    replies = [m for m in worker.api.messages_to(GROUP_ID) if m.reply_to_message_id == said]
    assert len(replies) == 1


async def test_redelivered_and_concurrent_copies_count_once(worker: Worker) -> None:
    update_id = worker.api.send_message(GROUP_ID, MEMBERS[0], "/checkin")
    said = worker.api.message_id_of(update_id)
    statuses = await asyncio.gather(*(worker.post(update_id) for _ in range(3)))
    assert statuses == [200, 200, 200]
    assert await worker.post(update_id) == 200  # Telegram delivering it again later
    assert await worker.count(select(func.count()).select_from(CheckinRow)) == 1
    replies = [m for m in worker.api.messages_to(GROUP_ID) if m.reply_to_message_id == said]
    assert len(replies) == 1


async def test_concurrent_requests_share_a_transaction(worker: Worker) -> None:
    worker.batches.clear()
    update_ids = [worker.api.send_message(GROUP_ID, user, "/checkin") for user in MEMBERS]
    statuses = await asyncio.gather(*(worker.post(update_id) for update_id in update_ids))
    assert statuses == [200] * len(MEMBERS)
    assert await worker.count(select(func.count()).select_from(CheckinRow)) == len(MEMBERS)
    assert sum(worker.batches) == len(MEMBERS)
    assert len(worker.batches) < len(MEMBERS)  # gathered, not one transaction per request


async def test_an_unreadable_update_is_a_dead_letter_and_answered(worker: Worker) -> None:
    body = json.dumps({"update_id": 987654, "message": {"message_id": "not a number"}}).encode()
    assert await worker.post(0, body=body) == 200
    letters = (
        select(func.count()).select_from(DeadLetterRow).where(DeadLetterRow.update_id == 987654)
    )
    assert await worker.count(letters) == 1
    assert await worker.post(0, body=b"{not json") == 200
    assert await worker.post(0, body=b"[1, 2, 3]") == 200
    deep = b"[" * 30_000 + b"]" * 30_000  # within the size limit, too deep for json
    assert await worker.post(0, body=b'{"update_id": 987655, "message": ' + deep + b"}") == 200
    # The worker goes on.
    update_id = worker.api.send_message(GROUP_ID, MEMBERS[1], "/checkin")
    assert await worker.post(update_id) == 200
    assert await worker.count(select(func.count()).select_from(CheckinRow)) == 1


async def test_an_oversized_body_is_refused(worker: Worker) -> None:
    update_id = worker.api.send_message(GROUP_ID, MEMBERS[0], "/checkin")
    payload = dict(worker.api._history[update_id])
    payload["padding"] = "x" * (80 * 1024)
    assert await worker.post(0, body=json.dumps(payload).encode()) == 413
    assert await worker.count(select(func.count()).select_from(CheckinRow)) == 0


async def test_health_and_readiness(worker: Worker) -> None:
    async with worker.http.get(worker.url + "/healthz") as response:
        assert response.status == 200
    async with worker.http.get(worker.url + "/readyz") as response:
        assert response.status == 200
        assert (await response.json())["ready"] is True
    async with worker.app.engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0001_initial'"))
    async with worker.http.get(worker.url + "/readyz") as response:
        assert response.status == 503
        problems = (await response.json())["problems"]
        assert "migrations at 0001_initial" in problems["database"]


async def test_polling_refuses_to_start_while_a_webhook_is_set(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock
) -> None:
    api.webhook_url = "https://seed.example.com/telegram/webhook"
    app = build_app(make_settings(api, sqlite_url), clock=clock)
    try:
        with pytest.raises(WebhookIsSet, match="seedbot webhook delete"):
            await asyncio.wait_for(app.start_polling(handle_signals=False), 10)
    finally:
        await app.close()
    assert not api.calls("getUpdates")
    assert not api.calls("deleteWebhook")  # the operator's webhook is left alone


async def test_webhook_set_info_and_delete(
    api: FakeBotAPI, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(api, sqlite_url).model_copy(
        update={
            "webhook_url": "https://seed.example.com/telegram/webhook",
            "webhook_secret": _secret(SECRET),
            "webhook_max_connections": 12,
        }
    )
    assert await _webhook(settings, "set", drop_pending=False) == 0
    (call,) = api.calls("setWebhook")
    assert call["url"] == "https://seed.example.com/telegram/webhook"
    assert call["secret_token"] == SECRET
    assert int(call["max_connections"]) == 12
    assert "callback_query" in call["allowed_updates"] and "chat_member" in call["allowed_updates"]
    assert api.calls("setMyCommands")  # the menus are the deploy step's too, not each worker's
    out = capsys.readouterr().out
    assert "url: https://seed.example.com/telegram/webhook" in out and SECRET not in out
    assert await _webhook(settings, "info", drop_pending=False) == 0
    assert "pending updates: 0" in capsys.readouterr().out
    assert await _webhook(settings, "delete", drop_pending=True) == 0
    assert api.calls("deleteWebhook")[-1]["drop_pending_updates"] in (True, "true")
    assert "No webhook is set" in capsys.readouterr().out
    without_secret = settings.model_copy(update={"webhook_secret": None})
    assert await _webhook(without_secret, "set", drop_pending=False) == 2
    assert "WEBHOOK_SECRET" in capsys.readouterr().err


def test_the_secret_must_follow_telegrams_rule(api: FakeBotAPI, sqlite_url: str) -> None:
    from pydantic import ValidationError

    from seedbot.config import Settings

    base = make_settings(api, sqlite_url).model_dump()
    for bad in ("", "has space", "秘密", "x" * 257, "semi;colon"):
        with pytest.raises(ValidationError, match="webhook_secret"):
            Settings(**{**base, "bot_token": api.token, "webhook_secret": bad})
    Settings(**{**base, "bot_token": api.token, "webhook_secret": "A-z_09" * 40})


async def test_not_ready_while_redis_does_not_answer(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock
) -> None:
    settings = make_settings(api, sqlite_url).model_copy(
        update={
            "webhook_secret": _secret(SECRET),
            "webhook_port": 0,
            "redis_url": _secret("redis://127.0.0.1:1/0"),  # nothing listens there
        }
    )
    app = build_app(settings, clock=clock)
    task = asyncio.create_task(app.serve_webhook(handle_signals=False))
    try:
        port = await asyncio.wait_for(app.wait_serving(), 10)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/readyz") as response,
        ):
            assert response.status == 503
            problems = (await response.json())["problems"]
            assert set(problems) == {"redis"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/healthz") as response,
        ):
            assert response.status == 200
    finally:
        await app.stop_polling()
        await asyncio.wait_for(task, 10)
        await app.close()
