"""The lifecycle's timed work, per community: the daily judgement with its win-backs (one
transaction), then, only when something waits for them, the moderators asked of Telegram
(no transaction open) and their key-member notices and weekly digest queued (a transaction).
Each step is claimed in the transaction that queues its messages, so it happens once."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.ports import ModeratorList, UnitOfWorkFactory
from bot.services import lifecycle
from handlers.lifecycle import render_digest, render_key_notice, render_winback
from runtime.features import JobContext
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)

# Win-backs are spread out like streak reminders (20 a second at most).
WINBACK_SPACING = timedelta(milliseconds=50)


async def lifecycle_work(context: JobContext) -> None:
    """The lifecycle feature's timed work."""
    await run_lifecycle(context.open_uow, context.now(), context.moderators)


async def run_lifecycle(
    open_uow: UnitOfWorkFactory, now: datetime, moderators: ModeratorList | None
) -> None:
    async with open_uow() as uow:
        community_ids = await uow.lifecycle.community_ids()
    for community_id in community_ids:
        try:
            await judge_community(open_uow, community_id, now)
            if moderators is not None:
                await tell_moderators(open_uow, community_id, now, moderators)
        except Exception:
            logger.exception("Lifecycle work failed for community %s; skipped", community_id)


async def judge_community(open_uow: UnitOfWorkFactory, community_id: int, now: datetime) -> None:
    outbox = Outbox()
    async with open_uow() as uow:
        community = await uow.communities.get(community_id)
        if community is None:
            return
        winbacks = await lifecycle.judge_day(uow, community, now)
        for index, winback in enumerate(winbacks or []):
            outbox.announce(
                winback.user_id,
                render_winback(community, winback),
                f"winback:{community.id}:{winback.user_id}:{winback.episode.isoformat()}",
                kind="winback",
                not_before=now + WINBACK_SPACING * index,
            )
        await outbox.queue_announcements(uow.outgoing, now)


async def tell_moderators(
    open_uow: UnitOfWorkFactory, community_id: int, now: datetime, moderators: ModeratorList
) -> None:
    async with open_uow() as uow:
        community = await uow.communities.get(community_id)
        if community is None or not await lifecycle.needs_moderators(uow, community, now):
            return
    found = await moderators.moderators(community_id)
    if found is None:
        return  # Telegram could not tell: tried again on the next pass
    outbox = Outbox()
    async with open_uow() as uow:
        reachable: Sequence[int] = [
            user_id for user_id in found if await uow.users.can_message(user_id)
        ]
        for entry in await lifecycle.take_key_notices(uow, community):
            for moderator_id in reachable:
                outbox.announce(
                    moderator_id,
                    render_key_notice(community, entry),
                    f"key:{community.id}:{entry.user_id}:{entry.key_since}:{moderator_id}",
                    kind="notice",
                )
        digest = await lifecycle.take_digest(uow, community, now)
        if digest is not None:
            for moderator_id in reachable:
                outbox.announce(
                    moderator_id,
                    render_digest(digest),
                    f"digest:{community.id}:{digest.week_start}:{moderator_id}",
                    kind="notice",
                )
        await outbox.queue_announcements(uow.outgoing, now)
