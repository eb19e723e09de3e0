"""Invite links, referral rewards that cannot be farmed, and newcomer onboarding."""

from __future__ import annotations

import re

from sqlalchemy import select

from storage.models import LedgerRow, ReferralRow
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members, ledger_matches_balances, stored

INVITER = 1001
LINK = re.compile(r"https://t\.me/\+[\w-]+")


async def open_private_chat(harness: Harness, user_id: int) -> None:
    await harness.say(user_id, "/start", chat_id=user_id)


async def invite_link_of(harness: Harness, user_id: int) -> str:
    await harness.say(user_id, "/invite")
    assert "private message" in harness.last_reply()
    found = LINK.search(harness.last_message(chat_id=user_id))
    assert found, harness.last_message(chat_id=user_id)
    return found.group(0)


async def ledger_kinds(harness: Harness) -> list[tuple[str, int, int]]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(LedgerRow.kind, LedgerRow.user_id, LedgerRow.amount)
            .where(LedgerRow.kind.in_(["referral", "welcome_bonus"]))
            .order_by(LedgerRow.id)
        )
        return [(kind, user_id, amount) for kind, user_id, amount in rows]


async def referral_states(harness: Harness) -> dict[int, tuple[str, str | None]]:
    async with stored(harness) as session:
        rows = await session.execute(
            select(ReferralRow.invitee_id, ReferralRow.status, ReferralRow.reason)
        )
        return {invitee: (status, reason) for invitee, status, reason in rows}


async def test_three_newcomers_through_a_link_give_exactly_one_reward(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER])
    await open_private_chat(harness, INVITER)
    link = await invite_link_of(harness, INVITER)
    assert await invite_link_of(harness, INVITER) == link  # a second /invite: the same link
    created = api.calls("createChatInviteLink")
    assert len(created) == 1
    assert created[0]["name"].startswith("ref_") and str(INVITER) not in created[0]["name"]

    for newcomer, first_name in ((2001, "Leaver"), (2002, "Lurker"), (2003, "Keeper")):
        api.add_user(newcomer, first_name, username=first_name.lower())
        await harness.handled(api.join(GROUP_ID, newcomer, invite_link=link))
    await harness.say(2003, "/checkin")
    clock.advance(hours=1)
    await harness.handled(api.leave(GROUP_ID, 2001))
    await harness.say(2002, "just reading")

    clock.advance(hours=23, minutes=1)
    await harness.run_due_work()
    await harness.run_due_work()  # a second run changes nothing

    assert await ledger_kinds(harness) == [("referral", INVITER, 50), ("welcome_bonus", 2003, 20)]
    states = await referral_states(harness)
    assert states[2001] == ("rejected", "left_before_qualifying")
    assert states[2002] == ("pending", None)
    assert states[2003] == ("qualified", None)
    assert "Keeper" in harness.last_message(chat_id=INVITER) and "+50" in harness.last_message(
        chat_id=INVITER
    )

    await harness.say(INVITER, "/invites")
    assert "3 invited, 1 pending, 1 qualified, 1 rejected" in harness.last_reply()
    await harness.say(CREATOR_ID, f"/referrals @user{INVITER}")
    listing = harness.last_reply()
    assert "Leaver" in listing and "left before qualifying" in listing
    assert "Keeper" in listing and "qualified" in listing
    await harness.say(2003, "/topinviters")
    assert f"1. <b>User {INVITER}</b> — 1 qualified" in harness.last_reply()

    # The lurker checks in a day later: the referral is due at once, paid by the next run.
    await harness.say(2002, "/checkin")
    await harness.run_due_work()
    assert len(await ledger_kinds(harness)) == 4
    await ledger_matches_balances(harness)


async def test_farming_earns_nothing(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER, 1002])
    await open_private_chat(harness, INVITER)
    await harness.say(1002, "I was here first")
    link = await invite_link_of(harness, INVITER)

    # Self-invite: the inviter leaves and comes back through their own link.
    await harness.handled(api.leave(GROUP_ID, INVITER))
    await harness.handled(api.join(GROUP_ID, INVITER, invite_link=link))
    # Rejoin: a known member leaves and rejoins through the link.
    await harness.handled(api.leave(GROUP_ID, 1002))
    await harness.handled(api.join(GROUP_ID, 1002, invite_link=link))
    # A bot joins through the link; someone joins with no link at all.
    api.add_user(3001, "Farm Bot", username="farm_bot", is_bot=True)
    await harness.handled(api.join(GROUP_ID, 3001, invite_link=link))
    api.add_user(2001, "Walk-in")
    await harness.handled(api.join(GROUP_ID, 2001))
    for user_id in (INVITER, 1002, 2001):
        await harness.say(user_id, "/checkin")

    clock.advance(hours=25)
    await harness.run_due_work()
    assert await ledger_kinds(harness) == []
    states = await referral_states(harness)
    assert states[INVITER] == ("rejected", "self_invite")
    assert states[1002] == ("rejected", "rejoin")
    assert states[3001] == ("rejected", "bot")
    assert states[2001] == ("organic", None)


