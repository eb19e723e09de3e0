"""Lotteries: entries paid in points, and a provably fair draw made exactly once.

The draw's procedure is in bot/domain/lotteries.py; this module decides who may enter,
charges and refunds each entry exactly once (ledger idempotency keys), and claims draws
and cancels with conditional UPDATEs so that two workers never both do them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import islice

from bot.domain.errors import (
    N_,
    EntryLimitReached,
    LotteryClosed,
    LotteryNotDrawn,
    NoMoreEntrants,
    NotAWinner,
    NotEligible,
    NotEligibleForLottery,
    NotEnoughPointsToEnter,
    UnknownLottery,
)
from bot.domain.lotteries import (
    Lottery,
    LotteryDraft,
    LotteryStatus,
    LotteryWinner,
    Ticket,
    commitment_of,
    entries_hash,
    entries_text,
    first_picks,
    new_seed,
    parse_entries,
    picks,
)
from bot.domain.models import (
    Activity,
    Community,
    LedgerEntry,
    LedgerKind,
    Member,
    UserInfo,
)
from bot.domain.schedules import Schedule, next_fire, parse_schedule, require_future
from bot.parsing.lotteries import check_dialog_answer, parse_new
from bot.ports import UnitOfWork
from bot.services.activity import note_activity
from bot.services.membership import ensure_member
from bot.services.points import apply_points, reverse_points

REPEAT_GRACE = timedelta(hours=1)  # a repeat missed by longer (downtime) is skipped
LISTED = 20

TOO_LOW_TIER = N_("your tier is too low.")
BADGE_NEEDED = N_("it needs a badge you do not have.")
TOO_RECENT = N_("you joined the group too recently.")
JOINED_LATE = N_("it is only for members who were here when it was announced.")


@dataclass(frozen=True)
class LotteryView:
    lottery: Lottery
    entries: int
    entrants: int
    mine: int
    winners: list[LotteryWinner]


@dataclass(frozen=True)
class EntryOutcome:
    lottery: Lottery
    number: int
    balance: int


@dataclass(frozen=True)
class DrawResult:
    community: Community
    lottery: Lottery
    winners: list[LotteryWinner]  # the current winners, in pick order
    reachable: frozenset[int]  # winners the bot may tell privately
    replaced: LotteryWinner | None = None  # for a reroll: who was replaced, and by whom
    replacement: LotteryWinner | None = None


@dataclass(frozen=True)
class Cancellation:
    lottery: Lottery
    refunded_entries: int
    refunded_points: int


async def create(
    uow: UnitOfWork, community: Community, draft: LotteryDraft, actor_id: int | None, now: datetime
) -> Lottery:
    """Saves the lottery with a fresh secret seed; only its commitment is shown until the draw."""
    seed = new_seed()
    lottery = Lottery(
        id=0,
        community_id=community.id,
        title=draft.title,
        prize=draft.prize,
        winners=draft.winners,
        draw_at=draft.draw_at,
        cost=draft.cost,
        max_entries=draft.max_entries,
        eligibility=draft.eligibility,
        seed=seed,
        commitment=commitment_of(seed),
        status=LotteryStatus.OPEN,
        created_at=now,
        created_by=actor_id,
    )
    lottery_id = await uow.lotteries.add(lottery)
    await uow.audit.add(community.id, actor_id, "lottery_new", None, f"#{lottery_id}", now)
    stored = await uow.lotteries.get(community.id, lottery_id)
    assert stored is not None
    return stored


async def get(uow: UnitOfWork, community: Community, lottery_id: int) -> Lottery:
    lottery = await uow.lotteries.get(community.id, lottery_id)
    if lottery is None:
        raise UnknownLottery(lottery_id=lottery_id)
    return lottery


async def view(
    uow: UnitOfWork, community: Community, lottery_id: int, user_id: int | None
) -> LotteryView:
    return await _view(uow, await get(uow, community, lottery_id), user_id)


async def _view(uow: UnitOfWork, lottery: Lottery, user_id: int | None) -> LotteryView:
    entries, entrants = await uow.lotteries.count_entries(lottery.id)
    mine = await uow.lotteries.entries_of(lottery.id, user_id) if user_id is not None else 0
    winners = list(await uow.lotteries.winners(lottery.id))
    return LotteryView(lottery, entries, entrants, mine, winners)


async def listing(uow: UnitOfWork, community: Community, user_id: int | None) -> list[LotteryView]:
    lotteries = await uow.lotteries.of_community(community.id, LISTED)
    return [await _view(uow, lottery, user_id) for lottery in lotteries]


async def _ineligibility(
    uow: UnitOfWork, community: Community, lottery: Lottery, member: Member, now: datetime
) -> str | None:
    rules = lottery.eligibility
    if member.tier < rules.min_tier:
        return TOO_LOW_TIER
    if rules.badge is not None and rules.badge not in await uow.badges.of_member(
        community.id, member.user_id
    ):
        return BADGE_NEEDED
    # A member the bot never saw join was in the group before it: long-standing.
    joined = member.joined_at
    if joined is not None and now - joined < timedelta(days=rules.min_days):
        return TOO_RECENT
    if not rules.late_joiners and joined is not None and joined > lottery.created_at:
        return JOINED_LATE
    return None


async def enter(
    uow: UnitOfWork, community: Community, user: UserInfo, lottery_id: int, now: datetime
) -> EntryOutcome:
    """One more entry for the member, its cost charged in the same transaction (once: the
    entry's number is unique and keys its ledger row), never below a zero balance."""
    lottery = await get(uow, community, lottery_id)
    if lottery.status != LotteryStatus.OPEN or now >= lottery.draw_at:
        raise LotteryClosed(lottery_id=lottery.id)
    if await ensure_member(uow, community, user, now) is None:
        raise NotEligible()
    await uow.members.lock(community.id, user.id)
    member = await uow.members.get(community.id, user.id)
    assert member is not None
    reason = await _ineligibility(uow, community, lottery, member, now)
    if reason is not None:
        raise NotEligibleForLottery(reason=reason)
    count = await uow.lotteries.entries_of(lottery.id, user.id)
    if count >= lottery.max_entries:
        raise EntryLimitReached(count=count, maximum=lottery.max_entries)
    if member.balance < lottery.cost:
        raise NotEnoughPointsToEnter(cost=lottery.cost, balance=member.balance)
    number = count + 1
    if not await uow.lotteries.add_entry(lottery.id, user.id, number, lottery.cost, now):
        raise EntryLimitReached(count=count + 1, maximum=lottery.max_entries)
    await note_activity(uow, community, user.id, now, Activity.LOTTERY_ENTRY)
    balance = member.balance
    if lottery.cost > 0:
        change = await apply_points(
            uow, community, _entry_charge(lottery, user.id, number, lottery.cost, now), member
        )
        if change is not None:
            balance = change.balance
    return EntryOutcome(lottery, number, balance)


def _entry_charge(
    lottery: Lottery, user_id: int, number: int, cost: int, now: datetime
) -> LedgerEntry:
    return LedgerEntry(
        community_id=lottery.community_id,
        user_id=user_id,
        amount=-cost,
        kind=LedgerKind.LOTTERY_ENTRY,
        idempotency_key=f"lottery_entry:{lottery.id}:{user_id}:{number}",
        created_at=now,
        reason=f"lottery #{lottery.id} entry {number}",
    )


async def drawn(uow: UnitOfWork, community: Community, lottery_id: int) -> Lottery:
    """A drawn lottery, whose entry list (`drawn_entries`) anyone may check."""
    lottery = await get(uow, community, lottery_id)
    if lottery.status != LotteryStatus.DRAWN:
        raise LotteryNotDrawn(lottery_id=lottery.id)
    return lottery


async def draw_due(uow: UnitOfWork, now: datetime, community_id: int) -> list[DrawResult]:
    """The community's lotteries whose draw time has come, drawn (each exactly once)."""
    community = await uow.communities.get(community_id)
    if community is None:
        return []
    results = []
    for lottery in await uow.lotteries.due(now, community_id):
        result = await draw(uow, community, lottery, now)
        if result is not None:
            results.append(result)
    return results


async def draw(
    uow: UnitOfWork, community: Community, lottery: Lottery, now: datetime
) -> DrawResult | None:
    """Claims the draw (a conditional UPDATE: None if someone else drew or cancelled it),
    leaves out entrants who are no longer members, and records the winners."""
    if not await uow.lotteries.change_status(
        lottery.id, LotteryStatus.OPEN, LotteryStatus.DRAWN, now
    ):
        return None
    tickets = list(await uow.lotteries.tickets_of_members(lottery.id, community.id))
    await uow.lotteries.record_draw(
        lottery.id, len(tickets), entries_hash(tickets), entries_text(tickets)
    )
    for pick, ticket in enumerate(first_picks(lottery.seed, tickets, lottery.winners)):
        await uow.lotteries.take_pick(lottery.id, pick)
        await uow.lotteries.add_winner(lottery.id, pick, ticket)
    return await _result(uow, community, lottery.id)


async def draw_now(
    uow: UnitOfWork, community: Community, lottery_id: int, actor_id: int | None, now: datetime
) -> DrawResult:
    lottery = await get(uow, community, lottery_id)
    result = await draw(uow, community, lottery, now)
    if result is None:
        raise LotteryClosed(lottery_id=lottery.id)
    await uow.audit.add(community.id, actor_id, "lottery_draw", None, f"#{lottery.id}", now)
    return result


async def _result(
    uow: UnitOfWork,
    community: Community,
    lottery_id: int,
    replaced: LotteryWinner | None = None,
    replacement_pick: int | None = None,
) -> DrawResult:
    lottery = await get(uow, community, lottery_id)
    every = list(await uow.lotteries.winners(lottery.id))
    current = [winner for winner in every if not winner.replaced]
    reachable = frozenset(
        [winner.user_id for winner in current if await uow.users.can_message(winner.user_id)]
    )
    replacement = next((w for w in every if w.pick == replacement_pick), None)
    return DrawResult(community, lottery, current, reachable, replaced, replacement)


async def cancel(
    uow: UnitOfWork, community: Community, lottery_id: int, actor_id: int | None, now: datetime
) -> Cancellation:
    """Cancels an open lottery and refunds every paid entry, each exactly once (the entry's
    refund mark and the refund's own ledger key)."""
    lottery = await get(uow, community, lottery_id)
    if not await uow.lotteries.change_status(
        lottery.id, LotteryStatus.OPEN, LotteryStatus.CANCELLED, now
    ):
        raise LotteryClosed(lottery_id=lottery.id)
    refunded = points = 0
    for entry in await uow.lotteries.entries(lottery.id):
        if entry.cost <= 0 or entry.refunded:
            continue
        if not await uow.lotteries.mark_refunded(lottery.id, entry.user_id, entry.number, now):
            continue
        charge = _entry_charge(lottery, entry.user_id, entry.number, entry.cost, now)
        refund = LedgerEntry(
            community_id=community.id,
            user_id=entry.user_id,
            amount=entry.cost,
            kind=LedgerKind.LOTTERY_REFUND,
            idempotency_key=f"lottery_refund:{lottery.id}:{entry.user_id}:{entry.number}",
            created_at=now,
            reason=f"lottery #{lottery.id} cancelled",
            actor_id=actor_id,
        )
        if await reverse_points(uow, community, charge, refund) is not None:
            refunded += 1
            points += entry.cost
    await uow.audit.add(
        community.id, actor_id, "lottery_cancel", None, f"#{lottery.id} refunds {points}", now
    )
    return Cancellation(lottery, refunded, points)


async def reroll(
    uow: UnitOfWork,
    community: Community,
    lottery_id: int,
    winner: UserInfo,
    actor_id: int | None,
    now: datetime,
) -> DrawResult:
    """Replaces one current winner with the next pick of the same sequence. Every pick leaves
    out all earlier picks' members, so nobody picked before (replaced or not) comes back."""
    lottery = await get(uow, community, lottery_id)
    if lottery.status != LotteryStatus.DRAWN:
        raise LotteryNotDrawn(lottery_id=lottery.id)
    current = [
        w
        for w in await uow.lotteries.winners(lottery.id)
        if not w.replaced and w.user_id == winner.id
    ]
    if not current:
        raise NotAWinner(name=winner.display_name, lottery_id=lottery.id)
    tickets: list[Ticket] = parse_entries(lottery.drawn_entries or "")
    taken = lottery.picks_taken
    sequence = list(islice(picks(lottery.seed, tickets), taken + 1))
    if len(sequence) <= taken:
        raise NoMoreEntrants()
    if not await uow.lotteries.take_pick(lottery.id, taken):
        raise NoMoreEntrants()
    await uow.lotteries.replace_winner(lottery.id, current[0].pick, now)
    await uow.lotteries.add_winner(lottery.id, taken, sequence[taken])
    await uow.audit.add(
        community.id, actor_id, "lottery_reroll", winner.id, f"#{lottery.id} pick {taken}", now
    )
    return await _result(uow, community, lottery.id, current[0], taken)


async def set_repeat(
    uow: UnitOfWork,
    community: Community,
    lottery_id: int,
    schedule: Schedule | None,
    actor_id: int | None,
    now: datetime,
) -> Lottery:
    """`/lottery repeat <id> <schedule>`: a fresh copy of the lottery (same prize, rules and
    cost, its own seed) is announced at each time of the schedule; None (`off`) stops it."""
    lottery = await get(uow, community, lottery_id)
    if schedule is None:
        await uow.lotteries.set_repeat(lottery.id, None, None)
        await uow.audit.add(
            community.id, actor_id, "lottery_repeat", None, f"#{lottery.id} off", now
        )
        return replace(lottery, repeat_schedule=None, repeat_next_at=None)
    first = require_future(schedule, now, community.timezone)
    await uow.lotteries.set_repeat(lottery.id, schedule.spec, first)
    await uow.audit.add(
        community.id, actor_id, "lottery_repeat", None, f"#{lottery.id} {schedule.spec}", now
    )
    return replace(lottery, repeat_schedule=schedule.spec, repeat_next_at=first)


async def run_repeats(uow: UnitOfWork, now: datetime, community_id: int) -> list[Lottery]:
    """The copies due now, created once each: the template's next time is moved on by a
    conditional UPDATE first. A copy draws as long after its announcement as the original
    did; a time missed by more than REPEAT_GRACE (downtime) is skipped, never made up."""
    community = await uow.communities.get(community_id)
    if community is None:
        return []
    created = []
    for template in await uow.lotteries.repeats_due(now, community_id):
        due, spec = template.repeat_next_at, template.repeat_schedule
        if due is None or spec is None:
            continue
        schedule, _rest = parse_schedule(spec)
        following = next_fire(schedule, max(due, now), community.timezone)
        if not await uow.lotteries.set_repeat(
            template.id, spec if following else None, following, due
        ):
            continue
        if now - due > REPEAT_GRACE:
            continue
        seed = new_seed()
        copy = replace(
            template,
            id=0,
            draw_at=due + max(template.draw_at - template.created_at, timedelta(minutes=1)),
            seed=seed,
            commitment=commitment_of(seed),
            status=LotteryStatus.OPEN,
            created_at=now,
            drawn_at=None,
            entries_count=None,
            entries_hash=None,
            drawn_entries=None,
            picks_taken=0,
            repeat_schedule=None,
            repeat_next_at=None,
        )
        copy_id = await uow.lotteries.add(copy)
        await uow.audit.add(
            community.id, None, "lottery_new", None, f"#{copy_id} repeats #{template.id}", now
        )
        created.append(replace(copy, id=copy_id))
    return created


# The guided dialog of `/lottery new`: one question at a time, answered by replying to it.
DIALOG_STEPS: tuple[tuple[str, str], ...] = (
    ("title", N_("🎁 New lottery. What is its title? (Reply to this message.)")),
    ("prize", N_("What is the prize? Describe it.")),
    ("when", N_("When is the draw? Local time: YYYY-MM-DD HH:MM, MM-DD HH:MM or tomorrow 20:00.")),
    ("winners", N_("How many winners? (1 to 100)")),
    ("cost", N_("What does an entry cost in points? (0 for free)")),
    ("max", N_("How many entries may each member have? (- for 1)")),
    (
        "rules",
        N_(
            "Who may enter? Any of tier=member badge=expert|star days=7 late=no, or - for everyone."
        ),
    ),
)
DIALOG_EXPIRES = timedelta(minutes=30)


@dataclass(frozen=True)
class DialogReply:
    """The next question to ask, or the lottery the dialog created."""

    question: str | None = None
    created: Lottery | None = None


async def start_dialog(uow: UnitOfWork, community: Community, user_id: int, now: datetime) -> str:
    await uow.lotteries.save_draft(community.id, user_id, {"step": 0, "answers": {}}, now)
    return DIALOG_STEPS[0][1]


async def answer_dialog(
    uow: UnitOfWork,
    community: Community,
    user_id: int,
    answer: str,
    actor_id: int | None,
    now: datetime,
) -> DialogReply | None:
    """The moderator's answer to the dialog's current question; None when they have no
    dialog open (or it expired). A bad answer is refused and the question stands."""
    found = await uow.lotteries.draft(community.id, user_id)
    if found is None:
        return None
    data, updated_at = found
    if now - updated_at > DIALOG_EXPIRES:
        await uow.lotteries.drop_draft(community.id, user_id)
        return None
    index = int(data.get("step", 0))
    answers = dict(data.get("answers", {}))
    name = DIALOG_STEPS[index][0]
    answers[name] = check_dialog_answer(name, answer.strip(), now, community.timezone)
    if index + 1 < len(DIALOG_STEPS):
        await uow.lotteries.save_draft(
            community.id, user_id, {"step": index + 1, "answers": answers}, now
        )
        return DialogReply(question=DIALOG_STEPS[index + 1][1])
    options = [f"winners={answers['winners']}", f"cost={answers['cost']}"]
    if answers["max"] != "-":
        options.append(f"max={answers['max']}")
    if answers["rules"] != "-":
        options.append(answers["rules"])
    spec = f"{answers['title']} | {answers['prize']} | {answers['when']} | {' '.join(options)}"
    draft = parse_new(spec, now, community.timezone)
    await uow.lotteries.drop_draft(community.id, user_id)
    return DialogReply(created=await create(uow, community, draft, actor_id, now))
