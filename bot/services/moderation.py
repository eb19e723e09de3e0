from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.errors import (
    AlreadyRevoked,
    AnonymousModerator,
    AwardQuotaExceeded,
    CannotAwardSelf,
    CannotRevokeOwnEntry,
    InsufficientBalance,
    MissingTarget,
    ReasonTooLong,
    RevokeExceedsBalance,
    UnknownLedgerEntry,
    UnknownTarget,
)
from bot.domain.models import (
    Badge,
    Community,
    LeaderboardPeriod,
    LedgerEntry,
    LedgerKind,
    PointsChange,
    QuotaUse,
    UserInfo,
)
from bot.domain.rules import period_start
from bot.ports import UnitOfWork
from bot.services.membership import is_eligible
from bot.services.points import apply_points, reverse_points

MAX_REASON_LENGTH = 200
REVOCABLE_KINDS = frozenset({LedgerKind.AWARD, LedgerKind.DEDUCT})


@dataclass(frozen=True)
class TargetRef:
    """Who a moderator means: a known user id (reply or number) or a @username."""

    user_id: int | None = None
    username: str | None = None

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else str(self.user_id)


@dataclass(frozen=True)
class QuotaReport:
    quota: int
    uses: list[QuotaUse]


@dataclass(frozen=True)
class Revocation:
    original: LedgerEntry
    change: PointsChange


@dataclass(frozen=True)
class BadgeChange:
    display_name: str
    badge: Badge
    changed: bool


MAX_TELEGRAM_ID = 2**63 - 1


async def resolve_target(
    uow: UnitOfWork, community: Community, target: TargetRef | None
) -> UserInfo:
    """The user a moderator names, who must be a known, eligible member of this community."""
    if target is None:
        raise MissingTarget()
    if target.user_id is not None:
        if not 0 < target.user_id <= MAX_TELEGRAM_ID:
            raise UnknownTarget(target=str(target))
        user = await uow.users.get(target.user_id)
    elif target.username:
        user = await uow.users.find_by_username(target.username)
    else:
        raise MissingTarget()
    if user is None or not is_eligible(user):
        raise UnknownTarget(target=str(target))
    if await uow.members.get(community.id, user.id) is None:
        raise UnknownTarget(target=str(target))
    return user


async def change_points(
    uow: UnitOfWork,
    community: Community,
    *,
    actor_id: int | None,
    target: TargetRef | None,
    amount: int,
    reason: str | None,
    operation_key: str,
    now: datetime,
    quota_exempt: bool = False,
) -> PointsChange | None:
    """A moderator's award (amount > 0) or deduction (amount < 0), ledgered and audited.

    `operation_key` identifies the request (e.g. the command message) so that a repeat
    changes nothing; None is returned for such a repeat. Awards count against the
    moderator's monthly quota unless `quota_exempt` (the bot's owners); nobody awards
    themselves, and an anonymous actor (None) cannot award, as neither rule could hold.
    Deductions use no quota and may be anonymous.
    """
    if amount > 0 and actor_id is None:
        raise AnonymousModerator()
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise ReasonTooLong(maximum=MAX_REASON_LENGTH)
    user = await resolve_target(uow, community, target)
    kind = LedgerKind.AWARD if amount > 0 else LedgerKind.DEDUCT
    if kind == LedgerKind.AWARD:
        if actor_id == user.id:
            raise CannotAwardSelf()
        if not quota_exempt:
            await check_quota(uow, community, actor_id, amount, now)
    change = await apply_points(
        uow,
        community,
        LedgerEntry(
            community_id=community.id,
            user_id=user.id,
            amount=amount,
            kind=kind,
            idempotency_key=f"{kind}:{operation_key}",
            created_at=now,
            reason=reason,
            actor_id=actor_id,
        ),
    )
    if change is not None:
        await uow.audit.add(
            community.id, actor_id, str(kind), user.id, f"{amount:+d} {reason or ''}".strip(), now
        )
    return change


async def check_quota(
    uow: UnitOfWork, community: Community, actor_id: int | None, amount: int, now: datetime
) -> None:
    """Refuses a payment the moderator decides (an award, a ticket's reward) that would take
    them over their monthly quota."""
    quota = community.moderation.monthly_award_quota
    remaining = max(quota - await quota_used(uow, community, actor_id, now), 0)
    if amount > remaining:
        raise AwardQuotaExceeded(remaining=remaining, quota=quota)


