"""The paced outgoing queue: each message at most once, chats in turns, every error ending in
a defined state. Through the fake Bot API over HTTP, with the fake clock."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from runtime.outbox import EDIT_TEXT
from runtime.sender import UNREADABLE, Sender
from seedbot.app import build_app
from storage.engine import build_engine, build_session_factory
from storage.models import (
    CampaignRow,
    CampaignRunRow,
    CheckinRow,
    CommunityRow,
    LedgerRow,
    MemberRow,
    OutgoingMessageRow,
)
from storage.uow import unit_of_work
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness, make_settings
from tests.e2e.helpers import ledger_matches_balances, stored

OTHER_GROUP_ID = -1009876543210
PRIVATE_USER_ID = 700
BASIC_GROUP_ID = -4001
SUPERGROUP_ID = -1004001


async def queue(harness: Harness, chat_id: int, text: str, key: str, at: datetime) -> None:
    async with unit_of_work(harness.app.session_factory) as uow:
        await uow.outgoing.enqueue(chat_id, "announcement", {"text": text}, key, at, at)


async def outgoing(harness: Harness, key: str) -> OutgoingMessageRow:
    async with stored(harness) as session:
        row = await session.scalar(
            select(OutgoingMessageRow).where(OutgoingMessageRow.dedup_key == key)
        )
    assert row is not None
    return row


def copies(harness: Harness, chat_id: int, text: str) -> int:
    return sum(1 for m in harness.api.messages_to(chat_id) if m.text == text)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_an_answer_lost_after_telegram_took_the_message_is_never_resent(
    harness: Harness,
) -> None:
    await queue(harness, GROUP_ID, "Big news", "news", harness.clock.now())
    harness.api.drop_answer("sendMessage")
    await harness.app.sender.drain()
    for _ in range(3):
        harness.clock.advance(minutes=10)
        await harness.app.sender.drain()
    restarted = build_app(
        make_settings(harness.api, harness.app.settings.database_url), clock=harness.clock
    )
    await restarted.sender.recover()
    await restarted.sender.drain()
    await restarted.close()
    assert copies(harness, GROUP_ID, "Big news") == 1
    row = await outgoing(harness, "news")
    assert row.status == "uncertain" and row.attempts == 1
    assert row.last_error is not None and "disconnected" in row.last_error


async def test_a_server_error_is_uncertain_and_not_resent(harness: Harness) -> None:
    await queue(harness, GROUP_ID, "Maybe news", "maybe", harness.clock.now())
    harness.api.fail_next("sendMessage", error_code=502)
    await harness.app.sender.drain()
    harness.clock.advance(minutes=10)
    await harness.app.sender.drain()
    assert copies(harness, GROUP_ID, "Maybe news") == 0
    row = await outgoing(harness, "maybe")
    assert row.status == "uncertain" and row.last_error == "Bad Gateway"


async def test_a_refused_connection_is_retried_and_delivered_once(harness: Harness) -> None:
    await queue(harness, GROUP_ID, "Surely new", "refused", harness.clock.now())
    settings = make_settings(harness.api, harness.app.settings.database_url)
    offline = build_app(
        settings.model_copy(update={"bot_api_base_url": f"http://127.0.0.1:{closed_port()}"}),
        clock=harness.clock,
    )
    await offline.sender.drain()
    await offline.close()
    row = await outgoing(harness, "refused")
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error is not None and "Cannot connect" in row.last_error
    await harness.app.sender.drain()
    assert copies(harness, GROUP_ID, "Surely new") == 0  # not before its backoff
    harness.clock.advance(seconds=6)
    await harness.app.sender.drain()
    await harness.app.sender.drain()
    assert copies(harness, GROUP_ID, "Surely new") == 1
    assert (await outgoing(harness, "refused")).status == "sent"


async def test_an_idle_chat_is_served_within_seconds_while_a_group_is_busy(
    harness: Harness,
) -> None:
    api, clock = harness.api, harness.clock
    api.add_user(PRIVATE_USER_ID, "Pat")
    api.open_private_chat(PRIVATE_USER_ID)
    api.add_group(OTHER_GROUP_ID, "Other Seeds", creator_id=CREATOR_ID)
    await harness.handled(api.add_bot_to_group(OTHER_GROUP_ID, by_user_id=CREATOR_ID))
    start = clock.now()
    for index in range(300):
        await queue(harness, GROUP_ID, f"Bulk {index}", f"bulk:{index}", start)
    arrival = start + timedelta(seconds=90)  # while the group's backlog drains, off its windows
    await queue(harness, PRIVATE_USER_ID, "Your reward", "private", arrival)
    await queue(harness, OTHER_GROUP_ID, "Other news", "other", arrival)
    api.enforce_rate_limits = True
    await harness.app.sender.drain()

    (private,) = api.messages_to(PRIVATE_USER_ID)
    (other,) = [m for m in api.messages_to(OTHER_GROUP_ID) if m.text == "Other news"]
    assert private.date - arrival <= timedelta(seconds=3)
    assert other.date - arrival <= timedelta(seconds=3)
    bulk = [m.date for m in api.messages_to(GROUP_ID) if (m.text or "").startswith("Bulk")]
    assert len(bulk) == 300
    assert api.rate_limit_violations == 0
    for index in range(len(bulk) - 20):
        assert bulk[index + 20] - bulk[index] >= timedelta(seconds=59)


async def test_a_refused_campaign_post_is_shown_failed_with_the_reason(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 12:00 Launch day")
    harness.api.fail_next(
        "sendMessage", error_code=400, description="Bad Request: message is too long"
    )
    harness.clock.advance(hours=3, minutes=1)
    await harness.run_due_work()
    await harness.say(CREATOR_ID, "/campaign show 1")
    shown = harness.last_reply()
    assert "failed: Bad Request: message is too long" in shown and "posted" not in shown


async def test_a_campaign_run_is_posted_only_once_telegram_took_it(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 12:00 Launch day")
    harness.clock.advance(hours=3, minutes=1)
    await harness.app.run_due_work()  # queued, not sent yet
    async with stored(harness) as session:
        run = await session.scalar(select(CampaignRunRow))
        message = await session.scalar(select(OutgoingMessageRow))
    assert run is not None and message is not None
    assert run.outcome == "queued" and message.campaign_run_id == run.id
    harness.api.drop_answer("sendMessage")
    await harness.app.sender.drain()
    await harness.say(CREATOR_ID, "/campaign show 1")
    assert "uncertain (not sent again): ServerDisconnectedError" in harness.last_reply()


async def test_a_campaign_run_shows_posted_after_sending(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 12:00 Launch day")
    harness.clock.advance(hours=3, minutes=1)
    await harness.run_due_work()
    await harness.say(CREATOR_ID, "/campaign show 1")
    assert "— posted" in harness.last_reply()


async def seed_basic_group(harness: Harness) -> None:
    """A basic group with a member who checked in and a campaign planned for 12:00."""
    api = harness.api
    api.add_group(BASIC_GROUP_ID, "Basic Seeds", creator_id=CREATOR_ID, basic=True)
    add_members_to(harness, BASIC_GROUP_ID, [1001])
    await harness.handled(api.add_bot_to_group(BASIC_GROUP_ID, by_user_id=CREATOR_ID))
    await harness.say(1001, "/checkin", chat_id=BASIC_GROUP_ID)
    assert "+10" in harness.last_reply(BASIC_GROUP_ID)
    await harness.say(
        CREATOR_ID, "/campaign add at 2026-03-02 12:00 Upgrade party", chat_id=BASIC_GROUP_ID
    )


def add_members_to(harness: Harness, chat_id: int, user_ids: list[int]) -> None:
    for user_id in user_ids:
        harness.api.add_user(user_id, f"User {user_id}", username=f"user{user_id}")
        harness.api.add_member(chat_id, user_id)


async def community_rows(harness: Harness, community_id: int) -> dict[str, int]:
    async with stored(harness) as session:
        counts = {}
        for name, column in {
            "communities": CommunityRow.id,
            "members": MemberRow.community_id,
            "checkins": CheckinRow.community_id,
            "ledger": LedgerRow.community_id,
            "campaigns": CampaignRow.community_id,
        }.items():
            counts[name] = int(
                await session.scalar(select(func.count()).where(column == community_id)) or 0
            )
    return counts


async def test_a_post_to_an_upgraded_group_moves_the_community_and_is_sent_there(
    harness: Harness,
) -> None:
    await seed_basic_group(harness)
    before = await community_rows(harness, BASIC_GROUP_ID)
    harness.api.migrate_group(BASIC_GROUP_ID, SUPERGROUP_ID, by_user_id=CREATOR_ID, notify=False)
    harness.clock.advance(hours=3, minutes=1)
    await harness.run_due_work()
    assert copies(harness, SUPERGROUP_ID, "Upgrade party") == 1
    assert await community_rows(harness, SUPERGROUP_ID) == before
    assert set((await community_rows(harness, BASIC_GROUP_ID)).values()) == {0}
    async with stored(harness) as session:
        run = await session.scalar(select(CampaignRunRow))
    assert run is not None and run.outcome == "posted"
    await ledger_matches_balances(harness)
    await harness.say(1001, "/checkin", chat_id=SUPERGROUP_ID)
    assert "already checked in" in harness.last_reply(SUPERGROUP_ID)


async def test_the_upgrade_service_messages_move_the_community_once(harness: Harness) -> None:
    await seed_basic_group(harness)
    before = await community_rows(harness, BASIC_GROUP_ID)
    updates = harness.api.migrate_group(BASIC_GROUP_ID, SUPERGROUP_ID, by_user_id=CREATOR_ID)
    assert updates is not None
    for update_id in updates:
        await harness.handled(update_id)
    assert await community_rows(harness, SUPERGROUP_ID) == before
    assert set((await community_rows(harness, BASIC_GROUP_ID)).values()) == {0}
    harness.clock.advance(hours=3, minutes=1)
    await harness.run_due_work()
    assert copies(harness, SUPERGROUP_ID, "Upgrade party") == 1
    await harness.say(CREATOR_ID, "/campaign show 1", chat_id=SUPERGROUP_ID)
    assert "— posted" in harness.last_reply(SUPERGROUP_ID)


async def test_chat_not_found_fails_with_the_reason(harness: Harness) -> None:
    await queue(harness, 123_456, "Hello stranger", "stranger", harness.clock.now())
    await harness.app.sender.drain()
    row = await outgoing(harness, "stranger")
    assert row.status == "failed" and row.last_error == "Bad Request: chat not found"


@contextmanager
def database_failing(
    engine: AsyncEngine, words: tuple[str, ...], times: int = 1
) -> Iterator[list[str]]:
    """The next `times` statements holding all these words fail as a locked database does."""
    failed: list[str] = []
    dbapi = engine.dialect.dbapi
    assert dbapi is not None

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if len(failed) < times and all(word in statement for word in words):
            failed.append(statement)
            raise dbapi.OperationalError("database is locked")

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield failed
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


class Stopped(BaseException):
    pass


def own_sender(harness: Harness, engine: AsyncEngine, stop_when: Any = None) -> Sender:
    """A sender with an engine of its own (so that its database can fail), sleeping on the
    fake clock; its run() ends at a sleep once `stop_when()` is true."""

    async def sleep(seconds: float) -> None:
        harness.sleeps.append(seconds)
        harness.clock.advance(seconds=seconds)
        if stop_when is not None and stop_when():
            raise Stopped

    return Sender(
        harness.app.bot,
        partial(unit_of_work, build_session_factory(engine)),
        harness.clock,
        sleep=sleep,
    )


async def test_a_failed_write_after_sending_is_retried_not_left_sending(harness: Harness) -> None:
    await queue(harness, GROUP_ID, "Locked news", "locked", harness.clock.now())
    engine = build_engine(harness.app.settings.database_url)
    try:
        sender = own_sender(harness, engine)
        with database_failing(engine, ("UPDATE outgoing_messages", "sent_at"), times=2) as failed:
            assert await sender.drain() == 1
    finally:
        await engine.dispose()
    assert len(failed) == 2
    assert copies(harness, GROUP_ID, "Locked news") == 1
    row = await outgoing(harness, "locked")
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None


async def test_the_sender_starts_even_when_the_database_is_briefly_unavailable(
    harness: Harness,
) -> None:
    await queue(harness, GROUP_ID, "Morning news", "morning", harness.clock.now())
    engine = build_engine(harness.app.settings.database_url)
    try:
        sender = own_sender(
            harness, engine, stop_when=lambda: copies(harness, GROUP_ID, "Morning news") > 0
        )
        down = ("UPDATE campaign_runs", "outgoing_messages")  # recover()'s first statement
        with database_failing(engine, down, times=3) as failed, pytest.raises(Stopped):
            await sender.run()
    finally:
        await engine.dispose()
    assert len(failed) == 3  # recover() met the database down three times, then went on
    assert copies(harness, GROUP_ID, "Morning news") == 1
    assert (await outgoing(harness, "morning")).status == "sent"


async def test_a_429_for_one_chat_does_not_hold_up_the_others(harness: Harness) -> None:
    api, start = harness.api, harness.clock.now()
    api.add_user(PRIVATE_USER_ID, "Pat")
    api.open_private_chat(PRIVATE_USER_ID)
    await queue(harness, PRIVATE_USER_ID, "Slow down", "limited", start)
    await queue(harness, GROUP_ID, "Go on", "free", start)
    api.fail_next("sendMessage", error_code=429, retry_after=30)
    await harness.app.sender.drain()

    (free,) = [m for m in api.messages_to(GROUP_ID) if m.text == "Go on"]
    assert free.date - start <= timedelta(seconds=2)
    assert not any(seconds >= 30 for seconds in harness.sleeps)
    limited = await outgoing(harness, "limited")
    assert limited.status == "pending" and copies(harness, PRIVATE_USER_ID, "Slow down") == 0
    harness.clock.advance(seconds=30)
    await harness.app.sender.drain()
    assert copies(harness, PRIVATE_USER_ID, "Slow down") == 1
    assert (await outgoing(harness, "limited")).status == "sent"


async def test_an_unreadable_queued_message_fails_and_is_never_sent(harness: Harness) -> None:
    at = harness.clock.now()
    async with unit_of_work(harness.app.session_factory) as uow:
        await uow.outgoing.enqueue(GROUP_ID, "announcement", {"caption": "no text"}, "bad", at, at)
    await queue(harness, GROUP_ID, "Readable", "good", at)
    await harness.app.sender.drain()
    row = await outgoing(harness, "bad")
    assert row.status == "failed" and row.last_error == UNREADABLE
    assert [m.text for m in harness.api.messages_to(GROUP_ID)][-1] == "Readable"


async def test_a_campaign_run_for_a_group_that_removed_the_bot_fails(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 12:00 Launch day")
    async with unit_of_work(harness.app.session_factory) as uow:
        await uow.outgoing.block(GROUP_ID, "Forbidden: bot was kicked", harness.clock.now())
    harness.clock.advance(hours=3, minutes=1)
    await harness.run_due_work()
    assert copies(harness, GROUP_ID, "Launch day") == 0
    async with stored(harness) as session:
        run = await session.scalar(select(CampaignRunRow))
    assert run is not None and (run.outcome, run.detail) == ("failed", "chat is blocked")
    await harness.say(CREATOR_ID, "/campaign show 1")
    assert "failed: chat is blocked" in harness.last_reply()


async def queue_edit(harness: Harness, text: str, key: str, of: str, at: datetime) -> None:
    async with unit_of_work(harness.app.session_factory) as uow:
        payload = {"text": text, "edit_of": of}
        await uow.outgoing.enqueue(GROUP_ID, EDIT_TEXT, payload, key, at, at)


async def test_an_edit_changes_the_message_the_queue_sent(harness: Harness) -> None:
    now = harness.clock.now()
    await queue(harness, GROUP_ID, "Result: Ann", "result", now)
    await harness.app.sender.drain()
    (post,) = [m for m in harness.api.messages_to(GROUP_ID) if m.text == "Result: Ann"]
    assert (await outgoing(harness, "result")).sent_message_id == post.message_id

    await queue_edit(harness, "Result: Bob", "edit-1", "result", now)
    await queue_edit(harness, "Result: Bob", "edit-2", "result", now)  # not modified: done
    await harness.app.sender.drain()
    assert post.text == "Result: Bob" and copies(harness, GROUP_ID, "Result: Bob") == 1
    for key in ("edit-1", "edit-2"):
        row = await outgoing(harness, key)
        assert (row.status, row.last_error) == ("sent", None)
    edits = [m for m in harness.api.sent_messages if m.kind == "edit"]
    assert [m.message_id for m in edits] == [post.message_id]


async def test_an_edit_waits_for_its_original_still_queued(harness: Harness) -> None:
    now = harness.clock.now()
    await queue(harness, GROUP_ID, "Result: Ann", "result", now + timedelta(seconds=30))
    await queue_edit(harness, "Result: Bob", "edit", "result", now)
    await harness.app.sender.drain()
    assert not [m for m in harness.api.sent_messages if "Result" in (m.text or "")]
    harness.clock.advance(seconds=31)
    await harness.app.sender.drain()
    harness.clock.advance(seconds=2)
    await harness.app.sender.drain()
    results = [m for m in harness.api.sent_messages if "Result" in (m.text or "")]
    assert [(m.kind, m.text) for m in results] == [("send", "Result: Bob"), ("edit", "Result: Bob")]
