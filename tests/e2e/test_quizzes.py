"""Quizzes end to end: a question bank imported from a file (whole or not at all), sessions of
quiz polls posted one after another by the timed work, scoring from poll_answer updates
exactly once, the results posted once, and a session that survives a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram.types import Poll
from sqlalchemy import func, select, update

from bot.domain.quiz_files import MAX_FILE_BYTES
from handlers.quiz_sessions import QuizDriver
from seedbot.app import ALLOWED_UPDATES, build_app
from storage.models import (
    DeadLetterRow,
    LedgerRow,
    MemberRow,
    QuizAnswerRow,
    QuizImportRow,
    QuizQuestionRow,
)
from tests.e2e.conftest import (
    ADMIN_ID,
    CREATOR_ID,
    GROUP_ID,
    OWNER_ID,
    Harness,
    make_settings,
    start_bot,
    stop_bot,
)
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.fakes.bot_api import FILE_DOWNLOAD, FakeBotAPI
from tests.fakes.clock import FakeClock
from tests.unit.test_quiz_files import HOSTILE

MEMBERS = list(range(1001, 1011))  # ten members


@dataclass
class QuizHarness(Harness):
    task: asyncio.Task[None] | None = None


@pytest.fixture
async def harness(
    api: FakeBotAPI, database_url: str, clock: FakeClock
) -> AsyncIterator[QuizHarness]:
    """As tests/e2e/conftest.py's harness, on SQLite and (when configured) PostgreSQL."""
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = QuizHarness(api=api, app=app, clock=clock, sleeps=sleeps, task=task)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    add_members(h, MEMBERS)
    yield h
    assert h.task is not None
    await stop_bot(h.app, h.task)


def question(number: int, **changes: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "question": f"Question {number}: which option is right?",
        "options": ["Alpha", "Bravo", "Charlie", "Delta"],
        "correct": 2,  # Bravo (1-based)
        "explanation": "Bravo, always.",
        "topic": "general",
        "difficulty": "easy",
    }
    entry.update(changes)
    return entry


async def import_file(
    harness: Harness, content: bytes, file_name: str, user: int = ADMIN_ID
) -> str:
    update_id = harness.api.send_document(GROUP_ID, user, content, file_name)
    await harness.handled(update_id)
    document_message = harness.api.message_id_of(update_id)
    await harness.say(user, "/quiz import", reply_to_message_id=document_message)
    return harness.last_reply()


async def question_count(harness: Harness) -> int:
    async with stored(harness) as session:
        return int(await session.scalar(select(func.count()).select_from(QuizQuestionRow)) or 0)


async def balance(harness: Harness, user_id: int) -> int:
    async with stored(harness) as session:
        value = await session.scalar(
            select(MemberRow.balance).where(
                MemberRow.community_id == GROUP_ID, MemberRow.user_id == user_id
            )
        )
        return int(value or 0)


def polls(harness: Harness) -> list[Poll]:
    return harness.api.polls_in(GROUP_ID)


async def answer(harness: Harness, poll: Poll, user_id: int, option: int, **flags: bool) -> int:
    return await harness.handled(harness.api.answer_poll(poll.id, user_id, [option], **flags))


def results(harness: Harness) -> list[str]:
    return [m.text or "" for m in harness.replies() if "quiz is over" in (m.text or "")]


def test_polling_asks_for_poll_updates() -> None:
    assert "poll_answer" in ALLOWED_UPDATES
    assert "poll" in ALLOWED_UPDATES


async def test_a_file_of_20_questions_is_imported_once(harness: Harness) -> None:
    content = json.dumps([question(n) for n in range(1, 21)]).encode()
    assert "Imported 20 new questions (0 were" in await import_file(harness, content, "bank.json")
    assert await question_count(harness) == 20
    again = await import_file(harness, content, "bank.json")
    assert "Imported 0 new questions (20 were in the bank already)" in again
    assert await question_count(harness) == 20
    csv_text = (
        "question,option1,option2,option3,option4,correct,explanation,topic,difficulty\n"
        "Question 1: which option is right?,Alpha,Bravo,Charlie,Delta,2,,general,easy\n"
        '"Capital of France, please?",Paris,Rome,Berlin,,1,It is Paris.,geo,easy\n'
        "Pick the even ones,2,3,4,,1;3,,maths,hard\n"
    )
    reply = await import_file(harness, csv_text.encode(), "more.csv")
    assert "Imported 2 new questions (1 were in the bank already)" in reply
    assert await question_count(harness) == 22
    assert len(harness.api.calls("getFile")) == 3


