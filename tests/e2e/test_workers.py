"""Several workers on one PostgreSQL database: due work run by two of them at once does each
thing once; one of them leads (runs the scheduler and the outgoing queue), and when it dies
another takes over, posting what came due meanwhile once. Needs TEST_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from bot.services import onboarding, quizzes
from runtime.leader import Leadership, leader_key
from seedbot.app import App, build_app
from storage.engine import build_engine
from storage.leader_lock import AdvisoryLock
from storage.migrate import downgrade_to_base, upgrade_to_head
from storage.models import LotteryRow, MemberRow, OutgoingMessageRow, QuizSessionRow, SurveyRow
from storage.quizzes import SqlQuizRepository
from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    make_settings,
    stop_bot,
)
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.e2e.test_growth import INVITER, invite_link_of, ledger_kinds, open_private_chat
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
NEWCOMERS = {2001: "Newcomer Ann", 2002: "Newcomer Bo"}


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not POSTGRES_URL:
        pytest.skip("Several workers share a PostgreSQL database: set TEST_DATABASE_URL")
    downgrade_to_base(POSTGRES_URL)
    upgrade_to_head(POSTGRES_URL)
    yield POSTGRES_URL
    downgrade_to_base(POSTGRES_URL)


async def wait_forever(_seconds: float) -> None:
    """The leadership loop's wait in these tests: each attempt is made by the test."""
    await asyncio.Event().wait()


async def start_worker(
    api: FakeBotAPI, database_url: str, clock: FakeClock, sleeps: list[float]
) -> tuple[App, asyncio.Task[None]]:
    """`seedbot run` on the fake Bot API: polls, and asks for the leadership once."""

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds=seconds)

    app = build_app(make_settings(api, database_url), clock=clock, sleep=record_sleep)
    app.leader_sleep = wait_forever
    polls_before = len(api.calls("getUpdates"))
    task = asyncio.create_task(app.start_polling(handle_signals=False))
    for _ in range(500):
        if len(api.calls("getUpdates")) > polls_before or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    return app, task


