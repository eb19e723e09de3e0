"""The unit of work is assembled from each feature's part, in bot/ports and in storage/uow.py."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.ports import UnitOfWork
from storage.uow import SqlUnitOfWork


def asked_repositories() -> set[str]:
    return {
        name
        for part in UnitOfWork.__mro__
        if part.__name__.endswith("Part")
        for name, value in vars(part).items()
        if isinstance(value, property)
    }


def test_every_part_of_the_unit_of_work_brings_its_own_repositories() -> None:
    parts = [part for part in UnitOfWork.__mro__ if part.__name__.endswith("Part")]
    names = [
        name for part in parts for name, value in vars(part).items() if isinstance(value, property)
    ]
    assert len(parts) >= 20
    assert len(names) == len(set(names))


def test_the_sql_unit_of_work_builds_every_repository_the_parts_ask_for() -> None:
    session = AsyncSession()
    uow = SqlUnitOfWork(session)
    asked = asked_repositories()
    built = {name: value for name, value in vars(uow).items() if name in asked}
    assert set(built) == asked
    assert len({id(repository) for repository in built.values()}) == len(asked)
