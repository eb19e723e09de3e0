"""Posts with buttons a moderator makes by hand (a survey, a lottery, the check-in button) go
through the paced outgoing queue: 429s are waited out and the post arrives once, a crash after
the command's commit does not lose it, and a post that fails for good is reported to the
moderator. Through the fake Bot API over HTTP, with the fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from runtime.outbox import Outbox
from storage.models import OutgoingMessageRow
from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    start_bot,
    stop_bot,
)
from tests.e2e.helpers import stored
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

RETRY_AFTER = 7

POSTS = {
    "/survey nps": "📋 Survey #1",
    "/survey csat How was the meetup?": "📋 Survey #1",
    "/lottery new Spring | A mug | 2026-03-03 20:00": "🎁 Lottery #1",
    "/checkinpost": "📅 Daily check-in!",
}


@dataclass
class RestartingHarness(Harness):
    task: asyncio.Task[None] | None = None
    database_url: str = ""

    async def restart(self) -> None:
        """The bot stops (nothing more is sent), starts again and sends what is due."""
        assert self.task is not None
        await stop_bot(self.app, self.task)
        self.app, self.task = await start_bot(self.api, self.database_url, self.clock, self.sleeps)
        await self.app.sender.recover()
        await self.app.sender.drain()


@pytest.fixture
async def harness(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> AsyncIterator[RestartingHarness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID])
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = RestartingHarness(
        api=api, app=app, clock=clock, sleeps=sleeps, task=task, database_url=database_url
    )
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    assert h.task is not None
    await stop_bot(h.app, h.task)


def posts(harness: Harness, command: str, chat_id: int = GROUP_ID) -> list[SentMessage]:
    return [
        m for m in harness.api.messages_to(chat_id) if (m.text or "").startswith(POSTS[command])
    ]


def notices(harness: Harness, chat_id: int) -> list[str]:
    return [
        m.text or ""
        for m in harness.api.messages_to(chat_id)
        if "could not be posted" in (m.text or "")
    ]


async def queued(harness: Harness, kind: str) -> list[OutgoingMessageRow]:
    async with stored(harness) as session:
        rows = await session.scalars(
            select(OutgoingMessageRow).where(OutgoingMessageRow.kind == kind)
        )
        return list(rows)


@pytest.mark.parametrize("command", list(POSTS))
async def test_a_post_meeting_three_429s_is_posted_once_after_them(
    harness: RestartingHarness, command: str
) -> None:
    harness.api.fail_next_send_to(GROUP_ID, retry_after=RETRY_AFTER, times=3)
    await harness.say(CREATOR_ID, command)
    for _ in range(3):
        assert posts(harness, command) == []
        harness.clock.advance(seconds=RETRY_AFTER - 1)
        await harness.app.sender.drain()
        assert posts(harness, command) == []  # not before Telegram's retry_after
        harness.clock.advance(seconds=1)
        await harness.app.sender.drain()
    [post] = posts(harness, command)
    assert post.reply_markup is not None and post.reply_markup["inline_keyboard"]
    await harness.restart()
    harness.clock.advance(minutes=10)
    await harness.app.sender.drain()
    assert len(posts(harness, command)) == 1


@pytest.mark.parametrize("command", list(POSTS))
async def test_a_crash_between_the_commit_and_the_send_still_posts_once(
    harness: RestartingHarness, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def die_before_sending(outbox: Outbox, *_answers: object) -> None:
        outbox.take()

    monkeypatch.setattr(harness.app.replies, "submit", die_before_sending)
    update_id = harness.api.send_message(GROUP_ID, CREATOR_ID, command, date=harness.clock.now())
    await harness.api.wait_until_handled(update_id)
    assert posts(harness, command) == []
    await harness.restart()
    [post] = posts(harness, command)
    assert post.reply_markup is not None
    await harness.restart()
    assert len(posts(harness, command)) == 1


@pytest.mark.parametrize("command", list(POSTS))
async def test_a_post_refused_for_good_is_reported_in_the_group(
    harness: RestartingHarness, command: str
) -> None:
    harness.api.fail_next(
        "sendMessage", error_code=400, description="Bad Request: message thread not found"
    )
    await harness.say(CREATOR_ID, command)
    await harness.app.sender.drain()
    assert posts(harness, command) == []
    [notice] = notices(harness, GROUP_ID)
    assert "<b>Seed Users</b>" in notice
    assert "Bad Request: message thread not found" in notice
    await harness.restart()
    assert len(notices(harness, GROUP_ID)) == 1


async def test_a_post_in_a_group_that_removed_the_bot_is_reported_privately(
    harness: RestartingHarness,
) -> None:
    await harness.say(CREATOR_ID, "/start", chat_id=CREATOR_ID)
    harness.api.fail_next(
        "sendMessage", error_code=403, description="Forbidden: bot was kicked from the group"
    )
    command = "/lottery new Spring | A mug | 2026-03-03 20:00"
    await harness.say(CREATOR_ID, command)
    await harness.app.sender.drain()
    assert posts(harness, command) == []
    [notice] = notices(harness, CREATOR_ID)
    assert notice.startswith("⚠️ Lottery #1 could not be posted in <b>Seed Users</b>")
    assert "Forbidden: bot was kicked from the group" in notice
    assert notices(harness, GROUP_ID) == []
    [failed] = await queued(harness, "lottery")
    assert failed.status == "blocked"
    [told] = await queued(harness, "failure_notice")
    assert (told.chat_id, told.status) == (CREATOR_ID, "sent")


async def test_an_anonymous_admin_is_told_in_the_group(harness: RestartingHarness) -> None:
    harness.api.fail_next("sendMessage", error_code=400, description="Bad Request: no rights")
    update_id = harness.api.send_anonymous_admin_message(GROUP_ID, "/survey nps")
    await harness.handled(update_id)
    [notice] = notices(harness, GROUP_ID)
    assert notice.startswith("⚠️ Survey #1 could not be posted")


async def start_a_quiz(harness: Harness, questions: int) -> None:
    for number in range(1, questions + 1):
        await harness.say(ADMIN_ID, f"/quiz add Question {number}? | Alpha | *Bravo | Charlie")
    await harness.say(ADMIN_ID, f"/quiz start {questions}")
    assert f"A quiz of {questions} questions starts now" in harness.last_reply()


async def test_a_quiz_question_meeting_three_429s_waits_them_out_and_is_posted_once(
    harness: RestartingHarness,
) -> None:
    await start_a_quiz(harness, 1)
    harness.api.fail_next("sendPoll", retry_after=30, times=3)
    sleeps_before = len(harness.sleeps)
    for attempt in range(1, 4):
        await harness.run_due_work()
        assert len(harness.api.calls("sendPoll")) == attempt  # one try per pass, no waiting
        harness.clock.advance(seconds=29)
        await harness.run_due_work()
        assert len(harness.api.calls("sendPoll")) == attempt  # not before retry_after
        harness.clock.advance(seconds=1)
    assert harness.sleeps[sleeps_before:] == []
    await harness.run_due_work()
    [poll] = harness.api.polls_in(GROUP_ID)
    assert poll.question == "Question 1?"
    update_id = harness.api.answer_poll(poll.id, CREATOR_ID, [1])
    await harness.handled(update_id)
    await harness.restart()
    for _ in range(3):
        harness.clock.advance(seconds=40)
        await harness.run_due_work()
    assert len(harness.api.polls_in(GROUP_ID)) == 1
    assert any("quiz is over" in (m.text or "") for m in harness.replies())


async def test_a_quiz_question_refused_for_good_is_reported_to_the_moderator(
    harness: RestartingHarness,
) -> None:
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    await start_a_quiz(harness, 2)
    harness.api.fail_next(
        "sendPoll", error_code=400, description="Bad Request: not enough rights to send polls"
    )
    await harness.run_due_work()
    [notice] = notices(harness, ADMIN_ID)
    assert notice.startswith("⚠️ Question 1 of quiz #1 could not be posted in <b>Seed Users</b>")
    assert "not enough rights to send polls" in notice
    await harness.run_due_work()
    assert len(harness.api.polls_in(GROUP_ID)) == 1  # the next question goes on
    assert notices(harness, GROUP_ID) == []
