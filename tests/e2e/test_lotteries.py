"""Lotteries: paid entries, eligibility, a provably fair draw made exactly once, verify-draw,
rerolls and cancels."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.domain.lotteries import LotteryStatus
from bot.services import lotteries
from storage.models import (
    LedgerRow,
    LotteryEntryRow,
    LotteryWinnerRow,
    MemberRow,
    OutgoingMessageRow,
)
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members, ledger_matches_balances, stored

REPO_ROOT = Path(__file__).resolve().parents[2]
ENTRANTS = list(range(3001, 3051))
LATE = 3099
LEAVER = 3050
DRAW_AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
SEED = re.compile(r"Seed: <code>([0-9a-f]{64})</code>")
COMMITMENT = re.compile(r"<code>([0-9a-f]{64})</code>; the seed")
LIST_HASH = re.compile(r"entry list: <code>([0-9a-f]{64})</code>")


async def announce(harness: Harness, spec: str) -> tuple[str, int, str]:
    """A moderator creates a lottery: (its announcement, message id, join button data)."""
    await harness.say(CREATOR_ID, f"/lottery new {spec}")
    post = harness.replies()[-1]
    assert post.reply_markup is not None, post.text
    data = post.reply_markup["inline_keyboard"][0][0]["callback_data"]
    return post.text or "", post.message_id, data


async def press(harness: Harness, message_id: int, user_id: int, data: str) -> str:
    update_id = harness.api.press_button(GROUP_ID, message_id, user_id, data)
    await harness.handled(update_id)
    return str(harness.api.callback_answers[-1].get("text", ""))


async def balance(harness: Harness, user_id: int) -> int:
    async with stored(harness) as session:
        value = await session.scalar(select(MemberRow.balance).where(MemberRow.user_id == user_id))
        return int(value or 0)


async def winners(harness: Harness) -> list[tuple[int, int, bool]]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(
                LotteryWinnerRow.pick, LotteryWinnerRow.user_id, LotteryWinnerRow.replaced_at
            ).order_by(LotteryWinnerRow.pick)
        )
        return [(pick, user_id, replaced is not None) for pick, user_id, replaced in rows]


def verify_draw(tmp_path: Path, seed: str, count: int, entries: str, picks: int) -> str:
    path = tmp_path / "entries.txt"
    path.write_text(entries, encoding="utf-8")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "bot", "verify-draw", "--seed", seed),
            *("--winners", str(count), "--entries-file", str(path), "--picks", str(picks)),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def picked_users(output: str) -> list[int]:
    return [int(user) for user in re.findall(r"^\d+\. user (\d+) ", output, re.MULTILINE)]


async def test_fifty_entrants_drawn_once_at_the_time_and_verifiable(  # noqa: PLR0915 - the story
    harness: Harness, tmp_path: Path
) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, ENTRANTS)
    for user_id in ENTRANTS:
        await harness.say(user_id, "/checkin")  # 10 points each
    text, message_id, data = await announce(
        harness, "Member day | A mug | 2026-03-02 20:00 | winners=3 cost=5 max=2 late=no"
    )
    assert "Lottery #1" in text and "A mug" in text
    found = COMMITMENT.search(text)
    assert found, text
    commitment = found.group(1)

    for user_id in ENTRANTS:
        assert "You are in lottery #1 (entry 1)" in await press(harness, message_id, user_id, data)
    for user_id in ENTRANTS[:10]:  # ten buy a second entry: 10 points spent, 0 left
        assert "(entry 2)" in await press(harness, message_id, user_id, data)
    assert "2 of 2 entries" in await press(harness, message_id, ENTRANTS[0], data)
    assert await balance(harness, ENTRANTS[0]) == 0
    assert await balance(harness, ENTRANTS[20]) == 5

    # A redelivered press changes nothing: no second entry, no second charge.
    update_id = api.press_button(GROUP_ID, message_id, ENTRANTS[20], data)
    await harness.handled(update_id)
    api.redeliver(update_id)
    await harness.handled(update_id)
    assert await balance(harness, ENTRANTS[20]) == 0  # its own second entry, charged once

    # Someone who joined after the announcement may not enter (late=no): nothing charged.
    clock.advance(minutes=1)
    api.add_user(LATE, "Late", username="late")
    await harness.handled(api.join(GROUP_ID, LATE))
    await harness.say(LATE, "/checkin")
    assert "cannot enter" in await press(harness, message_id, LATE, data)
    assert await balance(harness, LATE) == 10

    await harness.say(ENTRANTS[5], "/lottery show 1")
    assert "50 entrants, 61 entries" in harness.last_reply()
    assert "your entries: 2" in harness.last_reply()

    await harness.handled(api.leave(GROUP_ID, LEAVER))

    clock.set(DRAW_AT - timedelta(seconds=1))  # 19:59:59 in Shanghai: not yet
    await harness.run_due_work()
    assert not any("is drawn" in (m.text or "") for m in harness.replies())
    clock.set(DRAW_AT)
    await harness.run_due_work()
    await harness.run_due_work()  # a second round (or a restarted worker) draws nothing
    results = [m.text or "" for m in harness.replies() if "is drawn" in (m.text or "")]
    assert len(results) == 1
    result = results[0]
    seed_found = SEED.search(result)
    assert seed_found, result
    seed = seed_found.group(1)
    assert hashlib.sha256(seed.encode()).hexdigest() == commitment

    async with stored(harness) as session:
        rows = await session.execute(
            select(LotteryEntryRow.user_id, LotteryEntryRow.number).where(
                LotteryEntryRow.user_id != LEAVER
            )
        )
        entries = "\n".join(f"{user}:{number}" for user, number in sorted(rows.all()))
    assert "Entries drawn from: 60" in result
    hash_found = LIST_HASH.search(result)
    assert hash_found and hash_found.group(1) == hashlib.sha256(entries.encode()).hexdigest()

    # Any member can fetch the entry list privately; it is exactly the text that was hashed.
    await harness.say(ENTRANTS[7], "/start", chat_id=ENTRANTS[7])
    await harness.say(ENTRANTS[7], "/lottery entries 1")
    assert "privately" in harness.last_reply()
    private = [m.text or "" for m in harness.replies(ENTRANTS[7]) if "<pre>" in (m.text or "")]
    published = "\n".join(text.removeprefix("<pre>").removesuffix("</pre>") for text in private)
    assert published == entries

    verified = verify_draw(tmp_path, seed, 3, entries, picks=6)
    sequence = picked_users(verified)
    assert len(sequence) == 6 and len(set(sequence)) == 6 and LEAVER not in sequence
    assert [user for _, user, _ in await winners(harness)] == sequence[:3]
    for user_id in sequence[:3]:
        assert f"User {user_id}" in result

    # Rerolls take the next picks of the same sequence and never bring back a winner.
    await harness.say(CREATOR_ID, f"/lottery reroll 1 @user{sequence[1]}")
    await harness.run_due_work()
    await harness.say(CREATOR_ID, f"/lottery reroll 1 @user{sequence[3]}")
    await harness.run_due_work()
    stored_winners = await winners(harness)
    assert [user for _, user, _ in stored_winners] == sequence[:5]
    assert [user for _, user, replaced in stored_winners if not replaced] == [
        sequence[0],
        sequence[2],
        sequence[4],
    ]
    # The result post itself now names the current winners; no second result was posted.
    posts = [m for m in harness.replies() if "is drawn" in (m.text or "")]
    assert len(posts) == 1 and "is replaced by" in (posts[0].text or "")
    assert not [m for m in harness.replies() if m is not posts[0] and "replaced" in (m.text or "")]
    for user_id in (sequence[0], sequence[2], sequence[4]):
        assert f"User {user_id}" in (posts[0].text or "")
    for user_id in (sequence[1], sequence[3]):
        assert f"<b>User {user_id}</b>\n" not in (posts[0].text or "")
    edits = [m for m in api.sent_messages if m.kind == "edit" and m.chat_id == GROUP_ID]
    assert [m.message_id for m in edits[-2:]] == [posts[0].message_id] * 2
    await harness.say(CREATOR_ID, f"/lottery reroll 1 @user{sequence[1]}")
    assert "not a current winner" in harness.last_reply()

    await harness.say(CREATOR_ID, "/lottery draw 1")  # already drawn
    assert "closed" in harness.last_reply()
    await ledger_matches_balances(harness)


async def test_cancel_refunds_every_paid_entry_exactly_once(harness: Harness) -> None:
    api = harness.api
    add_members(harness, [4001, 4002, 4003])
    for user_id in (4001, 4002, 4003):
        await harness.say(user_id, "/checkin")
    _text, message_id, data = await announce(
        harness, "Weekly | Stickers | 2026-03-03 20:00 | cost=4 max=2"
    )
    await press(harness, message_id, 4001, data)
    await press(harness, message_id, 4001, data)
    await press(harness, message_id, 4002, data)
    assert "2 of 2 entries" in await press(harness, message_id, 4001, data)
    assert await balance(harness, 4001) == 2
    assert await balance(harness, 4002) == 6

    update_id = await harness.say(CREATOR_ID, "/lottery cancel 1")
    assert "3 paid entries refunded (12 points)" in harness.last_reply()
    api.redeliver(update_id)
    await harness.handled(update_id)
    await harness.say(CREATOR_ID, "/lottery cancel 1")
    assert "closed" in harness.last_reply()
    assert await balance(harness, 4001) == 10
    assert await balance(harness, 4002) == 10
    assert "closed" in await press(harness, message_id, 4003, data)
    async with stored(harness) as session:
        refunds = await session.scalars(
            select(LedgerRow.amount).where(LedgerRow.kind == "lottery_refund")
        )
        assert sorted(refunds) == [4, 4, 4]
    await harness.say(4002, "/lottery list")
    assert "cancelled" in harness.last_reply()
    await ledger_matches_balances(harness)


async def test_paid_entry_needs_the_points_and_eligibility(harness: Harness) -> None:
    add_members(harness, [5001, 5002])
    await harness.say(5001, "/checkin")
    _text, message_id, data = await announce(
        harness, "Core only | A hoodie | 2026-03-03 20:00 | cost=20 tier=member"
    )
    assert "tier is too low" in await press(harness, message_id, 5001, data)
    _text, message_id, data = await announce(harness, "Big | A hoodie | 2026-03-03 20:00 | cost=20")
    assert "costs 20 points; you have 10" in await press(harness, message_id, 5001, data)
    assert await balance(harness, 5001) == 10
    await harness.say(5002, "/lottery new X | Y | 2026-03-03 20:00")
    assert "Only moderators" in harness.last_reply()
    await harness.say(CREATOR_ID, "/lottery new X | Y | 2020-01-01 20:00")
    assert "already passed" in harness.last_reply()
    await harness.say(CREATOR_ID, "/lottery new X | Y | 2026-03-03 20:00 | winners=0")
    assert "winners=0: the number of winners must be 1–100" in harness.last_reply()
    await ledger_matches_balances(harness)


async def test_a_draw_is_claimed_by_one_worker_only(harness: Harness) -> None:
    add_members(harness, [6001, 6002])
    await announce(harness, "Race | A pen | 2026-03-02 20:00")
    _text, message_id, data = await announce(harness, "Race 2 | A pen | 2026-03-03 20:00")
    for user_id in (6001, 6002):
        await press(harness, message_id, user_id, data)
    async with harness.app.open_uow() as uow:
        community = await uow.communities.get(GROUP_ID)
        stale = await uow.lotteries.get(GROUP_ID, 2)
    assert community is not None and stale is not None
    async with harness.app.open_uow() as uow:
        first = await lotteries.draw(uow, community, stale, harness.clock.now())
    async with harness.app.open_uow() as uow:  # a second worker that read it while open
        second = await lotteries.draw(uow, community, stale, harness.clock.now())
        again = await lotteries.draw_due(uow, harness.clock.now(), GROUP_ID)
    assert first is not None and second is None and again == []
    assert first.lottery.status == LotteryStatus.DRAWN
    assert len(await winners(harness)) == 1


async def test_a_weekly_lottery_runs_itself(harness: Harness) -> None:
    clock = harness.clock
    add_members(harness, [7001, 7002])
    first_text, _id, _data = await announce(
        harness, "Member day | Coffee | 2026-03-02 20:00 | winners=1"
    )
    await harness.say(CREATOR_ID, "/lottery repeat 1 weekly mon 08:00")
    assert "next copy announced 2026-03-09 08:00" in harness.last_reply()
    await harness.say(7001, "/lottery repeat 1 daily 10:00")
    assert "Only moderators" in harness.last_reply()

    clock.set(datetime(2026, 3, 9, 0, 0, tzinfo=UTC))  # Monday 08:00 in Shanghai
    await harness.run_due_work()
    await harness.run_due_work()  # a second round announces nothing more
    copies = [m for m in harness.replies() if "Lottery #2" in (m.text or "")]
    assert len(copies) == 1 and copies[0].reply_markup is not None
    assert not any("Lottery #3" in (m.text or "") for m in harness.replies())
    copy_commitment = COMMITMENT.search(copies[0].text or "")
    first_commitment = COMMITMENT.search(first_text)
    assert copy_commitment and first_commitment
    assert copy_commitment.group(1) != first_commitment.group(1)  # its own seed
    assert "Coffee" in (copies[0].text or "") and "2026-03-09 19:00" in (copies[0].text or "")

    data = copies[0].reply_markup["inline_keyboard"][0][0]["callback_data"]
    assert "lottery #2" in await press(harness, copies[0].message_id, 7001, data)
    clock.set(datetime(2026, 3, 9, 11, 0, tzinfo=UTC))  # 19:00: the copy draws
    await harness.run_due_work()
    drawn = [
        m.text or ""
        for m in harness.replies()
        if "#2" in (m.text or "") and "is drawn" in (m.text or "")
    ]
    assert len(drawn) == 1 and "User 7001" in drawn[0]

    clock.set(datetime(2026, 3, 16, 3, 0, tzinfo=UTC))  # three hours late after downtime
    await harness.run_due_work()
    assert not any("Lottery #3" in (m.text or "") for m in harness.replies())
    await harness.say(CREATOR_ID, "/lottery show 1")
    assert "next copy announced 2026-03-23 08:00" in harness.last_reply()
    await harness.say(CREATOR_ID, "/lottery repeat 1 off")
    assert "no longer repeats" in harness.last_reply()


async def test_the_guided_dialog_asks_one_question_at_a_time(harness: Harness) -> None:
    add_members(harness, [8001])

    async def answer(text: str) -> str:
        question = harness.replies()[-1]
        await harness.say(CREATOR_ID, text, reply_to_message_id=question.message_id)
        return harness.replies()[-1].text or ""

    await harness.say(CREATOR_ID, "/lottery new")
    assert "What is its title?" in harness.last_reply()
    assert "What is the prize?" in await answer("Member day")
    assert "When is the draw?" in await answer("A tote bag")
    assert "already passed" in await answer("2020-01-01 10:00")  # refused; the question stands
    await harness.say(
        CREATOR_ID, "2026-03-04 20:00", reply_to_message_id=harness.replies()[-2].message_id
    )
    assert "How many winners?" in harness.last_reply()
    assert "cost in points" in await answer("2")
    assert "How many entries" in await answer("3")
    assert "Who may enter?" in await answer("-")
    post = await answer("days=7 late=no")
    assert "Lottery #1" in post and "A tote bag" in post and "3 points" in post
    assert "Only for members who were here when it was announced." in post
    assert "At least 7 days in the group." in post
    before = len(harness.replies())
    await harness.say(8001, "nice", reply_to_message_id=harness.replies()[-1].message_id)
    assert len(harness.replies()) == before  # a member's reply to the bot is conversation
    await harness.say(CREATOR_ID, "thanks", reply_to_message_id=harness.replies()[-1].message_id)
    assert len(harness.replies()) == before  # the dialog is over


async def drawn_lottery(harness: Harness, users: list[int]) -> tuple[int, int]:
    """A one-winner lottery everybody joined, drawn now: (the winner, the result post's id)."""
    add_members(harness, users)
    _text, message_id, data = await announce(harness, "Quick | A pen | 2026-03-03 20:00")
    for user_id in users:
        await harness.say(user_id, "/start", chat_id=user_id)
        await press(harness, message_id, user_id, data)
    await harness.say(CREATOR_ID, "/lottery draw 1")
    posts = [m for m in harness.replies() if "is drawn" in (m.text or "")]
    assert len(posts) == 1
    acknowledged = [m for m in harness.replies() if "Drawing now…" in (m.text or "")]
    assert len(acknowledged) == 1 and acknowledged[0].message_id < posts[0].message_id
    ((_pick, winner, _replaced),) = await winners(harness)
    return winner, posts[0].message_id


async def test_a_redelivered_reroll_edits_the_result_post_once(harness: Harness) -> None:
    api = harness.api
    winner, post_id = await drawn_lottery(harness, [7001, 7002, 7003])
    sent_before = len(harness.replies())
    update_id = await harness.say(CREATOR_ID, f"/lottery reroll 1 @user{winner}")
    ((_, first, replaced), (_, second, _)) = await winners(harness)
    assert first == winner and replaced and second != winner
    post = next(m for m in harness.replies() if m.message_id == post_id)
    assert f"{second}</b>\n" in (post.text or "") and "is replaced by" in (post.text or "")
    edits = [m for m in api.sent_messages if m.kind == "edit" and m.message_id == post_id]
    assert len(edits) == 1
    # No new message in the group; the new winner is told privately.
    assert len(harness.replies()) == sent_before
    assert len([m for m in harness.replies(second) if "You won" in (m.text or "")]) == 1

    api.redeliver(update_id)
    await harness.handled(update_id)
    await harness.run_due_work()
    assert len(await winners(harness)) == 2
    edits = [m for m in api.sent_messages if m.kind == "edit" and m.message_id == post_id]
    assert len(edits) == 1
    assert len([m for m in harness.replies(second) if "You won" in (m.text or "")]) == 1


async def test_a_reroll_posts_anew_when_the_result_posts_id_is_unknown(harness: Harness) -> None:
    winner, post_id = await drawn_lottery(harness, [7101, 7102])
    async with stored(harness) as session:  # as if sent before message ids were recorded
        row = await session.scalar(
            select(OutgoingMessageRow).where(OutgoingMessageRow.dedup_key == "lottery:1:result")
        )
        assert row is not None and row.sent_message_id == post_id
        row.sent_message_id = None
        await session.commit()
    await harness.say(CREATOR_ID, f"/lottery reroll 1 @user{winner}")
    ((_, _, replaced), (_, second, _)) = await winners(harness)
    assert replaced
    post = next(m for m in harness.replies() if m.message_id == post_id)
    assert "is replaced by" not in (post.text or "")
    anew = [m for m in harness.replies() if "is replaced by" in (m.text or "")]
    assert len(anew) == 1 and f"{second}</b>\n" in (anew[0].text or "")
    assert not [m for m in harness.api.sent_messages if m.kind == "edit" and m.chat_id == GROUP_ID]
