"""No update can stop the bot, and a press Telegram forgets has been answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.engine import build_engine
from storage.models import CheckinRow, DeadLetterRow
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness, start_bot, stop_bot
from tests.e2e.helpers import (
    add_members,
    each_balance_is_its_ledger,
    ledger_matches_balances,
    stored,
)
from tests.e2e.test_batching import run_bot_process
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

# A poll answer as a Bot API version without `option_persistent_ids` would send it.
POLL_ANSWER_WITHOUT_PERSISTENT_IDS = {
    "poll_id": "5000000000000000001",
    "user": {"id": 1001, "is_bot": False, "first_name": "User 1001"},
    "option_ids": [0],
}


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    sleeps: list[float] = []
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    app, task = await start_bot(api, database_url, clock, sleeps)
    harness = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await harness.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield harness
    await stop_bot(app, task)


async def test_an_unreadable_update_in_a_page_is_a_dead_letter_and_the_rest_is_handled(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> None:
    sleeps: list[float] = []
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    app, task = await start_bot(api, database_url, clock, sleeps)
    harness = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await harness.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    add_members(harness, [1001, 1002])
    first = api.send_message(GROUP_ID, 1001, "/checkin", date=clock.now())
    bad = api.emit_unreadable("poll_answer", POLL_ANSWER_WITHOUT_PERSISTENT_IDS)
    weird = api.emit_unreadable("message", {"message_id": "not a number"})
    last = api.send_message(GROUP_ID, 1002, "/checkin", date=clock.now())
    await harness.handled(last)

    assert api.is_handled(bad) and api.is_handled(weird) and api.is_handled(first)
    assert not task.done()
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(CheckinRow)) == 2
        letters = {
            row.update_id: row for row in (await session.scalars(select(DeadLetterRow))).all()
        }
    assert set(letters) == {bad, weird}
    assert letters[bad].payload == {
        "update_id": bad,
        "poll_answer": POLL_ANSWER_WITHOUT_PERSISTENT_IDS,
    }
    assert "option_persistent_ids" in letters[bad].error
    await ledger_matches_balances(harness)
    await stop_bot(app, task)

    # A restart does not meet the bad update again, and a replay of it fails clearly.
    app, task = await start_bot(api, database_url, clock, sleeps)
    harness.app = app
    try:
        await harness.say(1001, "/me")
        assert "10" in harness.last_reply()
        with pytest.raises(ValueError, match="option_persistent_ids"):
            await app.replay(dict(letters[bad].payload))
        assert not task.done()
    finally:
        await stop_bot(app, task)


@pytest.mark.parametrize("body", ['{"ok": true, "result": {"update_id": 1}}', "<html>502</html>"])
async def test_a_getupdates_answer_that_is_no_page_is_waited_out(
    harness: Harness, body: str
) -> None:
    api = harness.api
    add_members(harness, [1001])
    api.garble_answer("getUpdates", body)
    api.garble_answer("getUpdates", body)
    await harness.say(1001, "/checkin")
    assert "+10 points" in harness.last_reply()
    assert harness.sleeps[-2:] == [1.0, 2.0]


async def test_a_redelivered_press_gets_the_answer_it_had_and_nothing_twice(
    harness: Harness,
) -> None:
    api = harness.api
    add_members(harness, [1001])
    await harness.say(CREATOR_ID, "/checkinpost")
    post = next(m for m in reversed(harness.replies()) if m.reply_markup is not None)
    assert post.reply_markup is not None
    data = post.reply_markup["inline_keyboard"][0][0]["callback_data"]
    press = await harness.handled(api.press_button(GROUP_ID, post.message_id, 1001, data))
    [answer] = api.callback_answers
    assert "+10" in str(answer["text"])

    api.callback_answers.clear()
    api._open_callbacks.add(api.callback_query_id(press))  # as if the answer never arrived
    api.redeliver(press)
    await harness.handled(press)
    [again] = api.callback_answers
    assert again["text"] == answer["text"]
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(CheckinRow)) == 1
    await ledger_matches_balances(harness)


async def test_a_kill_between_the_commit_and_the_answers_leaves_no_press_unanswered(
    api: FakeBotAPI, database_url: str, tmp_path: Path
) -> None:
    members = list(range(3001, 3041))
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    for user_id in members:
        api.add_user(user_id, f"User {user_id}", username=f"user{user_id}")
        api.add_member(GROUP_ID, user_id)
    process = await run_bot_process(api, database_url, tmp_path)
    try:
        await api.wait_until_handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID), 30)
        await api.wait_until_handled(api.send_message(GROUP_ID, CREATOR_ID, "/checkinpost"), 30)
        post = await api.wait_for_message(
            lambda m: m.chat_id == GROUP_ID and m.reply_markup is not None, timeout=30
        )
        assert post.reply_markup is not None
        data = post.reply_markup["inline_keyboard"][0][0]["callback_data"]
        api.hold("answerCallbackQuery")
        presses = [api.press_button(GROUP_ID, post.message_id, user, data) for user in members]
        # The page committed: its answers are on their way, and Telegram has not had them.
        await api.wait_for_call("answerCallbackQuery", timeout=30)
        await asyncio.sleep(0.2)
        assert not api.is_handled(presses[-1]), "the page was confirmed before its answers"
    finally:
        process.kill()
        await process.wait()
        api.release("answerCallbackQuery")
    assert api.callback_answers == []

    process = await run_bot_process(api, database_url, tmp_path)
    try:
        for press in presses:
            await api.wait_until_handled(press, 60)
    finally:
        process.terminate()
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()[-2000:]

    answers = api.answers_per_press()
    assert {api.callback_query_id(press) for press in presses} <= set(answers)
    assert all(answers[api.callback_query_id(press)] == 1 for press in presses)
    assert all("+10" in str(answer["text"]) for answer in api.callback_answers)
    engine = build_engine(database_url)
    try:
        async with engine.connect() as connection:
            checkins = await connection.scalar(
                select(func.count()).select_from(CheckinRow).where(CheckinRow.user_id.in_(members))
            )
            assert checkins == len(members)
        await each_balance_is_its_ledger(engine, members, 10)
    finally:
        await engine.dispose()