async def test_a_bad_file_is_rejected_whole_with_the_reason(harness: Harness) -> None:
    entries = [question(n) for n in range(1, 21)]
    entries[6] = question(7, options=["Alpha", "B" * 101])
    reply = await import_file(harness, json.dumps(entries).encode(), "bank.json")
    assert "Nothing was imported. Entry 7: an option is longer than 100 characters" in reply
    entries[6] = question(7, options=[f"Option {n}" for n in range(13)])
    reply = await import_file(harness, json.dumps(entries).encode(), "bank.json")
    assert "Entry 7: a question needs 2 to 12 options" in reply
    entries[6] = question(7, question="Q" * 301)
    reply = await import_file(harness, json.dumps(entries).encode(), "bank.json")
    assert "Entry 7: the question is longer than 300 characters" in reply
    entries[6] = question(7, correct=5)
    reply = await import_file(harness, json.dumps(entries).encode(), "bank.json")
    assert "Entry 7: the correct option must be a number from 1 to 4" in reply
    entries[6] = question(7, explanation="E" * 201)
    reply = await import_file(harness, json.dumps(entries).encode(), "bank.json")
    assert "Entry 7: the explanation is longer than 200 characters" in reply
    csv_text = "question,option1,option2,correct\nFine?,Yes,No,1\nBroken?,Only one,,1\n"
    reply = await import_file(harness, csv_text.encode(), "bank.csv")
    assert "Nothing was imported. Line 3: a question needs 2 to 12 options" in reply
    reply = await import_file(harness, b'[{"question": "unfinished"', "bank.json")
    assert "Line 1: this is not valid JSON" in reply
    assert await question_count(harness) == 0
    await harness.say(ADMIN_ID, "/quiz import")
    assert "Reply /quiz import to a file" in harness.last_reply()


async def test_one_question_added_by_command(harness: Harness) -> None:
    await harness.say(
        ADMIN_ID, "/quiz add What is 2+2? | 3 | *4 | 5 | explanation: Sums. | topic: maths"
    )
    assert "Question added to the bank." in harness.last_reply()
    await harness.say(ADMIN_ID, "/quiz add What is 2+2? | 3 | *4 | 5")
    assert "in the bank already" in harness.last_reply()
    await harness.say(ADMIN_ID, "/quiz add No correct one | a | b")
    assert "The question was not added: the correct option is missing" in harness.last_reply()
    await harness.say(1001, "/quiz add Sneaky | *a | b")  # members cannot add
    assert await question_count(harness) == 1


