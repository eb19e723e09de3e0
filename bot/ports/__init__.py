"""The Protocols the services, handlers and runtime need, one module per feature; storage/ and the
composition root provide the implementations. Everything is re-exported here."""

from bot.ports.activity import ActivityPart, ActivityRepository
from bot.ports.audit import AuditPart, AuditRepository
from bot.ports.badges import BadgeRepository, BadgesPart
from bot.ports.birthdays import BirthdayRepository, BirthdaysPart
from bot.ports.campaigns import CampaignRepository, CampaignsPart
from bot.ports.chat_moves import ChatMoveRepository, ChatMovesPart
from bot.ports.checkins import CheckinRepository, CheckinsPart
from bot.ports.communities import (
    CommunitiesPart,
    CommunityRepository,
    MemberRepository,
    UserRepository,
)
from bot.ports.console import ConsoleLink, ConsolePart, ConsoleRepository
from bot.ports.core import (
    Clock,
    MembershipChecker,
    ModeratorList,
    SavepointsUnavailable,
    UnitOfWork,
    UnitOfWorkFactory,
    transaction_open,
)
from bot.ports.insights import InsightsPart, InsightsRepository
from bot.ports.lifecycle import LifecyclePart, LifecycleRepository
from bot.ports.lotteries import LotteriesPart, LotteryRepository
from bot.ports.outgoing import (
    BLOCKED,
    FAILED,
    INTERRUPTED,
    PENDING,
    SENDING,
    SENT,
    UNCERTAIN,
    OutgoingPart,
    OutgoingQueue,
)
from bot.ports.points import LedgerRepository, PointsPart
from bot.ports.privacy import PrivacyPart, PrivacyRepository
from bot.ports.quizzes import QuizFileSource, QuizPollSender, QuizRepository, QuizzesPart
from bot.ports.referrals import (
    InviteLinkIssuer,
    InviteLinkRepository,
    ReferralRepository,
    ReferralsPart,
)
from bot.ports.rewards import RewardKey, RewardMemory, RewardsPart
from bot.ports.shop import ShopPart, ShopRepository
from bot.ports.surveys import SurveyRepository, SurveysPart
from bot.ports.tickets import TicketRepository, TicketsPart
from bot.ports.updates import DeadLetterRepository, ProcessedUpdateRepository, UpdatesPart

__all__ = [
    "BLOCKED",
    "FAILED",
    "INTERRUPTED",
    "PENDING",
    "SENDING",
    "SENT",
    "UNCERTAIN",
    "ActivityPart",
    "ActivityRepository",
    "AuditPart",
    "AuditRepository",
    "BadgeRepository",
    "BadgesPart",
    "BirthdayRepository",
    "BirthdaysPart",
    "CampaignRepository",
    "CampaignsPart",
    "ChatMoveRepository",
    "ChatMovesPart",
    "CheckinRepository",
    "CheckinsPart",
    "Clock",
    "CommunitiesPart",
    "CommunityRepository",
    "ConsoleLink",
    "ConsolePart",
    "ConsoleRepository",
    "DeadLetterRepository",
    "InsightsPart",
    "InsightsRepository",
    "InviteLinkIssuer",
    "InviteLinkRepository",
    "LedgerRepository",
    "LifecyclePart",
    "LifecycleRepository",
    "LotteriesPart",
    "LotteryRepository",
    "MemberRepository",
    "MembershipChecker",
    "ModeratorList",
    "OutgoingPart",
    "OutgoingQueue",
    "PointsPart",
    "PrivacyPart",
    "PrivacyRepository",
    "ProcessedUpdateRepository",
    "QuizFileSource",
    "QuizPollSender",
    "QuizRepository",
    "QuizzesPart",
    "ReferralRepository",
    "ReferralsPart",
    "RewardKey",
    "RewardMemory",
    "RewardsPart",
    "SavepointsUnavailable",
    "ShopPart",
    "ShopRepository",
    "SurveyRepository",
    "SurveysPart",
    "TicketRepository",
    "TicketsPart",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UpdatesPart",
    "UserRepository",
    "transaction_open",
]