@pytest.fixture
async def pg_harness(
    api: FakeBotAPI, postgres_url: str, clock: FakeClock
) -> AsyncIterator[Harness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    api.add_member(GROUP_ID, OWNER_ID)
    sleeps: list[float] = []
    app, task = await start_worker(api, postgres_url, clock, sleeps)
    harness = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await harness.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield harness
    await stop_bot(app, task)


async def both_run_due_work(harness: Harness, other: App, rounds: int = 3) -> None:
    """Two workers running the due work at the same moment, several times over each."""
    await asyncio.gather(
        *(app.run_due_work() for _ in range(rounds) for app in (harness.app, other))
    )
    await asyncio.gather(harness.app.sender.drain(), other.sender.drain())


def group_texts(harness: Harness) -> list[str]:
    return [message.text or "" for message in harness.replies()]


def count_containing(harness: Harness, part: str) -> int:
    return sum(part in posted for posted in group_texts(harness))


async def every_queued_post_arrived_once(harness: Harness) -> None:
    async with stored(harness) as session:
        rows = (
            await session.scalars(
                select(OutgoingMessageRow).where(OutgoingMessageRow.chat_id == GROUP_ID)
            )
        ).all()
    posted = group_texts(harness)
    for row in rows:
        assert row.status == "sent", (row.dedup_key, row.status)
        assert posted.count(row.payload["text"]) == 1, row.dedup_key


async def test_two_workers_running_the_due_work_at_once_do_each_thing_once(
    pg_harness: Harness,
) -> None:
    harness, api, clock = pg_harness, pg_harness.api, pg_harness.clock
    other = build_app(make_settings(api, harness.app.settings.database_url), clock=clock)
    try:
        add_members(harness, [INVITER])
        await open_private_chat(harness, INVITER)
        link = await invite_link_of(harness, INVITER)
        await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 09:30 Launch A")
        await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 09:40 Launch B")
        await harness.say(CREATOR_ID, "/lottery new Spring | A mug | 2026-03-02 09:45")
        await harness.say(CREATOR_ID, "/survey duration 1")
        await harness.say(CREATOR_ID, "/survey nps")
        await harness.say(ADMIN_ID, "/quiz add First? | a | *b")
        await harness.say(ADMIN_ID, "/quiz add Second? | *c | d")
        await harness.say(ADMIN_ID, "/quiz start 2")
        for user_id, first_name in NEWCOMERS.items():
            api.add_user(user_id, first_name)
            await harness.handled(api.join(GROUP_ID, user_id, invite_link=link))
            await harness.say(user_id, "/checkin")

        await both_run_due_work(harness, other)  # the first question, the welcome
        for _ in range(2):
            clock.advance(seconds=36)
            await both_run_due_work(harness, other)  # the second question, then the results
        clock.advance(minutes=49)  # 09:50: both campaigns and the draw
        await both_run_due_work(harness, other)
        clock.advance(hours=24)  # the referrals re-checked, the survey closed
        await both_run_due_work(harness, other)

        assert count_containing(harness, "Launch A") == 1
        assert count_containing(harness, "Launch B") == 1
        assert count_containing(harness, "is drawn!") == 1
        assert count_containing(harness, "The quiz is over") == 1
        assert len(api.calls("sendPoll")) == 2
        welcomes = [posted for posted in group_texts(harness) if "Welcome" in posted]
        for first_name in NEWCOMERS.values():
            assert sum(first_name in welcome for welcome in welcomes) == 1, welcomes
        assert sorted(await ledger_kinds(harness)) == [
            ("referral", INVITER, 50),
            ("referral", INVITER, 50),
            ("welcome_bonus", 2001, 20),
            ("welcome_bonus", 2002, 20),
        ]
        async with stored(harness) as session:
            assert await session.scalar(select(SurveyRow.status)) == "closed"
            assert await session.scalar(select(LotteryRow.status)) == "drawn"
        await every_queued_post_arrived_once(harness)
        await ledger_matches_balances(harness)
    finally:
        await other.close()


async def test_a_welcome_taken_by_one_worker_leaves_later_newcomers_to_the_next(
    pg_harness: Harness,
) -> None:
    """While one worker welcomes a group's newcomers, another does not take them too (nor
    the newcomer who joined meanwhile, whom its welcome would have named in vain)."""
    harness = pg_harness
    add_members(harness, [3001, 3002, 3003])
    for user_id in (3001, 3002, 3003):
        await harness.say(user_id, "/checkin")  # member rows
    now = harness.clock.now()
    async with stored(harness) as session:
        await session.execute(
            update(MemberRow)
            .where(MemberRow.user_id.in_([3001, 3002]))
            .values(welcome_due_at=now - timedelta(seconds=1))
        )
        await session.commit()

    async with harness.app.open_uow() as first:
        [batch] = await onboarding.take_due_welcomes(first, now, GROUP_ID)
        assert [user_id for user_id, _ in batch.newcomers] == [3001, 3002]
        async with stored(harness) as session:  # joins while the first worker welcomes
            await session.execute(
                update(MemberRow).where(MemberRow.user_id == 3003).values(welcome_due_at=now)
            )
            await session.commit()
        second = asyncio.create_task(take_welcomes(harness, now))
        await asyncio.sleep(0.5)  # the second worker's turn, while the first holds its rows
    assert await asyncio.wait_for(second, timeout=10) == []
    assert await take_welcomes(harness, now) == [3003]  # the next pass welcomes them


async def take_welcomes(harness: Harness, now: datetime) -> list[int]:
    async with harness.app.open_uow() as uow:
        batches = await onboarding.take_due_welcomes(uow, now, GROUP_ID)
        return [user_id for batch in batches for user_id, _ in batch.newcomers]


async def terminate(database_url: str, pid: int) -> None:
    engine = build_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await engine.dispose()


class Recorder:
    def __init__(self, name: str, events: list[str]) -> None:
        self.name = name
        self.events = events

    async def acquired(self) -> None:
        self.events.append(f"{self.name} leads")

    async def lost(self) -> None:
        self.events.append(f"{self.name} stops")


async def test_one_worker_leads_and_another_takes_over_when_it_dies(postgres_url: str) -> None:
    events: list[str] = []
    locks = [AdvisoryLock(postgres_url, leader_key(42)) for _ in range(2)]
    first, second = (
        Leadership(lock, Recorder(name, events).acquired, Recorder(name, events).lost)
        for lock, name in zip(locks, ("first", "second"), strict=True)
    )
    other_bot_lock = AdvisoryLock(postgres_url, leader_key(43))
    other_bot = Leadership(other_bot_lock, Recorder("other bot", events).acquired, noop)
    try:
        assert await first.step() is True
        assert await second.step() is False
        assert await first.step() is True  # still holds it
        assert await second.step() is False
        assert await other_bot.step() is True  # another bot's workers lead apart
        pid = await locks[0].backend_pid()
        assert pid is not None
        await terminate(postgres_url, pid)  # the leader's connection dies
        assert await first.step() is False
        assert await second.step() is True
        assert events == ["first leads", "other bot leads", "first stops", "second leads"]
        await second.close()  # a worker that stops lets the lock go at once
        assert await first.step() is True
    finally:
        for leadership in (first, second, other_bot):
            await leadership.close()
        for lock in (*locks, other_bot_lock):
            await lock.dispose()


async def noop() -> None:
    return None


async def test_a_campaign_due_during_the_hand_over_is_posted_once(
    pg_harness: Harness,
) -> None:
    harness, api, clock = pg_harness, pg_harness.api, pg_harness.clock
    leader = harness.app
    assert leader.leadership is not None and leader.leadership.leading
    settings = make_settings(api, leader.settings.database_url).model_copy(
        update={"due_work_seconds": 3600, "background_sender": True}
    )
    follower = build_app(settings, clock=clock)
    follower.leader_sleep = wait_forever
    await follower.start_background_work()
    try:
        assert follower.leadership is not None and not follower.leadership.leading
        assert follower.scheduler is None
        await harness.say(CREATOR_ID, "/campaign add at 2026-03-02 09:30 Hand-over post")
        clock.advance(minutes=31)  # due now; the leader dies before its job runs it
        lock = leader._leader_lock
        assert isinstance(lock, AdvisoryLock)
        pid = await lock.backend_pid()
        assert pid is not None
        await terminate(leader.settings.database_url, pid)
        assert await leader.leadership.step() is False  # it stops its timed work
        assert leader.scheduler is None
        assert await follower.leadership.step() is True  # its next attempt
        assert follower.scheduler is not None and follower.scheduler.running
        for _ in range(100):  # the new leader's scheduler and sender, on real time
            if count_containing(harness, "Hand-over post"):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        await leader.sender.drain()
        assert count_containing(harness, "Hand-over post") == 1
        await every_queued_post_arrived_once(harness)
    finally:
        await follower.stop_background_work()
        await follower.close()


async def test_a_worker_that_read_a_scheduled_quiz_before_another_started_it_starts_none(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker held up (a pause, a lost leader) after reading the due schedules must not
    start that moment's quiz again once the other's has finished."""
    await harness.say(ADMIN_ID, "/quiz add First? | a | *b")
    await harness.say(ADMIN_ID, "/quiz schedule daily 09:30 1")
    harness.clock.advance(minutes=30)
    now = harness.clock.now()
    async with harness.app.open_uow() as uow:
        read_before = await uow.quizzes.due_schedules(now, 10)
    assert len(read_before) == 1
    await harness.run_due_work()  # the other worker starts it
    async with stored(harness) as session:
        await session.execute(update(QuizSessionRow).values(status="done", next_step_at=None))
        await session.commit()

    async def stale(_self: object, _now: datetime, _limit: int) -> list[object]:
        return list(read_before)

    monkeypatch.setattr(SqlQuizRepository, "due_schedules", stale)
    async with harness.app.open_uow() as uow:
        await quizzes.start_scheduled(uow, now)
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(QuizSessionRow)) == 1
