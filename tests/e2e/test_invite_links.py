"""Personal invite links are made through the Bot API before the batch's transaction opens and
revoked after it commits (the suite fails any request made inside a transaction); a link made
for an update that turns out not to need it is revoked after the commit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.models import InviteLinkRow
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness, start_bot, stop_bot
from tests.e2e.helpers import add_members, stored
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

INVITER = 1001


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    """As tests/e2e/conftest.py's harness, on SQLite and (when configured) PostgreSQL."""
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID])
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    add_members(h, [INVITER])
    await h.say(INVITER, "/start", chat_id=INVITER)
    yield h
    await stop_bot(app, task)


def active_links(harness: Harness) -> list[str]:
    return [link["invite_link"] for link in harness.api.invite_links if not link["is_revoked"]]


async def stored_active_links(harness: Harness) -> list[str]:
    async with stored(harness) as session:
        rows = await session.scalars(
            select(InviteLinkRow.url).where(InviteLinkRow.revoked_at.is_(None))
        )
        return list(rows)


async def test_invite_links_are_made_before_the_transaction_and_revoked_after_it(
    harness: Harness,
) -> None:
    api = harness.api
    await harness.say(INVITER, "/invite")
    await harness.say(INVITER, "/invite")
    assert len(api.calls("createChatInviteLink")) == 1  # the member's link is reused
    first = active_links(harness)
    await harness.say(INVITER, "/invite new")
    renewed = active_links(harness)
    assert len(renewed) == 1 and renewed != first
    assert [call["invite_link"] for call in api.calls("revokeChatInviteLink")] == first
    assert renewed[0] in harness.last_message(chat_id=INVITER)
    await harness.say(INVITER, "/invite", chat_id=INVITER)
    assert renewed[0] in harness.last_message(chat_id=INVITER)
    assert await stored_active_links(harness) == renewed


@pytest.mark.parametrize("command", ["/invite", "/invite new"])
async def test_a_redelivered_invite_leaves_exactly_one_active_link(
    harness: Harness, command: str
) -> None:
    api = harness.api
    update = await harness.say(INVITER, command)
    sent = len(api.messages_to(INVITER))
    api.redeliver(update)
    await harness.handled(update)
    assert len(api.messages_to(INVITER)) == sent  # ignored: nothing said twice
    assert len(active_links(harness)) == 1
    assert await stored_active_links(harness) == active_links(harness)


async def test_two_renewals_in_one_page_leave_one_active_link(harness: Harness) -> None:
    api = harness.api
    await harness.say(INVITER, "/invite")
    updates = [api.send_message(GROUP_ID, INVITER, "/invite new") for _ in range(2)]
    for update in updates:
        await harness.handled(update)
    assert len(active_links(harness)) == 1
    assert await stored_active_links(harness) == active_links(harness)
    assert active_links(harness)[0] in harness.last_message(chat_id=INVITER)
