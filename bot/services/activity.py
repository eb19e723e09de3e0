from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.models import (
    Activity,
    Community,
    LedgerEntry,
    LedgerKind,
    PointsChange,
    UserInfo,
)
from bot.domain.rules import local_day
from bot.ports import UnitOfWork
from bot.services.lifecycle import note_first_activity
from bot.services.membership import member_seen
from bot.services.points import apply_points


async def note_activity(
    uow: UnitOfWork, community: Community, user_id: int, at: datetime, activity: Activity
) -> None:
    """Counts the activity on the member's day in the community's timezone (the record that
    makes them active that day, for metrics and lifecycle)."""
    day = local_day(at, community.timezone)
    if await uow.activity.note(community.id, user_id, day, activity):
        await note_first_activity(uow, community.id, user_id, day)


async def record_message(
    uow: UnitOfWork, community: Community, user: UserInfo, at: datetime, message_id: int
) -> PointsChange | None:
    """A conversation message: the member is registered and may earn a point.

    A point needs the cooldown since the last rewarded message to have passed and the
    local day's cap not to be reached.
    """
    member = await member_seen(uow, community, user, at)
    if member is None:
        return None
    await note_activity(uow, community, user.id, at, Activity.MESSAGE)
    rules = community.activity_rules
    if rules.points_per_message <= 0:
        return None
    today = local_day(at, community.timezone)
    earned_today = member.activity_points_today if member.activity_day == today else 0
    if earned_today + rules.points_per_message > rules.daily_cap:
        return None
    last = member.last_activity_point_at
    if last is not None and at - last < timedelta(seconds=rules.cooldown_seconds):
        return None
    change = await apply_points(
        uow,
        community,
        LedgerEntry(
            community_id=community.id,
            user_id=user.id,
            amount=rules.points_per_message,
            kind=LedgerKind.ACTIVITY,
            idempotency_key=f"activity:{community.id}:{message_id}",
            created_at=at,
        ),
        member,
    )
    if change is not None:
        await uow.members.record_activity_point(
            community.id, user.id, today, earned_today + rules.points_per_message, at
        )
    return change
