"""Moderators cannot pay themselves around the self-award ban and the monthly quota: nobody
decides the reward of their own ticket (owners neither), the rewards a moderator decides count
against their quota like /award, an anonymous admin takes no decision that pays, and every
amount the bot pays is bounded for moderators (owners may go higher) and audited."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from storage.models import AuditRow, LedgerRow, MemberRow, TicketRow
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
from tests.e2e.test_shop import buttons, toast_of
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

REPORTER = 1001
SECOND = 1002
OWN_TICKET = "is yours: a decision that pays you points must be taken by another moderator"


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    """As tests/e2e/conftest.py's harness, on SQLite and (when configured) PostgreSQL."""
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    api.add_member(GROUP_ID, OWNER_ID)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    await stop_bot(app, task)


async def balance(harness: Harness, user_id: int) -> int:
    async with stored(harness) as session:
        value = await session.scalar(select(MemberRow.balance).where(MemberRow.user_id == user_id))
        return int(value or 0)


async def status(harness: Harness, number: int) -> str:
    async with stored(harness) as session:
        found = await session.scalar(select(TicketRow.status).where(TicketRow.number == number))
        return str(found)


async def press_accept(harness: Harness, number: int, user_id: int) -> str:
    """`user_id` opens the ticket and presses its Accept button; the toast they saw."""
    await harness.say(user_id, f"/ticket {number}")
    shown = [m for m in harness.replies() if m.reply_markup is not None][-1]
    data = buttons(shown)[0]["callback_data"]
    update = harness.api.press_button(GROUP_ID, shown.message_id, user_id, data)
    await harness.handled(update)
    return toast_of(harness, update)


async def test_nobody_decides_the_reward_of_their_own_ticket(harness: Harness) -> None:
    """The loop of the report: a moderator raises the bug reward, files bugs and accepts them
    themselves. Refused by command, by button and as done; an owner neither; another moderator
    may, and afterwards the reporter may finish their own ticket, which pays nothing more."""
    add_members(harness, [REPORTER])
    await harness.say(ADMIN_ID, "/ticketrules bug 1000")
    await harness.say(ADMIN_ID, "/bug The check-in button does nothing")
    await harness.say(ADMIN_ID, "/ticket 1 accept")
    assert f"Ticket #1 {OWN_TICKET}" in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticket 1 done")
    assert OWN_TICKET in harness.last_reply()
    assert OWN_TICKET in await press_accept(harness, 1, ADMIN_ID)
    assert await status(harness, 1) == "new"
    assert await balance(harness, ADMIN_ID) == 0

    await harness.say(OWNER_ID, "/bug Leaderboard is empty")
    await harness.say(OWNER_ID, "/ticket 2 accept")
    assert OWN_TICKET in harness.last_reply()
    assert await balance(harness, OWNER_ID) == 0

    await harness.say(CREATOR_ID, "/ticket 1 accept")
    assert "The reporter got 1000 points." in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticket 1 done")  # paid already: nothing to decide
    assert "Ticket #1 is done." in harness.last_reply()
    assert await balance(harness, ADMIN_ID) == 1000

    # A merged duplicate's reward is the same decision.
    await harness.say(REPORTER, "/bug The check-in button is dead")
    await harness.say(ADMIN_ID, "/bug Check-in does not react")
    await harness.say(CREATOR_ID, "/ticket 4 merge 3")
    await harness.say(CREATOR_ID, "/ticket 3 accept")
    await harness.say(ADMIN_ID, "/ticket 4 reward")
    assert f"Ticket #4 {OWN_TICKET}" in harness.last_reply()
    assert await balance(harness, ADMIN_ID) == 1000
    await harness.say(CREATOR_ID, "/ticket 4 reward")  # 2,000 paid: the default quota used
    assert "0 of 2000 points left this month" in harness.last_reply()
    await harness.say(OWNER_ID, "/ticket 4 reward")
    assert "got 1000 points" in harness.last_reply()
    assert await balance(harness, ADMIN_ID) == 2000
    await ledger_matches_balances(harness)


