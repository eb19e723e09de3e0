"""The surveys' and the birthdays' timed work together, in the order the due work runs them
(each feature declares its own part: handlers/survey_work.py, handlers/birthday_work.py)."""

from __future__ import annotations

from datetime import datetime

from bot.ports import UnitOfWorkFactory
from handlers.birthday_work import birthday_work
from handlers.survey_work import run_surveys


async def run_care_work(open_uow: UnitOfWorkFactory, now: datetime) -> None:
    await run_surveys(open_uow, now)
    await birthday_work(open_uow, now)
