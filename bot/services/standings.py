from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.errors import NotEligible
from bot.domain.models import (
    Badge,
    Community,
    LeaderboardPeriod,
    LeaderboardRow,
    Tier,
    UserInfo,
)
from bot.domain.rules import current_streak, local_day, period_start, points_to_next_tier
from bot.ports import UnitOfWork
from bot.services.membership import is_eligible, member_seen

LEADERBOARD_SIZE = 10


@dataclass(frozen=True)
class Profile:
    display_name: str
    balance: int
    lifetime_earned: int
    streak: int
    tier: Tier
    rank: int
    badges: frozenset[Badge]
    next_tier: Tier | None
    points_to_next_tier: int


@dataclass(frozen=True)
class Pyramid:
    tiers: dict[Tier, int]
    badges: dict[Badge, int]
    thresholds: tuple[int, ...]


async def profile(uow: UnitOfWork, community: Community, user: UserInfo, now: datetime) -> Profile:
    """A member's balance, lifetime points, streak as of today, tier, rank and the way up.
    Looking writes nothing for a known member whose details are unchanged; anyone else is
    registered first."""
    if not is_eligible(user):
        raise NotEligible()
    await uow.users.upsert(user)
    member = await uow.members.get(community.id, user.id)
    if member is None or not member.is_member:
        member = await member_seen(uow, community, user, now)
    if member is None:
        raise NotEligible()
    today = local_day(now, community.timezone)
    rank = await uow.members.rank_by_lifetime(community.id, user.id)
    badges = await uow.badges.of_member(community.id, user.id)
    following = points_to_next_tier(member.lifetime_earned, community.tier_thresholds)
    return Profile(
        display_name=member.display_name,
        balance=member.balance,
        lifetime_earned=member.lifetime_earned,
        streak=current_streak(member.streak, member.last_checkin_day, today),
        tier=member.tier,
        rank=rank,
        badges=badges,
        next_tier=following[0] if following else None,
        points_to_next_tier=max(following[1], 0) if following else 0,
    )


async def leaderboard(
    uow: UnitOfWork, community: Community, period: LeaderboardPeriod, now: datetime
) -> Sequence[LeaderboardRow]:
    """Top members by lifetime points, or by points earned this week or month (local time)."""
    since = period_start(now, community.timezone, period)
    if since is None:
        return await uow.members.top_by_lifetime(community.id, LEADERBOARD_SIZE)
    return await uow.ledger.top_earners_since(community.id, since, LEADERBOARD_SIZE)


async def pyramid(uow: UnitOfWork, community: Community) -> Pyramid:
    return Pyramid(
        tiers=await uow.members.count_by_tier(community.id),
        badges=await uow.badges.count_by_badge(community.id),
        thresholds=community.tier_thresholds,
    )
