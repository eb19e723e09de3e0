from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.errors import NotEligible
from bot.domain.models import Community, LedgerEntry, LedgerKind, PointsChange, UserInfo
from bot.domain.rules import checkin_points, local_day, next_streak
from bot.ports import UnitOfWork
from bot.services.membership import member_seen
from bot.services.points import apply_points
from bot.services.referrals import QualifiedReferral, try_qualify


@dataclass(frozen=True)
class CheckinOutcome:
    checked_in: bool
    streak: int
    points: int
    balance: int
    change: PointsChange | None = None
    referral: QualifiedReferral | None = None


def is_checkin_keyword(community: Community, text: str) -> bool:
    normalized = " ".join(text.split()).casefold()
    return any(normalized == keyword.casefold() for keyword in community.checkin_keywords)


async def check_in(
    uow: UnitOfWork, community: Community, user: UserInfo, at: datetime
) -> CheckinOutcome:
    """One check-in per member per local day; the streak grows after yesterday's check-in."""
    member = await member_seen(uow, community, user, at)
    if member is None:
        raise NotEligible()
    today = local_day(at, community.timezone)
    last_day = member.last_checkin_day
    if last_day is not None and last_day >= today:
        return CheckinOutcome(False, member.streak, 0, member.balance)
    streak = next_streak(member.streak, last_day, today)
    points = checkin_points(streak, community.checkin_rules)
    if not await uow.checkins.add(community.id, user.id, today, streak, points, at):
        return CheckinOutcome(False, member.streak, 0, member.balance)
    await uow.members.record_checkin_streak(community.id, user.id, streak, today)
    change = await apply_points(
        uow,
        community,
        LedgerEntry(
            community_id=community.id,
            user_id=user.id,
            amount=points,
            kind=LedgerKind.CHECKIN,
            idempotency_key=f"checkin:{community.id}:{user.id}:{today.isoformat()}",
            created_at=at,
            reason=f"streak {streak}",
        ),
        member,
    )
    referral = await try_qualify(uow, community, user.id, at)
    balance = change.balance if change else member.balance
    if referral is not None and referral.welcome_bonus is not None:
        balance = referral.welcome_bonus.balance
    return CheckinOutcome(True, streak, points, balance, change, referral)
