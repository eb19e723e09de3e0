"""The pieces every feature shares: the clock, the unit of work (assembled from each feature's
part), and the Telegram facts read outside transactions."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from datetime import datetime
from typing import Protocol

from bot.ports.activity import ActivityPart
from bot.ports.audit import AuditPart
from bot.ports.badges import BadgesPart
from bot.ports.birthdays import BirthdaysPart
from bot.ports.campaigns import CampaignsPart
from bot.ports.chat_moves import ChatMovesPart
from bot.ports.checkins import CheckinsPart
from bot.ports.communities import CommunitiesPart
from bot.ports.console import ConsolePart
from bot.ports.insights import InsightsPart
from bot.ports.lifecycle import LifecyclePart
from bot.ports.lotteries import LotteriesPart
from bot.ports.outgoing import OutgoingPart
from bot.ports.points import PointsPart
from bot.ports.privacy import PrivacyPart
from bot.ports.quizzes import QuizzesPart
from bot.ports.referrals import ReferralsPart
from bot.ports.rewards import RewardsPart
from bot.ports.shop import ShopPart
from bot.ports.surveys import SurveysPart
from bot.ports.tickets import TicketsPart
from bot.ports.updates import UpdatesPart


class Clock(Protocol):
    """The source of the current time (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class MembershipChecker(Protocol):
    """Asks Telegram whether a user is in a group right now; called outside transactions."""

    async def is_member(self, community_id: int, user_id: int) -> bool | None:
        """True or False; None when Telegram could not tell (try again later)."""
        ...


class ModeratorList(Protocol):
    """A group's administrators as Telegram lists them; called outside transactions."""

    async def moderators(self, community_id: int) -> Sequence[int] | None:
        """Their user ids (bots left out); None when Telegram could not tell."""
        ...


transaction_open: ContextVar[bool] = ContextVar("transaction_open", default=False)
"""True while this task holds a database transaction open: no Bot API call may be made then
(the test suite fails any that is)."""


class SavepointsUnavailable(Exception):
    """An ORM flush failed inside a savepoint issued on the driver connection, and SQLAlchemy
    rolled the whole transaction back: the batch must run again with SQLAlchemy's own
    savepoints, which contain such a failure."""


class UnitOfWork(
    CommunitiesPart,
    ChatMovesPart,
    ConsolePart,
    CheckinsPart,
    PointsPart,
    BadgesPart,
    AuditPart,
    ReferralsPart,
    CampaignsPart,
    OutgoingPart,
    UpdatesPart,
    ShopPart,
    LotteriesPart,
    QuizzesPart,
    PrivacyPart,
    ActivityPart,
    LifecyclePart,
    TicketsPart,
    InsightsPart,
    SurveysPart,
    BirthdaysPart,
    RewardsPart,
    Protocol,
):
    """One transaction; repositories share it and never commit on their own. Each feature
    brings its repositories as its part (bot.ports.<feature>.<Feature>Part)."""

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A SAVEPOINT inside the transaction: an exception in the block undoes only the
        block's work, and the transaction goes on."""
        ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work: one transaction, committed when the block ends normally and
    rolled back on an exception (storage.uow.unit_of_work, bound by seedbot/app.py)."""

    def __call__(
        self, *, read_only: bool = False, driver_savepoints: bool = True
    ) -> AbstractAsyncContextManager[UnitOfWork]:
        """`read_only`: no write lock (SQLite), and every write refused. `driver_savepoints`
        off: SQLAlchemy's own savepoints (see SavepointsUnavailable)."""
        ...