async def test_a_session_of_3_questions_scores_10_members(harness: Harness) -> None:  # noqa: PLR0915
    content = json.dumps([question(n) for n in range(1, 21)]).encode()
    await import_file(harness, content, "bank.json")
    await harness.say(1001, "/quiz start 3")  # members cannot start one
    await harness.run_due_work()
    assert polls(harness) == []
    await harness.say(ADMIN_ID, "/quiz start 3")
    assert "A quiz of 3 questions starts now: 30 seconds for each." in harness.last_reply()
    await harness.say(ADMIN_ID, "/quiz start 3")
    assert "A quiz is already running here." in harness.last_reply()
    await harness.run_due_work()
    [first] = polls(harness)
    assert first.type == "quiz" and first.is_anonymous is False
    assert first.open_period == 30 and first.correct_option_id == 1
    assert first.question == "Question 1: which option is right?"
    send = harness.api.calls("sendPoll")[0]
    assert send["is_anonymous"] is False and send["explanation"] == "Bravo, always."

    # Question 1: five right (1001 first), three wrong, a repeat, a redelivered update
    # and (below) one that reaches the bot after the close.
    right_1 = [1001, 1002, 1003, 1004, 1005]
    for user_id in right_1:
        await answer(harness, first, user_id, 1)
    for user_id in (1006, 1007, 1008):
        await answer(harness, first, user_id, 0)
    await answer(harness, first, 1006, 1, repeat=True)  # a second answer counts for nothing
    redelivered = harness.api.answer_poll(first.id, 1009, [1])
    await harness.handled(redelivered)
    harness.api.redeliver(redelivered)
    await harness.run_due_work()
    assert len(polls(harness)) == 1  # still open: nothing more is posted
    harness.clock.advance(seconds=36)  # the period (30 s) and the grace for late delivery
    await harness.run_due_work()
    assert len(polls(harness)) == 2
    second = polls(harness)[1]
    assert second.question.startswith("Question 2")
    # A vote Telegram took before the close, that reached the bot after it: nothing.
    await answer(harness, first, 1010, 1, delivered_late=True)

    # Question 2: 1008 is first right, 1001 right too.
    await answer(harness, second, 1008, 1)
    await answer(harness, second, 1001, 1)
    await answer(harness, second, 1002, 3)
    harness.clock.advance(seconds=36)
    await harness.run_due_work()
    third = polls(harness)[2]
    # Question 3: nobody right; one answer arrives after the close.
    await answer(harness, third, 1003, 0)
    harness.clock.advance(seconds=36)
    await harness.run_due_work()
    await answer(harness, third, 1004, 1, delivered_late=True)
    await harness.run_due_work()
    harness.clock.advance(minutes=10)
    await harness.run_due_work()
    assert len(polls(harness)) == 3

    expected = {
        1001: 15 + 10,
        1002: 10,
        1003: 10,
        1004: 10,
        1005: 10,
        1006: 0,
        1007: 0,
        1008: 15,
        1009: 10,
        1010: 0,
    }
    assert {user_id: await balance(harness, user_id) for user_id in MEMBERS} == expected
    [posted] = results(harness)  # once
    lines = posted.splitlines()
    assert lines[0] == "🏁 The quiz is over! Top scorers:"
    assert lines[1] == "1. <b>User 1001</b> — 25 points"
    assert lines[2] == "2. <b>User 1008</b> — 15 points"
    assert len(lines) == 1 + 7
    async with stored(harness) as session:
        answers = await session.scalar(select(func.count()).select_from(QuizAnswerRow))
        ledger = await session.scalar(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "quiz")
        )
    assert answers == 10 + 3 + 2  # one per member per question, the late ones included
    assert ledger == 8
    await ledger_matches_balances(harness)

    await harness.say(1005, "/quiz top")
    top = harness.last_reply()
    assert top.startswith("🧠 Quiz leaderboard:\n1. <b>User 1001</b> — 25 points")

    # The next session picks the questions not seen yet.
    await harness.say(ADMIN_ID, "/quiz start 2")
    await harness.run_due_work()
    assert polls(harness)[3].question.startswith("Question 4")


async def test_a_session_survives_a_restart(
    harness: QuizHarness, api: FakeBotAPI, clock: FakeClock
) -> None:
    content = json.dumps([question(n) for n in range(1, 4)]).encode()
    await import_file(harness, content, "bank.json")
    await harness.say(ADMIN_ID, "/quiz start")
    assert "A quiz of 3 questions" in harness.last_reply()
    await harness.run_due_work()
    [first] = polls(harness)
    await answer(harness, first, 1001, 1)
    await answer(harness, first, 1002, 0)
    database_url = harness.app.settings.database_url
    assert harness.task is not None
    await stop_bot(harness.app, harness.task)
    clock.advance(minutes=5)  # the poll closed while the bot was down

    app, task = await start_bot(api, database_url, clock, harness.sleeps)
    harness.app, harness.task = app, task
    await harness.run_due_work()
    assert len(polls(harness)) == 2  # the next question, once
    await harness.run_due_work()
    assert len(polls(harness)) == 2
    assert await balance(harness, 1001) == 15
    assert await balance(harness, 1002) == 0
    for _ in range(2):
        clock.advance(seconds=40)
        await harness.run_due_work()
    assert len(polls(harness)) == 3
    assert len(results(harness)) == 1
    await harness.run_due_work()
    assert len(results(harness)) == 1
    assert await balance(harness, 1001) == 15


