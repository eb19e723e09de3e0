"""Campaigns on a schedule and paced sending, with a fake clock and the fake Bot API."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, select

from bot.domain.models import UserInfo
from bot.services.membership import member_joined, set_private_chat
from handlers.campaign_runs import CAMPAIGN_JOB, scheduled_campaigns, sync_campaign_jobs
from seedbot.app import build_app
from storage.models import CampaignRunRow, OutgoingMessageRow
from storage.uow import unit_of_work
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness, make_settings
from tests.e2e.helpers import add_members

NEW_YORK = ZoneInfo("America/New_York")


def posts(harness: Harness, needle: str) -> list[str]:
    """What the bot posted on its own (not replies) containing `needle`."""
    return [
        m.text or ""
        for m in harness.replies()
        if needle in (m.text or "") and m.reply_to_message_id is None
    ]


async def test_daily_campaign_keeps_local_time_across_daylight_saving(harness: Harness) -> None:
    clock = harness.clock
    await harness.say(CREATOR_ID, "/timezone America/New_York")
    assert "America/New_York" in harness.last_reply()
    await harness.say(CREATOR_ID, "/campaign add daily 09:00 Good morning, {community}! {date}")
    assert "first post 2026-03-02 09:00" in harness.last_reply()  # it is 20:00 on 1 March there

    post_times = []
    # Ten days, 1 to 11 March 2026; New York moves from UTC-5 to UTC-4 on 8 March.
    for _ in range(10 * 24 * 4):
        clock.advance(minutes=15)
        before = len(posts(harness, "Good morning"))
        await harness.run_due_work()
        if len(posts(harness, "Good morning")) > before:
            post_times.append(clock.now())
    assert len(post_times) == 10
    local = [moment.astimezone(NEW_YORK) for moment in post_times]
    assert {(moment.hour, moment.minute) for moment in local} == {(9, 0)}
    assert [moment.astimezone(UTC).hour for moment in post_times].count(14) == 6  # EST days
    assert [moment.astimezone(UTC).hour for moment in post_times].count(13) == 4  # EDT days
    assert posts(harness, "Good morning")[0] == "Good morning, Seed Users! 2026-03-02"


async def test_one_off_posts_once_and_is_done(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 12:00 Launch day! 🚀")
    assert "#1" in harness.last_reply()
    harness.clock.advance(hours=3, minutes=1)  # 12:01 in Shanghai
    for _ in range(3):
        await harness.run_due_work()
    assert len(posts(harness, "Launch day")) == 1
    await harness.say(CREATOR_ID, "/campaign show 1")
    assert "done" in harness.last_reply() and "posted" in harness.last_reply()


async def test_bad_campaigns_are_refused_with_a_reason(harness: Harness) -> None:
    cases = {
        "/campaign add hourly 09:00 hi": "can't read that schedule",
        "/campaign add daily 25:00 hi": "can't read that schedule",
        "/campaign add at 2026-02-30 10:00 hi": "can't read that schedule",
        "/campaign add at 2026-03-01 10:00 hi": "already passed",
        "/campaign add daily 09:00 Hello {name}": "Unknown placeholder {name}",
        "/campaign add daily 09:00 <b>bold": "&lt;b&gt; is never closed",
        "/campaign add daily 09:00 " + "x" * 4097: "too long",
        "/campaign add daily 09:00": "Usage",
        "/campaign show 99": "no campaign #99",
        "/campaign frobnicate": "Usage",
    }
    for command, expected in cases.items():
        await harness.say(CREATOR_ID, command)
        assert expected in harness.last_reply(), (command, harness.last_reply())
    add_members(harness, [1001])
    await harness.say(1001, "/campaign list")
    assert "Only moderators" in harness.last_reply()
    async with harness.app.session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(CampaignRunRow)) == 0


async def test_list_pause_resume_delete_test_and_buttons(harness: Harness) -> None:
    api = harness.api
    await harness.say(
        CREATOR_ID,
        "/campaign add weekly mon 20:00 <b>Weekly AMA</b> with {member_count} members\n"
        "button: Join the call | https://example.org/call",
    )
    await harness.say(CREATOR_ID, "/campaign add monthly 1 10:00 Member day!\nbutton: checkin")
    await harness.say(CREATOR_ID, "/campaign list")
    listing = harness.last_reply()
    assert "#1 weekly mon 20:00 — next: 2026-03-02 20:00 — active" in listing
    assert "#2 monthly 1 10:00 — next: 2026-04-01 10:00 — active" in listing

    await harness.say(CREATOR_ID, "/campaign test 1")
    assert "Start a private chat" in harness.last_reply()
    await harness.say(CREATOR_ID, "/start", chat_id=CREATOR_ID)
    await harness.say(CREATOR_ID, "/campaign test 1")
    test_post = api.messages_to(CREATOR_ID)[-1]
    assert test_post.text == "<b>Weekly AMA</b> with 0 members"
    assert test_post.reply_markup is not None
    assert test_post.reply_markup["inline_keyboard"][0][0]["url"] == "https://example.org/call"

    # With a private chat open, the set-up answers go there (the group gets one line).
    await harness.say(CREATOR_ID, "/campaign pause 1")
    assert "paused" in harness.last_message(CREATOR_ID)
    harness.clock.advance(hours=12)  # past Monday 20:00
    await harness.run_due_work()
    assert posts(harness, "Weekly AMA") == []
    await harness.say(CREATOR_ID, "/campaign resume 1")
    assert "next: 2026-03-09 20:00" in harness.last_message(
        CREATOR_ID
    )  # no backlog of the missed Monday
    await harness.say(CREATOR_ID, "/campaign delete 2")
    await harness.say(CREATOR_ID, "/campaign list")
    assert "#2" not in harness.last_message(CREATOR_ID)


async def test_missed_beyond_grace_is_recorded_not_posted(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add daily 10:00 Daily tip")
    await harness.say(CREATOR_ID, "/campaign grace 1 99999999")
    assert "between 1 and 10080" in harness.last_reply()
    harness.clock.advance(hours=1, minutes=30)  # 10:30: within the hour of grace
    await harness.run_due_work()
    assert len(posts(harness, "Daily tip")) == 1
    harness.clock.advance(days=3, hours=1)  # the bot was down for three runs
    await harness.run_due_work()
    assert len(posts(harness, "Daily tip")) == 1
    await harness.say(CREATOR_ID, "/campaign show 1")
    shown = harness.last_reply()
    assert shown.count("missed") == 3 and shown.count("posted") == 1
    assert "next: 2026-03-06 10:00" in shown
    # With a day of grace, a run after a long night is still posted.
    await harness.say(CREATOR_ID, "/campaign grace 1 1440")
    assert "up to 1440 minutes late" in harness.last_reply()
    harness.clock.advance(days=1, hours=20)
    await harness.run_due_work()
    assert len(posts(harness, "Daily tip")) == 2


async def test_restart_between_scheduling_and_run_posts_once(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 18:00 Evening event")
    settings = make_settings(harness.api, harness.app.settings.database_url)
    restarted = build_app(settings, clock=harness.clock)  # a new process on the same database
    harness.clock.advance(hours=9, minutes=5)
    await restarted.run_due_work()
    await restarted.sender.drain()
    await harness.run_due_work()  # the old one still running: nothing more
    await restarted.close()
    assert len(posts(harness, "Evening event")) == 1


async def test_two_schedulers_on_one_database_post_once(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add daily 09:30 Quiz time")
    other = build_app(
        make_settings(harness.api, harness.app.settings.database_url), clock=harness.clock
    )
    harness.clock.advance(minutes=31)
    await asyncio.gather(harness.app.run_due_work(), other.run_due_work())
    await asyncio.gather(harness.app.sender.drain(), other.sender.drain())
    await other.close()
    assert len(posts(harness, "Quiz time")) == 1


async def test_scheduler_jobs_are_rebuilt_from_the_campaigns_table(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add daily 09:00 A")
    await harness.say(CREATOR_ID, "/campaign add weekly fri 18:00 B")
    await harness.say(CREATOR_ID, "/campaign pause 1")
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.start(paused=True)
    try:
        scheduler.add_job(
            CAMPAIGN_JOB,
            "date",
            run_date=datetime(2030, 1, 1, tzinfo=UTC),
            id="campaign:77",
            kwargs={"campaign_id": 77},
        )
        sync_campaign_jobs(scheduler, await scheduled_campaigns(harness.app.open_uow))
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"campaign:2"}
        assert jobs["campaign:2"].func_ref == CAMPAIGN_JOB
        assert jobs["campaign:2"].kwargs == {"campaign_id": 2}
        assert jobs["campaign:2"].next_run_time == datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
    finally:
        scheduler.shutdown(wait=False)


async def test_builtin_checkin_post_and_weekly_leaderboard(harness: Harness) -> None:
    add_members(harness, [1001, 1002])
    await harness.say(1001, "/checkin")
    await harness.say(CREATOR_ID, "/campaign enable checkin")
    assert "daily 09:00" in harness.last_reply()
    await harness.say(CREATOR_ID, "/campaign enable leaderboard")
    assert "weekly mon 10:00 — next: 2026-03-02 10:00" in harness.last_reply()
    harness.clock.advance(hours=1, minutes=1)  # Monday 10:01
    await harness.run_due_work()
    boards = posts(harness, "Last week's top 10")
    assert boards and "No points were earned last week." in boards[0]
    harness.clock.advance(hours=23)  # Tuesday 09:01
    await harness.run_due_work()
    checkin_post = [m for m in harness.replies() if "Daily check-in" in (m.text or "")][-1]
    assert checkin_post.reply_markup is not None
    data = checkin_post.reply_markup["inline_keyboard"][0][0]["callback_data"]
    await harness.handled(harness.api.press_button(GROUP_ID, checkin_post.message_id, 1002, data))
    assert "+10 points" in harness.api.callback_answers[-1]["text"]
    harness.clock.advance(days=6)  # next Monday 09:01 → the board of last week at 10:00
    harness.clock.advance(hours=1)
    await harness.run_due_work()
    board = posts(harness, "Last week's top 10")[-1]
    assert "1. <b>User 1001</b> — 10" in board and "User 1002" in board


async def seed_reminder_members(harness: Harness, count: int) -> list[int]:
    """`count` members on a 3-day streak who checked in yesterday and opened a private chat."""
    community_id = GROUP_ID
    yesterday = date(2026, 3, 1)
    user_ids = list(range(20_000, 20_000 + count))
    async with unit_of_work(harness.app.session_factory) as uow:
        community = await uow.communities.get(community_id)
        assert community is not None
        for user_id in user_ids:
            user = UserInfo(id=user_id, first_name=f"Streaker {user_id}")
            await member_joined(uow, community, user, harness.clock.now())
            await uow.members.record_checkin_streak(community_id, user_id, 3, yesterday)
            await set_private_chat(uow, user, True)
            harness.api.add_user(user_id, f"Streaker {user_id}")
            harness.api.open_private_chat(user_id)
    return user_ids


async def test_500_private_reminders_respect_the_limits(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    user_ids = await seed_reminder_members(harness, 500)
    # One member blocks the bot and Telegram tells the bot; another blocked it unnoticed, so
    # the first message to them is refused with 403.
    blocked_update = api.block_bot(user_ids[1])
    assert blocked_update is not None
    await harness.handled(blocked_update)
    api.enforce_rate_limits = True
    await harness.say(CREATOR_ID, "/campaign enable reminder 20:00")
    api.fail_next(
        "sendMessage", error_code=403, description="Forbidden: bot was blocked by the user"
    )
    clock.set(datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC))  # 20:00:30 in Shanghai
    started = clock.now()
    await harness.run_due_work()

    reminders = [m for m in api.sent_messages if m.chat_id in set(user_ids) and m.kind == "send"]
    assert len(reminders) == 498
    assert not [c for c in api.calls("sendMessage") if int(c["chat_id"]) == user_ids[1]]
    assert api.rate_limit_violations == 0
    assert clock.now() - started >= timedelta(seconds=498 / 30 - 1)  # paced, not bursted
    async with harness.app.session_factory() as session:
        blocked = await session.scalar(
            select(func.count())
            .select_from(OutgoingMessageRow)
            .where(OutgoingMessageRow.status == "blocked")
        )
    assert blocked == 1

    # The next evening the member who blocked the bot is skipped without another attempt.
    async with unit_of_work(harness.app.session_factory) as uow:
        for user_id in user_ids:
            await uow.members.record_checkin_streak(GROUP_ID, user_id, 4, date(2026, 3, 2))
    attempts_before = len([c for c in api.calls("sendMessage") if int(c["chat_id"]) == user_ids[0]])
    clock.set(datetime(2026, 3, 3, 12, 0, 30, tzinfo=UTC))
    await harness.run_due_work()
    attempts_after = len([c for c in api.calls("sendMessage") if int(c["chat_id"]) == user_ids[0]])
    assert attempts_after == attempts_before
    assert api.rate_limit_violations == 0


async def test_group_posts_stay_under_twenty_a_minute(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    api.enforce_rate_limits = True
    async with unit_of_work(harness.app.session_factory) as uow:
        for index in range(45):
            await uow.outgoing.enqueue(
                GROUP_ID,
                "announcement",
                {"text": f"News {index}"},
                f"news:{index}",
                clock.now(),
                clock.now(),
            )
    started = clock.now()
    await harness.app.sender.drain()
    assert len(posts(harness, "News")) == 45
    assert api.rate_limit_violations == 0
    assert clock.now() - started >= timedelta(minutes=2)


async def test_photo_campaign_posts_the_replied_photo(harness: Harness) -> None:
    photo_update = harness.api.send_photo_message(GROUP_ID, CREATOR_ID, caption="poster")
    await harness.handled(photo_update)
    photo_message = harness.api.message_id_of(photo_update)
    await harness.say(
        CREATOR_ID,
        "/campaign add daily 09:30 <i>Tonight</i>: demo with {top_member}",
        reply_to_message_id=photo_message,
    )
    assert "saved" in harness.last_reply()
    harness.clock.advance(minutes=31)
    await harness.run_due_work()
    photo_posts = [m for m in harness.api.sent_messages if m.method == "sendPhoto"]
    assert len(photo_posts) == 1
    # The poster earned the week's only point, so they are the top member.
    assert photo_posts[0].photo and photo_posts[0].text == "<i>Tonight</i>: demo with Creator"


async def test_a_message_in_flight_at_a_crash_is_never_sent_again(harness: Harness) -> None:
    async with unit_of_work(harness.app.session_factory) as uow:
        await uow.outgoing.enqueue(
            GROUP_ID,
            "announcement",
            {"text": "Once only"},
            "once",
            harness.clock.now(),
            harness.clock.now(),
        )
        (message,) = await uow.outgoing.due(harness.clock.now(), 10)
        assert await uow.outgoing.claim(message.id)  # a sender took it, then the process died
    restarted = build_app(
        make_settings(harness.api, harness.app.settings.database_url), clock=harness.clock
    )
    await restarted.sender.recover()
    await restarted.sender.drain()
    await harness.app.sender.drain()
    await restarted.close()
    assert posts(harness, "Once only") == []
    async with harness.app.session_factory() as session:
        status = await session.scalar(select(OutgoingMessageRow.status))
    assert status == "uncertain"


async def test_the_production_scheduler_keeps_one_job_per_campaign(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/campaign add daily 09:00 A")
    settings = make_settings(harness.api, harness.app.settings.database_url)
    settings = settings.model_copy(update={"due_work_seconds": 3600})
    app = build_app(settings, clock=harness.clock)
    await app.start_scheduler()
    try:
        assert {job.id for job in app.scheduler.get_jobs()} == {"due_work", "campaign:1"}
        await harness.say(CREATOR_ID, "/campaign add weekly fri 18:00 B")
        await harness.say(CREATOR_ID, "/campaign pause 1")
        assert app.jobs is not None
        await app.jobs.run()  # what the periodic job does
        assert {job.id for job in app.scheduler.get_jobs()} == {"due_work", "campaign:2"}
    finally:
        app.scheduler.shutdown(wait=False)
        await app.close()
