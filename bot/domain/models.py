from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bot.domain.care import CareSettings
from bot.domain.tickets import TicketRules

ANONYMOUS_ADMIN_ID = 1087968824
SERVICE_NOTIFICATIONS_ID = 777000
NON_MEMBER_USER_IDS = frozenset({ANONYMOUS_ADMIN_ID, SERVICE_NOTIFICATIONS_ID})


class Tier(enum.IntEnum):
    NEWCOMER = 0
    MEMBER = 1
    ACTIVE = 2
    CONTRIBUTOR = 3
    CORE = 4


class Badge(enum.StrEnum):
    EXPERT = "expert"
    STAR = "star"


class LedgerKind(enum.StrEnum):
    CHECKIN = "checkin"
    ACTIVITY = "activity"
    AWARD = "award"
    DEDUCT = "deduct"
    REFERRAL = "referral"
    WELCOME_BONUS = "welcome_bonus"
    REVOKE = "revoke"
    SHOP = "shop"
    SHOP_REFUND = "shop_refund"
    LOTTERY_ENTRY = "lottery_entry"
    LOTTERY_REFUND = "lottery_refund"

    QUIZ = "quiz"
    WINBACK = "winback"
    TICKET = "ticket"
    SURVEY_THANKS = "survey_thanks"
    BIRTHDAY_GIFT = "birthday_gift"


class Activity(enum.StrEnum):
    """What makes a member active on a day; each value names its activity_days column."""

    MESSAGE = "messages"
    CHECKIN = "checkins"
    QUIZ_ANSWER = "quiz_answers"
    LOTTERY_ENTRY = "lottery_entries"
    ORDER = "orders"


class MembershipEvent(enum.StrEnum):
    JOIN = "join"
    LEAVE = "leave"


class ReferralStatus(enum.StrEnum):
    PENDING = "pending"
    QUALIFIED = "qualified"
    REJECTED = "rejected"
    ORGANIC = "organic"


class RejectionReason(enum.StrEnum):
    SELF_INVITE = "self_invite"
    REJOIN = "rejoin"
    BOT = "bot"
    LEFT_BEFORE_QUALIFYING = "left_before_qualifying"
    DAILY_CAP = "daily_cap"


class ReferralSource(enum.StrEnum):
    INVITE_LINK = "invite_link"
    DEEP_LINK = "deep_link"
    JOIN_REQUEST = "join_request"
    NONE = "none"


class JoinRequestPolicy(enum.StrEnum):
    APPROVE = "approve"
    MANUAL = "manual"


class LeaderboardPeriod(enum.StrEnum):
    ALL = "all"
    WEEK = "week"
    MONTH = "month"


DEFAULT_TIER_THRESHOLDS: tuple[int, ...] = (0, 50, 300, 1000, 3000)
DEFAULT_CHECKIN_KEYWORDS: tuple[str, ...] = ("签到", "打卡", "check in")


@dataclass(frozen=True)
class CheckinRules:
    base_points: int = 10
    streak_step: int = 2
    streak_bonus_cap: int = 20
    weekly_bonus: int = 30
    weekly_every: int = 7


@dataclass(frozen=True)
class ActivityRules:
    points_per_message: int = 1
    cooldown_seconds: int = 60
    daily_cap: int = 20


@dataclass(frozen=True)
class GrowthRules:
    referral_reward: int = 50
    welcome_bonus: int = 20
    qualifying_hours: int = 24
    requires_checkin: bool = True
    daily_referral_cap: int = 10
    join_requests: JoinRequestPolicy = JoinRequestPolicy.APPROVE
    welcome_text: str | None = None
    rules_link: str | None = None


@dataclass(frozen=True)
class ModerationRules:
    monthly_award_quota: int = 2000


@dataclass(frozen=True)
class LifecycleRules:
    """How members' lifecycle stages are judged (days are the community's local days)."""

    new_days: int = 7
    loyal_weeks: int = 4
    rhythm_factor: int = 3
    min_gap_days: int = 3
    min_history_days: int = 4
    inactive_days: int = 7
    churn_days: int = 30
    won_back_days: int = 14
    history_days: int = 90
    winback: bool = False
    winback_gift: int = 0
    winback_text: str | None = None
    key_top_percent: int = 10
    key_min_referrals: int = 2
    key_days: int = 90


@dataclass(frozen=True)
class Community:
    id: int
    title: str
    timezone: str
    language: str
    checkin_rules: CheckinRules = field(default_factory=CheckinRules)
    activity_rules: ActivityRules = field(default_factory=ActivityRules)
    tier_thresholds: tuple[int, ...] = DEFAULT_TIER_THRESHOLDS
    checkin_keywords: tuple[str, ...] = DEFAULT_CHECKIN_KEYWORDS
    growth: GrowthRules = field(default_factory=GrowthRules)
    public_code: str | None = None
    moderation: ModerationRules = field(default_factory=ModerationRules)
    lifecycle: LifecycleRules = field(default_factory=LifecycleRules)
    tickets: TicketRules = field(default_factory=TicketRules)
    care: CareSettings = field(default_factory=CareSettings)


