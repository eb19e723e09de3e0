"""Newcomers' welcome (the first of a wave at once, the rest together at most once a
minute per group), and its settings."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.bounds import AUDIT_ACTION, PaidSetting, check_paid_amount, paid_amount_change
from bot.domain.errors import N_, OutOfRange, TextTooLong, UsageError
from bot.domain.markup import check_template
from bot.domain.models import Community, JoinRequestPolicy
from bot.ports import UnitOfWork

WELCOME_WINDOW = timedelta(seconds=60)
WELCOME_KIND = "welcome"
WELCOME_PLACEHOLDERS = ("names", "group", "rules")
MAX_WELCOME_LENGTH = 1000
MAX_LINK_LENGTH = 200


@dataclass(frozen=True)
class WelcomeBatch:
    community: Community
    newcomers: list[tuple[int, str]]


async def communities_with_welcomes_due(uow: UnitOfWork, now: datetime) -> list[int]:
    """Groups with newcomers waiting and no welcome in the last minute: the first join of a
    wave is greeted at the next timed work (every few seconds), and the joins after it wait
    for the next welcome, a minute after the one before."""
    waiting = await uow.members.communities_with_welcomes_due(now)
    if not waiting:
        return []
    greeted = await uow.outgoing.chats_announced_since(WELCOME_KIND, now - WELCOME_WINDOW)
    return [community_id for community_id in waiting if community_id not in greeted]


async def take_due_welcomes(
    uow: UnitOfWork, now: datetime, community_id: int | None = None
) -> list[WelcomeBatch]:
    """Groups (or the one group) whose welcome is due (communities_with_welcomes_due), with
    everyone waiting.

    A group is greeted in one message per window, so a wave of joins never exceeds one
    welcome message a minute.
    """
    batches: list[WelcomeBatch] = []
    due = await communities_with_welcomes_due(uow, now)
    if community_id is not None:
        due = [community_id] if community_id in due else []
    # Another worker welcoming in a group holds its lock: that group is left to it. What
    # was read before the lock is read again under it, since that worker may have just
    # welcomed there (taking who waited) and committed.
    held = [
        due_id for due_id in due if await uow.outgoing.hold_for_transaction(f"welcome:{due_id}")
    ]
    if not held:
        return batches
    still_due = set(await communities_with_welcomes_due(uow, now))
    for due_id in (due_id for due_id in held if due_id in still_due):
        community = await uow.communities.get(due_id)
        newcomers = list(await uow.members.take_pending_welcomes(due_id))
        if community is not None and newcomers:
            batches.append(WelcomeBatch(community, newcomers))
    return batches


async def set_welcome_text(
    uow: UnitOfWork, community: Community, text: str | None, actor_id: int | None, now: datetime
) -> None:
    if text is not None:
        check_template(text, WELCOME_PLACEHOLDERS, MAX_WELCOME_LENGTH)
    growth = replace(community.growth, welcome_text=text)
    await uow.communities.save_settings(replace(community, growth=growth))
    await uow.audit.add(community.id, actor_id, "welcome_text", None, text or "(default)", now)


async def set_rules_link(
    uow: UnitOfWork, community: Community, link: str | None, actor_id: int | None, now: datetime
) -> None:
    if link is not None and len(link) > MAX_LINK_LENGTH:
        raise TextTooLong(maximum=MAX_LINK_LENGTH)
    growth = replace(community.growth, rules_link=link)
    await uow.communities.save_settings(replace(community, growth=growth))
    await uow.audit.add(community.id, actor_id, "rules_link", None, link or "(none)", now)


async def set_join_request_policy(
    uow: UnitOfWork,
    community: Community,
    policy: JoinRequestPolicy,
    actor_id: int | None,
    now: datetime,
) -> None:
    growth = replace(community.growth, join_requests=policy)
    await uow.communities.save_settings(replace(community, growth=growth))
    await uow.audit.add(community.id, actor_id, "join_requests", None, str(policy), now)


GROWTH_RULE_LIMITS = {
    "hours": ("qualifying_hours", 0, 24 * 90),
    "cap": ("daily_referral_cap", 0, 1_000),
}
GROWTH_REWARDS = {
    "reward": ("referral_reward", PaidSetting.REFERRAL_REWARD),
    "bonus": ("welcome_bonus", PaidSetting.WELCOME_BONUS),
}


async def set_growth_rule(
    uow: UnitOfWork,
    community: Community,
    rule: str,
    value: str,
    actor_id: int | None,
    now: datetime,
    *,
    by_owner: bool = False,
) -> Community:
    """Changes one referral rule: hours, reward, bonus, cap (numbers) or checkin (on|off);
    the reward and the bonus are bounded (bot.domain.bounds)."""
    action, detail = "growth_rule", f"{rule}={value}"
    if rule == "checkin" and value in ("on", "off"):
        growth = replace(community.growth, requires_checkin=value == "on")
    elif rule in GROWTH_REWARDS and value.isdecimal():
        field_name, setting = GROWTH_REWARDS[rule]
        number = check_paid_amount(setting, int(value), by_owner=by_owner)
        before = getattr(community.growth, field_name)
        action, detail = AUDIT_ACTION, paid_amount_change(setting, before, number)
        growth = replace(community.growth, **{field_name: number})  # type: ignore[arg-type]
    elif rule in GROWTH_RULE_LIMITS and value.isdecimal():
        field_name, lowest, highest = GROWTH_RULE_LIMITS[rule]
        number = int(value)
        if not lowest <= number <= highest:
            raise OutOfRange(lowest=lowest, highest=highest)
        growth = replace(community.growth, **{field_name: number})  # type: ignore[arg-type]
    else:
        raise UsageError(usage=GROWTH_USAGE)
    changed = replace(community, growth=growth)
    await uow.communities.save_settings(changed)
    await uow.audit.add(community.id, actor_id, action, None, detail, now)
    return changed


GROWTH_USAGE = N_("/growth hours|reward|bonus|cap <number> — /growth checkin on|off")
