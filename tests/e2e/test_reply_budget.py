"""A check-in burst in one group, through real polling, with a fake Bot API that enforces
Telegram's limits: the group gets merged replies inside its budget, and no 429."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from storage.models import CheckinRow
from tests.e2e.conftest import GROUP_ID, Harness
from tests.e2e.helpers import add_members, stored
from tests.fakes.bot_api import SentMessage

MEMBERS = list(range(2001, 2061))


def most_in_a_minute(messages: list[SentMessage]) -> int:
    dates = [m.date for m in messages]
    return max(
        sum(1 for d in dates if first <= d < first + timedelta(minutes=1)) for first in dates
    )


async def test_sixty_check_ins_within_a_minute_get_merged_replies_inside_the_budget(
    harness: Harness,
) -> None:
    harness.api.enforce_rate_limits = True
    add_members(harness, MEMBERS)
    before = len(harness.replies())

    update_ids = harness.api.send_messages(GROUP_ID, MEMBERS, "/checkin")
    await harness.handled(update_ids[-1])

    sent = harness.replies()
    assert most_in_a_minute(sent) <= 20
    assert harness.api.rate_limit_violations == 0
    replies = sent[before:]
    assert len(replies) < 20
    said = "\n".join(m.text or "" for m in replies)
    assert "✅ 60 members checked in: " in said
    for user_id in MEMBERS:
        assert f"User {user_id} +10 (streak 1)" in said
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(CheckinRow)) == 60
