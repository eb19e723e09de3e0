"""Crashes, redeliveries, 429 and 403: nothing lost, nothing awarded twice, nothing crashes."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import Process
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.engine import build_engine
from storage.models import CheckinRow, LedgerRow, MemberRow
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.fakes.bot_api import FakeBotAPI

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_429_on_a_reply_is_retried_after_retry_after(harness: Harness) -> None:
    add_members(harness, [1001])
    harness.api.fail_next("sendMessage", error_code=429, retry_after=3)
    await harness.say(1001, "/checkin")
    assert "+10 points" in harness.last_reply()
    assert harness.sleeps == [3.0]
    assert len([m for m in harness.api.calls("sendMessage") if "+10" in str(m.get("text"))]) == 2


async def test_retries_are_bounded_and_the_checkin_stays(harness: Harness) -> None:
    add_members(harness, [1001])
    harness.api.fail_next("sendMessage", error_code=429, retry_after=2, times=5)
    await harness.say(1001, "/checkin")
    assert harness.sleeps == [2.0, 2.0]  # three attempts in all, then the reply is given up
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(CheckinRow)) == 1


async def test_a_transient_failure_is_retried_and_applied_once(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    harness.api.fail_next(
        "getChatAdministrators", error_code=500, description="Internal Server Error"
    )
    await harness.say(CREATOR_ID, "/award @user1001 7")
    assert "+7 points. Balance: 8." in harness.last_reply()
    assert harness.sleeps == [0.5]
    async with stored(harness) as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "award")
            )
            == 1
        )


async def test_403_is_logged_and_the_bot_goes_on(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    add_members(harness, [1001, 1002])
    harness.api.fail_next(
        "sendMessage",
        error_code=403,
        description="Forbidden: bot was kicked from the supergroup chat",
    )
    await harness.say(1001, "/checkin")
    assert "bot was kicked" in caplog.text
    await harness.say(1002, "/checkin")
    assert "+10 points" in harness.last_reply()
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(CheckinRow)) == 2


async def run_bot_process(api: FakeBotAPI, database_url: str, workdir: Path) -> Process:
    """`python -m bot run` as its own process, as an operator would start it."""
    env = {
        **os.environ,
        "BOT_TOKEN": api.token,
        "DATABASE_URL": database_url,
        "BOT_API_BASE_URL": api.base_url,
        "POLLING_TIMEOUT": "1",
        "DEFAULT_LANGUAGE": "en",
        "PYTHONPATH": str(REPO_ROOT),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env=env,
        cwd=workdir,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_a_crash_mid_handler_loses_nothing_and_awards_once(
    api: FakeBotAPI, sqlite_url: str, tmp_path: Path
) -> None:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    api.add_user(1001, "Mia", username="mia")
    api.add_member(GROUP_ID, 1001)
    process = await run_bot_process(api, sqlite_url, tmp_path)
    try:
        await api.wait_until_handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID), 30)
        await api.wait_until_handled(api.send_message(GROUP_ID, 1001, "hi"))

        # The award's handler is in flight (asking Telegram who the admins are) when the
        # process is killed.
        api.hold("getChatAdministrators")
        calls_before = len(api.calls("getChatAdministrators"))
        award = api.send_message(GROUP_ID, CREATOR_ID, "/award @mia 50")
        await api.wait_for_call("getChatAdministrators", start=calls_before)
    finally:
        process.kill()
        await process.wait()
    api.release("getChatAdministrators")
    assert not api.is_handled(award)

    process = await run_bot_process(api, sqlite_url, tmp_path)
    try:
        await api.wait_until_handled(award, 30)
        api.redeliver(award)  # and a redelivery after that changes nothing
        await api.wait_until_handled(award)
        await api.wait_until_handled(api.send_message(GROUP_ID, 1001, "still here"))
    finally:
        process.terminate()
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert api.token not in stderr.decode()  # the token is never logged

    engine = build_engine(sqlite_url)
    async with engine.connect() as connection:
        awards = await connection.scalar(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "award")
        )
        balance = await connection.scalar(
            select(MemberRow.balance).where(MemberRow.user_id == 1001)
        )
    await engine.dispose()
    assert awards == 1
    assert balance == 51  # 1 for "hi", 50 awarded once ("still here" is inside the cooldown)
    replies = [m.text for m in api.messages_to(GROUP_ID) if m.text and "+50 points" in m.text]
    assert len(replies) == 1


async def test_ledger_invariant_after_a_busy_day(harness: Harness) -> None:
    members = list(range(1001, 1011))
    add_members(harness, members)
    for round_number in range(3):
        for user_id in members:
            harness.clock.advance(seconds=45)
            await harness.say(user_id, f"message {round_number}")
            await harness.say(user_id, "/checkin")
    await harness.say(CREATOR_ID, "/award @user1001 500 launch help")
    await harness.say(CREATOR_ID, "/deduct @user1002 5")
    await ledger_matches_balances(harness)


async def test_a_token_telegram_rejects_exits_2_with_one_sentence(
    api: FakeBotAPI, sqlite_url: str, tmp_path: Path
) -> None:
    env_token = "999999:WRONG-token"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        env={
            **os.environ,
            "BOT_TOKEN": env_token,
            "DATABASE_URL": sqlite_url,
            "BOT_API_BASE_URL": api.base_url,
            "PYTHONPATH": str(REPO_ROOT),
        },
        cwd=tmp_path,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert "Telegram rejected BOT_TOKEN" in stderr.decode()
    assert "Traceback" not in stderr.decode() and env_token not in stderr.decode()
