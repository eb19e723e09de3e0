"""The database or Telegram unavailable, and bugs: no update lost, none applied twice."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.domain.models import UserInfo
from bot.services.checkin import check_in
from seedbot.app import build_app
from seedbot.cli import _list_dead_letters, _replay
from storage.dead_letters import SqlDeadLetters
from storage.models import CheckinRow, DeadLetterRow, ProcessedUpdateRow
from tests.e2e.conftest import (
    CREATOR_ID,
    GROUP_ID,
    Harness,
    make_settings,
    start_bot,
    stop_bot,
)
from tests.e2e.helpers import add_members, stored
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def database_down(
    engine: AsyncEngine, down: Callable[[], bool], on_refusal: Callable[[], None] = lambda: None
) -> Iterator[None]:
    """Every statement fails as a locked or unreachable database does, while `down()`."""

    def refuse(*_: Any) -> None:
        if down():
            on_refusal()
            raise sqlite3.OperationalError("database is locked")

    event.listen(engine.sync_engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", refuse)


async def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Waits (real time, only to observe) until the bot got there."""
    for _ in range(int(seconds * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the condition never became true")


async def checkins(harness: Harness, user_id: int | None = None) -> int:
    query = select(func.count()).select_from(CheckinRow)
    if user_id is not None:
        query = query.where(CheckinRow.user_id == user_id)
    async with stored(harness) as session:
        return int(await session.scalar(query) or 0)


def replies_with(harness: Harness, text: str) -> list[int | None]:
    return [m.reply_to_message_id for m in harness.replies() if m.text and text in m.text]


async def test_a_database_outage_longer_than_the_old_retry_window_loses_and_doubles_nothing(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    members = [1001, 1002, 1003, 1004, 1005]
    add_members(harness, members)
    back_at = harness.clock.now().timestamp() + 60
    updates: list[int] = []
    confirmed_while_down: list[bool] = []

    def note_confirmations() -> None:
        confirmed_while_down.append(any(harness.api.is_handled(u) for u in updates))

    caplog.set_level(logging.WARNING, logger="runtime.savepoints")
    with database_down(
        harness.app.engine, lambda: harness.clock.now().timestamp() < back_at, note_confirmations
    ):
        updates += [
            harness.api.send_message(GROUP_ID, user_id, "/checkin", date=harness.clock.now())
            for user_id in members
        ]
        await harness.handled(updates[-1])

    # One wait per backoff step, 63.5 s of them, and one log line each.
    assert harness.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert len([r for r in caplog.records if "stays unconfirmed" in r.getMessage()]) == 7
    # While the database was down, Telegram was never told that any update was done.
    assert confirmed_while_down and not any(confirmed_while_down)
    # Afterwards every update was handled once, in order.
    assert replies_with(harness, "+10 points") == [harness.api.message_id_of(u) for u in updates]
    for user_id in members:
        assert await checkins(harness, user_id) == 1


async def test_a_stop_request_interrupts_the_waiting_and_the_update_is_redelivered(
    harness: Harness, sqlite_url: str
) -> None:
    add_members(harness, [1001])
    with database_down(harness.app.engine, lambda: True):
        update = harness.api.send_message(GROUP_ID, 1001, "/checkin", date=harness.clock.now())
        await until(lambda: len(harness.sleeps) >= 3)
        await asyncio.wait_for(harness.app.stop_polling(), timeout=10)
    assert not harness.api.is_handled(update)
    assert await checkins(harness) == 0

    app, task = await start_bot(harness.api, sqlite_url, harness.clock, harness.sleeps)
    try:
        await harness.api.wait_until_handled(update)
        await app.sender.drain()
    finally:
        await stop_bot(app, task)
    assert replies_with(harness, "+10 points") == [harness.api.message_id_of(update)]
    assert await checkins(harness, 1001) == 1


async def run_seedbot(api: FakeBotAPI, database_url: str, *arguments: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *arguments,
        env={
            **os.environ,
            "BOT_TOKEN": api.token,
            "DATABASE_URL": database_url,
            "BOT_API_BASE_URL": api.base_url,
            "DEFAULT_LANGUAGE": "en",
            "PYTHONPATH": str(REPO_ROOT),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


async def test_a_bug_sets_the_update_aside_and_a_replay_after_the_fix_applies_it_once(
    harness: Harness,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_members(harness, [1001, 1002])

    async def broken_check_in(uow: Any, community: Any, user: UserInfo, *rest: Any) -> Any:
        if user.id == 1001:  # a bug that only some members' data trigger
            raise RuntimeError("check-in is broken")
        return await check_in(uow, community, user, *rest)

    monkeypatch.setattr("handlers.checkin.check_in", broken_check_in)
    failed = await harness.say(1001, "/checkin")
    await harness.say(1002, "/checkin")  # the next update is not held up
    assert "+10 points" in harness.last_reply()
    assert await checkins(harness, 1001) == 0
    assert harness.sleeps == []  # a bug is not retried

    async with stored(harness) as session:
        letter = await session.get(DeadLetterRow, (harness.api.bot_id, failed))
        assert letter is not None
        assert letter.error == "RuntimeError: check-in is broken"
        assert letter.payload == harness.api.update_of(failed).model_dump(
            mode="json", exclude_none=True, by_alias=True
        )
        assert letter.replayed_at is None
        assert await session.get(ProcessedUpdateRow, (harness.api.bot_id, failed)) is None

    settings = make_settings(harness.api, sqlite_url)
    await _list_dead_letters(settings)
    listing = capsys.readouterr().out
    assert f"update {failed} " in listing
    assert "message  RuntimeError: check-in is broken" in listing

    # Replayed before the fix: it fails again and stays.
    assert await _replay(settings, failed) == 1
    assert "failed again (RuntimeError: check-in is broken)" in capsys.readouterr().err
    assert await checkins(harness, 1001) == 0

    monkeypatch.undo()  # the fix is deployed
    status, output = await run_seedbot(harness.api, sqlite_url, "replay", str(failed))
    assert status == 0, output
    assert f"Update {failed} replayed." in output
    await until(lambda: len(replies_with(harness, "+10 points")) == 2)
    assert replies_with(harness, "+10 points")[-1] == harness.api.message_id_of(failed)
    assert await checkins(harness, 1001) == 1

    # A second replay, or Telegram delivering the update again, changes nothing.
    assert await _replay(settings, failed) == 0
    assert "already replayed" in capsys.readouterr().out
    harness.api.redeliver(failed)
    await harness.handled(failed)
    assert await checkins(harness, 1001) == 1
    assert len(replies_with(harness, "+10 points")) == 2
    await _list_dead_letters(settings)
    assert capsys.readouterr().out.strip() == "No dead letters."


async def test_a_handler_with_a_sql_bug_makes_a_dead_letter_and_the_next_update_goes_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_members(harness, [1001, 1002])

    async def check_in_with_a_typo(uow: Any, community: Any, user: UserInfo, *rest: Any) -> Any:
        if user.id == 1001:  # SQLite reports this as an OperationalError, like a locked database
            await uow.session.execute(text("SELECT no_such_column FROM members"))
        return await check_in(uow, community, user, *rest)

    monkeypatch.setattr("handlers.checkin.check_in", check_in_with_a_typo)
    failed = await harness.say(1001, "/checkin")
    await harness.say(1002, "/checkin")
    assert "+10 points" in harness.last_reply()
    assert harness.sleeps == []  # not waited out as an outage
    assert await checkins(harness, 1001) == 0
    async with stored(harness) as session:
        letter = await session.get(DeadLetterRow, (harness.api.bot_id, failed))
    assert letter is not None
    assert letter.error.startswith("OperationalError: ")
    assert "no such column: no_such_column" in letter.error


async def test_a_dead_letter_whose_payload_cannot_be_stored_keeps_its_id_and_both_errors(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    add_members(harness, [1001, 1002])
    add = SqlDeadLetters.add

    async def add_refusing_payloads(
        self: SqlDeadLetters, bot_id: int, update_id: int, payload: dict[str, Any], *rest: Any
    ) -> None:
        if payload != {"update_id": update_id}:
            raise TypeError("Object of type Unserialisable is not JSON serializable")
        await add(self, bot_id, update_id, payload, *rest)

    async def broken_check_in(*_: Any) -> Any:
        raise RuntimeError("check-in is broken")

    monkeypatch.setattr(SqlDeadLetters, "add", add_refusing_payloads)
    monkeypatch.setattr("handlers.checkin.check_in", broken_check_in)
    failed = await harness.say(1001, "/checkin keep me")
    monkeypatch.undo()
    await harness.say(1002, "/checkin")
    assert "+10 points" in harness.last_reply()

    async with stored(harness) as session:
        letter = await session.get(DeadLetterRow, (harness.api.bot_id, failed))
    assert letter is not None
    assert letter.payload == {"update_id": failed}
    assert letter.error.startswith("RuntimeError: check-in is broken")
    assert "TypeError: Object of type Unserialisable is not JSON serializable" in letter.error
    logged = [
        r for r in caplog.records if r.levelno == logging.ERROR and str(failed) in r.getMessage()
    ]
    assert any("/checkin keep me" in r.getMessage() for r in logged)


async def test_replay_of_an_unknown_update_exits_2(api: FakeBotAPI, sqlite_url: str) -> None:
    status, output = await run_seedbot(api, sqlite_url, "replay", "424242")
    assert status == 2, output
    assert "No dead letter for update 424242" in output
    assert "Traceback" not in output


async def test_start_up_with_the_bot_api_unreachable_keeps_trying_and_then_answers(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    api.add_user(1001, "Mia", username="mia")
    api.add_member(GROUP_ID, 1001)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds=seconds)
        await asyncio.sleep(0)

    await api.go_offline()
    app = build_app(make_settings(api, sqlite_url), clock=clock, sleep=sleep)
    task = asyncio.create_task(app.start_polling(handle_signals=False))
    try:
        await until(lambda: len(sleeps) >= 5 or task.done())
        assert not task.done(), task.exception()
        assert sleeps[:5] == [0.5, 1.0, 2.0, 4.0, 8.0]
        assert "The Bot API is not reachable" in caplog.text

        await api.come_back()
        await api.wait_until_handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
        update = api.send_message(GROUP_ID, 1001, "/checkin", date=clock.now())
        await api.wait_until_handled(update)
        await app.sender.drain()
    finally:
        await app.stop_polling()
        await asyncio.wait_for(task, timeout=10)
        await app.close()
    replies = [m for m in api.messages_to(GROUP_ID) if m.text and "+10 points" in m.text]
    assert [m.reply_to_message_id for m in replies] == [api.message_id_of(update)]


async def test_a_stop_request_during_start_up_ends_the_waiting(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock
) -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    await api.go_offline()
    app = build_app(make_settings(api, sqlite_url), clock=clock, sleep=sleep)
    task = asyncio.create_task(app.start_polling(handle_signals=False))
    try:
        await until(lambda: len(sleeps) >= 2 or task.done())
        await app.stop_polling()
        await asyncio.wait_for(task, timeout=10)
    finally:
        await app.close()
    assert task.exception() is None


async def start_seedbot_process(api: FakeBotAPI, database_url: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env={
            **os.environ,
            "BOT_TOKEN": api.token,
            "DATABASE_URL": database_url,
            "BOT_API_BASE_URL": api.base_url,
            "POLLING_TIMEOUT": "1",
            "DEFAULT_LANGUAGE": "en",
            "PYTHONPATH": str(REPO_ROOT),
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def read_until(process: asyncio.subprocess.Process, text: str, times: int = 1) -> str:
    assert process.stderr is not None
    seen = ""
    while seen.count(text) < times:
        line = await asyncio.wait_for(process.stderr.readline(), timeout=60)
        assert line, f"the process ended before saying {text!r}: {seen[-2000:]}"
        seen += line.decode()
    return seen


@pytest.mark.parametrize("comes_back", [True, False])
async def test_the_process_waits_for_an_unreachable_api_and_stops_cleanly(
    api: FakeBotAPI, sqlite_url: str, comes_back: bool
) -> None:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    await api.go_offline()
    process = await start_seedbot_process(api, sqlite_url)
    try:
        seen = await read_until(process, "The Bot API is not reachable", times=2)
        if comes_back:
            await api.come_back()
            joined = api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID)
            await api.wait_until_handled(joined, 60)
    finally:
        process.terminate()
        _, rest = await asyncio.wait_for(process.communicate(), timeout=60)
    output = seen + rest.decode()
    assert process.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    assert api.token not in output
