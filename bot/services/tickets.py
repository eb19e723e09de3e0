"""Feedback tickets: members file bugs, ideas and complaints; moderators accept, finish,
reject, answer, merge and announce them.

Exactly once: a ticket is keyed by the update that filed it (the command message), so a
redelivered update or a second press of a kind button files nothing new; a status changes by
one conditional UPDATE, so two moderators accepting at once change it once, and the reward of
an accepted bug or idea is booked under the ledger key `ticket:<ticket id>`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.domain.bounds import AUDIT_ACTION, PaidSetting, check_paid_amount, paid_amount_change
from bot.domain.errors import N_, NotEligible, OutOfRange, TextTooLong, UsageError
from bot.domain.models import Community, LedgerEntry, LedgerKind, PointsChange, UserInfo
from bot.domain.rules import local_day
from bot.domain.tickets import (
    MOVES_FROM,
    OPEN_STATUSES,
    REWARDED_KINDS,
    AnonymousTicketReward,
    ComplaintNotAnnounced,
    FeedbackTicket,
    OwnTicketReward,
    TicketEvent,
    TicketKind,
    TicketLimitReached,
    TicketMergeRefused,
    TicketNotDecided,
    TicketRewardRefused,
    TicketStats,
    TicketStatus,
    TicketStatusUnchanged,
    TicketTextMissing,
    TicketTextTooLong,
    UnknownTicket,
)
from bot.ports import UnitOfWork
from bot.services.membership import ensure_member
from bot.services.moderation import check_quota
from bot.services.points import apply_points

MAX_TEXT = 2000
MAX_REPLY = 2000
MAX_REASON = 500
LISTED = 30
STATUS_MSGIDS = {
    TicketStatus.NEW: N_("new"),
    TicketStatus.ACCEPTED: N_("accepted"),
    TicketStatus.DONE: N_("done"),
    TicketStatus.REJECTED: N_("rejected"),
    TicketStatus.MERGED: N_("merged"),
}
RULES_USAGE = N_("/ticketrules bug|idea <points> — /ticketrules limit <tickets a day>")
REWARD_RULES: dict[str, tuple[str, PaidSetting]] = {
    "bug": ("bug_reward", PaidSetting.TICKET_BUG),
    "idea": ("idea_reward", PaidSetting.TICKET_IDEA),
}
RULE_LIMITS: dict[str, tuple[str, int, int]] = {"limit": ("daily_limit", 1, 100)}
PAYING_STATUSES = frozenset({TicketStatus.ACCEPTED, TicketStatus.DONE})


@dataclass(frozen=True)
class Recipient:
    """A reporter to tell privately; `reachable`: they started a chat with the bot."""

    user: UserInfo
    ticket: FeedbackTicket
    reachable: bool


@dataclass(frozen=True)
class Filed:
    ticket: FeedbackTicket
    repeated: bool
    reachable: bool


@dataclass(frozen=True)
class Outcome:
    """A status change: the ticket after it, the reward it paid (None: none, or paid
    before) and the reporters to tell (the reporter and those of merged duplicates)."""

    ticket: FeedbackTicket
    reward: PointsChange | None
    recipients: list[Recipient]


@dataclass(frozen=True)
class TicketView:
    ticket: FeedbackTicket
    events: list[TicketEvent]
    duplicates: list[FeedbackTicket]
    rewarded: bool


def check_text(text: str) -> str:
    """The ticket's text, trimmed; refused when empty or over MAX_TEXT characters."""
    text = text.strip()
    if not text:
        raise TicketTextMissing()
    if len(text) > MAX_TEXT:
        raise TicketTextTooLong(length=len(text), maximum=MAX_TEXT)
    return text


def _day_start(community: Community, now: datetime) -> datetime:
    zone = ZoneInfo(community.timezone)
    return datetime.combine(local_day(now, community.timezone), time(), zone)


async def _reachable(uow: UnitOfWork, user_id: int) -> bool:
    return await uow.users.can_message(user_id) and not await uow.outgoing.is_blocked(user_id)


