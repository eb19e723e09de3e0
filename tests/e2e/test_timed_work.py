"""Timed work that one bad setting or row cannot stop: the scheduler's start, each community's
own transactions, timezone changes and the streak reminder's day."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, update

from bot.domain.models import Community, UserInfo
from bot.services import campaigns
from bot.services.membership import member_joined, set_private_chat
from seedbot.app import build_app
from storage.models import CampaignRow, CommunityRow
from storage.uow import unit_of_work
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness, make_settings
from tests.e2e.helpers import add_members, stored

OTHER_GROUP = -1009876543210


def posts(harness: Harness, needle: str, chat_id: int = GROUP_ID) -> list[str]:
    return [
        m.text or ""
        for m in harness.api.messages_to(chat_id)
        if needle in (m.text or "") and m.reply_to_message_id is None
    ]


async def stored_grace(harness: Harness, campaign_id: int) -> int | None:
    async with stored(harness) as session:
        return await session.scalar(
            select(CampaignRow.grace_minutes).where(CampaignRow.id == campaign_id)
        )


async def stored_timezone(harness: Harness, chat_id: int = GROUP_ID) -> str | None:
    async with stored(harness) as session:
        return await session.scalar(select(CommunityRow.timezone).where(CommunityRow.id == chat_id))


async def add_other_group(harness: Harness) -> None:
    harness.api.add_group(OTHER_GROUP, "Other Seeds", creator_id=CREATOR_ID)
    await harness.handled(harness.api.add_bot_to_group(OTHER_GROUP, by_user_id=CREATOR_ID))


async def test_campaign_settings_out_of_range_are_refused(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add daily 10:00 Daily tip")
    for minutes in ("0", "10081", "999999999999"):
        await harness.say(CREATOR_ID, f"/campaign grace 1 {minutes}")
        assert "between 1 and 10080" in harness.last_reply()
    await harness.say(CREATOR_ID, "/campaign grace 1 -5")
    assert "Usage" in harness.last_reply()
    assert await stored_grace(harness, 1) == 60
    await harness.say(CREATOR_ID, "/campaign show 99999999999")  # past a 32-bit id
    assert "no campaign #99999999999" in harness.last_reply()
    await harness.say(CREATOR_ID, "/growth hours 100000")
    assert "between 0 and 2160" in harness.last_reply()
    await harness.say(CREATOR_ID, "/campaign grace 1 1")
    assert "up to 1 minutes late" in harness.last_reply()
    assert await stored_grace(harness, 1) == 1


async def test_corrupted_campaign_rows_are_skipped_and_the_bot_starts(harness: Harness) -> None:
    for spec in (
        "daily 09:30 Good morning",
        "daily 09:40 Zero grace",
        "daily 09:50 Garbage schedule",
        "daily 09:50 Negative grace",
        "daily 09:50 Placeholder",
    ):
        await harness.say(CREATOR_ID, f"/campaign add {spec}")
    async with stored(harness) as session:  # rows written by hand, or before the checks
        await session.execute(
            update(CampaignRow).where(CampaignRow.id == 2).values(grace_minutes=0)
        )
        await session.execute(
            update(CampaignRow).where(CampaignRow.id == 3).values(schedule="every full moon")
        )
        await session.execute(
            update(CampaignRow).where(CampaignRow.id == 4).values(grace_minutes=-30)
        )
        await session.execute(
            update(CampaignRow).where(CampaignRow.id == 5).values(text="Hi {oops}")
        )
        await session.commit()

    settings = make_settings(harness.api, harness.app.settings.database_url)
    restarted = build_app(settings.model_copy(update={"due_work_seconds": 3600}), harness.clock)
    try:
        await restarted.start_scheduler()  # raised at every start before
        jobs = {job.id: job for job in restarted.scheduler.get_jobs()}
        assert set(jobs) == {"due_work"} | {f"campaign:{number}" for number in range(1, 6)}
        assert jobs["campaign:2"].misfire_grace_time == 60  # taken as the 1-minute minimum
    finally:
        restarted.scheduler.shutdown(wait=False)
        await restarted.close()

    harness.clock.advance(minutes=31)  # 09:31
    await harness.run_due_work()
    harness.clock.advance(minutes=10)  # 09:41: one minute late is within the minimum grace
    await harness.run_due_work()
    harness.clock.advance(minutes=10)  # 09:51
    await harness.run_due_work()
    assert len(posts(harness, "Good morning")) == 1
    assert len(posts(harness, "Zero grace")) == 1
    assert len(posts(harness, "Negative grace")) == 1
    assert posts(harness, "Garbage schedule") == []
    await harness.say(CREATOR_ID, "/campaign list")
    assert "#3 every full moon — next: — — paused" in harness.last_reply()
    await harness.say(CREATOR_ID, "/campaign show 5")
    assert "failed: the text could not be filled in" in harness.last_reply()
    harness.clock.advance(days=1)  # the paused campaign no longer stands in the way
    await harness.run_due_work()
    assert len(posts(harness, "Good morning")) == 2


async def test_an_error_in_one_community_does_not_undo_another(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    api, clock = harness.api, harness.clock
    await add_other_group(harness)
    await harness.say(CREATOR_ID, "/campaign add daily 09:30 Morning in the first group")
    await harness.say(
        CREATOR_ID, "/campaign add daily 09:30 Morning in the other group", chat_id=OTHER_GROUP
    )
    api.add_user(2001, "First Newcomer")
    api.add_user(2002, "Other Newcomer")
    await harness.handled(api.join(GROUP_ID, 2001))
    await harness.handled(api.join(OTHER_GROUP, 2002))

    real_run_context = campaigns.run_context

    async def broken_for_the_first_group(
        uow: object, community: Community, *args: object, **kwargs: object
    ) -> object:
        if community.id == GROUP_ID:
            raise RuntimeError("a bug that shows only in the first group")
        return await real_run_context(uow, community, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(campaigns, "run_context", broken_for_the_first_group)
    clock.advance(minutes=31)
    await harness.run_due_work()
    assert len(posts(harness, "Morning in the other group", OTHER_GROUP)) == 1
    assert len(posts(harness, "Other Newcomer", OTHER_GROUP)) == 1
    assert posts(harness, "Morning in the first group") == []
    assert posts(harness, "First Newcomer") == []

    monkeypatch.setattr(campaigns, "run_context", real_run_context)  # the bug is fixed
    await harness.run_due_work()
    assert len(posts(harness, "Morning in the first group")) == 1
    assert len(posts(harness, "First Newcomer")) == 1
    assert len(posts(harness, "Morning in the other group", OTHER_GROUP)) == 1


async def test_bad_rows_in_one_community_are_skipped(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    await add_other_group(harness)
    await harness.say(CREATOR_ID, "/campaign add daily 09:30 Morning in the first group")
    await harness.say(
        CREATOR_ID, "/campaign add daily 09:30 Morning in the other group", chat_id=OTHER_GROUP
    )
    async with unit_of_work(harness.app.session_factory) as uow:  # written without the checks
        first = await uow.communities.get(GROUP_ID)
        assert first is not None
        growth = replace(first.growth, welcome_text="Hi {names}, see {oops}")
        await uow.communities.save_settings(replace(first, growth=growth))
        await uow.communities.set_timezone(OTHER_GROUP, "Mars/Olympus_Mons")
    api.add_user(2001, "First Newcomer")
    await harness.handled(api.join(GROUP_ID, 2001))
    clock.advance(minutes=31)
    await harness.run_due_work()
    assert len(posts(harness, "Morning in the first group")) == 1
    assert posts(harness, "Welcome, <b>First Newcomer</b>")  # the default welcome instead
    assert posts(harness, "Morning in the other group", OTHER_GROUP) == []
    await harness.say(CREATOR_ID, "/timezone Asia/Shanghai", chat_id=OTHER_GROUP)
    clock.advance(days=1)
    await harness.run_due_work()
    assert len(posts(harness, "Morning in the other group", OTHER_GROUP)) == 1


async def test_timezone_must_be_a_real_area_city_name(harness: Harness) -> None:
    for refused in ("localtime", "right/Asia/Shanghai", "posix/Asia/Shanghai", "Etc/GMT+8", "PRC"):
        await harness.say(CREATOR_ID, f"/timezone {refused}")
        assert f"Unknown timezone {refused}" in harness.last_reply()
        assert await stored_timezone(harness) == "Asia/Shanghai"
    await harness.say(CREATOR_ID, "/timezone europe/berlin")
    assert "This group's timezone: Europe/Berlin" in harness.last_reply()
    await harness.say(CREATOR_ID, "/timezone UTC")
    assert "This group's timezone: UTC" in harness.last_reply()
    assert await stored_timezone(harness) == "UTC"


async def test_changing_the_timezone_gives_no_second_checkin_for_the_same_day(
    harness: Harness,
) -> None:
    clock = harness.clock
    add_members(harness, [1001, 1002])
    await harness.say(CREATOR_ID, "/timezone America/Los_Angeles")
    clock.set(datetime(2026, 3, 3, 7, 30, tzinfo=UTC))  # 23:30 on 2 March in Los Angeles
    await harness.say(1001, "/checkin")
    assert "checked in: +10 points" in harness.last_reply()
    clock.advance(minutes=5)
    await harness.say(CREATOR_ID, "/timezone Asia/Shanghai")  # 15:35 on 3 March there
    clock.advance(minutes=5)
    await harness.say(1001, "/checkin")
    assert "already checked in today" in harness.last_reply()
    clock.set(datetime(2026, 3, 3, 16, 10, tzinfo=UTC))  # 00:10 on 4 March in Shanghai
    await harness.say(1001, "/checkin")
    assert "Streak: 2 days" in harness.last_reply()  # the streak goes on

    # And the other way: 23:30 in Shanghai, then the group moves to Los Angeles.
    clock.set(datetime(2026, 3, 4, 15, 30, tzinfo=UTC))
    await harness.say(1002, "/checkin")
    assert "checked in: +10 points" in harness.last_reply()
    await harness.say(CREATOR_ID, "/timezone America/Los_Angeles")
    clock.advance(minutes=10)
    await harness.say(1002, "/checkin")
    assert "already checked in today" in harness.last_reply()
    clock.set(datetime(2026, 3, 5, 8, 10, tzinfo=UTC))  # 00:10 on 5 March in Los Angeles
    await harness.say(1002, "/checkin")
    assert "Streak: 2 days" in harness.last_reply()


async def seed_streaker(harness: Harness, user_id: int, last_day: date, streak: int) -> None:
    async with unit_of_work(harness.app.session_factory) as uow:
        community = await uow.communities.get(GROUP_ID)
        assert community is not None
        user = UserInfo(id=user_id, first_name=f"Streaker {user_id}")
        await member_joined(uow, community, user, harness.clock.now())
        await uow.members.record_checkin_streak(GROUP_ID, user_id, streak, last_day)
        await set_private_chat(uow, user, True)
    harness.api.add_user(user_id, f"Streaker {user_id}")
    harness.api.open_private_chat(user_id)


async def test_the_streak_reminder_uses_its_scheduled_day(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    await seed_streaker(harness, 3001, date(2026, 3, 1), 3)  # must check in on 2 March
    await seed_streaker(harness, 3002, date(2026, 3, 2), 4)  # has all of 3 March
    await harness.say(CREATOR_ID, "/campaign enable reminder 20:00")
    await harness.say(CREATOR_ID, "/campaign grace 1 360")
    # The bot was down from before 20:00 on 2 March until 00:30 on 3 March (Shanghai).
    clock.set(datetime(2026, 3, 2, 16, 30, tzinfo=UTC))
    await harness.run_due_work()
    # The run is about 2 March: 3001's streak is already over, and 3002 is not at risk.
    assert api.messages_to(3001) == [] and api.messages_to(3002) == []
    # On 3 March the run is late again, but still on its day: 3002 is reminded.
    clock.set(datetime(2026, 3, 3, 15, 50, tzinfo=UTC))  # 23:50
    await harness.run_due_work()
    reminders = api.messages_to(3002)
    assert len(reminders) == 1 and "your 4-day streak" in (reminders[0].text or "")
    assert api.messages_to(3001) == []
