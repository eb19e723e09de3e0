from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.audit import SqlAuditRepository
from storage.badges import SqlBadgeRepository
from storage.campaigns import SqlCampaignRepository, SqlOutgoingQueue
from storage.chat_moves import SqlChatMoves
from storage.communities import SqlCommunityRepository
from storage.dead_letters import SqlDeadLetters
from storage.invite_links import SqlInviteLinkRepository
from storage.ledger import SqlLedgerRepository
from storage.members import SqlCheckinRepository, SqlMemberRepository
from storage.processed_updates import SqlProcessedUpdates
from storage.referrals import SqlReferralRepository
from storage.users import SqlUserRepository

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
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[SqlUnitOfWork]:
    """One transaction: committed when the block ends normally, rolled back on an exception."""
    token = transaction_open.set(True)
    try:
        async with factory() as session, session.begin():
            yield SqlUnitOfWork(session)
    finally:
        transaction_open.reset(token)
