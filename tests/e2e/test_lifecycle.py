"""Members' lifecycle: stages by each member's own rhythm, won back on activity and by the
daily job, win-back messages once per episode, key members and the moderators' digest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, select

from bot.domain.models import Stage, UserInfo
from bot.domain.rules import local_day
from bot.services.lifecycle import winback_rate
from storage.models import (
    ActivityDayRow,
    LedgerRow,
    LifecycleClaimRow,
    MemberLifecycleRow,
    WinbackRow,
)
from storage.uow import unit_of_work
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
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

EVERY_2_DAYS = 1001
DAILY = 1002
DAILY_SILENT_4 = 1003
ONE_VISIT = 1004
LOYAL = 1005
GONE = 1006
OTHER_GROUP = -1009999999999
OTHER_ADMIN = 777
MEMBERS = (EVERY_2_DAYS, DAILY, DAILY_SILENT_4, ONE_VISIT, LOYAL, GONE)


@pytest.fixture
async def harness(api: FakeBotAPI, database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    """As tests/e2e/conftest.py's harness, on SQLite and (when configured) PostgreSQL."""
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_user(ADMIN_ID, "Admin", username="admin")
    api.add_user(OWNER_ID, "Owner", username="owner")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID, admins=[ADMIN_ID], is_forum=True)
    sleeps: list[float] = []
    app, task = await start_bot(api, database_url, clock, sleeps)
    h = Harness(api=api, app=app, clock=clock, sleeps=sleeps)
    await h.handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    yield h
    await stop_bot(app, task)


def today(harness: Harness) -> date:
    return local_day(harness.clock.now(), "Asia/Shanghai")


async def settle_in(harness: Harness, user_ids: Iterable[int], days: int = 60) -> None:
    """The members spoke once, `days` ago; their activity is then replaced by a history."""
    ids = list(user_ids)
    add_members(harness, ids)
    for user_id in ids:
        await harness.say(user_id, "hi")
    harness.clock.advance(days=days)
    async with stored(harness) as session, session.begin():
        await session.execute(delete(ActivityDayRow))


async def set_history(harness: Harness, history: Mapping[int, Iterable[int]]) -> None:
    """Activity on these days ago (0 = today) for each member."""
    day = today(harness)
    async with stored(harness) as session, session.begin():
        for user_id, days_ago in history.items():
            for ago in days_ago:
                session.add(
                    ActivityDayRow(
                        community_id=GROUP_ID,
                        user_id=user_id,
                        day=day - timedelta(days=ago),
                        messages=1,
                        checkins=0,
                        quiz_answers=0,
                        lottery_entries=0,
                        orders=0,
                    )
                )


async def stages(harness: Harness) -> dict[int, str]:
    async with stored(harness) as session:
        rows = await session.execute(select(MemberLifecycleRow.user_id, MemberLifecycleRow.stage))
        return {user_id: stage for user_id, stage in rows}


RHYTHMS = {
    EVERY_2_DAYS: range(7, 40, 2),  # came every 2 days, silent for 7
    DAILY: range(2, 40),  # came daily, silent for 2
    DAILY_SILENT_4: range(4, 40),
    ONE_VISIT: [8],  # too little history: the plain 7-day threshold
    LOYAL: range(0, 28, 3),
    GONE: [31, 33, 35],
}


async def test_stages_follow_each_members_own_rhythm(harness: Harness) -> None:
    await settle_in(harness, MEMBERS)
    await set_history(harness, RHYTHMS)
    await harness.run_due_work()
    found = await stages(harness)
    assert found[EVERY_2_DAYS] == Stage.AT_RISK
    assert found[DAILY] == Stage.LOYAL  # active in each of the last 4 weeks
    assert found[DAILY_SILENT_4] == Stage.AT_RISK
    assert found[ONE_VISIT] == Stage.AT_RISK
    assert found[LOYAL] == Stage.LOYAL
    assert found[GONE] == Stage.CHURNED


