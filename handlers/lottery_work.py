"""The lotteries feature's timed work: repeats announced, due lotteries drawn."""

from __future__ import annotations

from datetime import datetime

from bot.ports import UnitOfWorkFactory
from bot.services import lotteries
from handlers.lotteries import queue_announcement, queue_draw_result
from runtime.features import JobContext
from runtime.jobs import for_each_community
from runtime.outbox import Outbox


async def lottery_work(context: JobContext) -> None:
    now = context.now()
    async with context.open_uow() as uow:
        due = await uow.lotteries.communities_due(now)
    await for_each_community(
        "lotteries",
        sorted(due),
        lambda community_id: draw_lotteries(context.open_uow, community_id, now),
    )


async def draw_lotteries(open_uow: UnitOfWorkFactory, community_id: int, now: datetime) -> None:
    """One community's repeated lotteries announced and lotteries due drawn (each claimed by
    a conditional UPDATE), queued for sending, in one transaction."""
    outbox = Outbox()
    async with open_uow() as uow:
        for copy in await lotteries.run_repeats(uow, now, community_id):
            community = await uow.communities.get(community_id)
            if community is not None:
                queue_announcement(outbox, community, copy)
        for result in await lotteries.draw_due(uow, now, community_id):
            queue_draw_result(outbox, result)
        await outbox.queue_announcements(uow.outgoing, now)
