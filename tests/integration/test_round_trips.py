"""Database statements per check-in, counted at the cursor, through the real bot."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.statement_count import count_statements
from bot.domain.models import UserInfo
from bot.services.membership import CommunityDefaults, ensure_community
from handlers.checkin import CheckinButton
from storage.uow import unit_of_work
from tests.e2e.conftest import GROUP_ID, Harness, api, clock, harness
from tests.e2e.helpers import add_members, ledger_matches_balances

# The activity day (the record behind /stats and the lifecycle) is one upsert of each.
# A member's first activity of the day adds one conditional UPDATE (an at-risk or churned
# member is won back at once): 9 -> 10 for the first-time press; the known member, already
# active today, pays nothing more. A page of presses adds one statement, whatever its size:
# the answers it remembers for a redelivery after a crash.
FIRST_TIME_MAX = 11
KNOWN_MEMBER_MAX = 7
REPEAT_MAX = 4
# Not counted: the batch's transaction and each update's savepoint.
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")
__all__ = ["api", "clock", "harness"]  # the end-to-end fixtures, used here too


@contextmanager
def statements(harness: Harness) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(statement: str) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            seen.append(" ".join(statement.split())[:90])

    stop = count_statements(harness.app.engine.sync_engine, count)
    try:
        yield seen
    finally:
        stop()


async def press(harness: Harness, user_id: int, message_id: int, data: str) -> list[str]:
    """The statements of handling one press (the paced sender's work afterwards excluded)."""
    with statements(harness) as seen:
        update_id = harness.api.press_button(GROUP_ID, message_id, user_id, data)
        await harness.api.wait_until_handled(update_id)
    await harness.handled(update_id)
    return seen


async def test_check_in_by_button_takes_few_statements(harness: Harness) -> None:
    add_members(harness, [1001, 1002])
    await harness.say(1002, "hello")  # 1002 is known to the bot, 1001 is not
    post_id = harness.replies()[0].message_id  # a button may be under any message of the bot
    data = CheckinButton().pack()

    first_time = await press(harness, 1001, post_id, data)
    repeat = await press(harness, 1001, post_id, data)
    known = await press(harness, 1002, post_id, data)

    answers = [a.get("text", "") for a in harness.api.callback_answers]
    assert "+10 points" in answers[0] and "already checked in" in answers[1]
    assert "+10 points" in answers[2]
    report = {"first time": first_time, "repeat": repeat, "known member": known}
    print({name: len(found) for name, found in report.items()})
    assert len(first_time) <= FIRST_TIME_MAX, first_time
    assert len(repeat) <= REPEAT_MAX, repeat
    assert len(known) <= KNOWN_MEMBER_MAX, known
    await ledger_matches_balances(harness)


class Undone(Exception):
    pass


async def test_a_community_change_is_seen_at_once_and_an_undone_one_never(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(session_factory) as uow:
        await ensure_community(uow, GROUP_ID, "Seeds", NOW, CommunityDefaults("UTC", "en"))
    async with unit_of_work(session_factory) as uow:
        assert (await uow.communities.get(GROUP_ID)) is not None  # now cached
        await uow.communities.set_language(GROUP_ID, "zh")
        changed = await uow.communities.get(GROUP_ID)
        assert changed is not None and changed.language == "zh"
    with pytest.raises(Undone):
        async with unit_of_work(session_factory) as uow:
            await uow.communities.set_timezone(GROUP_ID, "Asia/Tokyo")
            raise Undone()
    async with unit_of_work(session_factory) as uow:
        community = await uow.communities.get(GROUP_ID)
        assert community is not None
        assert (community.language, community.timezone) == ("zh", "UTC")
        await uow.communities.save_settings(replace(community, tier_thresholds=(0, 1, 2, 3, 4)))
    async with unit_of_work(session_factory) as uow:
        community = await uow.communities.get(GROUP_ID)
        assert community is not None and community.tier_thresholds == (0, 1, 2, 3, 4)


async def test_a_user_written_in_an_undone_savepoint_is_written_again(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    user = UserInfo(1001, "Ann", "ann", "en", False)
    async with unit_of_work(session_factory) as uow:
        await ensure_community(uow, GROUP_ID, "Seeds", NOW, CommunityDefaults("UTC", "en"))
        with pytest.raises(Undone):
            async with uow.savepoint():
                await uow.users.upsert(user)
                raise Undone()
    async with unit_of_work(session_factory) as uow:
        await uow.users.upsert(user)
        member = await uow.members.add(GROUP_ID, user.id, NOW, joined=True, display_name="Ann")
        assert member.display_name == "Ann"
    async with unit_of_work(session_factory) as uow:
        await uow.users.upsert(replace(user, first_name="Anna"))
        stored = await uow.users.get(user.id)
        assert stored is not None and stored.first_name == "Anna"