async def test_the_daily_cap_holds(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER])
    await open_private_chat(harness, INVITER)
    link = await invite_link_of(harness, INVITER)
    newcomers = list(range(2001, 2013))
    for newcomer in newcomers:
        api.add_user(newcomer, f"New {newcomer}")
        await harness.handled(api.join(GROUP_ID, newcomer, invite_link=link))
        await harness.say(newcomer, "/checkin")
    clock.advance(hours=24, minutes=5)
    await harness.run_due_work()
    rewards = [row for row in await ledger_kinds(harness) if row[0] == "referral"]
    assert len(rewards) == 10
    states = await referral_states(harness)
    capped = [user for user, state in states.items() if state == ("rejected", "daily_cap")]
    assert len(capped) == 2
    await ledger_matches_balances(harness)


async def test_deep_link_referral_is_remembered_until_the_join(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER])
    await open_private_chat(harness, INVITER)
    link = await invite_link_of(harness, INVITER)
    created = api.calls("createChatInviteLink")[0]["name"].removeprefix("ref_")

    api.add_user(2001, "Friend", language_code="en")
    await harness.say(2001, f"/start ref_{created}", chat_id=2001)
    welcome = api.messages_to(2001)[-1]
    assert "A friend invited you" in (welcome.text or "")
    assert welcome.reply_markup is not None
    assert welcome.reply_markup["inline_keyboard"][0][0]["url"] == link
    # They join some other way (a public link): the remembered deep link attributes it.
    await harness.handled(api.join(GROUP_ID, 2001))
    await harness.say(2001, "/checkin")
    clock.advance(hours=24, minutes=1)
    await harness.run_due_work()
    assert await ledger_kinds(harness) == [("referral", INVITER, 50), ("welcome_bonus", 2001, 20)]

    await harness.say(2001, "/start ref_nonsense", chat_id=2001)
    assert "not valid" in harness.last_reply(chat_id=2001)


