"""Check-in throughput through the whole bot, against a bare-dispatcher baseline in the same run.

    .venv/bin/python -m bench.checkin_throughput [--members 500]

Feeds pre-built `/checkin` updates from distinct members to the dispatcher (one after
another, as polling does) and reports updates per second for:
  baseline  the same updates through a Dispatcher with one no-op Command handler;
  seedbot   the real dispatcher: unit of work, update claim, check-in, ledger, and the reply
            sent over HTTP to the fake Bot API on 127.0.0.1.
Figures are printed as a ratio to the baseline, since absolute numbers vary by machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiogram import Dispatcher
from aiogram.filters import Command
from aiogram.types import Message, Update

from bot.app import build_app
from bot.config import Settings
from storage.migrate import upgrade_to_head
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

GROUP_ID = -1001234567890
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def checkin_updates(api: FakeBotAPI, members: int) -> list[Update]:
    updates = []
    for index in range(members):
        user_id = 10_000 + index
        api.add_user(user_id, f"Member {index}")
        api.add_member(GROUP_ID, user_id)
        update_id = api.send_message(GROUP_ID, user_id, "/checkin", date=START)
        updates.append(api.update_of(update_id))
    return updates


async def measure(dispatcher: Dispatcher, bot: object, updates: list[Update]) -> float:
    started = time.perf_counter()
    for update in updates:
        await dispatcher.feed_update(bot, update)  # type: ignore[arg-type]
    return len(updates) / (time.perf_counter() - started)


async def main(members: int) -> None:
    api = FakeBotAPI()
    await api.start()
    api.add_user(1, "Creator")
    api.add_group(GROUP_ID, "Bench", creator_id=1)
    api.add_bot_to_group(GROUP_ID, by_user_id=1)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await asyncio.to_thread(upgrade_to_head, url)
        settings = Settings(bot_token=api.token, database_url=url, bot_api_base_url=api.base_url)
        app = build_app(settings, clock=FakeClock(START))
        await app.bot.me()

        baseline = Dispatcher()

        @baseline.message(Command("checkin"))
        async def no_op(message: Message) -> None:
            return None

        warmup = checkin_updates(api, 20)
        await measure(baseline, app.bot, warmup)
        await measure(app.dispatcher, app.bot, warmup)

        updates = checkin_updates(api, members)
        base_rate = await measure(baseline, app.bot, updates)
        bot_rate = await measure(app.dispatcher, app.bot, updates)
        replies = sum(1 for m in api.sent_messages if m.text and "+10" in m.text)
        await app.close()
    await api.stop()
    print(f"members: {members}, replies sent: {replies}")
    print(f"baseline (bare dispatcher): {base_rate:,.0f} updates/s")
    print(f"seedbot check-in:           {bot_rate:,.0f} updates/s")
    print(f"ratio seedbot / baseline:   {bot_rate / base_rate:.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=500)
    asyncio.run(main(parser.parse_args().members))