async def test_scheduled_quizzes_start_once_at_their_time(harness: Harness) -> None:
    content = json.dumps([question(n) for n in range(1, 6)]).encode()
    await import_file(harness, content, "bank.json")
    await harness.say(ADMIN_ID, "/quiz schedule daily 09:30 2 general")
    assert "Quiz #1 scheduled: daily 09:30, first at 2026-03-02 09:30." in harness.last_reply()
    await harness.say(ADMIN_ID, "/quiz schedule monthly 1 20:00")
    assert "Quiz #2 scheduled: monthly 1 20:00, first at 2026-04-01 20:00." in (
        harness.last_reply()
    )
    await harness.say(ADMIN_ID, "/quiz schedule at 2020-01-01 10:00")
    assert "That time has already passed." in harness.last_reply()
    await harness.say(ADMIN_ID, "/quiz list")
    listed = harness.last_reply()
    assert "#1 daily 09:30 — next: 2026-03-02 09:30 — 2 questions (general)" in listed
    assert "#2 monthly 1 20:00 — next: 2026-04-01 20:00 — 5 questions" in listed
    await harness.say(ADMIN_ID, "/quiz cancel 2")
    assert "Scheduled quiz #2 cancelled." in harness.last_reply()
    await harness.say(ADMIN_ID, "/quiz cancel 2")
    assert "There is no scheduled quiz #2 in this group." in harness.last_reply()
    await harness.say(ADMIN_ID, "/quiz list")
    assert "#2" not in harness.last_reply()

    harness.clock.advance(minutes=29)
    await harness.run_due_work()
    assert polls(harness) == []
    harness.clock.advance(minutes=1)  # 09:30
    await harness.run_due_work()
    await harness.run_due_work()
    assert len(polls(harness)) == 1
    for _ in range(3):
        harness.clock.advance(seconds=36)
        await harness.run_due_work()
    assert len(polls(harness)) == 2
    assert len(results(harness)) == 1
    # Down over the next day's moment for longer than the grace: skipped, not started late.
    harness.clock.advance(days=1, hours=2)
    await harness.run_due_work()
    assert len(polls(harness)) == 2
    await harness.say(ADMIN_ID, "/quiz list")
    assert "#1 daily 09:30 — next: 2026-03-04 09:30" in harness.last_reply()


async def test_a_poll_whose_post_was_not_heard_back_is_not_posted_again(
    harness: Harness,
) -> None:
    content = json.dumps([question(n) for n in range(1, 3)]).encode()
    await import_file(harness, content, "bank.json")
    await harness.say(ADMIN_ID, "/quiz start 2")
    harness.api.drop_answer("sendPoll")  # Telegram posts it; the answer never arrives
    await harness.run_due_work()
    assert [poll.question[:10] for poll in polls(harness)] == ["Question 1", "Question 2"]
    for _ in range(3):
        harness.clock.advance(minutes=3)
        await harness.run_due_work()
    assert len(polls(harness)) == 2
    assert len(results(harness)) == 1


async def test_a_yaml_file_is_imported_or_rejected_whole(harness: Harness) -> None:
    good = (
        "- question: Which planet is the largest?\n"
        "  options: [Mars, Jupiter, Venus]\n"
        "  correct: 2\n"
        "  topic: space\n"
        "- question: Which numbers are even?\n"
        "  options: ['2', '3', '4']\n"
        "  correct: [1, 3]\n"
    )
    reply = await import_file(harness, good.encode(), "bank.yaml")
    assert "Imported 2 new questions (0 were" in reply
    bad = good + "- question: Only one option?\n  options: [Alone]\n  correct: 1\n"
    reply = await import_file(harness, bad.encode(), "bank.yml")
    assert "Nothing was imported. Entry 3: a question needs 2 to 12 options" in reply
    reply = await import_file(harness, b"- question: [unclosed\n", "bank.yaml")
    assert "Nothing was imported. Line 2: this is not valid YAML" in reply
    assert await question_count(harness) == 2


