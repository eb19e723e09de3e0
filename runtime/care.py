"""Timed work of the surveys and birthdays: surveys closed and their results queued, scheduled
surveys opened, birthdays congratulated. Each step claims its work in the same transaction
that queues what it says (conditional updates, unique claims), so it happens once however
often, and by however many workers, this is run."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.ports import UnitOfWorkFactory
from bot.services import birthdays, surveys
from handlers.birthdays import queue_greetings
from handlers.surveys import queue_result, queue_survey
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)


async def run_care_work(open_uow: UnitOfWorkFactory, now: datetime) -> None:
    """Each community's surveys in a transaction of its own (an error there is logged and
    skips only that community), then the birthdays of the day."""
    async with open_uow() as uow:
        due = await uow.surveys.communities_due(now)
    for community_id in due:
        try:
            await survey_work(open_uow, community_id, now)
        except Exception:
            logger.exception("Survey work failed for community %s; skipped", community_id)
    await birthday_work(open_uow, now)


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


async def birthday_work(open_uow: UnitOfWorkFactory, now: datetime) -> None:
    outbox = Outbox()
    async with open_uow() as uow:
        queue_greetings(outbox, await birthdays.greet_due(uow, now))
        await outbox.queue_announcements(uow.outgoing, now)