async def test_a_newcomer_is_new_and_a_leaver_churned(harness: Harness) -> None:
    harness.api.add_user(DAILY, "User 1002", username="user1002")
    await harness.handled(harness.api.join(GROUP_ID, DAILY))
    harness.clock.advance(days=1)
    await harness.run_due_work()
    assert (await stages(harness))[DAILY] == Stage.NEW
    await harness.handled(harness.api.leave(GROUP_ID, DAILY))
    harness.clock.advance(days=1)
    await harness.run_due_work()
    assert (await stages(harness))[DAILY] == Stage.CHURNED


async def test_an_at_risk_member_is_won_back_by_their_first_activity(harness: Harness) -> None:
    await settle_in(harness, [EVERY_2_DAYS, DAILY])
    await set_history(harness, {EVERY_2_DAYS: RHYTHMS[EVERY_2_DAYS], DAILY: range(1, 40)})
    await harness.run_due_work()
    assert (await stages(harness))[EVERY_2_DAYS] == Stage.AT_RISK
    await harness.say(EVERY_2_DAYS, "/checkin")  # no job in between
    assert (await stages(harness))[EVERY_2_DAYS] == Stage.WON_BACK
    harness.clock.advance(days=1)
    await harness.run_due_work()
    assert (await stages(harness))[EVERY_2_DAYS] == Stage.WON_BACK
    await ledger_matches_balances(harness)


async def test_a_churned_member_active_again_is_won_back_by_the_job(harness: Harness) -> None:
    await settle_in(harness, [GONE])
    await set_history(harness, {GONE: RHYTHMS[GONE]})
    await harness.run_due_work()
    assert (await stages(harness))[GONE] == Stage.CHURNED
    harness.clock.advance(days=1)
    await set_history(harness, {GONE: [0]})  # recorded without passing the hot path
    await harness.run_due_work()
    assert (await stages(harness))[GONE] == Stage.WON_BACK


async def test_win_back_is_sent_once_per_episode_with_its_gift(harness: Harness) -> None:
    await settle_in(harness, [EVERY_2_DAYS, DAILY, DAILY_SILENT_4])
    await harness.say(EVERY_2_DAYS, "/start", chat_id=EVERY_2_DAYS)
    await harness.say(DAILY_SILENT_4, "/start", chat_id=DAILY_SILENT_4)
    blocked = harness.api.block_bot(DAILY_SILENT_4)
    assert blocked is not None
    await harness.handled(blocked)
    await harness.say(ADMIN_ID, "/winback on")
    await harness.say(ADMIN_ID, "/winback gift 5")
    assert "Win-back message: on, gift 5" in harness.last_reply()
    await set_history(
        harness,
        {
            EVERY_2_DAYS: RHYTHMS[EVERY_2_DAYS],
            DAILY: [9, 20, 30, 35],
            DAILY_SILENT_4: RHYTHMS[DAILY_SILENT_4],
        },
    )
    await harness.run_due_work()
    assert (await stages(harness))[DAILY_SILENT_4] == Stage.AT_RISK
    assert len(harness.replies(chat_id=DAILY_SILENT_4)) == 1  # only the /start reply: blocked
    private = harness.replies(chat_id=EVERY_2_DAYS)
    assert len(private) == 2 and "We miss you" in (private[-1].text or "")
    assert "+5 points" in (private[-1].text or "")
    assert harness.replies(chat_id=DAILY) == []  # never opened a private chat
    harness.clock.advance(days=1)
    await harness.run_due_work()
    harness.clock.advance(days=1)
    await harness.run_due_work()
    assert len(harness.replies(chat_id=EVERY_2_DAYS)) == 2
    async with stored(harness) as session:
        gifts = (await session.execute(select(LedgerRow).where(LedgerRow.kind == "winback"))).all()
        assert len(gifts) == 1
        assert len((await session.execute(select(WinbackRow))).all()) == 1
    await harness.say(EVERY_2_DAYS, "hello again")
    async with harness.app.open_uow() as uow:
        community = await uow.communities.get(GROUP_ID)
        assert community is not None
        rate = await winback_rate(uow, community, harness.clock.now() - timedelta(days=30))
    assert rate == (1, 1)
    await harness.say(ADMIN_ID, "/stats")
    assert "Win-back: 1 of 1 members written to came back (100.0%)" in harness.last_reply()
    await ledger_matches_balances(harness)