@dataclass(frozen=True)
class UserInfo:
    """What we keep of a Telegram user: only what the features need."""

    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    @property
    def display_name(self) -> str:
        return self.first_name or (f"@{self.username}" if self.username else str(self.id))


@dataclass(frozen=True)
class Member:
    id: int
    community_id: int
    user_id: int
    display_name: str
    balance: int
    lifetime_earned: int
    streak: int
    last_checkin_day: date | None
    tier: Tier
    is_member: bool
    joined_at: datetime | None
    last_active_at: datetime | None
    activity_day: date | None = None
    activity_points_today: int = 0
    last_activity_point_at: datetime | None = None


@dataclass(frozen=True)
class CheckingInMember:
    """A member about to check in, registered if they were not: whether they were just
    added, whether a referral of theirs (as the invitee) is pending, and whether their
    lifecycle stage is at risk or churned (their first activity of a day wins them back)."""

    member: Member
    added: bool
    pending_referral: bool
    at_risk_or_churned: bool


@dataclass(frozen=True)
class LedgerEntry:
    community_id: int
    user_id: int
    amount: int
    kind: LedgerKind
    idempotency_key: str
    created_at: datetime
    reason: str | None = None
    actor_id: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """A moderator's award, deduction or revocation as the member sees it: `revoked_by` is
    the reversal of a revoked entry, `reverses` the entry a reversal revoked."""

    entry: LedgerEntry
    revoked_by: int | None = None
    reverses: int | None = None


@dataclass(frozen=True)
class PointsChange:
    """The outcome of one ledger entry on a member."""

    user_id: int
    display_name: str
    amount: int
    balance: int
    lifetime_earned: int
    tier_before: Tier
    tier_after: Tier
    entry_id: int | None = None

    @property
    def promoted(self) -> bool:
        return self.tier_after > self.tier_before


@dataclass(frozen=True)
class CheckinMark:
    """What a check-in records on the member beside its points."""

    streak: int
    day: date
    at: datetime


@dataclass(frozen=True)
class PointsTotals:
    """A member's balance, lifetime points and tier right after a change."""

    balance: int
    lifetime_earned: int
    tier: Tier


@dataclass(frozen=True)
class Booking:
    """A ledger entry written and its change applied: the entry's id, and the member's totals
    after it (None: the balance would have fallen below zero)."""

    entry_id: int
    totals: PointsTotals | None


@dataclass(frozen=True)
class CheckinBooking:
    """A check-in written with its ledger entry: whether it was the member's first activity
    of the day, and the entry's booking (None: its idempotency key was already used)."""

    first_activity: bool
    booking: Booking | None


@dataclass(frozen=True)
class QuotaUse:
    """Points a moderator (None: anonymous admins) awarded this month, revoked awards excluded."""

    actor_id: int | None
    display_name: str
    used: int


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    user_id: int
    display_name: str
    points: int


@dataclass(frozen=True)
class InviteLink:
    community_id: int
    user_id: int
    code: str
    url: str
    created_at: datetime


@dataclass(frozen=True)
class Referral:
    community_id: int
    invitee_id: int
    inviter_id: int | None
    status: ReferralStatus
    source: ReferralSource
    joined_at: datetime
    reason: RejectionReason | None = None
    qualified_at: datetime | None = None
    invitee_name: str = ""


@dataclass(frozen=True)
class ReferralCounts:
    invited: int
    pending: int
    qualified: int
    rejected: int


class CampaignKind(enum.StrEnum):
    CUSTOM = "custom"
    CHECKIN_POST = "checkin_post"
    WEEKLY_LEADERBOARD = "weekly_leaderboard"
    STREAK_REMINDER = "streak_reminder"


class CampaignStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DONE = "done"
    DELETED = "deleted"


class RunOutcome(enum.StrEnum):
    QUEUED = "queued"
    POSTED = "posted"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    MISSED = "missed"
    TEST = "test"


CHECKIN_BUTTON = "checkin"  # the action of a campaign button that checks the presser in


@dataclass(frozen=True)
class CampaignButton:
    text: str
    url: str | None = None
    action: str | None = None  # CHECKIN_BUTTON


@dataclass(frozen=True)
class Campaign:
    id: int
    community_id: int
    kind: CampaignKind
    schedule: str
    text: str
    status: CampaignStatus
    next_run_at: datetime | None
    grace_minutes: int = 60
    photo: str | None = None
    button: CampaignButton | None = None
    created_by: int | None = None


