from __future__ import annotations

from bot.domain.errors import InsufficientBalance
from bot.domain.models import Community, LedgerEntry, Member, PointsChange
from bot.domain.rules import tier_for
from bot.ports import UnitOfWork


async def apply_points(
    uow: UnitOfWork, community: Community, entry: LedgerEntry, member: Member | None = None
) -> PointsChange | None:
    """The only way a balance changes: one ledger row and the matching balance update.

    Returns None when the entry's idempotency key was already used (nothing changes).
    Positive amounts also count toward lifetime points, which set the tier; a tier
    is never lowered. `member` may be passed when the caller read it in this same
    unit of work, saving a round trip.
    """
    if member is None:
        member = await uow.members.get(entry.community_id, entry.user_id)
    if member is None:
        raise LookupError(f"no member {entry.user_id} in community {entry.community_id}")
    if member.balance + entry.amount < 0:
        raise InsufficientBalance(
            name=member.display_name, balance=member.balance, amount=-entry.amount
        )
    if not await uow.ledger.add(entry):
        return None
    earned = max(entry.amount, 0)
    lifetime = member.lifetime_earned + earned
    tier_after = max(member.tier, tier_for(lifetime, community.tier_thresholds))
    await uow.members.apply_points(
        entry.community_id, entry.user_id, entry.amount, earned, tier_after
    )
    return PointsChange(
        user_id=member.user_id,
        display_name=member.display_name,
        amount=entry.amount,
        balance=member.balance + entry.amount,
        lifetime_earned=lifetime,
        tier_before=member.tier,
        tier_after=tier_after,
    )
