"""The birthdays feature's timed work: the day's birthdays congratulated, each greeting
claimed (a unique row) in the transaction that queues it, so it is sent once."""

from __future__ import annotations

from datetime import datetime

from bot.ports import UnitOfWorkFactory
from bot.services import birthdays
from handlers.birthdays import queue_greetings
from runtime.features import JobContext
from runtime.outbox import Outbox


async def birthdays_work(context: JobContext) -> None:
    await birthday_work(context.open_uow, context.now())


async def birthday_work(open_uow: UnitOfWorkFactory, now: datetime) -> None:
    outbox = Outbox()
    async with open_uow() as uow:
        queue_greetings(outbox, await birthdays.greet_due(uow, now))
        await outbox.queue_announcements(uow.outgoing, now)