async def file_ticket(
    uow: UnitOfWork,
    community: Community,
    user: UserInfo,
    kind: TicketKind,
    text: str,
    photo_file_id: str | None,
    request_key: str,
    now: datetime,
    *,
    photo_user_id: int | None = None,
) -> Filed:
    """Files a ticket unless the request was filed before (`repeated`). Refused: empty or too
    long text, or the member's daily limit (community's local day) reached. Filing is not
    activity: it earns nothing and does not count toward the member's active days.
    `photo_user_id`: who posted the photo, so that /forgetme of that person erases it."""
    text = check_text(text)
    existing = await uow.tickets.by_key(request_key)
    if existing is not None:
        return Filed(existing, True, await _reachable(uow, user.id))
    if await ensure_member(uow, community, user, now) is None:
        raise NotEligible()
    limit = community.tickets.daily_limit
    if await uow.tickets.filed_since(community.id, user.id, _day_start(community, now)) >= limit:
        raise TicketLimitReached(limit=limit)
    ticket = await uow.tickets.add(
        FeedbackTicket(
            id=0,
            community_id=community.id,
            number=0,
            user_id=user.id,
            kind=kind,
            status=TicketStatus.NEW,
            text=text,
            created_at=now,
            photo_file_id=photo_file_id,
            photo_user_id=photo_user_id if photo_file_id else None,
        ),
        request_key,
    )
    if ticket is None:  # filed by a concurrent delivery of the same update
        again = await uow.tickets.by_key(request_key)
        assert again is not None
        return Filed(again, True, await _reachable(uow, user.id))
    await uow.tickets.add_event(TicketEvent(ticket.id, "filed", now, user.id, str(kind)))
    return Filed(ticket, False, await _reachable(uow, user.id))


async def ticket(uow: UnitOfWork, community: Community, number: int) -> FeedbackTicket:
    found = await uow.tickets.get(community.id, number)
    if found is None:
        raise UnknownTicket(number=number)
    return found


async def _recipients(
    uow: UnitOfWork, community: Community, main: FeedbackTicket
) -> list[Recipient]:
    """The reporter of `main` and of every duplicate merged into it, each once."""
    tickets = [main, *await uow.tickets.duplicates(community.id, main.number)]
    seen: set[int] = set()
    found: list[Recipient] = []
    for each in tickets:
        if each.user_id in seen:
            continue
        seen.add(each.user_id)
        user = await uow.users.get(each.user_id)
        if user is not None:
            found.append(Recipient(user, each, await _reachable(uow, each.user_id)))
    return found


async def _unpaid_reward(uow: UnitOfWork, community: Community, paid: FeedbackTicket) -> int:
    """What paying the ticket's reporter now would pay: 0 if nothing or paid before."""
    amount = community.tickets.reward_for(paid.kind) if paid.kind in REWARDED_KINDS else 0
    if amount <= 0 or await uow.ledger.has_key(f"{LedgerKind.TICKET}:{paid.id}"):
        return 0
    return amount


async def _check_payer(
    uow: UnitOfWork,
    community: Community,
    paid: FeedbackTicket,
    actor_id: int | None,
    quota_exempt: bool,
    now: datetime,
) -> None:
    """A decision that pays a reporter is taken by a known moderator other than the reporter,
    and counts against their monthly quota (the bot's owners are exempt from the quota)."""
    amount = await _unpaid_reward(uow, community, paid)
    if amount <= 0:
        return
    if actor_id is None:
        raise AnonymousTicketReward()
    if actor_id == paid.user_id:
        raise OwnTicketReward(number=paid.number)
    if not quota_exempt:
        await check_quota(uow, community, actor_id, amount, now)


async def _pay(
    uow: UnitOfWork, community: Community, paid: FeedbackTicket, actor_id: int | None, now: datetime
) -> PointsChange | None:
    amount = community.tickets.reward_for(paid.kind)
    if amount <= 0:
        return None
    change = await apply_points(
        uow,
        community,
        LedgerEntry(
            community_id=community.id,
            user_id=paid.user_id,
            amount=amount,
            kind=LedgerKind.TICKET,
            idempotency_key=f"{LedgerKind.TICKET}:{paid.id}",
            created_at=now,
            reason=f"ticket #{paid.number} ({paid.kind})",
            actor_id=actor_id,
        ),
    )
    if change is not None:
        detail = f"#{paid.number} {amount:+d}"
        await uow.audit.add(community.id, actor_id, "ticket_reward", paid.user_id, detail, now)
    return change


