"""The raw records behind community metrics: activity per member per local day and joins and
leaves as events, written as members use the bot."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from storage.models import ActivityDayRow, MembershipEventRow
from tests.e2e.conftest import GROUP_ID, START, Harness
from tests.e2e.helpers import add_members, stored

MEMBER = 1001
NEWCOMER = 1002


async def activity_days(harness: Harness) -> dict[tuple[int, date], tuple[int, int]]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(
                ActivityDayRow.user_id,
                ActivityDayRow.day,
                ActivityDayRow.messages,
                ActivityDayRow.checkins,
            ).where(ActivityDayRow.community_id == GROUP_ID)
        )
        return {(user, day): (messages, checkins) for user, day, messages, checkins in rows}


async def events(harness: Harness) -> list[tuple[int, str]]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(MembershipEventRow.user_id, MembershipEventRow.kind)
            .where(MembershipEventRow.community_id == GROUP_ID)
            .order_by(MembershipEventRow.id)
        )
        return [(user, kind) for user, kind in rows]


async def test_messages_and_check_ins_count_on_the_groups_local_day(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    shanghai_day = date(2026, 3, 2)  # START is 09:00 on 2 March in Shanghai
    await harness.say(MEMBER, "hello")
    harness.clock.advance(seconds=90)
    await harness.say(MEMBER, "still here")
    harness.clock.advance(seconds=90)
    await harness.say(MEMBER, "/checkin")
    harness.clock.advance(seconds=90)
    await harness.say(MEMBER, "/checkin")  # refused: already checked in, not counted again
    # 23:30 UTC on 2 March is 07:30 on 3 March in Shanghai.
    harness.clock.set(START.replace(hour=23, minute=30))
    await harness.say(MEMBER, "good morning")
    days = await activity_days(harness)
    assert days == {(MEMBER, shanghai_day): (2, 1), (MEMBER, shanghai_day + timedelta(1)): (1, 0)}


async def test_a_redelivered_message_counts_once(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    update_id = await harness.say(MEMBER, "hello")
    harness.api.redeliver(update_id)
    harness.clock.advance(seconds=5)
    await harness.say(MEMBER, "/me")
    assert (await activity_days(harness))[(MEMBER, date(2026, 3, 2))] == (1, 0)


async def test_joins_leaves_and_a_rejoin_are_events(harness: Harness) -> None:
    harness.api.add_user(NEWCOMER, "Newcomer")
    await harness.handled(harness.api.join(GROUP_ID, NEWCOMER))
    harness.clock.advance(hours=1)
    await harness.handled(harness.api.leave(GROUP_ID, NEWCOMER))
    harness.clock.advance(hours=1)
    await harness.handled(harness.api.join(GROUP_ID, NEWCOMER))
    # Someone who was in the group before the bot and never spoke leaves: a leave, no join.
    add_members(harness, [MEMBER])
    await harness.handled(harness.api.leave(GROUP_ID, MEMBER))
    assert await events(harness) == [
        (NEWCOMER, "join"),
        (NEWCOMER, "leave"),
        (NEWCOMER, "join"),
        (MEMBER, "leave"),
    ]
