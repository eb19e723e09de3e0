from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from itertools import count
from typing import get_type_hints

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.ports import SavepointsUnavailable, transaction_open
from storage.activity import SqlActivityRepository
from storage.audit import SqlAuditRepository
from storage.badges import SqlBadgeRepository
from storage.birthdays import SqlBirthdayRepository
from storage.caches import savepoint_undone
from storage.campaigns import SqlCampaignRepository, SqlOutgoingQueue
from storage.chat_moves import SqlChatMoves
from storage.communities import SqlCommunityRepository
from storage.console import SqlConsoleLinks
from storage.dead_letters import SqlDeadLetters
from storage.engine import READ_ONLY
from storage.insights import SqlInsightsRepository
from storage.invite_links import SqlInviteLinkRepository
from storage.ledger import SqlLedgerRepository
from storage.lifecycle import SqlLifecycleRepository
from storage.lotteries import SqlLotteryRepository
from storage.members import SqlCheckinRepository, SqlMemberRepository
from storage.prepared import adapted_connection, driver_connection, is_asyncpg
from storage.privacy import SqlPrivacyRepository
from storage.processed_updates import SqlProcessedUpdates
from storage.quizzes import SqlQuizRepository
from storage.referrals import SqlReferralRepository
from storage.reward_memory import SqlRewardMemory
from storage.shop import SqlShopRepository
from storage.sqlite_inloop import SQLiteDialect_inloop
from storage.surveys import SqlSurveyRepository
from storage.tickets import SqlTicketRepository
from storage.users import SqlUserRepository

_savepoint_numbers = count(1)
_PENDING_RELEASE = "seedbot.pending_release"


# Each feature's part of the unit of work (bot.ports.<feature>.<Feature>Part): its repositories as
# annotated attributes; the unit of work builds each one from its session when it opens.


class SqlCommunitiesPart:
    communities: SqlCommunityRepository
    users: SqlUserRepository
    members: SqlMemberRepository


class SqlChatMovesPart:
    chat_moves: SqlChatMoves


class SqlConsolePart:
    console: SqlConsoleLinks


class SqlCheckinsPart:
    checkins: SqlCheckinRepository


class SqlPointsPart:
    ledger: SqlLedgerRepository


class SqlBadgesPart:
    badges: SqlBadgeRepository


class SqlAuditPart:
    audit: SqlAuditRepository


class SqlReferralsPart:
    invite_links: SqlInviteLinkRepository
    referrals: SqlReferralRepository


class SqlCampaignsPart:
    campaigns: SqlCampaignRepository


class SqlOutgoingPart:
    outgoing: SqlOutgoingQueue


class SqlUpdatesPart:
    processed_updates: SqlProcessedUpdates
    dead_letters: SqlDeadLetters


class SqlShopPart:
    shop: SqlShopRepository


class SqlLotteriesPart:
    lotteries: SqlLotteryRepository


class SqlQuizzesPart:
    quizzes: SqlQuizRepository


class SqlPrivacyPart:
    privacy: SqlPrivacyRepository


class SqlActivityPart:
    activity: SqlActivityRepository


class SqlLifecyclePart:
    lifecycle: SqlLifecycleRepository


class SqlTicketsPart:
    tickets: SqlTicketRepository


class SqlInsightsPart:
    insights: SqlInsightsRepository


class SqlSurveysPart:
    surveys: SqlSurveyRepository


class SqlBirthdaysPart:
    birthdays: SqlBirthdayRepository


class SqlRewardsPart:
    reward_memory: SqlRewardMemory