async def test_the_production_scheduler_keeps_a_job_at_each_session_step(
    harness: Harness,
) -> None:
    await import_file(harness, json.dumps([question(1), question(2)]).encode(), "bank.json")
    settings = make_settings(harness.api, harness.app.settings.database_url)
    app = build_app(settings.model_copy(update={"due_work_seconds": 3600}), clock=harness.clock)
    await app.start_scheduler()
    try:
        assert {job.id for job in app.scheduler.get_jobs()} == {"due_work"}
        await harness.say(ADMIN_ID, "/quiz start 2")
        assert app.jobs is not None
        await app.jobs.run()  # what the periodic job does: the first question
        assert len(polls(harness)) == 1
        # The jobs are checked right after a sync: the scheduler runs on the real clock, to
        # which the fake clock's moments are long past.
        driver = QuizDriver.of(app.jobs.context)  # what the session's job runs
        await driver.run()
        jobs = {job.id: job for job in app.scheduler.get_jobs()}
        assert set(jobs) == {"due_work", "quiz:1"}
        closes = polls(harness)[0].close_date
        assert closes is not None
        assert jobs["quiz:1"].next_run_time.timestamp() == closes.timestamp() + 5
        for _ in range(2):
            harness.clock.advance(seconds=36)
            await driver.run()  # what the session's job does
        await app.sender.drain()
        assert len(results(harness)) == 1
        assert {job.id for job in app.scheduler.get_jobs()} == {"due_work"}
    finally:
        app.scheduler.shutdown(wait=False)
        await app.close()


async def test_a_broken_session_does_not_stop_another_groups_quiz(harness: Harness) -> None:
    other_group = -1009876543210
    harness.api.add_group(other_group, "Other Seeds", creator_id=CREATOR_ID)
    await harness.handled(harness.api.add_bot_to_group(other_group, by_user_id=CREATOR_ID))
    content = json.dumps([question(1)]).encode()
    await import_file(harness, content, "bank.json")
    update_id = harness.api.send_document(other_group, CREATOR_ID, content, "bank.json")
    await harness.handled(update_id)
    document = harness.api.message_id_of(update_id)
    await harness.say(CREATOR_ID, "/quiz import", chat_id=other_group, reply_to_message_id=document)
    await harness.say(ADMIN_ID, "/quiz start")
    await harness.say(CREATOR_ID, "/quiz start", chat_id=other_group)
    async with stored(harness) as session:  # a row written by hand that cannot be read
        await session.execute(
            update(QuizQuestionRow)
            .where(QuizQuestionRow.community_id == GROUP_ID)
            .values(correct=["not a number"])
        )
        await session.commit()
    await harness.run_due_work()
    assert polls(harness) == []
    assert len(harness.api.polls_in(other_group)) == 1


async def one_open_poll(harness: Harness) -> Poll:
    await import_file(harness, json.dumps([question(1)]).encode(), "bank.json")
    await harness.say(ADMIN_ID, "/quiz start 1")
    await harness.run_due_work()
    [poll] = polls(harness)
    return poll


async def test_only_the_groups_members_score_in_a_quiz(harness: Harness) -> None:
    poll = await one_open_poll(harness)
    visitor, left, leaving = 2001, 2002, 2003
    harness.api.add_user(visitor, "Visitor", username="visitor")
    for user_id in (left, leaving):
        harness.api.add_user(user_id, f"User {user_id}", username=f"user{user_id}")
        await harness.handled(harness.api.join(GROUP_ID, user_id))
    await harness.handled(harness.api.leave(GROUP_ID, left))
    asked_before = len(harness.api.calls("getChatMember"))

    # First right: an outsider (never in the group), then one who left; neither counts.
    await answer(harness, poll, visitor, 1, outsider=True)
    await answer(harness, poll, left, 1, outsider=True)
    await answer(harness, poll, leaving, 1)  # still in the group now, gone at the close
    await answer(harness, poll, 1001, 1)  # in the group since before the bot: never seen
    await answer(harness, poll, 1002, 1)
    await harness.handled(harness.api.leave(GROUP_ID, leaving))
    harness.clock.advance(seconds=36)
    await harness.run_due_work()

    assert await balance(harness, 1001) == 15  # the first-correct bonus is a member's
    assert await balance(harness, 1002) == 10
    assert await balance(harness, leaving) == 0
    async with stored(harness) as session:
        answered = set(await session.scalars(select(QuizAnswerRow.user_id)))
        members = set(await session.scalars(select(MemberRow.user_id)))
        paid = set(await session.scalars(select(LedgerRow.user_id).where(LedgerRow.kind == "quiz")))
    assert answered == {leaving, 1001, 1002}
    assert visitor not in members
    assert paid == {1001, 1002}
    asked = [call["user_id"] for call in harness.api.calls("getChatMember")[asked_before:]]
    assert sorted(asked) == [1001, 1002, visitor]  # those with a member row are not asked
    await ledger_matches_balances(harness)