async def test_churn_lists_the_most_valuable_first_for_moderators_only(harness: Harness) -> None:
    await settle_in(harness, [EVERY_2_DAYS, DAILY_SILENT_4, DAILY])
    await set_history(
        harness,
        {EVERY_2_DAYS: RHYTHMS[EVERY_2_DAYS], DAILY_SILENT_4: range(4, 40), DAILY: range(1, 9)},
    )
    async with stored(harness) as session, session.begin():
        from storage.models import MemberRow

        member = await session.scalar(select(MemberRow).where(MemberRow.user_id == DAILY_SILENT_4))
        assert member is not None
        member.lifetime_earned = 500
    await harness.run_due_work()
    await harness.say(ADMIN_ID, "/churn")
    text = harness.last_reply()
    assert text.index("User 1003") < text.index("User 1001")
    assert "usually every 2.0 days" in text and "User 1002" not in text
    sent_before = len(harness.api.messages_to(GROUP_ID))
    await harness.say(DAILY, "/churn")  # a plain member
    harness.api.add_user(OTHER_ADMIN, "Other Admin")
    harness.api.add_group(OTHER_GROUP, "Other", creator_id=OTHER_ADMIN)
    harness.api.add_member(GROUP_ID, OTHER_ADMIN)
    await harness.say(OTHER_ADMIN, "/churn")  # a moderator, but of another group
    await harness.say(OTHER_ADMIN, "/keymembers rule 1 0")
    leaked = [m.text or "" for m in harness.api.messages_to(GROUP_ID)[sent_before:]]
    assert not [text for text in leaked if "User 100" in text or "Key members" in text], leaked
    async with harness.app.open_uow() as uow:
        community = await uow.communities.get(GROUP_ID)
        assert community is not None and community.lifecycle.key_top_percent == 10


async def test_settings_are_changed_by_moderators_only(harness: Harness) -> None:
    await settle_in(harness, [DAILY], days=0)
    await harness.say(DAILY, "/lifecycle churn 20")
    await harness.say(ADMIN_ID, "/lifecycle")
    assert "churned after 30 days" in harness.last_reply()
    await harness.say(ADMIN_ID, "/lifecycle churn 5")
    assert "between 7 and 90" in harness.last_reply()
    await harness.say(ADMIN_ID, "/lifecycle churn 20")
    assert "churned after 20 days" in harness.last_reply()
    await harness.say(ADMIN_ID, "/winback maybe")
    assert "/winback on|off" in harness.last_reply()


async def test_key_members_are_told_to_moderators_once(harness: Harness) -> None:
    await settle_in(harness, [DAILY, LOYAL], days=0)
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    await harness.say(ADMIN_ID, "/keymembers rule 50 0")
    await harness.say(DAILY, "/checkin")
    await harness.run_due_work()
    notices = [
        m.text or ""
        for m in harness.replies(chat_id=ADMIN_ID)
        if "is now a key member" in (m.text or "")
    ]
    assert len(notices) == 1 and "User 1002" in notices[0]
    harness.clock.advance(days=1)
    await harness.run_due_work()
    notices = [
        m.text or ""
        for m in harness.replies(chat_id=ADMIN_ID)
        if "is now a key member" in (m.text or "")
    ]
    assert len(notices) == 1
    await harness.say(ADMIN_ID, "/keymembers")
    assert "User 1002" in harness.last_reply() and "User 1005" not in harness.last_reply()


async def test_the_digest_goes_out_once_a_week_even_after_a_restart(harness: Harness) -> None:
    await settle_in(harness, [DAILY], days=0)
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    await harness.run_due_work()

    def digests() -> list[str]:
        return [m.text or "" for m in harness.replies(chat_id=ADMIN_ID) if "📊" in (m.text or "")]

    assert len(digests()) == 1 and "New members" in digests()[0]
    from seedbot.app import build_app

    second = build_app(make_settings(harness.api, harness.app.settings.database_url), harness.clock)
    try:
        await second.run_due_work()
        await second.sender.drain()
    finally:
        await second.close()
    harness.clock.advance(days=2)
    await harness.run_due_work()
    assert len(digests()) == 1
    harness.clock.advance(days=7)
    await harness.run_due_work()
    assert len(digests()) == 2


