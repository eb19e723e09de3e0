"""The lifecycle's timed work, per community: the daily judgement with its win-backs (in
short transactions of a chunk of members each; members first seen after it are judged at the
next pass, found by a read off the loop), then, only when something waits for them,
the moderators asked of Telegram (no transaction open), what they are told read off the loop,
and their key-member notices and weekly digest queued (a transaction). Each step is claimed
in the transaction that queues its messages, so it happens once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from bot.domain.models import Community, LifecycleEntry
from bot.ports import ModeratorList, UnitOfWork, UnitOfWorkFactory
from bot.ports.reads import InPlaceReader, Reader
from bot.services import lifecycle
from handlers.lifecycle import render_digest, render_key_notice, render_winback
from runtime.features import JobContext
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)

# Win-backs are spread out like streak reminders (20 a second at most).
WINBACK_SPACING = timedelta(milliseconds=50)
CHUNK_SECONDS = 0.02  # a chunk of the daily judgement holds the write lock about this long
MIN_CHUNK = 200
MAX_CHUNK = 20_000


async def lifecycle_work(context: JobContext) -> None:
    """The lifecycle feature's timed work."""
    await run_lifecycle(context.open_uow, context.now(), context.moderators, context.reader)


async def run_lifecycle(
    open_uow: UnitOfWorkFactory,
    now: datetime,
    moderators: ModeratorList | None,
    reader: Reader | None = None,
) -> None:
    reads = reader if reader is not None else InPlaceReader(open_uow)
    async with open_uow() as uow:
        community_ids = await uow.lifecycle.community_ids()
    for community_id in community_ids:
        try:
            await judge_community(open_uow, community_id, now, reads)
            if moderators is not None:
                await tell_moderators(open_uow, community_id, now, moderators, reads)
        except Exception:
            logger.exception("Lifecycle work failed for community %s; skipped", community_id)
    first_seen = await reads.read(lifecycle.unjudged_members)
    for community_id, user_ids in first_seen.items():
        try:
            await judge_first_seen(open_uow, community_id, user_ids, now)
        except Exception:
            logger.exception("Judging new members failed for community %s; skipped", community_id)


async def judge_first_seen(
    open_uow: UnitOfWorkFactory, community_id: int, user_ids: Sequence[int], now: datetime
) -> None:
    """Members the bot met since their community's daily judgement (a group the bot has just
    been added to is judged whole by its first daily judgement, at the next pass), those an
    upgrade to a supergroup brought included: judged at the next pass of the timed work
    instead of the next day, a short transaction per FIRST_SIGHT_CHUNK members with their
    win-backs."""
    sent = 0
    for start in range(0, len(user_ids), lifecycle.FIRST_SIGHT_CHUNK):
        outbox = Outbox()
        async with open_uow() as uow:
            community = await uow.communities.get(community_id)
            if community is None:
                return
            chunk = user_ids[start : start + lifecycle.FIRST_SIGHT_CHUNK]
            for winback in await lifecycle.judge_members(uow, community, chunk, now):
                announce_winback(outbox, community, winback, now + WINBACK_SPACING * sent)
                sent += 1
            await outbox.queue_announcements(uow.outgoing, now)
        await asyncio.sleep(0)  # the intake's turn


def announce_winback(
    outbox: Outbox, community: Community, winback: lifecycle.Winback, not_before: datetime
) -> None:
    outbox.announce(
        winback.user_id,
        render_winback(community, winback),
        f"winback:{community.id}:{winback.user_id}:{winback.episode.isoformat()}",
        kind="winback",
        not_before=not_before,
    )


