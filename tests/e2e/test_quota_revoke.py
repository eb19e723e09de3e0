"""Moderators' points are accountable: a monthly award quota, no self-awards, and /revoke."""

from __future__ import annotations

import re

from sqlalchemy import select

from storage.models import AuditRow, LedgerRow, MemberRow
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, OWNER_ID, Harness
from tests.e2e.helpers import add_members, ledger_matches_balances, stored

ENTRY_ID = re.compile(r"\(#(\d+)\)")


def entry_id_in(text: str) -> int:
    found = ENTRY_ID.search(text)
    assert found, text
    return int(found.group(1))


async def member_row(harness: Harness, user_id: int) -> tuple[int, int, int]:
    async with stored(harness) as session:
        row = (
            await session.execute(select(MemberRow).where(MemberRow.user_id == user_id))
        ).scalar_one()
        return row.balance, row.lifetime_earned, row.tier


async def test_no_self_awards_and_the_monthly_quota(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    await harness.say(ADMIN_ID, "hello")
    await harness.say(ADMIN_ID, "/award @admin 5")
    assert "cannot award points to themselves" in harness.last_reply()

    await harness.say(CREATOR_ID, "/quota set 5")
    assert "Only the bot's owners" in harness.last_reply()
    await harness.say(OWNER_ID, "/quota set 100")
    assert "100 points" in harness.last_reply()
    await harness.say(OWNER_ID, "/quota set abc")
    assert "between 0 and 1000000" in harness.last_reply()

    await harness.say(ADMIN_ID, "/award @user1001 60")
    first_award = entry_id_in(harness.last_reply())
    await harness.say(ADMIN_ID, "/award @user1001 50")
    assert "40 of 100 points left this month" in harness.last_reply()
    await harness.say(ADMIN_ID, "/deduct @user1001 10")  # deductions use no quota
    assert "Balance: 51." in harness.last_reply()
    await harness.say(OWNER_ID, "/award @user1001 500")  # owners are exempt
    assert "Balance: 551." in harness.last_reply()

    await harness.say(CREATOR_ID, "/quota")
    report = harness.last_reply()
    assert "100 points" in report and "<b>Admin</b>: 60" in report

    await harness.say(CREATOR_ID, f"/revoke {first_award}")  # a revoked award frees quota
    await harness.say(ADMIN_ID, "/award @user1001 100")
    assert "Balance: 591." in harness.last_reply()
    await harness.say(ADMIN_ID, "/award @user1001 1")
    assert "0 of 100 points left" in harness.last_reply()

    harness.clock.advance(days=31)  # a new month in the group's timezone
    await harness.say(ADMIN_ID, "/award @user1001 100")
    assert "Balance: 691." in harness.last_reply()
    await harness.say(1001, "/quota")
    assert "Only moderators" in harness.last_reply()
    await ledger_matches_balances(harness)


async def test_revoke_reverses_exactly_once_and_may_lower_the_tier(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    await harness.say(CREATOR_ID, "/award @user1001 60 great talk")
    award = entry_id_in(harness.last_reply())
    assert "reached the Member tier" in harness.last_message()
    assert await member_row(harness, 1001) == (61, 61, 1)
    await harness.say(1001, "/me")
    assert f"#{award} +60" in harness.last_reply()

    await harness.say(ADMIN_ID, f"/revoke {award}")
    reply = harness.last_reply()
    assert f"#{award} revoked: <b>User 1001</b> -60 points. Balance: 1." in reply
    revocation = entry_id_in(reply)
    assert await member_row(harness, 1001) == (1, 1, 0)

    await harness.say(ADMIN_ID, f"/revoke {award}")
    assert "already revoked" in harness.last_reply()
    for bad in (str(revocation), "999999"):
        await harness.say(ADMIN_ID, f"/revoke {bad}")
        assert f"no award or deduction #{bad}" in harness.last_reply()
    await harness.say(ADMIN_ID, "/revoke soon")
    assert "Usage: /revoke" in harness.last_reply()
    await harness.say(1001, f"/revoke {award}")
    assert "Only moderators" in harness.last_reply()

    async with stored(harness) as session:
        kinds = (await session.execute(select(LedgerRow.kind, LedgerRow.amount))).all()
        audit = (await session.execute(select(AuditRow.action, AuditRow.detail))).all()
    assert ("award", 60) in kinds and ("revoke", -60) in kinds
    assert ("revoke", f"#{award} -60") in audit
    await ledger_matches_balances(harness)


async def test_a_spent_award_cannot_be_revoked_but_a_deduction_can(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    await harness.say(CREATOR_ID, "/award @user1001 30")
    award = entry_id_in(harness.last_reply())
    await harness.say(CREATOR_ID, "/deduct @user1001 20")
    deduction = entry_id_in(harness.last_reply())

    await harness.say(CREATOR_ID, f"/revoke {award}")
    assert "has only 11 points left; the award of 30 cannot be revoked" in harness.last_reply()
    assert await member_row(harness, 1001) == (11, 31, 0)
    await harness.say(CREATOR_ID, f"/revoke #{deduction}")
    assert "+20 points. Balance: 31." in harness.last_reply()
    assert await member_row(harness, 1001) == (31, 31, 0)  # lifetime points unchanged


async def test_only_this_groups_entries_can_be_revoked(harness: Harness) -> None:
    other = GROUP_ID - 1
    harness.api.add_group(other, "Other", creator_id=CREATOR_ID, admins=[])
    add_members(harness, [1001])
    harness.api.add_member(other, 1001)
    await harness.handled(harness.api.add_bot_to_group(other, by_user_id=CREATOR_ID))
    await harness.say(1001, "hi", chat_id=other)
    await harness.say(CREATOR_ID, "/award @user1001 10", chat_id=other)
    elsewhere = entry_id_in(harness.last_reply(chat_id=other))
    await harness.say(CREATOR_ID, f"/revoke {elsewhere}")
    assert f"no award or deduction #{elsewhere}" in harness.last_reply()


async def test_anonymous_admins_cannot_award_or_revoke(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    await harness.say(CREATOR_ID, "/award @user1001 30")
    award = entry_id_in(harness.last_reply())
    for command in ("/award @user1001 2000", f"/revoke {award}"):
        await harness.posted(harness.api.send_anonymous_admin_message(GROUP_ID, command))
        assert "Anonymous admins cannot award points or revoke entries" in harness.last_reply()
    await harness.posted(harness.api.send_anonymous_admin_message(GROUP_ID, "/quota set 1"))
    assert "Only the bot's owners" in harness.last_reply()
    assert await member_row(harness, 1001) == (31, 31, 0)
    async with stored(harness) as session:
        kinds = (await session.execute(select(LedgerRow.kind))).scalars().all()
    assert sorted(kinds) == ["activity", "award"]


async def test_moderators_cannot_revoke_entries_made_to_themselves(harness: Harness) -> None:
    await harness.say(ADMIN_ID, "hello")
    await harness.say(CREATOR_ID, "/award @admin 50")
    award = entry_id_in(harness.last_reply())
    await harness.say(CREATOR_ID, "/deduct @admin 40 spam")
    deduction = entry_id_in(harness.last_reply())
    for entry in (deduction, award):
        await harness.say(ADMIN_ID, f"/revoke {entry}")
        assert "cannot revoke an award or deduction made to themselves" in harness.last_reply()
    assert await member_row(harness, ADMIN_ID) == (11, 51, 1)

    await harness.say(CREATOR_ID, f"/revoke {deduction}")  # another moderator may
    assert "+40 points. Balance: 51." in harness.last_reply()
    await ledger_matches_balances(harness)


async def test_a_moderator_who_only_sends_commands_shows_by_name_in_quota(
    harness: Harness,
) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    await harness.say(ADMIN_ID, "/award @user1001 30")  # the admin never said anything else
    assert "+30" in harness.last_reply()
    await harness.say(CREATOR_ID, "/quota")
    assert "<b>Admin</b>: 30" in harness.last_reply(), harness.last_reply()


async def test_a_refused_quota_change_names_owner_ids(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/quota set 5")
    assert "OWNER_IDS" in harness.last_reply()


async def test_me_marks_revoked_entries_and_their_reversals(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "hi")
    await harness.say(ADMIN_ID, "/award @user1001 60")
    award = entry_id_in(harness.last_reply())
    await harness.say(ADMIN_ID, "/award @user1001 5")
    kept = entry_id_in(harness.last_reply())
    await harness.say(CREATOR_ID, f"/revoke {award}")
    reversal = entry_id_in(harness.last_reply())

    await harness.say(1001, "/me")
    me = harness.last_reply()
    assert f"#{award} +60 (revoked by #{reversal})" in me, me
    assert f"#{reversal} -60 (revokes #{award})" in me, me
    assert f"#{kept} +5," in me or me.endswith(f"#{kept} +5"), me
