"""No work of one group holds up another: while a long read of one group (/stats, /export)
is held open in the reader, another group's check-in is answered. The hold is synchronous,
as a long SQL statement is: read in the event loop's thread, it would stop every group.
Runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.services import insights, privacy
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness, start_bot, stop_bot
from tests.e2e.helpers import add_members
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

MEMBER = 1001
OTHER_GROUP = -1005555555555
OTHER_MEMBER = 2001
HOLD_SECONDS = 10  # the longest a read is held; past it, the test has failed
ANSWER_BOUND = 5  # seconds: the other group's answer comes well within it


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    api.add_group(OTHER_GROUP, "Other Group", creator_id=CREATOR_ID)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    await h.handled(api.add_bot_to_group(OTHER_GROUP, by_user_id=CREATOR_ID))
    add_members(h, [MEMBER])
    api.add_user(OTHER_MEMBER, "Other member", username="othermember")
    api.add_member(OTHER_GROUP, OTHER_MEMBER)
    yield h
    await stop_bot(app, task)


class Hold:
    """Wraps a read so that it blocks its thread, once it has read, until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.outlasted = threading.Event()  # held past HOLD_SECONDS: nothing released it

    def around(self, read: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def held(*args: Any, **kwargs: Any) -> Any:
            result = await read(*args, **kwargs)
            self.entered.set()
            if not self.released.wait(HOLD_SECONDS):
                self.outlasted.set()
            return result

        return held


async def a_check_in_elsewhere_is_answered_meanwhile(harness: Harness, hold: Hold) -> None:
    assert await asyncio.to_thread(hold.entered.wait, HOLD_SECONDS), "the read never started"
    api = harness.api
    checkin = api.send_message(OTHER_GROUP, OTHER_MEMBER, "/checkin", date=harness.clock.now())
    checkin_id = api.message_id_of(checkin)
    answered = await api.wait_for_message(
        lambda m: m.chat_id == OTHER_GROUP and m.reply_to_message_id == checkin_id,
        timeout=ANSWER_BOUND,
    )
    assert "checked in" in (answered.text or "").lower()
    assert not hold.outlasted.is_set(), "the check-in waited for the long read"
    hold.released.set()


async def test_a_long_stats_read_does_not_hold_up_another_groups_check_in(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.say(MEMBER, "/checkin")
    hold = Hold()
    monkeypatch.setattr(insights, "community_report", hold.around(insights.community_report))
    stats = harness.api.send_message(GROUP_ID, ADMIN_ID, "/stats", date=harness.clock.now())

    await a_check_in_elsewhere_is_answered_meanwhile(harness, hold)

    await harness.handled(stats)
    texts = [m.text or "" for m in harness.replies(GROUP_ID)]
    assert any("Members now:" in text and "Check-in rate:" in text for text in texts), texts


async def test_a_long_export_does_not_hold_up_another_groups_check_in(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await harness.say(MEMBER, "/checkin")
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    hold = Hold()
    monkeypatch.setattr(privacy, "export_csv", hold.around(privacy.export_csv))
    export = harness.api.send_message(
        GROUP_ID, ADMIN_ID, "/export members", date=harness.clock.now()
    )

    await a_check_in_elsewhere_is_answered_meanwhile(harness, hold)

    await harness.handled(export)
    [content] = [content for chat, _name, content in harness.api.sent_documents if chat == ADMIN_ID]
    assert str(MEMBER) in content.decode("utf-8-sig")
