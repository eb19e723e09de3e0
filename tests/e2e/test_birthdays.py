"""Birthdays: set privately (month and day only), congratulated on the day in the community's
timezone (just after its midnight, not before), with one gift per member per year, exactly once
across repeated passes and a restart; 02-29 congratulated on 02-28 in other years; bad dates
and the group refused. Runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from handlers.care_work import run_care_work
from storage.models import BirthdayRow, LedgerRow
from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    start_bot,
    stop_bot,
)
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

CELEBRANT = 3001
SILENT = 3002  # blocked the bot after setting a birthday
LEAPLING = 3003
OTHER = 3004


@dataclass
class BirthdayHarness(Harness):
    task: asyncio.Task[None] | None = None
    database_url: str = ""


@pytest.fixture
async def harness(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> AsyncIterator[BirthdayHarness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = BirthdayHarness(
        api=api, app=app, clock=clock, sleeps=sleeps, task=task, database_url=database_url
    )
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    add_members(h, [CELEBRANT, SILENT, LEAPLING, OTHER])
    for user_id in (CELEBRANT, SILENT, LEAPLING, OTHER):
        await h.say(user_id, "hello")
        await h.say(user_id, "/start", chat_id=user_id)
    yield h
    assert h.task is not None
    await stop_bot(h.app, h.task)


async def restart(harness: BirthdayHarness) -> None:
    assert harness.task is not None
    await stop_bot(harness.app, harness.task)
    harness.app, harness.task = await start_bot(
        harness.api, harness.database_url, harness.clock, harness.sleeps
    )


def wishes(harness: Harness, chat_id: int) -> list[str]:
    return [m.text or "" for m in harness.replies(chat_id) if "Happy birthday" in (m.text or "")]


async def gifts(harness: Harness, user_id: int) -> list[int]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(LedgerRow.amount).where(
                LedgerRow.user_id == user_id, LedgerRow.kind == "birthday_gift"
            )
        )
        return list(rows.scalars())


async def test_a_birthday_is_celebrated_once_after_the_communitys_midnight(
    harness: BirthdayHarness, api: FakeBotAPI, clock: FakeClock
) -> None:
    await harness.say(CELEBRANT, "/birthday 03-03", chat_id=CELEBRANT)
    assert "Saved: 03-03" in harness.last_reply(CELEBRANT)
    await harness.say(SILENT, "/birthday 3-3", chat_id=SILENT)
    await harness.say(OTHER, "/birthday 03-04", chat_id=OTHER)
    blocked = api.block_bot(SILENT)
    assert blocked is not None
    await harness.handled(blocked)
    await harness.say(ADMIN_ID, "/birthdays group on")
    assert "in the group: on" in harness.last_reply()

    clock.set(datetime(2026, 3, 2, 15, 59, tzinfo=UTC))  # 23:59 on 03-02 in Shanghai
    await harness.run_due_work()
    assert wishes(harness, CELEBRANT) == []
    assert wishes(harness, GROUP_ID) == []

    clock.set(datetime(2026, 3, 2, 16, 0, tzinfo=UTC))  # midnight: 03-03 in Shanghai
    await harness.run_due_work()
    await harness.run_due_work()
    await restart(harness)
    await harness.run_due_work()
    clock.advance(hours=23, minutes=59)  # the end of 03-03 in Shanghai: nothing more
    await harness.run_due_work()
    assert await gifts(harness, OTHER) == []
    clock.advance(minutes=1)  # 03-04
    await harness.run_due_work()

    assert wishes(harness, CELEBRANT) == [
        "🎂 Happy birthday from <b>Seed Users</b>! A gift of 20 points is yours."
    ]
    assert wishes(harness, SILENT) == []  # blocked the bot: no private message...
    group = wishes(harness, GROUP_ID)
    assert len(group) == 3  # ...but the group congratulation and the gift still happen
    assert any("User 3001" in text for text in group)
    assert any("User 3002" in text for text in group)
    assert await gifts(harness, CELEBRANT) == [20]
    assert await gifts(harness, SILENT) == [20]
    assert await gifts(harness, OTHER) == [20]
    assert len(wishes(harness, OTHER)) == 1
    await ledger_matches_balances(harness)

    # A year later: once more, even with two workers running the pass at the same time.
    clock.set(datetime(2027, 3, 2, 16, 30, tzinfo=UTC))
    now = clock.now()
    await asyncio.gather(
        run_care_work(harness.app.open_uow, now), run_care_work(harness.app.open_uow, now)
    )
    await harness.run_due_work()
    assert await gifts(harness, CELEBRANT) == [20, 20]
    assert len(wishes(harness, CELEBRANT)) == 2


async def test_a_leap_day_birthday_is_celebrated_on_02_28_in_other_years(
    harness: BirthdayHarness, clock: FakeClock
) -> None:
    await harness.say(ADMIN_ID, "/birthdays gift 15")
    await harness.say(LEAPLING, "/birthday 02-29", chat_id=LEAPLING)
    assert "Saved: 02-29" in harness.last_reply(LEAPLING)

    clock.set(datetime(2027, 2, 27, 15, 59, tzinfo=UTC))  # 02-27 23:59 in Shanghai
    await harness.run_due_work()
    assert await gifts(harness, LEAPLING) == []
    clock.set(datetime(2027, 2, 27, 16, 0, tzinfo=UTC))  # 02-28 in a year without 02-29
    await harness.run_due_work()
    clock.set(datetime(2027, 2, 28, 16, 0, tzinfo=UTC))  # 03-01
    await harness.run_due_work()
    assert await gifts(harness, LEAPLING) == [15]

    clock.set(datetime(2028, 2, 27, 16, 0, tzinfo=UTC))  # 02-28 of a leap year: not yet
    await harness.run_due_work()
    assert await gifts(harness, LEAPLING) == [15]
    clock.set(datetime(2028, 2, 28, 16, 0, tzinfo=UTC))  # 02-29
    await harness.run_due_work()
    await harness.run_due_work()
    assert await gifts(harness, LEAPLING) == [15, 15]
    assert len(wishes(harness, LEAPLING)) == 2
    assert wishes(harness, GROUP_ID) == []  # the group congratulation is off by default


@pytest.mark.parametrize(
    "text", ["/birthday 13-01", "/birthday 02-30", "/birthday 2000-03-03", "/birthday soon"]
)
async def test_bad_dates_are_refused_and_nothing_is_stored(
    harness: BirthdayHarness, text: str
) -> None:
    await harness.say(CELEBRANT, text, chat_id=CELEBRANT)
    assert "not a date I can use" in harness.last_reply(CELEBRANT)
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(BirthdayRow)) == 0


async def test_the_group_is_no_place_for_a_birthday_and_off_removes_it(
    harness: BirthdayHarness, clock: FakeClock
) -> None:
    await harness.say(CELEBRANT, "/birthday 03-03")
    assert "private chat" in harness.last_reply()
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(BirthdayRow)) == 0
    await harness.say(CELEBRANT, "/birthday 03-03", chat_id=CELEBRANT)
    await harness.say(CELEBRANT, "/birthday", chat_id=CELEBRANT)
    assert "Your birthday: 03-03" in harness.last_reply(CELEBRANT)
    await harness.say(CELEBRANT, "/birthday off", chat_id=CELEBRANT)
    assert "removed" in harness.last_reply(CELEBRANT)
    clock.set(datetime(2026, 3, 2, 16, 0, tzinfo=UTC))
    await harness.run_due_work()
    assert await gifts(harness, CELEBRANT) == []
    await harness.say(OTHER, "/birthdays gift 5")
    assert "Only moderators" in harness.last_reply()
    await harness.say(ADMIN_ID, "/birthdays gift -5")
    assert "from 0 to 1000." in harness.last_reply()