class SqlUnitOfWork(
    SqlCommunitiesPart,
    SqlChatMovesPart,
    SqlConsolePart,
    SqlCheckinsPart,
    SqlPointsPart,
    SqlBadgesPart,
    SqlAuditPart,
    SqlReferralsPart,
    SqlCampaignsPart,
    SqlOutgoingPart,
    SqlUpdatesPart,
    SqlShopPart,
    SqlLotteriesPart,
    SqlQuizzesPart,
    SqlPrivacyPart,
    SqlActivityPart,
    SqlLifecyclePart,
    SqlTicketsPart,
    SqlInsightsPart,
    SqlSurveysPart,
    SqlBirthdaysPart,
    SqlRewardsPart,
):
    """Repositories bound to one session; the owner of the session commits or rolls back."""

    def __init__(self, session: AsyncSession, *, driver_savepoints: bool = True) -> None:
        self.session = session
        dialect = session.bind.dialect if session.bind is not None else None
        self._driver_savepoints = driver_savepoints and isinstance(dialect, SQLiteDialect_inloop)
        self._asyncpg_savepoints = driver_savepoints and is_asyncpg(dialect)
        for name, repository in _REPOSITORIES:
            setattr(self, name, repository(session))

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A SAVEPOINT inside the transaction: an exception in the block undoes only the
        block's work (one update of a batch), and the transaction goes on.

        On the in-loop SQLite driver the SAVEPOINT, RELEASE and ROLLBACK TO are issued on the
        driver connection (SQLAlchemy's nested transactions cost more than the statements
        of a whole check-in); pending ORM changes are flushed before the release, and after
        a rollback the session forgets its ORM objects, as SQLAlchemy's own would expire
        them.

        On asyncpg they are sent by the driver too, as simple queries (nothing to prepare),
        and a savepoint's RELEASE waits to go with the next SAVEPOINT in one round trip
        (`RELEASE a; SAVEPOINT b`); the commit releases the last one."""
        if self._asyncpg_savepoints:
            async with self._asyncpg_savepoint():
                yield
            return
        if not self._driver_savepoints:
            async with self.session.begin_nested():
                yield
            return
        sync = self.session.sync_session
        transaction = sync.get_transaction()
        connection = await driver_connection(self.session)
        name = f"update_{next(_savepoint_numbers)}"
        connection.execute(f"SAVEPOINT {name}")
        try:
            yield
            if self.session.new or self.session.dirty or self.session.deleted:
                await self.session.flush()
        except BaseException as error:
            current = sync.get_transaction()
            if current is not transaction or transaction is None or not transaction.is_active:
                raise SavepointsUnavailable(str(error)) from error
            connection.execute(f"ROLLBACK TO {name}")
            connection.execute(f"RELEASE {name}")
            sync.expunge_all()
            savepoint_undone(sync)
            raise
        connection.execute(f"RELEASE {name}")

    @asynccontextmanager
    async def _asyncpg_savepoint(self) -> AsyncIterator[None]:
        sync = self.session.sync_session
        transaction = sync.get_transaction()
        adapted = await adapted_connection(self.session)
        connection = adapted.driver_connection
        state = (sync.get_transaction(), sync.get_nested_transaction(), connection)
        name = f"update_{next(_savepoint_numbers)}"
        pending = self.session.info.pop(_PENDING_RELEASE, None)
        try:
            if pending is not None and pending[1] == state:
                await connection.execute(f"RELEASE {pending[0]}; SAVEPOINT {name}")
            else:
                await connection.execute(f"SAVEPOINT {name}")
        except Exception as error:
            raise SavepointsUnavailable(str(error)) from error
        try:
            yield
            if self.session.new or self.session.dirty or self.session.deleted:
                await self.session.flush()
        except BaseException as error:
            current = sync.get_transaction()
            if current is not transaction or transaction is None or not transaction.is_active:
                raise SavepointsUnavailable(str(error)) from error
            try:
                await connection.execute(f"ROLLBACK TO {name}; RELEASE {name}")
            except Exception as undo_error:
                raise SavepointsUnavailable(str(undo_error)) from error
            sync.expunge_all()
            savepoint_undone(sync)
            raise
        self.session.info[_PENDING_RELEASE] = (name, state)


_REPOSITORIES: tuple[tuple[str, Callable[[AsyncSession], object]], ...] = tuple(
    (name, repository)
    for part in SqlUnitOfWork.__bases__
    for name, repository in get_type_hints(part).items()
)
"""Every part's repositories: (attribute, class), read once from the parts' annotations."""


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession],
    *,
    read_only: bool = False,
    driver_savepoints: bool = True,
) -> AsyncIterator[SqlUnitOfWork]:
    """One transaction: committed when the block ends normally, rolled back on an exception.
    A read-only one takes no write lock (SQLite) and refuses every write."""
    token = transaction_open.set(True)
    try:
        async with factory() as session, session.begin():
            if read_only:
                await _begin_read_only(session)
            yield SqlUnitOfWork(session, driver_savepoints=driver_savepoints)
    finally:
        transaction_open.reset(token)


async def _begin_read_only(session: AsyncSession) -> None:
    connection = await session.connection(execution_options={READ_ONLY: True})
    if connection.dialect.name == "postgresql":
        await connection.exec_driver_sql("SET TRANSACTION READ ONLY")


def write_refused(error: BaseException) -> bool:
    """Whether the error is a read-only transaction refusing a write."""
    text = str(getattr(error, "orig", error)).lower()
    return "readonly database" in text or "read-only transaction" in text
