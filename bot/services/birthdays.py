"""Birthdays: a user gives a month and a day (never a year); on that day in each community's
timezone the bot congratulates them there and gives the community's gift, once per member
per community per local year (a unique claim; the gift's ledger key says the same; the reward
memory keeps it through /forgetme).

`02-29` is celebrated on `02-28` in years without a leap day."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.bounds import (
    AUDIT_ACTION,
    PaidSetting,
    check_paid_amount,
    paid_amount_change,
    paid_bound,
)
from bot.domain.care import (
    BirthdayCandidate,
    CareSettings,
    InvalidSurveySetting,
    celebrated_on,
)
from bot.domain.models import Community, LedgerEntry, LedgerKind
from bot.domain.rewards import OneTimeReward
from bot.domain.rules import local_day, timezone_loads
from bot.ports import UnitOfWork
from bot.services.points import apply_points

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Greeting:
    """A member congratulated in a community: what to say, and where."""

    community: Community
    user_id: int
    display_name: str
    year: int
    gift: int
    reachable: bool
    in_group: bool


async def set_birthday(
    uow: UnitOfWork, user_id: int, wanted: tuple[int, int] | None, now: datetime
) -> tuple[int, int] | None:
    """Stores the user's birthday (month, day), or removes it for None; returns what is
    stored now."""
    if wanted is None:
        await uow.birthdays.remove(user_id)
        return None
    await uow.birthdays.save(user_id, wanted[0], wanted[1], now)
    return wanted


def days_around(now: datetime) -> set[tuple[int, int]]:
    """The month-days that may be today somewhere (UTC−12 to UTC+14), with 02-29 when some
    zone is on 02-28 of a year without a leap day."""
    days: set[tuple[int, int]] = set()
    for shift in (-1, 0, 1):
        day = (now + timedelta(days=shift)).date()
        days.add((day.month, day.day))
        if celebrated_on(2, 29, day.year) == day:
            days.add((2, 29))
    return days


async def greet_due(uow: UnitOfWork, now: datetime) -> list[Greeting]:
    """Every member whose birthday is today in their community's timezone and who was not
    greeted there this (local) year, nor before they were forgotten (/forgetme): claimed,
    given the gift, and handed back to be said."""
    candidates = await uow.birthdays.candidates(days_around(now))
    if not candidates:
        return []
    years = {now.year - 1, now.year, now.year + 1}
    greeted = await uow.birthdays.greeted({c.user_id for c in candidates}, years)
    communities: dict[int, Community | None] = {}
    due: list[tuple[Community, BirthdayCandidate, int]] = []
    for candidate in candidates:
        if candidate.community_id not in communities:
            communities[candidate.community_id] = await uow.communities.get(candidate.community_id)
        community = communities[candidate.community_id]
        if community is None or not timezone_loads(community.timezone):
            continue
        today = local_day(now, community.timezone)
        if celebrated_on(candidate.month, candidate.day, today.year) != today:
            continue
        if (community.id, candidate.user_id, today.year) not in greeted:
            due.append((community, candidate, today.year))
    given_before_forgotten = await uow.reward_memory.given(
        OneTimeReward.BIRTHDAY_GIFT, [(c.id, who.user_id, str(year)) for c, who, year in due]
    )
    found = []
    for community, candidate, year in due:
        if (community.id, candidate.user_id, str(year)) in given_before_forgotten:
            continue
        try:
            async with uow.savepoint():
                greeting = await _greet(uow, community, candidate, year, now)
        except Exception:
            logger.exception(
                "Birthday of %d in %d could not be celebrated", candidate.user_id, community.id
            )
            continue
        if greeting is not None:
            found.append(greeting)
    return found


async def _greet(
    uow: UnitOfWork, community: Community, candidate: BirthdayCandidate, year: int, now: datetime
) -> Greeting | None:
    chosen = community.care
    gift = chosen.birthday_gift
    if not await uow.birthdays.claim(community.id, candidate.user_id, year, gift, now):
        return None
    await uow.reward_memory.remember(
        OneTimeReward.BIRTHDAY_GIFT, community.id, candidate.user_id, str(year)
    )
    if gift > 0:
        await apply_points(
            uow,
            community,
            LedgerEntry(
                community_id=community.id,
                user_id=candidate.user_id,
                amount=gift,
                kind=LedgerKind.BIRTHDAY_GIFT,
                idempotency_key=f"birthday:{community.id}:{candidate.user_id}:{year}",
                created_at=now,
                reason=f"birthday {year}",
            ),
        )
    return Greeting(
        community=community,
        user_id=candidate.user_id,
        display_name=candidate.display_name,
        year=year,
        gift=gift,
        reachable=await uow.users.can_message(candidate.user_id),
        in_group=chosen.birthday_group,
    )


async def set_group(
    uow: UnitOfWork, community: Community, on: bool, actor_id: int | None, now: datetime
) -> CareSettings:
    changed = replace(community.care, birthday_group=on)
    await uow.communities.save_settings(replace(community, care=changed))
    await uow.audit.add(community.id, actor_id, "birthday_group", None, "on" if on else "off", now)
    return changed


async def set_gift(
    uow: UnitOfWork,
    community: Community,
    text: str,
    actor_id: int | None,
    now: datetime,
    *,
    vip: bool = False,
    by_owner: bool = False,
) -> CareSettings:
    """The birthday gift in points (0 = none), bounded (bot.domain.bounds); `vip`: the
    reserved VIP gift setting."""
    setting = PaidSetting.BIRTHDAY_VIP_GIFT if vip else PaidSetting.BIRTHDAY_GIFT
    word = text.strip()
    if not word.isdecimal():
        raise InvalidSurveySetting(lowest=0, highest=paid_bound(setting, by_owner))
    gift = check_paid_amount(setting, int(word), by_owner=by_owner)
    chosen = community.care
    if vip:
        before, changed = chosen.birthday_vip_gift, replace(chosen, birthday_vip_gift=gift)
    else:
        before, changed = chosen.birthday_gift, replace(chosen, birthday_gift=gift)
    await uow.communities.save_settings(replace(community, care=changed))
    detail = paid_amount_change(setting, before, gift)
    await uow.audit.add(community.id, actor_id, AUDIT_ACTION, None, detail, now)
    return changed
