"""The surveys feature's timed work: surveys closed and their results queued, scheduled
surveys opened. Each step claims its work in the same transaction that queues what it says
(conditional updates, unique claims), so it happens once however often, and by however many
workers, this is run."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.ports import UnitOfWorkFactory
from bot.services import surveys
from handlers.surveys import queue_result, queue_survey
from runtime.features import JobContext
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)


async def surveys_work(context: JobContext) -> None:
    await run_surveys(context.open_uow, context.now())


async def run_surveys(open_uow: UnitOfWorkFactory, now: datetime) -> None:
    """Each community's surveys in a transaction of its own (an error there is logged and
    skips only that community)."""
    async with open_uow() as uow:
        due = await uow.surveys.communities_due(now)
    for community_id in due:
        try:
            await survey_work(open_uow, community_id, now)
        except Exception:
            logger.exception("Survey work failed for community %s; skipped", community_id)


async def survey_work(open_uow: UnitOfWorkFactory, community_id: int, now: datetime) -> None:
    outbox = Outbox()
    async with open_uow() as uow:
        for result in await surveys.close_due(uow, community_id, now):
            queue_result(outbox, result)
        community = await uow.communities.get(community_id)
        for survey in await surveys.start_scheduled(uow, community_id, now):
            if community is not None:
                queue_survey(outbox, community, survey)
        await outbox.queue_announcements(uow.outgoing, now)