@dataclass(frozen=True)
class CampaignRun:
    campaign_id: int
    scheduled_at: datetime
    outcome: RunOutcome
    recorded_at: datetime
    detail: str | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    dedup_key: str
    attempts: int
    campaign_run_id: int | None = None


@dataclass(frozen=True)
class QueuedOriginal:
    """What became of a queued message that a later edit refers to (by its dedup key)."""

    chat_id: int
    status: str
    not_before: datetime
    sent_message_id: int | None


class OrderStatus(enum.StrEnum):
    PENDING = "pending"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"


@dataclass(frozen=True)
class NewItem:
    """An item as a moderator described it (/shop add), before it is put on sale."""

    title: str
    price: int
    stock: int
    min_tier: Tier = Tier.NEWCOMER
    member_limit: int | None = None
    asks_details: bool = False


@dataclass(frozen=True)
class ShopItem:
    """Something members can buy with points; `member_limit` None means no limit;
    `asks_details`: the buyer is asked privately for delivery details after a redemption."""

    id: int
    community_id: int
    title: str
    price: int
    stock: int
    min_tier: Tier = Tier.NEWCOMER
    member_limit: int | None = None
    active: bool = True
    asks_details: bool = False


@dataclass(frozen=True)
class ShopOrder:
    """An order; `details` is the buyer's answer to the item's delivery question
    (`details_wanted` while it is awaited); `rejecting_message_id` is the /orders message on
    which a rejection waits for its confirmation (its reason, if any, in `note`)."""

    id: int
    community_id: int
    item_id: int
    user_id: int
    title: str
    price: int
    status: OrderStatus
    created_at: datetime
    buyer_name: str = ""
    ledger_entry_id: int | None = None
    settled_at: datetime | None = None
    settled_by: int | None = None
    note: str | None = None
    details: str | None = None
    details_wanted: bool = False
    rejecting_message_id: int | None = None


class QuizSlotStatus(enum.StrEnum):
    """A session question's state: posted at most once, scored at most once."""

    PENDING = "pending"
    SENDING = "sending"  # claimed for posting; the result is recorded in a next transaction
    OPEN = "open"
    CLOSED = "closed"
    FAILED = "failed"  # Telegram refused it
    LOST = "lost"  # the bot stopped while posting it: not posted again


@dataclass(frozen=True)
class QuizQuestion:
    text: str
    options: tuple[str, ...]
    correct: tuple[int, ...]  # 0-based option indexes
    explanation: str | None = None
    topic: str | None = None
    difficulty: str | None = None
    id: int = 0


@dataclass(frozen=True)
class QuizSession:
    id: int
    community_id: int
    topic: str | None
    status: str
    open_period: int
    next_step_at: datetime | None
    created_by: int | None = None  # the moderator who started it; None when scheduled


@dataclass(frozen=True)
class QuizSlot:
    """One question of a session, and the poll that carries it once posted."""

    id: int
    session_id: int
    position: int
    question: QuizQuestion
    status: QuizSlotStatus
    poll_id: str | None = None
    message_id: int | None = None
    claimed_at: datetime | None = None
    closes_at: datetime | None = None


@dataclass(frozen=True)
class QuizAnswer:
    id: int
    slot_id: int
    user_id: int
    correct: bool
    on_time: bool


class QuizImportStatus(enum.StrEnum):
    PENDING = "pending"
    WORKING = "working"  # claimed until its due_at; a later claim takes it over
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class QuizImport:
    """A /quiz import claimed for carrying out: `attempt` is the claim's number, which the
    step that finishes it must still hold."""

    id: int
    community_id: int
    command_message_id: int
    thread_id: int | None
    file_id: str
    file_name: str | None
    file_size: int | None
    attempt: int
    created_by: int | None
    # Answered in this private chat (a command from the moderation console), not the group.
    answer_chat_id: int | None = None


@dataclass(frozen=True)
class QuizSchedule:
    id: int
    community_id: int
    schedule: str
    count: int
    topic: str | None
    status: str
    next_run_at: datetime | None


class Stage(enum.StrEnum):
    """A member's lifecycle stage."""

    NEW = "new"
    ACTIVE = "active"
    LOYAL = "loyal"
    AT_RISK = "at_risk"
    CHURNED = "churned"
    WON_BACK = "won_back"


@dataclass(frozen=True)
class LifecycleEntry:
    """A member as the lifecycle lists show them."""

    user_id: int
    display_name: str
    stage: Stage
    usual_gap_days: float | None
    last_active_day: date | None
    lifetime_points: int
    referrals: int
    key_since: date | None


@dataclass(frozen=True)
class WeekNumbers:
    """One week of a community, for the moderators' digest."""

    new_members: int
    left_members: int
    active_members: int
    checkins: int
    points_issued: int
    new_key_members: int
    at_risk: int
