from __future__ import annotations

from collections.abc import Sequence

from bot.domain.errors import InsufficientBalance
from bot.domain.models import (
    Booking,
    CheckinMark,
    Community,
    HistoryEntry,
    LedgerEntry,
    Member,
    PointsChange,
    Tier,
)
from bot.domain.rules import tier_for
from bot.ports import UnitOfWork

RECENT_MODERATION_ENTRIES = 3


async def apply_points(
    uow: UnitOfWork,
    community: Community,
    entry: LedgerEntry,
    member: Member | None = None,
    checkin: CheckinMark | None = None,
) -> PointsChange | None:
    """The only way a balance changes: one ledger row and the matching balance update.

    Returns None when the entry's idempotency key was already used (nothing changes).
    Positive amounts also count toward lifetime points, which set the tier; a tier is never
    lowered here. The balance and lifetime points are changed relative to the stored row in
    one statement and the tier is derived from what it returns, so concurrent changes
    neither lose points nor lower a tier. `member` may be passed when the caller read it
    in this same unit of work, saving a round trip for unknown members; a check-in passes
    its `checkin` mark, written by the same statement.
    """
    earned = max(entry.amount, 0)
    return await _change(uow, community, entry, earned, member, checkin)


async def reverse_points(
    uow: UnitOfWork, community: Community, original: LedgerEntry, reversal: LedgerEntry
) -> PointsChange | None:
    """Books `reversal` (the opposite of `original`); a reversed award also takes back its
    lifetime points, and the tier follows them down: the one path that lowers a tier."""
    lifetime_change = -max(original.amount, 0)
    return await _change(uow, community, reversal, lifetime_change, None, None)


async def _change(
    uow: UnitOfWork,
    community: Community,
    entry: LedgerEntry,
    lifetime_change: int,
    member: Member | None,
    checkin: CheckinMark | None,
) -> PointsChange | None:
    if member is None:
        member = await uow.members.get(entry.community_id, entry.user_id)
    if member is None:
        raise LookupError(f"no member {entry.user_id} in community {entry.community_id}")
    booking = await uow.ledger.book(entry, lifetime_change, checkin)
    if booking is None:
        return None
    return await _settle(uow, community, entry, lifetime_change, member, booking)


async def apply_checkin_points(
    uow: UnitOfWork, community: Community, entry: LedgerEntry, member: Member, checkin: CheckinMark
) -> tuple[bool, PointsChange | None] | None:
    """The check-in of `checkin` and its points (`entry`) in one step, as `apply_points`
    would book them: None when that member already checked in on that day, else whether it
    was their first activity of the day, and the change (None: the entry's key was used)."""
    booked = await uow.ledger.book_checkin(entry, max(entry.amount, 0), checkin)
    if booked is None:
        return None
    if booked.booking is None:
        return booked.first_activity, None
    change = await _settle(uow, community, entry, max(entry.amount, 0), member, booked.booking)
    return booked.first_activity, change


async def _settle(
    uow: UnitOfWork,
    community: Community,
    entry: LedgerEntry,
    lifetime_change: int,
    member: Member,
    booking: Booking,
) -> PointsChange:
    entry_id, totals = booking.entry_id, booking.totals
    if totals is None:
        current = await uow.members.get(entry.community_id, entry.user_id)
        balance = current.balance if current is not None else member.balance
        raise InsufficientBalance(name=member.display_name, balance=balance, amount=-entry.amount)
    reached = tier_for(totals.lifetime_earned, community.tier_thresholds)
    tier_after: Tier = totals.tier
    if lifetime_change > 0 and reached > totals.tier:
        await uow.members.raise_tier(entry.community_id, entry.user_id, reached)
        tier_after = reached
    elif lifetime_change < 0 and reached < totals.tier:
        await uow.members.lower_tier(entry.community_id, entry.user_id, reached)
        tier_after = reached
    return PointsChange(
        user_id=entry.user_id,
        display_name=member.display_name,
        amount=entry.amount,
        balance=totals.balance,
        lifetime_earned=totals.lifetime_earned,
        tier_before=totals.tier,
        tier_after=tier_after,
        entry_id=entry_id,
    )


async def recent_moderation(
    uow: UnitOfWork, community: Community, user_id: int
) -> Sequence[HistoryEntry]:
    """The member's latest awards and deductions (what /revoke takes) and revocations,
    newest first, the revoked ones marked."""
    return await uow.ledger.recent_moderation(community.id, user_id, RECENT_MODERATION_ENTRIES)
