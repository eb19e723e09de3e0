"""Feedback tickets as transactions, on SQLite and PostgreSQL: two moderators accepting the same
ticket at once pay its reporter once; a redelivered filing files once; the daily limit follows
the community's local day; the numbers behind /stats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.domain.models import Community, UserInfo
from bot.domain.tickets import (
    TicketKind,
    TicketLimitReached,
    TicketStatus,
    TicketStatusUnchanged,
)
from bot.i18n import translator
from bot.services import tickets
from bot.services.membership import CommunityDefaults, ensure_community, member_joined
from handlers.tickets import ticket_stats_lines
from storage.models import LedgerRow, MemberRow, TicketRow
from storage.uow import unit_of_work
from tests.integration.test_shop import wait_until_someone_waits_for_a_lock

GROUP = -100777
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
REPORTER = UserInfo(id=7001, first_name="Reporter")
OTHER = UserInfo(id=7002, first_name="Other")
MODERATORS = (7100, 7101)

Factory = async_sessionmaker[AsyncSession]


async def community_with_members(factory: Factory) -> Community:
    async with unit_of_work(factory) as uow:
        community, _ = await ensure_community(
            uow, GROUP, "Seeds", START, CommunityDefaults(timezone="Asia/Shanghai", language="en")
        )
        for member in (REPORTER, OTHER):
            await member_joined(uow, community, member, START)
    return community


async def file(
    factory: Factory,
    community: Community,
    user: UserInfo,
    kind: TicketKind,
    key: str,
    at: datetime = START,
) -> int:
    async with unit_of_work(factory) as uow:
        filed = await tickets.file_ticket(uow, community, user, kind, f"text {key}", None, key, at)
    return filed.ticket.number


async def accept(factory: Factory, community: Community, number: int, moderator: int) -> str:
    try:
        async with unit_of_work(factory) as uow:
            await tickets.move(uow, community, number, TicketStatus.ACCEPTED, moderator, START)
    except TicketStatusUnchanged:
        return "refused"
    return "accepted"


async def rewards(factory: Factory) -> tuple[int, int]:
    async with factory() as session:
        rows = await session.scalar(
            select(func.count()).select_from(LedgerRow).where(LedgerRow.kind == "ticket")
        )
        balance = await session.scalar(
            select(MemberRow.balance).where(MemberRow.user_id == REPORTER.id)
        )
    return int(rows or 0), int(balance or 0)


async def test_two_moderators_accepting_at_once_pay_the_reporter_once(
    session_factory: Factory,
) -> None:
    community = await community_with_members(session_factory)
    number = await file(session_factory, community, REPORTER, TicketKind.BUG, "k1")
    outcomes = await asyncio.gather(
        *(accept(session_factory, community, number, moderator) for moderator in MODERATORS)
    )
    assert sorted(outcomes) == ["accepted", "refused"]
    assert await rewards(session_factory) == (1, 30)
    # A third press later changes nothing either.
    assert await accept(session_factory, community, number, MODERATORS[0]) == "refused"
    assert await rewards(session_factory) == (1, 30)


async def test_overlapping_accepts_wait_and_the_second_is_refused(
    session_factory: Factory, database_url: str
) -> None:
    """The second moderator's UPDATE waits for the first's row lock, then finds the ticket
    accepted (PostgreSQL; SQLite serialises writers anyway)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("overlapping write transactions exist only on PostgreSQL")
    community = await community_with_members(session_factory)
    number = await file(session_factory, community, REPORTER, TicketKind.IDEA, "k2")
    async with unit_of_work(session_factory) as first:
        await tickets.move(first, community, number, TicketStatus.ACCEPTED, MODERATORS[0], START)
        second = asyncio.create_task(accept(session_factory, community, number, MODERATORS[1]))
        await wait_until_someone_waits_for_a_lock(session_factory)
    assert await second == "refused"
    assert await rewards(session_factory) == (1, 20)


async def test_a_filing_handled_twice_files_once(session_factory: Factory) -> None:
    community = await community_with_members(session_factory)
    first = await file(session_factory, community, REPORTER, TicketKind.BUG, "same")
    again = await file(session_factory, community, REPORTER, TicketKind.BUG, "same")
    assert first == again == 1
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(TicketRow)) == 1


async def test_the_daily_limit_follows_the_local_day(session_factory: Factory) -> None:
    community = await community_with_members(session_factory)
    for n in range(10):
        await file(session_factory, community, REPORTER, TicketKind.IDEA, f"d{n}")
    with pytest.raises(TicketLimitReached):
        await file(session_factory, community, REPORTER, TicketKind.IDEA, "d10")
    # Another member is not limited by the reporter's tickets.
    assert await file(session_factory, community, OTHER, TicketKind.IDEA, "o1") == 11
    # 16:00 UTC is 00:00 the next day in Shanghai: a new day, a new allowance.
    next_day = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
    assert await file(session_factory, community, REPORTER, TicketKind.IDEA, "d11", next_day) == 12