async def move(
    uow: UnitOfWork,
    community: Community,
    number: int,
    status: TicketStatus,
    actor_id: int | None,
    now: datetime,
    reason: str | None = None,
    *,
    quota_exempt: bool = False,
) -> Outcome:
    """new -> accepted -> done, or new|accepted -> rejected (with a reason). The change is
    one conditional UPDATE: a second press or a second moderator finds it made and is
    refused. An accepted (or done) bug or idea pays its reporter once, on the decision of a
    known moderator who is not the reporter, within that moderator's monthly quota."""
    if status == TicketStatus.REJECTED:
        reason = (reason or "").strip()
        if not reason:
            raise UsageError(usage=N_("/ticket <id> reject <reason>"))
        if len(reason) > MAX_REASON:
            raise TextTooLong(maximum=MAX_REASON)
    current = await ticket(uow, community, number)
    unchanged = TicketStatusUnchanged(number=number, status=STATUS_MSGIDS[current.status])
    if current.status not in MOVES_FROM[status]:
        raise unchanged
    if status in PAYING_STATUSES:
        await _check_payer(uow, community, current, actor_id, quota_exempt, now)
    if not await uow.tickets.move(current.id, status, MOVES_FROM[status], now, note=reason):
        raise unchanged
    await uow.tickets.add_event(TicketEvent(current.id, str(status), now, actor_id, reason))
    await uow.audit.add(
        community.id, actor_id, f"ticket_{status}", current.user_id, f"#{number}", now
    )
    after = replace(current, status=status, note=reason if reason else current.note)
    reward = None
    if status in PAYING_STATUSES and after.kind in REWARDED_KINDS:
        reward = await _pay(uow, community, after, actor_id, now)
    return Outcome(after, reward, await _recipients(uow, community, after))


async def reply(
    uow: UnitOfWork,
    community: Community,
    number: int,
    text: str,
    actor_id: int | None,
    now: datetime,
) -> Recipient | None:
    """A moderator's answer to the reporter (recorded in the history; counts as the first
    answer). The reporter, to be told privately; None if they are gone."""
    text = text.strip()
    if not text:
        raise UsageError(usage=N_("/ticket <id> reply <text>"))
    if len(text) > MAX_REPLY:
        raise TextTooLong(maximum=MAX_REPLY)
    current = await ticket(uow, community, number)
    await uow.tickets.mark_answered(current.id, now)
    await uow.tickets.add_event(TicketEvent(current.id, "reply", now, actor_id, text))
    user = await uow.users.get(current.user_id)
    if user is None:
        return None
    return Recipient(user, current, await _reachable(uow, current.user_id))


async def merge(
    uow: UnitOfWork,
    community: Community,
    number: int,
    into: int,
    actor_id: int | None,
    now: datetime,
) -> Outcome:
    """Ticket `number` becomes a duplicate of `into`: its reporter hears the outcome of
    `into` from then on; duplicates of `number` follow it. Only an open ticket can be merged,
    and only into a ticket that is not itself merged."""
    if number == into:
        raise TicketMergeRefused(number=number, target=into)
    source = await ticket(uow, community, number)
    target = await ticket(uow, community, into)
    if target.status == TicketStatus.MERGED or source.status not in OPEN_STATUSES:
        raise TicketMergeRefused(number=number, target=into)
    if not await uow.tickets.move(
        source.id, TicketStatus.MERGED, OPEN_STATUSES, now, merged_into=into
    ):
        raise TicketMergeRefused(number=number, target=into)
    await uow.tickets.repoint_duplicates(community.id, number, into)
    await uow.tickets.add_event(TicketEvent(source.id, "merged", now, actor_id, f"#{into}"))
    await uow.tickets.add_event(TicketEvent(target.id, "duplicate", now, actor_id, f"#{number}"))
    after = replace(source, status=TicketStatus.MERGED, merged_into=into)
    user = await uow.users.get(source.user_id)
    recipients = [Recipient(user, after, await _reachable(uow, source.user_id))] if user else []
    return Outcome(after, None, recipients)