async def judge_community(
    open_uow: UnitOfWorkFactory,
    community_id: int,
    now: datetime,
    reader: Reader | None = None,
) -> None:
    """The day's judgement in chunks of members, each a short transaction that also records
    its win-backs and queues their messages (so a crash half-way repeats and skips none),
    sized to take about CHUNK_SECONDS, the loop free in between; then the key members, read
    off the loop and changed in a last short transaction that marks the day done."""
    reads = reader if reader is not None else InPlaceReader(open_uow)
    async with open_uow() as uow:
        community = await uow.communities.get(community_id)
        if community is None:
            return
        today = await lifecycle.start_day(uow, community, now)
    if today is None:
        return
    # Key members follow points and referrals, not the stages: read beside the judgement
    # (off the loop; in place, after it, as a shared in-memory connection needs).
    in_place = isinstance(reads, InPlaceReader)
    key_read = None
    if not in_place:
        key_read = asyncio.ensure_future(
            reads.read(lambda uow: lifecycle.key_changes(uow, community, now))
        )
    try:
        await _judge_in_chunks(open_uow, community, today, now)
    except BaseException:
        if key_read is not None:
            key_read.cancel()
        raise
    if key_read is None:
        changes = await reads.read(lambda uow: lifecycle.key_changes(uow, community, now))
    else:
        changes = await key_read
    async with open_uow() as uow:
        await lifecycle.finish_day(uow, community, today, now, changes)


async def _judge_in_chunks(
    open_uow: UnitOfWorkFactory, community: Community, today: date, now: datetime
) -> None:
    after_user, size, sent = -1, lifecycle.JUDGE_CHUNK, 0
    while True:
        began = time.monotonic()
        outbox = Outbox()
        async with open_uow() as uow:
            winbacks, last_user = await lifecycle.judge_chunk(
                uow, community, today, now, after_user, size
            )
            for winback in winbacks:
                announce_winback(outbox, community, winback, now + WINBACK_SPACING * sent)
                sent += 1
            await outbox.queue_announcements(uow.outgoing, now)
        if last_user is None:
            break
        after_user = last_user
        size = _next_size(size, time.monotonic() - began)
        await asyncio.sleep(0)  # the intake's turn


def _next_size(size: int, seconds: float) -> int:
    """The next chunk's size, aiming at CHUNK_SECONDS a chunk (at most doubling or halving)."""
    if seconds <= 0:
        return min(size * 2, MAX_CHUNK)
    wanted = int(size * CHUNK_SECONDS / seconds)
    return max(
        MIN_CHUNK,
        min(
            wanted,
            size * 2,
            MAX_CHUNK,
        ),
    )


async def tell_moderators(
    open_uow: UnitOfWorkFactory,
    community_id: int,
    now: datetime,
    moderators: ModeratorList,
    reader: Reader | None = None,
) -> None:
    reads = reader if reader is not None else InPlaceReader(open_uow)
    async with open_uow() as uow:
        community = await uow.communities.get(community_id)
        if community is None or not await lifecycle.needs_moderators(uow, community, now):
            return
    found = await moderators.moderators(community_id)
    if found is None:
        return  # Telegram could not tell: tried again on the next pass

    async def read(uow: UnitOfWork) -> tuple[Sequence[LifecycleEntry], lifecycle.Digest]:
        entries = await lifecycle.unnoticed_key_members(uow, community)
        return entries, await lifecycle.read_digest(uow, community, now)

    entries, digest = await reads.read(read)
    outbox = Outbox()
    async with open_uow() as uow:
        reachable: Sequence[int] = [
            user_id for user_id in found if await uow.users.can_message(user_id)
        ]
        await lifecycle.mark_key_noticed(uow, community, entries)
        for entry in entries:
            for moderator_id in reachable:
                outbox.announce(
                    moderator_id,
                    render_key_notice(community, entry),
                    f"key:{community.id}:{entry.user_id}:{entry.key_since}:{moderator_id}",
                    kind="notice",
                )
        if await lifecycle.claim_digest(uow, community, now):
            for moderator_id in reachable:
                outbox.announce(
                    moderator_id,
                    render_digest(digest),
                    f"digest:{community.id}:{digest.week_start}:{moderator_id}",
                    kind="notice",
                )
        await outbox.queue_announcements(uow.outgoing, now)
