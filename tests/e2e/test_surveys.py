"""Satisfaction surveys: an NPS survey answered by twenty members (answers changed, a
non-member's press refused), closed on the fake clock, its score computed as defined and its
result posted once, even across a restart and a second worker; CSAT, schedules, bad input and
the numbers for /stats. Runs on SQLite and, when TEST_DATABASE_URL is set, on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.domain.care import SurveyKind
from bot.i18n import translator
from bot.services import surveys
from handlers.care_work import run_care_work
from handlers.surveys import survey_stats_lines
from storage.models import LedgerRow, SurveyAnswerRow, SurveyRow
from storage.uow import unit_of_work
from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    start_bot,
    stop_bot,
)
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

MEMBERS = list(range(2001, 2021))  # twenty members
STRANGER = 2999  # never in the group
LEAVER = 2998  # was a member, left


@dataclass
class SurveyHarness(Harness):
    task: asyncio.Task[None] | None = None
    database_url: str = ""


@pytest.fixture
async def harness(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> AsyncIterator[SurveyHarness]:
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = SurveyHarness(
        api=api, app=app, clock=clock, sleeps=sleeps, task=task, database_url=database_url
    )
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    add_members(h, [*MEMBERS, LEAVER])
    for user_id in [*MEMBERS, LEAVER]:
        await h.say(user_id, "hello")  # the bot now knows them as members
    api.add_user(STRANGER, "Stranger", username="stranger")
    yield h
    assert h.task is not None
    await stop_bot(h.app, h.task)


def buttons(message: SentMessage) -> list[str]:
    assert message.reply_markup is not None, message.text
    return [b["callback_data"] for row in message.reply_markup["inline_keyboard"] for b in row]


async def press(
    harness: Harness, message: SentMessage, user_id: int, data: str
) -> dict[str, object]:
    update_id = harness.api.press_button(GROUP_ID, message.message_id, user_id, data)
    await harness.handled(update_id)
    query_id = harness.api.callback_query_id(update_id)
    answers = [a for a in harness.api.callback_answers if a["callback_query_id"] == query_id]
    assert answers, "the press was not answered"
    return answers[-1]


def survey_posts(harness: Harness) -> list[SentMessage]:
    return [m for m in harness.replies() if (m.text or "").startswith("📋 Survey #")]


def results(harness: Harness) -> list[str]:
    return [m.text or "" for m in harness.replies() if "is closed:" in (m.text or "")]


async def thanks_total(harness: Harness) -> int:
    async with stored(harness) as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(LedgerRow.amount), 0)).where(
                LedgerRow.kind == "survey_thanks"
            )
        )
        return int(total or 0)


async def restart(harness: SurveyHarness) -> None:
    assert harness.task is not None
    await stop_bot(harness.app, harness.task)
    harness.app, harness.task = await start_bot(
        harness.api, harness.database_url, harness.clock, harness.sleeps
    )


# Scores: 10 promoters, 5 passives, 5 detractors at first; then two answers change.
FIRST_SCORES = [10, 9, 9, 10, 9, 10, 9, 9, 10, 9, 7, 8, 7, 8, 7, 0, 3, 6, 5, 2]


async def test_an_nps_survey_of_twenty_members_is_closed_and_posted_once(
    harness: SurveyHarness, api: FakeBotAPI, clock: FakeClock
) -> None:
    await harness.say(CREATOR_ID, "/survey nps")
    [post] = survey_posts(harness)
    assert "How likely are you to recommend <b>Seed Users</b>" in (post.text or "")
    data = buttons(post)
    assert len(data) == 11
    assert all(len(item.encode()) <= 64 for item in data)

    for user_id, score in zip(MEMBERS, FIRST_SCORES, strict=True):
        answer = await press(harness, post, user_id, data[score])
        assert f"Your answer: {score}. +5 points" in str(answer.get("text")), answer
    # Two members change their minds: a promoter becomes a detractor, a detractor a passive.
    changed = await press(harness, post, MEMBERS[0], data[4])
    assert "changed to 4" in str(changed.get("text"))
    await press(harness, post, MEMBERS[19], data[8])
    # A redelivered press is answered but pays nothing twice.
    update_id = api.press_button(GROUP_ID, post.message_id, MEMBERS[1], data[9])
    await harness.handled(update_id)
    api.redeliver(update_id)
    await harness.handled(update_id)
    assert await thanks_total(harness) == 20 * 5

    # Someone who is not a member (never seen, or gone): an alert, and nothing stored.
    for outsider in (STRANGER, LEAVER):
        if outsider == LEAVER:
            await harness.handled(api.leave(GROUP_ID, LEAVER))
        refused = await press(harness, post, outsider, data[10])
        assert refused.get("show_alert") is True
        assert "Only members of this group can answer" in str(refused.get("text"))
    # A forged press for a score out of range is refused too.
    assert "Usage" in str((await press(harness, post, MEMBERS[2], "v1sv:1:11")).get("text"))
    # ...and one naming a survey this group does not have.
    forged = await press(harness, post, MEMBERS[2], "v1sv:999:5")
    assert "no survey #999" in str(forged.get("text"))
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(SurveyAnswerRow)) == 20
    assert await thanks_total(harness) == 20 * 5

    # Promoters 9 (10 − 1), detractors 5 (5 − 1 + 1), passives 6: NPS = 45% − 25% = 20.
    clock.advance(days=3, seconds=-1)
    await harness.run_due_work()
    assert results(harness) == []
    clock.advance(seconds=1)
    late = await press(harness, post, MEMBERS[3], data[0])  # closed by time, not yet by work
    assert "is closed" in str(late.get("text"))
    now = clock.now()  # two workers close it at the same moment: one result
    await asyncio.gather(
        run_care_work(harness.app.open_uow, now), run_care_work(harness.app.open_uow, now)
    )
    await harness.run_due_work()
    [result] = results(harness)
    assert "20 answers" in result
    assert "NPS: +20 (promoters 9, passives 6, detractors 5)" in result
    assert "first NPS survey" in result

    await restart(harness)
    await harness.run_due_work()
    # A second worker doing the same pass finds nothing left to close.
    await run_care_work(harness.app.open_uow, clock.now())
    await harness.run_due_work()
    assert len(results(harness)) == 1
    async with stored(harness) as session:
        row = (await session.execute(select(SurveyRow))).scalar_one()
        assert (row.status, row.answer_count, row.score_hundredths) == ("closed", 20, 2000)
    await ledger_matches_balances(harness)
    await the_next_survey_is_compared(harness)


async def the_next_survey_is_compared(harness: SurveyHarness) -> None:
    """The next survey is compared with the first (+20), and /stats gets both numbers."""
    await harness.say(CREATOR_ID, "/survey nps")
    second = survey_posts(harness)[-1]
    for user_id in MEMBERS[:4]:
        await press(harness, second, user_id, buttons(second)[10])
    await harness.say(ADMIN_ID, "/survey close 2")
    close = harness.last_said[GROUP_ID]
    [acknowledged] = [m for m in harness.replies() if m.reply_to_message_id == close]
    assert "Closing survey #2 now" in (acknowledged.text or "")
    latest = results(harness)[-1]
    assert "NPS: +100" in latest
    assert "Previous survey #1: +20 (20 answers); change: +80." in latest
    await harness.run_due_work()
    assert len(results(harness)) == 2

    async with unit_of_work(harness.app.session_factory) as uow:
        nps = await surveys.survey_trend(uow, GROUP_ID, SurveyKind.NPS, 2)
        csat = await surveys.survey_trend(uow, GROUP_ID, SurveyKind.CSAT, 2)
    assert [s.score_hundredths for s in nps] == [10000, 2000]
    assert survey_stats_lines(translator("en"), nps, csat) == [
        "NPS: +100 (4 answers), change from the previous: +80.",
        "CSAT: no survey closed yet.",
    ]
    await harness.say(ADMIN_ID, "/stats")
    summary = harness.last_reply()
    assert "NPS: +100 (4 answers), change from the previous: +80." in summary
    assert "CSAT: no survey closed yet." in summary


async def test_csat_schedules_and_settings(
    harness: SurveyHarness, api: FakeBotAPI, clock: FakeClock
) -> None:
    await harness.say(ADMIN_ID, "/survey thanks 0")
    await harness.say(ADMIN_ID, "/survey duration 1")
    await harness.say(ADMIN_ID, "/survey csat How was the meetup?")
    [post] = survey_posts(harness)
    assert "How was the meetup?" in (post.text or "")
    data = buttons(post)
    assert len(data) == 5
    for user_id, score in zip(MEMBERS[:3], (5, 4, 4), strict=True):
        assert "+" not in str((await press(harness, post, user_id, data[score - 1])).get("text"))
    assert await thanks_total(harness) == 0
    clock.advance(days=1)
    await harness.run_due_work()
    [result] = results(harness)
    assert "Average rating: 4.33 of 5." in result

    # Scheduled with the campaign forms: the 1st of each month at 20:00 in Shanghai.
    await harness.say(ADMIN_ID, "/survey schedule monthly 1 20:00 nps")
    assert "first at 2026-04-01 20:00" in harness.last_reply()
    await harness.say(ADMIN_ID, "/survey list")
    assert "monthly 1 20:00" in harness.last_reply()
    clock.set(datetime(2026, 4, 1, 11, 59, tzinfo=UTC))
    await harness.run_due_work()
    assert len(survey_posts(harness)) == 1
    clock.set(datetime(2026, 4, 1, 12, 0, tzinfo=UTC))
    await harness.run_due_work()
    await restart(harness)
    await harness.run_due_work()
    posts = survey_posts(harness)
    assert len(posts) == 2
    assert "How likely are you to recommend" in (posts[-1].text or "")
    assert len(buttons(posts[-1])) == 11
    await harness.say(ADMIN_ID, "/survey unschedule 1")
    assert "cancelled" in harness.last_reply()
    await harness.say(ADMIN_ID, "/survey cancel 2")
    assert "Survey #2 is cancelled" in harness.last_reply()
    clock.advance(days=2)
    await harness.run_due_work()
    assert len(results(harness)) == 1  # a cancelled survey posts no result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/survey csat", "Write the question"),
        ("/survey nps please", "Usage"),
        ("/survey", "Usage"),
        ("/survey duration 0", "from 1 to 30"),
        ("/survey thanks lots", "from 0 to 100."),
        ("/survey close 7", "no survey #7"),
        ("/survey schedule monthly 40 20:00 nps", "schedule"),
        ("/survey unschedule 3", "no scheduled survey #3"),
    ],
)
async def test_bad_survey_commands_change_nothing(
    harness: SurveyHarness, text: str, expected: str
) -> None:
    await harness.say(ADMIN_ID, text)
    assert expected in harness.last_reply(), harness.last_reply()
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(SurveyRow)) == 0


async def test_members_cannot_start_surveys(harness: SurveyHarness) -> None:
    await harness.say(MEMBERS[0], "/survey nps")
    assert "Only moderators" in harness.last_reply()
    assert survey_posts(harness) == []