async def test_ticket_stats_count_kinds_statuses_first_answers_and_the_accepted_rate(
    session_factory: Factory,
) -> None:
    community = await community_with_members(session_factory)
    kinds = [TicketKind.BUG, TicketKind.BUG, TicketKind.IDEA, TicketKind.IDEA, TicketKind.COMPLAINT]
    numbers = [
        await file(session_factory, community, OTHER, kind, f"s{n}") for n, kind in enumerate(kinds)
    ]
    steps = [
        (numbers[0], "accept", timedelta(minutes=10)),
        (numbers[1], "reject", timedelta(minutes=30)),
        (numbers[2], "done", timedelta(hours=2)),
        (numbers[4], "reply", timedelta(minutes=20)),
    ]
    for number, step, after in steps:
        async with unit_of_work(session_factory) as uow:
            at = START + after
            if step == "reply":
                await tickets.reply(uow, community, number, "we look at it", MODERATORS[0], at)
            else:
                status = {"accept": TicketStatus.ACCEPTED, "reject": TicketStatus.REJECTED}.get(
                    step, TicketStatus.DONE
                )
                await tickets.move(uow, community, number, status, MODERATORS[0], at, "no")
    # A later reply does not move the first answer.
    async with unit_of_work(session_factory) as uow:
        later = START + timedelta(days=1)
        await tickets.reply(uow, community, numbers[0], "thanks again", MODERATORS[1], later)
        stats = await tickets.stats(uow, community, START - timedelta(days=7))
        since_later = await tickets.stats(uow, community, START + timedelta(minutes=1))
    assert stats.by_kind_status == {
        (TicketKind.BUG, TicketStatus.ACCEPTED): 1,
        (TicketKind.BUG, TicketStatus.REJECTED): 1,
        (TicketKind.IDEA, TicketStatus.DONE): 1,
        (TicketKind.IDEA, TicketStatus.NEW): 1,
        (TicketKind.COMPLAINT, TicketStatus.NEW): 1,
    }
    assert stats.total == 5 and stats.answered == 4
    # First answers after 10 min, 20 min, 30 min and 2 h: the median is 25 minutes.
    assert stats.median_first_answer == timedelta(minutes=25)
    assert stats.accepted_rate == pytest.approx(2 / 3)
    assert since_later.total == 0 and since_later.median_first_answer is None
    assert since_later.accepted_rate is None
    lines = ticket_stats_lines(translator("en"), stats)
    assert lines[0] == "🎫 Tickets: 5"
    assert "🐞 bug: 1 accepted, 1 rejected" in lines
    assert "Median time to a first answer: 25 min" in lines and "Accepted: 67%" in lines
    chinese = ticket_stats_lines(translator("zh"), since_later)
    assert chinese[-2:] == ["首次答复时间中位数：尚无答复", "采纳率：尚无决定"]


async def test_overlapping_filings_in_one_group_get_the_next_numbers(
    session_factory: Factory, database_url: str
) -> None:
    """The second filing waits at the unique number for the first, then takes the next one
    (PostgreSQL; SQLite serialises writers anyway)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("overlapping write transactions exist only on PostgreSQL")
    community = await community_with_members(session_factory)
    async with unit_of_work(session_factory) as first:
        filed = await tickets.file_ticket(
            first, community, REPORTER, TicketKind.BUG, "one", None, "n1", START
        )
        second = asyncio.create_task(file(session_factory, community, OTHER, TicketKind.IDEA, "n2"))
        await wait_until_someone_waits_for_a_lock(session_factory)
    assert filed.ticket.number == 1
    assert await second == 2


async def test_duplicates_of_a_forgotten_members_ticket_open_again(
    session_factory: Factory,
) -> None:
    """#1 was merged into #2; #2's reporter is forgotten (#2 deleted). #1 is open again, and a
    later ticket that takes number 2 does not inherit it (nor tell #1's reporter about it)."""
    from bot.services import privacy

    third = UserInfo(id=7003, first_name="Third")
    community = await community_with_members(session_factory)
    async with unit_of_work(session_factory) as uow:
        await member_joined(uow, community, third, START)
    duplicate = await file(session_factory, community, OTHER, TicketKind.BUG, "k1")
    main = await file(session_factory, community, REPORTER, TicketKind.BUG, "k2")
    async with unit_of_work(session_factory) as uow:
        await tickets.merge(uow, community, duplicate, main, MODERATORS[0], START)
    async with unit_of_work(session_factory) as uow:
        await privacy.forget_me(uow, REPORTER.id)
    async with unit_of_work(session_factory) as uow:
        reopened = await uow.tickets.get(GROUP, duplicate)
    assert reopened is not None
    assert (reopened.status, reopened.merged_into) == (TicketStatus.NEW, None)
    later = await file(session_factory, community, third, TicketKind.BUG, "k3")
    async with unit_of_work(session_factory) as uow:
        outcome = await tickets.move(
            uow, community, later, TicketStatus.ACCEPTED, MODERATORS[0], START
        )
    assert {recipient.user.id for recipient in outcome.recipients} == {third.id}