async def test_ticket_rewards_count_against_the_moderators_quota(harness: Harness) -> None:
    """Accepting and rewarding duplicates use the same monthly quota as /award, shown by
    /quota; over it they are refused; the owners are exempt, as with /award."""
    add_members(harness, [REPORTER, SECOND])
    for moderator in (ADMIN_ID, CREATOR_ID):
        await harness.say(moderator, "hello")  # known by name in /quota
    await harness.say(OWNER_ID, "/quota set 100")
    await harness.say(ADMIN_ID, "/ticketrules bug 40")
    for n in range(4):
        await harness.say(REPORTER, f"/bug Bug number {n + 1}")
    await harness.say(SECOND, "/bug Bug number 1 again")

    await harness.say(ADMIN_ID, "/ticket 1 accept")
    await harness.say(ADMIN_ID, "/ticket 2 done")
    assert "The reporter got 40 points." in harness.last_reply()
    await harness.say(ADMIN_ID, "/quota")
    assert "<b>Admin</b>: 80" in harness.last_reply()
    await harness.say(ADMIN_ID, "/ticket 3 accept")
    assert "20 of 100 points left this month" in harness.last_reply()
    assert "20 of 100 points left this month" in await press_accept(harness, 3, ADMIN_ID)
    assert await status(harness, 3) == "new"
    await harness.say(ADMIN_ID, "/award @user1001 30")
    assert "20 of 100 points left this month" in harness.last_reply()

    await harness.say(ADMIN_ID, "/ticket 5 merge 1")
    await harness.say(ADMIN_ID, "/ticket 5 reward")
    assert "20 of 100 points left this month" in harness.last_reply()
    assert await balance(harness, SECOND) == 0
    await harness.say(CREATOR_ID, "/ticket 5 reward")
    assert "got 40 points" in harness.last_reply()

    await harness.say(OWNER_ID, "/ticket 3 accept")
    assert "The reporter got 40 points." in harness.last_reply()
    await harness.say(CREATOR_ID, "/quota")
    report = harness.last_reply()
    assert "<b>Admin</b>: 80" in report and "<b>Creator</b>: 40" in report
    assert "Owner" not in report
    assert await balance(harness, REPORTER) == 120

    harness.clock.advance(days=31)  # a new month in the group's timezone
    await harness.say(ADMIN_ID, "/ticket 4 accept")
    assert "The reporter got 40 points." in harness.last_reply()
    async with stored(harness) as session:
        audited = (
            await session.execute(
                select(AuditRow.actor_id, AuditRow.target_user_id, AuditRow.detail)
                .where(AuditRow.action == "ticket_reward")
                .order_by(AuditRow.id)
            )
        ).all()
    assert [tuple(row) for row in audited] == [
        (ADMIN_ID, REPORTER, "#1 +40"),
        (ADMIN_ID, REPORTER, "#2 +40"),
        (CREATOR_ID, SECOND, "#5 +40"),
        (OWNER_ID, REPORTER, "#3 +40"),
        (ADMIN_ID, REPORTER, "#4 +40"),
    ]
    await ledger_matches_balances(harness)


async def test_an_anonymous_admin_takes_no_decision_that_pays(harness: Harness) -> None:
    add_members(harness, [REPORTER])
    await harness.say(REPORTER, "/bug The check-in button does nothing")
    await harness.say(REPORTER, "/idea A weekly quiz")
    for text in ("/ticket 1 accept", "/ticket 1 done"):
        await harness.posted(harness.api.send_anonymous_admin_message(GROUP_ID, text))
        assert "Anonymous admins cannot take a decision that pays points" in harness.last_reply()
    assert await status(harness, 1) == "new"
    assert await balance(harness, REPORTER) == 0

    # Decisions that pay nothing stay open to them.
    await harness.posted(harness.api.send_anonymous_admin_message(GROUP_ID, "/ticketrules idea 0"))
    await harness.posted(harness.api.send_anonymous_admin_message(GROUP_ID, "/ticket 2 accept"))
    assert "Ticket #2 is accepted." in harness.last_reply()
    await harness.posted(
        harness.api.send_anonymous_admin_message(GROUP_ID, "/ticket 1 reject Not a bug")
    )
    assert "Ticket #1 is rejected." in harness.last_reply()
    assert await balance(harness, REPORTER) == 0