HOSTILE_SAMPLE = [
    "json deep list",
    "json deep in an entry",
    "json huge int",
    "json NaN",
    "json wrong top",
    "json huge string",
    "json latin-1",
    "yaml deep list",
    "yaml huge int",
    "yaml billion laughs",
    "yaml nan and inf",
    "csv huge int correct",
    "csv nul in row",
    "binary garbage",
]


async def test_a_hostile_file_gets_a_clear_reply_and_no_dead_letter(harness: Harness) -> None:
    for case in HOSTILE_SAMPLE:
        content, file_name = HOSTILE[case]
        reply = await import_file(harness, content, file_name)
        assert reply.startswith("Nothing was imported"), (case, reply)
    await harness.say(CREATOR_ID, "/lang zh")
    content, file_name = HOSTILE["json deep list"]
    assert await import_file(harness, content, file_name) == "未导入任何题目：文件嵌套太深"
    content, file_name = HOSTILE["yaml huge int"]
    assert await import_file(harness, content, file_name) == "未导入任何题目：文件里的数字太长"
    assert await question_count(harness) == 0
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(DeadLetterRow)) == 0


async def test_a_members_import_downloads_nothing(harness: Harness) -> None:
    content = json.dumps([question(1)]).encode()
    reply = await import_file(harness, content, "bank.json", user=1001)
    assert reply == "Only moderators of this group can use this command."
    assert harness.api.calls("getFile") == []
    assert harness.api.downloads == []
    assert await question_count(harness) == 0


async def test_a_file_larger_than_the_limit_is_refused_without_downloading(
    harness: Harness,
) -> None:
    content = json.dumps([question(n, explanation="E" * 150) for n in range(1, 4000)]).encode()
    assert len(content) > MAX_FILE_BYTES
    reply = await import_file(harness, content, "bank.json")
    assert reply == "Nothing was imported: the file is larger than 1 MB."
    assert harness.api.calls("getFile") == []
    assert harness.api.downloads == []
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(QuizImportRow)) == 0
    # A document that does not say its size: getFile does, and nothing is downloaded.
    update_id = harness.api.send_document(
        GROUP_ID, ADMIN_ID, content, "bank.json", size_in_message=False
    )
    await harness.handled(update_id)
    document = harness.api.message_id_of(update_id)
    await harness.say(ADMIN_ID, "/quiz import", reply_to_message_id=document)
    assert harness.last_reply() == "Nothing was imported: the file is larger than 1 MB."
    assert len(harness.api.calls("getFile")) == 1
    assert harness.api.downloads == []
    assert await question_count(harness) == 0


async def test_a_slow_download_holds_up_no_other_group(harness: Harness) -> None:
    other_group = -1009876543210
    harness.api.add_group(other_group, "Other Seeds", creator_id=CREATOR_ID)
    await harness.handled(harness.api.add_bot_to_group(other_group, by_user_id=CREATOR_ID))
    harness.api.add_member(other_group, 1001)
    held = harness.api.hold(FILE_DOWNLOAD)
    document = harness.api.send_document(
        GROUP_ID, ADMIN_ID, json.dumps([question(1)]).encode(), "bank.json"
    )
    await harness.handled(document)
    command = harness.api.send_message(
        GROUP_ID,
        ADMIN_ID,
        "/quiz import",
        reply_to_message_id=harness.api.message_id_of(document),
        date=harness.clock.now(),
    )
    await harness.api.wait_until_handled(command, timeout=3)
    await harness.api.wait_for_download(timeout=3)  # under way, and held

    before = len(harness.api.sent_messages)
    checkin = harness.api.send_message(other_group, 1001, "/checkin", date=harness.clock.now())
    await harness.api.wait_until_handled(checkin, timeout=3)
    reply = await harness.api.wait_for_message(
        lambda message: message.chat_id == other_group, timeout=3, start=before
    )
    assert "checked in" in (reply.text or "").lower()
    assert await question_count(harness) == 0

    held.set()
    await harness.app.replies.idle()
    await harness.app.sender.drain()
    harness.last_said[GROUP_ID] = harness.api.message_id_of(command)
    assert "Imported 1 new questions" in harness.last_reply()
    assert await question_count(harness) == 1
