"""No Bot API request while a database transaction is open: rights come from a cache filled
before the transaction, refusals are explained after the commit."""

from __future__ import annotations

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from storage.engine import build_engine, build_session_factory
from storage.uow import unit_of_work
from tests.conftest import BotApiCallInTransaction
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members
from tests.fakes.bot_api import FakeBotAPI


async def test_the_suite_fails_a_request_made_inside_a_transaction(
    api: FakeBotAPI, sqlite_url: str, no_bot_api_call_in_transaction: list[str]
) -> None:
    engine = build_engine(sqlite_url)
    bot = Bot(api.token, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    try:
        await bot.get_me()  # outside: allowed
        async with unit_of_work(build_session_factory(engine)):
            with pytest.raises(BotApiCallInTransaction):
                await bot.get_me()
        assert no_bot_api_call_in_transaction == ["getMe"]
        no_bot_api_call_in_transaction.clear()  # seen: this test wanted it
    finally:
        await bot.session.close()
        await engine.dispose()


async def test_moderator_rights_are_read_before_the_transaction(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hello")
    await harness.say(CREATOR_ID, "/award @user1001 5")
    assert "+5 points" in harness.last_reply()
    await harness.say(ADMIN_ID, "/award @user1001 5")
    assert "+5 points" in harness.last_reply()
    assert len(harness.api.calls("getChatAdministrators")) == 1  # cached for the next command


async def test_a_promotion_counts_at_once_without_asking_telegram(harness: Harness) -> None:
    add_members(harness, [1001, 1002])
    await harness.say(1002, "hello")
    await harness.say(CREATOR_ID, "/award @user1002 1")
    asked = len(harness.api.calls("getChatAdministrators"))
    await harness.handled(harness.api.promote(GROUP_ID, 1001))
    await harness.say(1001, "/award @user1002 5")
    assert "+5 points" in harness.last_reply()
    await harness.handled(harness.api.demote(GROUP_ID, 1001))
    await harness.say(1001, "/award @user1002 5")
    assert "Only moderators" in harness.last_reply()
    assert len(harness.api.calls("getChatAdministrators")) == asked


async def test_unknown_rights_are_fetched_again_before_the_retry(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hello")
    harness.api.fail_next("getChatAdministrators", error_code=500)
    await harness.say(CREATOR_ID, "/award @user1001 5")
    assert "+5 points" in harness.last_reply()
    assert len(harness.api.calls("getChatAdministrators")) == 2


async def test_a_refusal_is_explained_after_the_commit(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "/award @user1001 100")
    assert "Only moderators" in harness.last_reply()
