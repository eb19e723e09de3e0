from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.campaigns import SqlCampaignRepository, SqlOutgoingQueue
from storage.chat_moves import SqlChatMoves
from storage.dead_letters import SqlDeadLetters
from storage.engine import READ_ONLY
from storage.repositories import (
    SqlAuditRepository,
    SqlBadgeRepository,
    SqlCheckinRepository,
    SqlCommunityRepository,
    SqlInviteLinkRepository,
    SqlLedgerRepository,
    SqlMemberRepository,
    SqlProcessedUpdates,
    SqlReferralRepository,
    SqlUserRepository,
)

transaction_open: ContextVar[bool] = ContextVar("transaction_open", default=False)
"""True while this task holds a database transaction open: no Bot API call may be made then
(the test suite fails any that is)."""


class SqlUnitOfWork:
    """Repositories bound to one session; the owner of the session commits or rolls back."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.communities = SqlCommunityRepository(session)
        self.users = SqlUserRepository(session)
        self.members = SqlMemberRepository(session)
        self.checkins = SqlCheckinRepository(session)
        self.ledger = SqlLedgerRepository(session)
        self.badges = SqlBadgeRepository(session)
        self.audit = SqlAuditRepository(session)
        self.invite_links = SqlInviteLinkRepository(session)
        self.referrals = SqlReferralRepository(session)
        self.campaigns = SqlCampaignRepository(session)
        self.outgoing = SqlOutgoingQueue(session)
        self.chat_moves = SqlChatMoves(session)
        self.processed_updates = SqlProcessedUpdates(session)
        self.dead_letters = SqlDeadLetters(session)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A SAVEPOINT inside the transaction: an exception in the block undoes only the
        block's work (one update of a batch), and the transaction goes on."""
        async with self.session.begin_nested():
            yield


@asynccontextmanager
async def unit_of_work(
    factory: async_sessionmaker[AsyncSession], *, read_only: bool = False
) -> AsyncIterator[SqlUnitOfWork]:
    """One transaction: committed when the block ends normally, rolled back on an exception.
    A read-only one takes no write lock (SQLite) and refuses every write."""
    token = transaction_open.set(True)
    try:
        async with factory() as session, session.begin():
            if read_only:
                await _begin_read_only(session)
            yield SqlUnitOfWork(session)
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