async def test_join_requests_are_approved_and_attributed(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    add_members(harness, [INVITER])
    await open_private_chat(harness, INVITER)
    link = await invite_link_of(harness, INVITER)
    api.add_user(2001, "Asker")
    await harness.handled(api.join_request(GROUP_ID, 2001, invite_link=link))
    assert api.calls("approveChatJoinRequest")[-1]["user_id"] == 2001
    await harness.say(2001, "/checkin")
    clock.advance(hours=24, minutes=1)
    await harness.run_due_work()
    assert await ledger_kinds(harness) == [("referral", INVITER, 50), ("welcome_bonus", 2001, 20)]

    await harness.say(CREATOR_ID, "/joinrequests manual")
    api.add_user(2002, "Second Asker")
    await harness.handled(api.join_request(GROUP_ID, 2002, invite_link=link))
    assert len(api.calls("approveChatJoinRequest")) == 1


async def test_a_wave_of_joins_is_greeted_at_once_then_once_a_minute(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    sent_before = len(harness.replies())
    api.add_user(5000, "Joiner 0")
    await harness.handled(api.join(GROUP_ID, 5000))
    clock.advance(seconds=15)  # the timed work runs every 15 s: the first join is greeted
    await harness.run_due_work()
    welcomes = harness.replies()[sent_before:]
    assert len(welcomes) == 1 and "Joiner 0" in (welcomes[0].text or "")
    for offset in range(1, 41):  # the rest of the wave, one a second
        user_id = 5000 + offset
        api.add_user(user_id, f"Joiner {offset}")
        clock.advance(seconds=1)
        await harness.handled(api.join(GROUP_ID, user_id))
    await harness.run_due_work()  # 40 s after the first welcome: not another one yet
    assert len(harness.replies()) == sent_before + 1
    clock.advance(seconds=21)
    await harness.run_due_work()
    await harness.run_due_work()
    welcomes = harness.replies()[sent_before:]
    assert len(welcomes) == 2
    text = welcomes[1].text or ""
    assert "<b>Joiner 0</b>" not in text
    assert "<b>Joiner 1</b>" in text and "<b>Joiner 30</b>" in text
    assert "and 10 more" in text
    # A joiner just after that waits for the next minute; a new wave later is greeted at once.
    api.add_user(6000, "Late")
    await harness.handled(api.join(GROUP_ID, 6000))
    clock.advance(seconds=15)
    await harness.run_due_work()
    assert len(harness.replies()) == sent_before + 2
    clock.advance(seconds=46)
    await harness.run_due_work()
    assert len(harness.replies()) == sent_before + 3 and "Late" in harness.last_message()
    clock.advance(minutes=10)
    api.add_user(7000, "Next Wave")
    await harness.handled(api.join(GROUP_ID, 7000))
    clock.advance(seconds=15)
    await harness.run_due_work()
    assert len(harness.replies()) == sent_before + 4 and "Next Wave" in harness.last_message()


async def test_welcome_text_and_rules_are_configurable(harness: Harness) -> None:
    api, clock = harness.api, harness.clock
    await harness.say(CREATOR_ID, "/setwelcome Hi {names}! Read {rules} first. {oops}")
    assert "Unknown placeholder {oops}" in harness.last_reply()
    await harness.say(CREATOR_ID, "/setwelcome Hi {names}, welcome to {group}! Rules: {rules}")
    assert "saved" in harness.last_reply()
    await harness.say(CREATOR_ID, "/setrules https://example.org/rules")
    await harness.say(CREATOR_ID, "/setrules")
    assert "Usage" in harness.last_reply()
    api.add_user(2001, "Newbie <3")
    await harness.handled(api.join(GROUP_ID, 2001))
    clock.advance(seconds=61)
    await harness.run_due_work()
    assert harness.last_message() == (
        "Hi <b>Newbie &lt;3</b>, welcome to <b>Seed Users</b>! Rules: https://example.org/rules"
    )


async def test_invite_without_a_private_chat_and_without_the_right(harness: Harness) -> None:
    api = harness.api
    add_members(harness, [INVITER])
    await harness.say(INVITER, "/invite")
    reply = harness.replies()[-1]
    assert "haven't started a chat" in (reply.text or "")
    assert reply.reply_markup is not None
    url = reply.reply_markup["inline_keyboard"][0][0]["url"]
    assert url.startswith("https://t.me/seedbot_test?start=inv_") and str(GROUP_ID) not in url
    assert not LINK.search(reply.text or "")  # no link in the group
    await harness.say(INVITER, "/start " + url.split("start=")[1], chat_id=INVITER)
    assert LINK.search(harness.last_message(chat_id=INVITER))

    add_members(harness, [1002])
    api.deny_right(GROUP_ID, "can_invite_users")
    await harness.say(1002, "/invite")
    assert "“Invite users via link” right" in harness.last_reply()
    await harness.say(1002, "/checkin")  # nothing else fails
    assert "+10 points" in harness.last_reply()


async def test_renewed_links_keep_old_deep_links_working(harness: Harness) -> None:
    api = harness.api
    add_members(harness, [INVITER])
    await open_private_chat(harness, INVITER)
    first = await invite_link_of(harness, INVITER)
    old_code = api.calls("createChatInviteLink")[0]["name"].removeprefix("ref_")
    assert f"start=ref_{old_code}" in harness.last_message(chat_id=INVITER)
    await harness.say(INVITER, "/invite new")
    renewed = LINK.search(harness.last_message(chat_id=INVITER))
    assert renewed and renewed.group(0) != first
    assert api.calls("revokeChatInviteLink")[-1]["invite_link"] == first
    api.add_user(2001, "Late Friend")
    await harness.say(2001, f"/start ref_{old_code}", chat_id=2001)
    button = api.messages_to(2001)[-1].reply_markup
    assert button is not None and button["inline_keyboard"][0][0]["url"] == renewed.group(0)


async def test_moderators_set_the_referral_rules(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/growth")
    assert "after 24 hours in the group and a check-in" in harness.last_reply()
    assert "Inviter reward 50, welcome bonus 20, at most 10" in harness.last_reply()
    await harness.say(CREATOR_ID, "/growth hours 48")
    await harness.say(CREATOR_ID, "/growth checkin off")
    await harness.say(CREATOR_ID, "/growth cap 3")
    assert (
        "after 48 hours in the group." in harness.last_reply()
        and "at most 3" in harness.last_reply()
    )
    await harness.say(CREATOR_ID, "/growth cap 100000")
    assert "between 0 and 1000" in harness.last_reply()
    await harness.say(CREATOR_ID, "/growth speed 9")
    assert "Usage" in harness.last_reply()
    add_members(harness, [INVITER])
    await harness.say(INVITER, "/growth cap 1")
    assert "Only moderators" in harness.last_reply()