SETTINGS = [
    # (command before the amount, the moderator's bound, what the reply shows after a change)
    ("/ticketrules bug", 1000, "bug pays {points} points"),
    ("/ticketrules idea", 1000, "idea {points};"),
    ("/survey thanks", 100, "with {points} points"),
    ("/growth reward", 1000, "Inviter reward {points},"),
    ("/growth bonus", 1000, "welcome bonus {points},"),
    ("/winback gift", 1000, "{points}"),
    ("/birthdays gift", 1000, "{points}"),
    ("/birthdays vip", 1000, "{points}"),
]


async def test_paid_amounts_are_bounded_owners_go_higher_and_changes_are_audited(
    harness: Harness,
) -> None:
    expected_audit = []
    for command, bound, shown in SETTINGS:
        await harness.say(ADMIN_ID, f"{command} {bound + 1}")
        refusal = harness.last_reply()
        assert f"A moderator may set at most {bound} points here" in refusal, command
        assert "owners up to 1000000" in refusal and "nothing was changed" in refusal

        await harness.say(ADMIN_ID, f"{command} {bound}")
        assert shown.format(points=bound) in harness.last_reply(), command
        await harness.say(OWNER_ID, f"{command} {bound * 5}")
        assert shown.format(points=bound * 5) in harness.last_reply(), command
        await harness.say(OWNER_ID, f"{command} 1000001")
        assert "At most 1000000 points can be set here" in harness.last_reply(), command
        expected_audit.append((ADMIN_ID, bound))
        expected_audit.append((OWNER_ID, bound * 5))

    async with stored(harness) as session:
        rows = (
            await session.execute(
                select(AuditRow.actor_id, AuditRow.detail)
                .where(AuditRow.action == "reward_setting")
                .order_by(AuditRow.id)
            )
        ).all()
    assert [actor for actor, _detail in rows] == [actor for actor, _points in expected_audit]
    details = [detail for _actor, detail in rows]
    assert details[:2] == ["ticket bug: 30 -> 1000", "ticket bug: 1000 -> 5000"]
    assert details[4:6] == ["survey thanks: 5 -> 100", "survey thanks: 100 -> 500"]
    assert details[10:12] == ["winback gift: 0 -> 1000", "winback gift: 1000 -> 5000"]
    assert details[-2:] == ["birthday vip gift: - -> 1000", "birthday vip gift: 1000 -> 5000"]
    assert all(
        detail.endswith(f" -> {points}")
        for detail, (_a, points) in zip(details, expected_audit, strict=True)
    )


async def test_a_moderator_earns_no_thank_you_from_their_own_survey(harness: Harness) -> None:
    from tests.e2e.test_surveys import buttons as survey_buttons
    from tests.e2e.test_surveys import press, survey_posts

    add_members(harness, [REPORTER])
    await harness.say(REPORTER, "hello")
    await harness.say(ADMIN_ID, "hello")
    await harness.say(ADMIN_ID, "/survey thanks 100")
    await harness.say(ADMIN_ID, "/survey nps")
    [post] = survey_posts(harness)
    data = survey_buttons(post)
    own = await press(harness, post, ADMIN_ID, data[10])
    assert "Your answer: 10." in str(own.get("text")), own
    assert "+100" not in str(own.get("text")), own
    member = await press(harness, post, REPORTER, data[8])
    assert "+100" in str(member.get("text"))
    async with stored(harness) as session:
        thanked = (
            await session.execute(
                select(LedgerRow.user_id, LedgerRow.amount).where(LedgerRow.kind == "survey_thanks")
            )
        ).all()
    assert [tuple(row) for row in thanked] == [(REPORTER, 100)]
    await ledger_matches_balances(harness)
