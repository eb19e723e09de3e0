"""Timed work that no update triggers, run for the features that declare it: each feature's
work isolated (an error in one is logged and the others go on), then housekeeping.

What is said goes through the outgoing queue, enqueued in the same transaction that claims
the work, so it happens exactly once however often this is called. What a job needs reaches
it by its arguments (the JobContext), never through a global."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.ports import UnitOfWorkFactory
from runtime.features import Feature, JobContext, TimedWork

logger = logging.getLogger(__name__)

KEEP_PROCESSED_UPDATES = timedelta(days=7)  # far longer than Telegram keeps an update
DUE_WORK_JOB = "runtime.jobs:run_due_work_job"


async def isolated(step: str, community_id: int | None, work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        logger.exception("Timed work (%s) failed for community %s; skipped", step, community_id)


async def for_each_community(
    step: str, community_ids: Iterable[int], work: Callable[[int], Awaitable[None]]
) -> None:
    """`work` for each community in turn, each isolated: an error in one group (a bad row, a
    bug) is logged and undoes only that group's step, and the other groups go on."""
    for community_id in community_ids:
        await isolated(step, community_id, work(community_id))


async def forget_processed_updates(open_uow: UnitOfWorkFactory, now: datetime) -> None:
    async with open_uow() as uow:
        await uow.processed_updates.forget_before(now - KEEP_PROCESSED_UPDATES)


def job_runtime_of(context: JobContext, features: Sequence[Feature]) -> JobRuntime:
    return JobRuntime(
        context,
        [(feature.name, work) for feature in features for work in feature.timed_work],
        [(feature.name, feature.sync_jobs) for feature in features if feature.sync_jobs],
    )


@dataclass
class JobRuntime:
    """Every feature's timed work, in the features' order, then housekeeping."""

    context: JobContext
    work: Sequence[tuple[str, TimedWork]] = field(default_factory=list)
    syncs: Sequence[tuple[str, TimedWork]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.context = replace(self.context, due_work=self.run)

    async def run(self) -> None:
        for name, work in self.work:
            await isolated(name, None, work(self.context))
        await isolated(
            "housekeeping",
            None,
            forget_processed_updates(self.context.open_uow, self.context.now()),
        )
        if self.context.scheduling():
            await self.sync_jobs()

    async def sync_jobs(self) -> None:
        for name, sync in self.syncs:
            await isolated(f"{name} jobs", None, sync(self.context))


async def run_due_work_job(jobs: JobRuntime) -> None:
    """The periodic job: catches every run even if a feature's own job was missed."""
    await jobs.run()