async def test_two_workers_judge_a_day_and_send_a_win_back_once(harness: Harness) -> None:
    await settle_in(harness, [EVERY_2_DAYS])
    await harness.say(EVERY_2_DAYS, "/start", chat_id=EVERY_2_DAYS)
    await harness.say(ADMIN_ID, "/winback on")
    await set_history(harness, {EVERY_2_DAYS: RHYTHMS[EVERY_2_DAYS]})
    from seedbot.app import build_app

    second = build_app(make_settings(harness.api, harness.app.settings.database_url), harness.clock)
    try:
        await asyncio.gather(harness.app.run_due_work(), second.run_due_work())
        await harness.app.sender.drain()
        await second.sender.drain()
    finally:
        await second.close()
    private = [m.text or "" for m in harness.replies(chat_id=EVERY_2_DAYS)]
    assert len([text for text in private if "We miss you" in text]) == 1
    async with stored(harness) as session:
        claims = (await session.execute(select(LifecycleClaimRow))).all()
    assert len([claim for claim in claims if claim[0].kind == "daily"]) == 1


async def test_a_custom_win_back_text_is_sent_as_written(harness: Harness) -> None:
    await settle_in(harness, [EVERY_2_DAYS])
    await harness.say(EVERY_2_DAYS, "/start", chat_id=EVERY_2_DAYS)
    await harness.say(ADMIN_ID, "/winback on")
    await harness.say(ADMIN_ID, "/winback text Come back <soon> & say hi")
    await set_history(harness, {EVERY_2_DAYS: RHYTHMS[EVERY_2_DAYS]})
    await harness.run_due_work()
    # Sent in HTML mode, escaped: the member reads exactly what the moderator wrote.
    assert harness.last_message(chat_id=EVERY_2_DAYS) == "Come back &lt;soon&gt; &amp; say hi"


async def test_a_group_the_bot_left_is_not_asked_for_its_admins_on_every_pass(
    harness: Harness,
) -> None:
    """Telegram refuses getChatAdministrators for good once the bot is removed: the week's
    digest is settled (no one to tell) instead of asking again every 15 seconds."""
    await settle_in(harness, [DAILY], days=0)
    await harness.handled(harness.api.remove_bot_from_group(GROUP_ID, by_user_id=CREATOR_ID))
    for _ in range(3):
        harness.clock.advance(seconds=15)
        await harness.run_due_work()
    asked = [
        call
        for call in harness.api.calls("getChatAdministrators")
        if call.get("chat_id") == GROUP_ID
    ]
    assert len(asked) <= 1, asked


async def test_members_first_seen_after_the_days_judgement_are_judged_at_once(
    harness: Harness,
) -> None:
    await harness.run_due_work()  # the bot's first day: the group is judged at once
    # Members the bot meets later that day (here as an upgrade to a supergroup brings them,
    # with their history) are judged at the next pass, not the next day.
    joined = harness.clock.now() - timedelta(days=60)
    async with unit_of_work(harness.app.session_factory) as uow:
        for user_id in (EVERY_2_DAYS, DAILY):
            await uow.users.upsert(UserInfo(user_id, f"User {user_id}"))
            await uow.members.add(GROUP_ID, user_id, joined, joined=True)
    await set_history(harness, {EVERY_2_DAYS: RHYTHMS[EVERY_2_DAYS], DAILY: range(0, 40)})
    await harness.run_due_work()
    found = await stages(harness)
    assert found[EVERY_2_DAYS] == Stage.AT_RISK and found[DAILY] == Stage.LOYAL
    await harness.say(ADMIN_ID, "/churn")
    assert "User 1001" in harness.last_reply() and "User 1002" not in harness.last_reply()
