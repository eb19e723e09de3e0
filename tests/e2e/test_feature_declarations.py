"""A feature's declaration alone brings its commands to /help, to the private chat and to the
command menus: a test feature is added to the real ones and nothing else is touched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from handlers import FEATURES
from handlers.filters.chat import InGroup
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox
from seedbot.app import build_app
from storage.privacy import MENTION_PARTS, PARTS
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness, make_settings
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

MEMBER = 1001
PRIVATE_USER = 2001


def setup_dice() -> Router:
    router = Router(name="dice")
    router.message.filter(InGroup())

    @router.message(Command("roll"))
    async def roll(message: Message, outbox: Outbox) -> None:
        outbox.reply(message, "🎲 4")

    return router


DICE = Feature(
    "dice",
    setup_dice,
    commands=(
        FeatureCommand("roll", "Roll a die"),
        FeatureCommand("loaded", "Load the die: /loaded <face>", moderators=True),
        FeatureCommand("odds", "The die's odds, also privately", private=True),
    ),
    update_types=("message_reaction",),
)


@pytest.fixture
async def dice_harness(
    api: FakeBotAPI, sqlite_url: str, clock: FakeClock
) -> AsyncIterator[Harness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(MEMBER, "Member")
    api.add_user(PRIVATE_USER, "Ann", language_code="en")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID])
    api.add_member(GROUP_ID, MEMBER)
    features = (*FEATURES[:-2], DICE, *FEATURES[-2:])  # before the catch-alls (activity, fallback)
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:  # paced sending waits on the fake clock
        sleeps.append(seconds)
        clock.advance(seconds=seconds)

    settings = make_settings(api, sqlite_url)
    app = build_app(settings, clock=clock, sleep=record_sleep, features=features)
    task = asyncio.create_task(app.start_polling(handle_signals=False))
    for _ in range(500):
        if api.calls("getUpdates") or task.done():
            break
        await asyncio.sleep(0.01)
    harness = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await harness.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield harness
    await app.stop_polling()
    await asyncio.wait_for(task, timeout=10)
    await app.close()


def menu(api: FakeBotAPI, scope: str, language: str = "") -> list[str]:
    for call in api.calls("setMyCommands"):
        scope_type = (call.get("scope") or {}).get("type", "default")
        if scope_type == scope and (call.get("language_code") or "") == language:
            return [command["command"] for command in call["commands"]]
    raise AssertionError(f"no setMyCommands for scope {scope} and language {language!r}")


async def test_a_declared_command_shows_in_help_the_private_chat_and_the_menus(
    dice_harness: Harness,
) -> None:
    harness = dice_harness
    allowed = harness.api.calls("getUpdates")[-1]["allowed_updates"]
    assert "message_reaction" in allowed and "chat_member" in allowed
    await harness.say(MEMBER, "/roll")
    assert harness.last_reply() == "🎲 4"

    await harness.say(MEMBER, "/help")
    member_help = harness.last_reply()
    assert "/roll — Roll a die" in member_help and "/odds" in member_help
    assert "/loaded" not in member_help and "/checkin" in member_help
    await harness.say(ADMIN_ID, "/help")
    assert "/loaded — Load the die: /loaded &lt;face&gt;" in harness.last_reply()

    await harness.say(PRIVATE_USER, "/help", chat_id=PRIVATE_USER)
    assert "/roll — Roll a die" in harness.last_reply(chat_id=PRIVATE_USER)
    await harness.say(PRIVATE_USER, "/start", chat_id=PRIVATE_USER)
    assert "/roll — Roll a die" in harness.last_reply(chat_id=PRIVATE_USER)
    await harness.say(PRIVATE_USER, "/roll", chat_id=PRIVATE_USER)
    assert "works inside a community group" in harness.last_reply(chat_id=PRIVATE_USER)
    replies_before = len(harness.replies(PRIVATE_USER))
    await harness.say(PRIVATE_USER, "/odds", chat_id=PRIVATE_USER)  # declared `private`
    assert all(
        "works inside a community group" not in (message.text or "")
        for message in harness.replies(PRIVATE_USER)[replies_before:]
    )

    for language in ("", "en", "zh"):
        for scope in ("default", "all_group_chats"):
            commands = menu(harness.api, scope, language)
            assert "roll" in commands and "odds" in commands and "loaded" not in commands
            assert "checkin" in commands
        administrators = menu(harness.api, "all_chat_administrators", language)
        assert {"roll", "odds", "loaded", "award"} <= set(administrators)


def test_every_privacy_section_is_claimed_by_exactly_one_feature() -> None:
    """Each feature names its part of /mydata and /forgetme (storage.privacy's sections)."""
    claimed = [section for feature in FEATURES for section in feature.data_sections]
    sections = {part.section for part in (*PARTS, *MENTION_PARTS)}
    assert sorted(claimed) == sorted(sections)
