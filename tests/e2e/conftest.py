"""The real bot, polling our fake Bot API over HTTP on 127.0.0.1, with a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from seedbot.app import App, build_app
from seedbot.config import Settings
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

GROUP_ID = -1001234567890
CREATOR_ID = 500
ADMIN_ID = 501
OWNER_ID = 900
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai


@dataclass
class Harness:
    api: FakeBotAPI
    app: App
    clock: FakeClock
    sleeps: list[float] = field(default_factory=list)
    last_said: dict[int, int] = field(default_factory=dict)

    async def say(
        self, user_id: int, text: str, *, chat_id: int = GROUP_ID, **options: object
    ) -> int:
        """A user sends a message (dated by the fake clock unless given); waits until handled."""
        options.setdefault("date", self.clock.now())
        update_id = self.api.send_message(chat_id, user_id, text, **options)  # type: ignore[arg-type]
        return await self.posted(update_id, chat_id)

    async def posted(self, update_id: int, chat_id: int = GROUP_ID) -> int:
        """Waits until the message of that update is handled; replies are matched against it."""
        self.last_said[chat_id] = self.api.message_id_of(update_id)
        return await self.handled(update_id)

    async def run_due_work(self) -> None:
        """What the scheduler does on its own, then the paced sending of what it queued."""
        await self.app.run_due_work()
        await self.app.sender.drain()

    async def handled(self, update_id: int) -> int:
        """Waits until the update is handled and what it queued has been sent."""
        await self.api.wait_until_handled(update_id)
        await self.app.replies.idle()
        await self.app.sender.drain()
        return update_id

    def replies(self, chat_id: int = GROUP_ID) -> list[SentMessage]:
        return self.api.messages_to(chat_id)

    def last_reply(self, chat_id: int = GROUP_ID) -> str:
        """The bot's reply to the message last said in that chat."""
        said = self.last_said.get(chat_id)
        replies = [m for m in self.api.messages_to(chat_id) if m.reply_to_message_id == said]
        assert replies, f"the bot did not reply to message {said} in chat {chat_id}"
        return replies[-1].text or ""

    def last_message(self, chat_id: int = GROUP_ID) -> str:
        messages = self.api.messages_to(chat_id)
        assert messages, "the bot sent nothing"
        return messages[-1].text or ""


def make_settings(api: FakeBotAPI, database_url: str) -> Settings:
    return Settings(
        bot_token=api.token,
        database_url=database_url,
        bot_api_base_url=api.base_url,
        owner_ids=frozenset({OWNER_ID}),
        polling_timeout=1,
        due_work_seconds=0,
        background_sender=False,
        default_language="en",
    )


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[FakeBotAPI]:
    fake = FakeBotAPI(wall_clock=clock.now, time_source=lambda: clock.now().timestamp())
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def start_bot(
    api: FakeBotAPI, database_url: str, clock: FakeClock, sleeps: list[float]
) -> tuple[App, asyncio.Task[None]]:
    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds=seconds)

    app = build_app(make_settings(api, database_url), clock=clock, sleep=record_sleep)
    polls_before = len(api.calls("getUpdates"))
    task = asyncio.create_task(app.start_polling(handle_signals=False))
    for _ in range(500):
        if len(api.calls("getUpdates")) > polls_before or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    return app, task


async def stop_bot(app: App, task: asyncio.Task[None]) -> None:
    await app.stop_polling()
    await asyncio.wait_for(task, timeout=10)
    await app.close()


@pytest.fixture
async def harness(api: FakeBotAPI, sqlite_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    """A supergroup with a creator and an administrator, and the bot added as an administrator."""
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    api.add_member(GROUP_ID, OWNER_ID)
    sleeps: list[float] = []
    app, task = await start_bot(api, sqlite_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    await stop_bot(app, task)