async def reward_duplicate(
    uow: UnitOfWork,
    community: Community,
    number: int,
    actor_id: int | None,
    now: datetime,
    *,
    quota_exempt: bool = False,
) -> PointsChange | None:
    """A moderator's choice to pay the reporter of a merged duplicate too, once (the same
    ledger key as any ticket's reward), with the same rules as accepting a ticket; None when
    it was paid before."""
    duplicate = await ticket(uow, community, number)
    if (
        duplicate.status != TicketStatus.MERGED
        or duplicate.merged_into is None
        or duplicate.kind not in REWARDED_KINDS
    ):
        raise TicketRewardRefused(number=number)
    main = await uow.tickets.get(community.id, duplicate.merged_into)
    if main is None or main.status not in (TicketStatus.ACCEPTED, TicketStatus.DONE):
        raise TicketRewardRefused(number=number)
    await _check_payer(uow, community, duplicate, actor_id, quota_exempt, now)
    paid = await _pay(uow, community, duplicate, actor_id, now)
    if paid is not None:
        await uow.tickets.add_event(TicketEvent(duplicate.id, "rewarded", now, actor_id, None))
    return paid


async def announceable(
    uow: UnitOfWork, community: Community, number: int, actor_id: int | None, now: datetime
) -> FeedbackTicket:
    """A decided bug or idea whose outcome may be posted to the group, crediting the reporter;
    complaints never are."""
    current = await ticket(uow, community, number)
    if current.kind == TicketKind.COMPLAINT:
        raise ComplaintNotAnnounced(number=number)
    if current.status not in (TicketStatus.ACCEPTED, TicketStatus.DONE, TicketStatus.REJECTED):
        raise TicketNotDecided(number=number)
    await uow.tickets.add_event(TicketEvent(current.id, "announced", now, actor_id, None))
    return current


async def view(uow: UnitOfWork, community: Community, number: int) -> TicketView:
    current = await ticket(uow, community, number)
    return TicketView(
        current,
        list(await uow.tickets.events(current.id)),
        list(await uow.tickets.duplicates(community.id, number)),
        await uow.ledger.has_key(f"{LedgerKind.TICKET}:{current.id}"),
    )


async def listing(
    uow: UnitOfWork, community: Community, everything: bool, kind: TicketKind | None
) -> list[FeedbackTicket]:
    statuses = None if everything else OPEN_STATUSES
    return list(await uow.tickets.listing(community.id, LISTED, statuses=statuses, kind=kind))


async def of_reporter(
    uow: UnitOfWork, user: UserInfo, community: Community | None
) -> list[tuple[FeedbackTicket, str]]:
    return list(await uow.tickets.of_user(user.id, community.id if community else None, LISTED))


async def set_rule(
    uow: UnitOfWork,
    community: Community,
    rule: str,
    value: str,
    actor_id: int | None,
    now: datetime,
    *,
    by_owner: bool = False,
) -> Community:
    """bug|idea <points> (the reward of an accepted ticket, bounded: bot.domain.bounds) or
    limit <tickets a day>."""
    if rule not in REWARD_RULES.keys() | RULE_LIMITS.keys() or not value.isdecimal():
        raise UsageError(usage=RULES_USAGE)
    number = int(value)
    if rule in REWARD_RULES:
        field_name, setting = REWARD_RULES[rule]
        check_paid_amount(setting, number, by_owner=by_owner)
        before = getattr(community.tickets, field_name)
        action, detail = AUDIT_ACTION, paid_amount_change(setting, before, number)
    else:
        field_name, lowest, highest = RULE_LIMITS[rule]
        if not lowest <= number <= highest:
            raise OutOfRange(lowest=lowest, highest=highest)
        action, detail = "ticket_rule", f"{rule}={number}"
    changed = replace(community, tickets=replace(community.tickets, **{field_name: number}))
    await uow.communities.save_settings(changed)
    await uow.audit.add(community.id, actor_id, action, None, detail, now)
    return changed


async def stats(uow: UnitOfWork, community: Community, since: datetime) -> TicketStats:
    return await uow.tickets.ticket_stats(community.id, since)
