from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import NotEligible
from bot.domain.models import (
    CheckinMark,
    Community,
    LedgerEntry,
    LedgerKind,
    PointsChange,
    UserInfo,
)
from bot.domain.rules import checkin_day_after_move, checkin_points, local_day, next_streak
from bot.ports import UnitOfWork
from bot.services.lifecycle import note_first_activity
from bot.services.membership import member_checking_in
from bot.services.points import apply_checkin_points
from bot.services.referrals import note_checkin


@dataclass(frozen=True)
class CheckinOutcome:
    checked_in: bool
    streak: int
    points: int
    balance: int
    change: PointsChange | None = None


# Check-ins older than this cannot fall on today or yesterday in any other timezone.
CHECKINS_CARRIED = timedelta(days=7)


def is_checkin_keyword(community: Community, text: str) -> bool:
    normalized = " ".join(text.split()).casefold()
    return any(normalized == keyword.casefold() for keyword in community.checkin_keywords)


async def check_in(
    uow: UnitOfWork, community: Community, user: UserInfo, at: datetime
) -> CheckinOutcome:
    """One check-in per member per local day; the streak grows after yesterday's check-in."""
    found = await member_checking_in(uow, community, user, at)
    if found is None:
        raise NotEligible()
    member, pending_referral = found.member, found.pending_referral
    today = local_day(at, community.timezone)
    last_day = member.last_checkin_day
    if last_day is not None and last_day >= today:
        await uow.members.touch(community.id, user.id, at)
        return CheckinOutcome(False, member.streak, 0, member.balance)
    streak = next_streak(member.streak, last_day, today)
    points = checkin_points(streak, community.checkin_rules)
    entry = LedgerEntry(
        community_id=community.id,
        user_id=user.id,
        amount=points,
        kind=LedgerKind.CHECKIN,
        idempotency_key=f"checkin:{community.id}:{user.id}:{today.isoformat()}",
        created_at=at,
        reason=f"streak {streak}",
    )
    booked = await apply_checkin_points(
        uow, community, entry, member, CheckinMark(streak, today, at)
    )
    if booked is None:
        await uow.members.touch(community.id, user.id, at)
        return CheckinOutcome(False, member.streak, 0, member.balance)
    first_activity, change = booked
    if first_activity and found.at_risk_or_churned:
        await note_first_activity(uow, community.id, user.id, today)
    if pending_referral:
        await note_checkin(uow, community, user.id, at)
    balance = change.balance if change else member.balance
    return CheckinOutcome(True, streak, points, balance, change)


async def carry_checkins_to_timezone(
    uow: UnitOfWork, community_id: int, new_timezone: str, now: datetime
) -> int:
    """Before a community moves to another timezone: each recent last check-in day is read
    again in the new zone (`checkin_day_after_move`), so nobody checks in twice on the same
    real day and streaks go on. Returns how many members' last day moved."""
    since = now.date() - CHECKINS_CARRIED
    moved = 0
    for user_id, last_day, checked_in_at, streak in await uow.members.last_checkins_since(
        community_id, since
    ):
        day = checkin_day_after_move(last_day, checked_in_at, new_timezone)
        if day != last_day:
            await uow.members.record_checkin_streak(community_id, user_id, streak, day)
            moved += 1
    return moved
