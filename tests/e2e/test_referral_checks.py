"""Referrals cannot be farmed by members the bot never saw, nor by newcomers who left unseen."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import MemberRow
from tests.e2e.conftest import GROUP_ID, Harness
from tests.e2e.helpers import add_members, ledger_matches_balances, stored
from tests.e2e.test_growth import (
    INVITER,
    invite_link_of,
    ledger_kinds,
    open_private_chat,
    referral_states,
)


async def is_member(harness: Harness, user_id: int) -> bool | None:
    async with stored(harness) as session:
        return await session.scalar(select(MemberRow.is_member).where(MemberRow.user_id == user_id))


async def test_a_silent_member_from_before_the_bot_cannot_rejoin_for_a_reward(
    harness: Harness,
) -> None:
    api, clock = harness.api, harness.clock
    silent = 1002
    add_members(harness, [INVITER, silent])  # both were in the group before the bot
    await open_private_chat(harness, INVITER)
    link = await invite_link_of(harness, INVITER)

    await harness.handled(api.leave(GROUP_ID, silent))
    assert await is_member(harness, silent) is False  # recorded though never seen before
    await harness.handled(api.join(GROUP_ID, silent, invite_link=link))
    await harness.say(silent, "/checkin")
    clock.advance(hours=25)
    await harness.run_due_work()

    assert await ledger_kinds(harness) == []
    assert (await referral_states(harness))[silent] == ("rejected", "rejoin")
    await ledger_matches_balances(harness)


async def test_a_newcomer_who_left_unseen_earns_nothing(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER])
    await open_private_chat(harness, INVITER)
    link = await invite_link_of(harness, INVITER)
    for newcomer, first_name in ((2001, "Ghost"), (2002, "Stayer")):
        api.add_user(newcomer, first_name)
        await harness.handled(api.join(GROUP_ID, newcomer, invite_link=link))
        await harness.say(newcomer, "/checkin")
    api.remove_member(GROUP_ID, 2001)  # gone, and no update ever told the bot

    clock.advance(hours=24, minutes=1)
    await harness.run_due_work()

    asked = {call["user_id"] for call in api.calls("getChatMember")}
    assert {2001, 2002} <= {int(user_id) for user_id in asked}
    assert await ledger_kinds(harness) == [("referral", INVITER, 50), ("welcome_bonus", 2002, 20)]
    states = await referral_states(harness)
    assert states[2001] == ("rejected", "left_before_qualifying")
    assert states[2002] == ("qualified", None)
    assert await is_member(harness, 2001) is False
    assert "Stayer" in harness.last_message(chat_id=INVITER)
    await ledger_matches_balances(harness)


async def test_a_referral_waits_while_telegram_cannot_tell(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER])
    await open_private_chat(harness, INVITER)
    link = await invite_link_of(harness, INVITER)
    api.add_user(2001, "Newcomer")
    await harness.handled(api.join(GROUP_ID, 2001, invite_link=link))
    await harness.say(2001, "/checkin")

    clock.advance(hours=24, minutes=1)
    api.fail_next("getChatMember", error_code=400, description="Bad Request: chat not found")
    await harness.run_due_work()
    assert await ledger_kinds(harness) == []
    assert (await referral_states(harness))[2001] == ("pending", None)

    clock.advance(minutes=11)
    await harness.run_due_work()
    assert await ledger_kinds(harness) == [("referral", INVITER, 50), ("welcome_bonus", 2001, 20)]
