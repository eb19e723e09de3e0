from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from bot.domain.errors import (
    AmountTooLarge,
    InvalidAmount,
    MissingTarget,
    ReasonTooLong,
    UnknownBadge,
    UnknownTarget,
)
from bot.domain.models import Badge, Community, LedgerEntry, LedgerKind, PointsChange, UserInfo
from bot.ports import UnitOfWork
from bot.services.membership import is_eligible
from bot.services.points import apply_points

MAX_POINTS_PER_ACTION = 10_000
MAX_REASON_LENGTH = 200


@dataclass(frozen=True)
class TargetRef:
    """Who a moderator means: a known user id (reply or number) or a @username."""

    user_id: int | None = None
    username: str | None = None

    def __str__(self) -> str:
        return f"@{self.username}" if self.username else str(self.user_id)


@dataclass(frozen=True)
class BadgeChange:
    display_name: str
    badge: Badge
    changed: bool


AMOUNT_PATTERN = re.compile(r"\+?[0-9]{1,12}")
MAX_TELEGRAM_ID = 2**63 - 1


def parse_amount(text: str | None) -> int:
    if text is None or not AMOUNT_PATTERN.fullmatch(text):
        raise InvalidAmount()
    amount = int(text)
    if amount <= 0:
        raise InvalidAmount()
    if amount > MAX_POINTS_PER_ACTION:
        raise AmountTooLarge(maximum=MAX_POINTS_PER_ACTION)
    return amount


def parse_badge(text: str | None) -> Badge:
    choices = ", ".join(badge.value for badge in Badge)
    if text is None:
        raise UnknownBadge(choices=choices)
    try:
        return Badge(text.strip().lower())
    except ValueError:
        raise UnknownBadge(choices=choices) from None


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
) -> PointsChange | None:
    """A moderator's award (amount > 0) or deduction (amount < 0), ledgered and audited.

    `operation_key` identifies the request (e.g. the command message) so that a repeat
    changes nothing; None is returned for such a repeat.
    """
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise ReasonTooLong(maximum=MAX_REASON_LENGTH)
    user = await resolve_target(uow, community, target)
    kind = LedgerKind.AWARD if amount > 0 else LedgerKind.DEDUCT
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