async def quota_used(
    uow: UnitOfWork, community: Community, actor_id: int | None, now: datetime
) -> int:
    """Points the moderator awarded or paid by a decision (ticket rewards) this calendar month
    in the community's timezone, revoked awards excluded."""
    uses = await _uses_this_month(uow, community, now)
    return sum(use.used for use in uses if use.actor_id == actor_id)


async def quota_report(uow: UnitOfWork, community: Community, now: datetime) -> QuotaReport:
    """The monthly quota and each moderator's use of it this month."""
    uses = await _uses_this_month(uow, community, now)
    return QuotaReport(quota=community.moderation.monthly_award_quota, uses=list(uses))


async def _uses_this_month(uow: UnitOfWork, community: Community, now: datetime) -> list[QuotaUse]:
    since = period_start(now, community.timezone, LeaderboardPeriod.MONTH)
    assert since is not None
    return list(await uow.ledger.awards_since(community.id, since))


async def set_quota(
    uow: UnitOfWork, community: Community, *, actor_id: int | None, quota: int, now: datetime
) -> None:
    """Changes the monthly award quota per moderator (the caller checked the actor may)."""
    updated = replace(
        community, moderation=replace(community.moderation, monthly_award_quota=quota)
    )
    await uow.communities.save_settings(updated)
    await uow.audit.add(community.id, actor_id, "quota", None, str(quota), now)


async def revoke(
    uow: UnitOfWork,
    community: Community,
    *,
    actor_id: int | None,
    entry_id: int,
    now: datetime,
) -> Revocation:
    """Reverses a moderator's award or deduction exactly once; both rows stay in the ledger.

    An award whose points the member already spent is refused (balances never go below 0).
    The actor must be known (not an anonymous admin) and not the entry's member.
    """
    if actor_id is None:
        raise AnonymousModerator()
    original = await uow.ledger.get(entry_id)
    if (
        original is None
        or original.community_id != community.id
        or original.kind not in REVOCABLE_KINDS
    ):
        raise UnknownLedgerEntry(entry_id=entry_id)
    if original.user_id == actor_id:
        raise CannotRevokeOwnEntry()
    key = f"{LedgerKind.REVOKE}:{entry_id}"
    if await uow.ledger.has_key(key):
        raise AlreadyRevoked(entry_id=entry_id)
    reversal = LedgerEntry(
        community_id=community.id,
        user_id=original.user_id,
        amount=-original.amount,
        kind=LedgerKind.REVOKE,
        idempotency_key=key,
        created_at=now,
        reason=f"revokes #{entry_id}",
        actor_id=actor_id,
    )
    try:
        change = await reverse_points(uow, community, original, reversal)
    except InsufficientBalance as refused:
        raise RevokeExceedsBalance(
            name=refused.params["name"],
            balance=refused.params["balance"],
            amount=original.amount,
        ) from None
    if change is None:
        raise AlreadyRevoked(entry_id=entry_id)
    await uow.audit.add(
        community.id,
        actor_id,
        "revoke",
        original.user_id,
        f"#{entry_id} {-original.amount:+d}",
        now,
    )
    return Revocation(original=original, change=change)


async def set_badge(
    uow: UnitOfWork,
    community: Community,
    *,
    actor_id: int | None,
    target: TargetRef | None,
    badge: Badge,
    granted: bool,
    now: datetime,
) -> BadgeChange:
    user = await resolve_target(uow, community, target)
    if granted:
        changed = await uow.badges.grant(community.id, user.id, badge, now)
    else:
        changed = await uow.badges.revoke(community.id, user.id, badge)
    if changed:
        action = "badge" if granted else "unbadge"
        await uow.audit.add(community.id, actor_id, action, user.id, str(badge), now)
    return BadgeChange(display_name=user.display_name, badge=badge, changed=changed)


async def set_language(
    uow: UnitOfWork, community: Community, *, actor_id: int | None, language: str, now: datetime
) -> None:
    await uow.communities.set_language(community.id, language)
    await uow.audit.add(community.id, actor_id, "lang", None, language, now)
