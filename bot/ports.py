"""The few Protocols the services, handlers and runtime need; storage/ and bot/app.py provide
the implementations."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any, Protocol

from bot.domain.care import (
    BirthdayCandidate,
    CareSettings,
    Survey,
    SurveyKind,
    SurveySchedule,
    SurveyStatus,
)
from bot.domain.insights import (
    ActivityDay,
    ActivityTotals,
    JoinDayRetention,
    LedgerDayKind,
    MembershipDay,
)
from bot.domain.lotteries import Lottery, LotteryEntry, LotteryStatus, LotteryWinner, Ticket
from bot.domain.models import (
    Activity,
    Badge,
    Campaign,
    CampaignKind,
    CampaignRun,
    CampaignStatus,
    CheckinMark,
    Community,
    InviteLink,
    LeaderboardRow,
    LedgerEntry,
    LifecycleEntry,
    LifecycleRules,
    Member,
    OrderStatus,
    OutgoingMessage,
    PointsTotals,
    QueuedOriginal,
    QuizAnswer,
    QuizImport,
    QuizImportStatus,
    QuizQuestion,
    QuizSchedule,
    QuizSession,
    QuizSlot,
    QuizSlotStatus,
    QuotaUse,
    Referral,
    ReferralCounts,
    ReferralSource,
    ReferralStatus,
    RejectionReason,
    RunOutcome,
    ShopItem,
    ShopOrder,
    Stage,
    Tier,
    UserInfo,
    WeekNumbers,
)
from bot.domain.rewards import OneTimeReward
from bot.domain.tickets import (
    FeedbackTicket,
    TicketEvent,
    TicketKind,
    TicketStats,
    TicketStatus,
)


class Clock(Protocol):
    """The source of the current time (timezone-aware, UTC)."""

    def now(self) -> datetime: ...


class CommunityRepository(Protocol):
    async def get(self, community_id: int) -> Community | None: ...
    async def add(self, community: Community, now: datetime) -> None: ...
    async def set_language(self, community_id: int, language: str) -> None: ...
    async def set_title(self, community_id: int, title: str) -> None: ...
    async def set_timezone(self, community_id: int, timezone: str) -> None: ...
    async def save_settings(self, community: Community) -> None: ...
    async def set_public_code(self, community_id: int, code: str) -> None: ...
    async def by_public_code(self, code: str) -> Community | None: ...


class UserRepository(Protocol):
    async def upsert(self, user: UserInfo) -> None: ...
    async def get(self, user_id: int) -> UserInfo | None: ...
    async def find_by_username(self, username: str) -> UserInfo | None: ...
    async def set_can_message(self, user_id: int, can_message: bool) -> None: ...
    async def can_message(self, user_id: int) -> bool: ...


class MemberRepository(Protocol):
    async def get(self, community_id: int, user_id: int) -> Member | None: ...
    async def get_for_checkin(self, community_id: int, user_id: int) -> tuple[Member, bool] | None:
        """The member, and whether a referral of theirs (as the invitee) is pending."""
        ...

    async def add(
        self,
        community_id: int,
        user_id: int,
        now: datetime,
        *,
        joined: bool,
        display_name: str | None = None,
    ) -> Member:
        """Adds the member unless present; the stored member either way (`display_name`, the
        user's stored first name, saves reading it back)."""
        ...

    async def mark_joined(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def mark_left(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def touch(self, community_id: int, user_id: int, now: datetime) -> None: ...
    async def apply_points(
        self,
        community_id: int,
        user_id: int,
        amount: int,
        lifetime_change: int,
        checkin: CheckinMark | None = None,
    ) -> PointsTotals | None:
        """Adds to the balance and lifetime points in one statement (with `checkin`, also
        the check-in's streak, day and activity); None (and no change) when the member is
        unknown or the balance would go below 0."""
        ...

    async def raise_tier(self, community_id: int, user_id: int, tier: Tier) -> None:
        """Sets the tier only if it is higher than the stored one."""
        ...

    async def lower_tier(self, community_id: int, user_id: int, tier: Tier) -> None:
        """Sets the tier only if it is lower than the stored one (a revoked award)."""
        ...

    async def lock(self, community_id: int, user_id: int) -> None:
        """Holds the member's row until the transaction ends (SELECT ... FOR UPDATE)."""
        ...

    async def record_checkin_streak(
        self, community_id: int, user_id: int, streak: int, day: date
    ) -> None: ...
    async def record_activity_point(
        self, community_id: int, user_id: int, day: date, count_today: int, at: datetime
    ) -> None: ...
    async def set_welcome_due(
        self, community_id: int, user_id: int, due: datetime | None
    ) -> None: ...
    async def communities_with_welcomes_due(self, now: datetime) -> Sequence[int]: ...
    async def take_pending_welcomes(self, community_id: int) -> Sequence[tuple[int, str]]: ...
    async def communities_of(self, user_id: int) -> Sequence[Community]: ...
    async def count_current(self, community_id: int) -> int: ...
    async def reminder_candidates(
        self, community_id: int, yesterday: date, min_streak: int
    ) -> Sequence[tuple[int, str, int]]:
        """Reachable members whose streak of at least `min_streak` days ended yesterday."""
        ...

    async def last_checkins_since(
        self, community_id: int, since: date
    ) -> Sequence[tuple[int, date, datetime, int]]:
        """(user id, last check-in day, when that check-in happened, streak) of the members
        whose last check-in day is `since` or later."""
        ...

    async def rank_by_lifetime(self, community_id: int, user_id: int) -> int: ...
    async def top_by_lifetime(self, community_id: int, limit: int) -> Sequence[LeaderboardRow]: ...
    async def count_by_tier(self, community_id: int) -> dict[Tier, int]: ...


class CheckinRepository(Protocol):
    async def add(
        self, community_id: int, user_id: int, day: date, streak: int, points: int, at: datetime
    ) -> bool:
        """Insert the check-in; False if that member already checked in on that day."""
        ...


class LedgerRepository(Protocol):
    async def add(self, entry: LedgerEntry) -> int | None:
        """Append the entry; its id, or None if its idempotency key was already used."""
        ...

    async def get(self, entry_id: int) -> LedgerEntry | None: ...
    async def has_key(self, idempotency_key: str) -> bool: ...
    async def awards_since(self, community_id: int, since: datetime) -> Sequence[QuotaUse]:
        """Points per moderator since `since` of the kinds their quota counts (awards, ticket
        rewards), revoked awards excluded, most first."""
        ...

    async def recent_moderation(
        self, community_id: int, user_id: int, limit: int
    ) -> Sequence[LedgerEntry]:
        """The member's latest awards and deductions, newest first."""
        ...

    async def top_earners_since(
        self, community_id: int, since: datetime, limit: int, until: datetime | None = None
    ) -> Sequence[LeaderboardRow]: ...


class BadgeRepository(Protocol):
    async def grant(self, community_id: int, user_id: int, badge: Badge, now: datetime) -> bool: ...
    async def revoke(self, community_id: int, user_id: int, badge: Badge) -> bool: ...
    async def of_member(self, community_id: int, user_id: int) -> frozenset[Badge]: ...
    async def count_by_badge(self, community_id: int) -> dict[Badge, int]: ...


class AuditRepository(Protocol):
    async def add(
        self,
        community_id: int,
        actor_id: int | None,
        action: str,
        target_user_id: int | None,
        detail: str,
        now: datetime,
    ) -> None: ...


class InviteLinkRepository(Protocol):
    async def active_for(self, community_id: int, user_id: int) -> InviteLink | None: ...
    async def add(self, link: InviteLink) -> None: ...
    async def revoke(self, code: str, now: datetime) -> None: ...
    async def by_code(self, code: str) -> InviteLink | None: ...
    async def by_url(self, community_id: int, url: str) -> InviteLink | None: ...


class ReferralRepository(Protocol):
    async def get(self, community_id: int, invitee_id: int) -> Referral | None: ...
    async def add(self, referral: Referral, due_at: datetime | None) -> bool: ...
    async def settle(
        self,
        community_id: int,
        invitee_id: int,
        status: ReferralStatus,
        reason: RejectionReason | None,
        at: datetime,
    ) -> bool: ...
    async def set_due(self, community_id: int, invitee_id: int, due: datetime | None) -> None: ...
    async def due(
        self, now: datetime, limit: int, community_id: int | None = None
    ) -> Sequence[Referral]: ...
    async def communities_due(self, now: datetime) -> Sequence[int]: ...
    async def qualified_since(self, community_id: int, inviter_id: int, since: datetime) -> int: ...
    async def counts_for(self, community_id: int, inviter_id: int) -> ReferralCounts: ...
    async def list_for_inviter(
        self, community_id: int, inviter_id: int, limit: int
    ) -> Sequence[Referral]: ...
    async def top_inviters(
        self, community_id: int, since: datetime | None, limit: int
    ) -> Sequence[LeaderboardRow]: ...
    async def remember(
        self,
        community_id: int,
        invitee_id: int,
        inviter_id: int,
        source: ReferralSource,
        now: datetime,
    ) -> None: ...
    async def remembered(
        self, community_id: int, invitee_id: int
    ) -> tuple[int, ReferralSource, datetime] | None: ...


class CampaignRepository(Protocol):
    async def add(self, campaign: Campaign, now: datetime) -> int: ...
    async def get(self, community_id: int, campaign_id: int) -> Campaign | None: ...
    async def by_id(self, campaign_id: int) -> Campaign | None: ...
    async def of_community(self, community_id: int) -> Sequence[Campaign]: ...
    async def builtin(self, community_id: int, kind: CampaignKind) -> Campaign | None: ...
    async def set_state(
        self, campaign_id: int, status: CampaignStatus, next_run_at: datetime | None
    ) -> None: ...
    async def set_grace(self, campaign_id: int, minutes: int) -> None: ...
    async def due(
        self, now: datetime, limit: int, community_id: int | None = None
    ) -> Sequence[Campaign]: ...
    async def communities_due(self, now: datetime) -> Sequence[int]: ...
    async def scheduled(self) -> Sequence[Campaign]: ...
    async def record_run(
        self,
        campaign_id: int,
        scheduled_at: datetime,
        outcome: RunOutcome,
        detail: str | None,
        now: datetime,
    ) -> int | None:
        """The new run's id; None when that run was already recorded."""
        ...

    async def settle_run(
        self, run_id: int, outcome: RunOutcome, detail: str | None, now: datetime
    ) -> None: ...
    async def recent_runs(self, campaign_id: int, limit: int) -> Sequence[CampaignRun]: ...


# A queued message's status (OutgoingQueue.finish), and the error recorded for the messages
# a stopped sender was sending.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
BLOCKED = "blocked"
UNCERTAIN = "uncertain"
INTERRUPTED = "the sender stopped while sending"


class OutgoingQueue(Protocol):
    """Messages the bot sends on its own; sent later, paced, each at most once."""

    async def enqueue(
        self,
        chat_id: int,
        kind: str,
        payload: dict[str, Any],
        dedup_key: str,
        not_before: datetime,
        now: datetime,
        *,
        campaign_run_id: int | None = None,
    ) -> bool: ...
    async def is_blocked(self, chat_id: int) -> bool: ...
    async def unblock(self, chat_id: int) -> None: ...

    # The sender's side (runtime/sender.py).
    async def due(
        self,
        now: datetime,
        limit: int,
        *,
        skip_chats: Collection[int] = (),
        per_chat: int = 1,
    ) -> Sequence[OutgoingMessage]: ...
    async def chats_with_due(self, now: datetime, among: Collection[int]) -> Sequence[int]: ...
    async def claim(self, message_id: int) -> bool: ...
    async def finish(
        self,
        message_id: int,
        status: str,
        now: datetime,
        error: str | None = None,
        *,
        sent_message_id: int | None = None,
    ) -> None: ...
    async def original(self, dedup_key: str) -> QueuedOriginal | None: ...
    async def retry_later(self, message_id: int, not_before: datetime, error: str) -> None: ...
    async def abandon_interrupted(self) -> int: ...
    async def settle_run_by_messages(
        self, run_id: int, detail: str | None, now: datetime
    ) -> None: ...
    async def block(self, chat_id: int, reason: str, now: datetime) -> None: ...


class ChatMoveRepository(Protocol):
    async def move_community(self, old_id: int, new_id: int) -> bool:
        """Moves a community and all its data to another chat id; False if nothing to move."""
        ...


class MembershipChecker(Protocol):
    """Asks Telegram whether a user is in a group right now; called outside transactions."""

    async def is_member(self, community_id: int, user_id: int) -> bool | None:
        """True or False; None when Telegram could not tell (try again later)."""
        ...


class ProcessedUpdateRepository(Protocol):
    """Which updates took effect, claimed in the same transaction as their effects."""

    async def claim(self, bot_id: int, update_id: int, now: datetime) -> bool: ...
    async def claim_many(self, bot_id: int, update_ids: Iterable[int], now: datetime) -> set[int]:
        """The ids newly claimed (those not handled before)."""
        ...

    async def remember_answers(
        self, bot_id: int, answers: Mapping[int, dict[str, Any]]
    ) -> None: ...
    async def answers(self, bot_id: int, update_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The answers remembered for those handled button presses."""
        ...

    async def release(self, bot_id: int, update_id: int) -> None: ...
    async def forget_before(self, cutoff: datetime) -> None: ...


class DeadLetterRepository(Protocol):
    """Updates that failed for a non-transient reason (a bug), kept for a replay after a fix."""

    async def add(
        self, bot_id: int, update_id: int, payload: dict[str, Any], error: str, now: datetime
    ) -> None: ...
    async def mark_replayed(self, bot_id: int, update_id: int, now: datetime) -> bool: ...
    async def discard(self, bot_id: int, update_id: int) -> bool: ...
    async def discard_before(self, bot_id: int, cutoff: datetime) -> int: ...


class InviteLinkIssuer(Protocol):
    """Creates and revokes a community's invite links (the Bot API, in production)."""

    async def create(self, community_id: int, name: str) -> str: ...
    async def revoke(self, community_id: int, url: str) -> None: ...


class LotteryRepository(Protocol):
    """Lotteries, their entries and their draws (storage/lotteries.py)."""

    async def add(self, lottery: Lottery) -> int: ...
    async def get(self, community_id: int, lottery_id: int) -> Lottery | None: ...
    async def of_community(self, community_id: int, limit: int) -> Sequence[Lottery]: ...
    async def due(self, now: datetime, community_id: int) -> Sequence[Lottery]: ...
    async def communities_due(self, now: datetime) -> Sequence[int]: ...
    async def repeats_due(self, now: datetime, community_id: int) -> Sequence[Lottery]: ...
    async def set_repeat(
        self,
        lottery_id: int,
        schedule: str | None,
        next_at: datetime | None,
        expected_next_at: datetime | None = None,
    ) -> bool: ...
    async def change_status(
        self, lottery_id: int, before: LotteryStatus, after: LotteryStatus, now: datetime
    ) -> bool:
        """A conditional UPDATE: True for the one caller that moved it from `before`."""
        ...

    async def record_draw(
        self, lottery_id: int, entries_count: int, entries_hash: str, entries_text: str
    ) -> None: ...
    async def take_pick(self, lottery_id: int, expected: int) -> bool: ...
    async def entries_of(self, lottery_id: int, user_id: int) -> int: ...
    async def count_entries(self, lottery_id: int) -> tuple[int, int]: ...
    async def add_entry(
        self, lottery_id: int, user_id: int, number: int, cost: int, now: datetime
    ) -> bool: ...
    async def entries(self, lottery_id: int) -> Sequence[LotteryEntry]: ...
    async def mark_refunded(
        self, lottery_id: int, user_id: int, number: int, now: datetime
    ) -> bool: ...
    async def tickets_of_members(self, lottery_id: int, community_id: int) -> Sequence[Ticket]: ...
    async def add_winner(self, lottery_id: int, pick: int, ticket: Ticket) -> bool: ...
    async def winners(self, lottery_id: int) -> Sequence[LotteryWinner]: ...
    async def replace_winner(self, lottery_id: int, pick: int, now: datetime) -> bool: ...
    async def draft(
        self, community_id: int, user_id: int
    ) -> tuple[dict[str, Any], datetime] | None: ...
    async def save_draft(
        self, community_id: int, user_id: int, data: dict[str, Any], now: datetime
    ) -> None: ...
    async def drop_draft(self, community_id: int, user_id: int) -> None: ...


class QuizRepository(Protocol):
    """Question banks, quiz sessions with their polls, and members' answers."""

    async def add_question(self, community_id: int, question: QuizQuestion, now: datetime) -> bool:
        """False when the community's bank holds that question already."""
        ...

    async def add_questions(
        self, community_id: int, questions: Sequence[QuizQuestion], now: datetime
    ) -> int:
        """Those the bank does not hold yet added; how many."""
        ...

    async def count_questions(self, community_id: int, topic: str | None) -> int: ...
    async def pick_questions(
        self, community_id: int, topic: str | None, count: int, now: datetime
    ) -> Sequence[QuizQuestion]:
        """The questions seen least recently (never first), marked as used now."""
        ...

    async def running_session(self, community_id: int) -> QuizSession | None: ...
    async def add_session(
        self,
        community_id: int,
        topic: str | None,
        open_period: int,
        question_ids: Sequence[int],
        actor_id: int | None,
        now: datetime,
    ) -> int: ...
    async def due_sessions(self, now: datetime, limit: int) -> Sequence[QuizSession]: ...
    async def next_steps(self) -> Sequence[tuple[int, datetime]]:
        """(session id, when its next step is due) of the running sessions."""
        ...

    async def set_next_step(self, session_id: int, at: datetime | None) -> None: ...
    async def finish_session(self, session_id: int, status: str) -> bool:
        """Ends a running session; False when it was not running (ended once)."""
        ...

    async def slots(self, session_id: int) -> Sequence[QuizSlot]: ...
    async def move_slot(
        self,
        slot_id: int,
        expected: QuizSlotStatus,
        status: QuizSlotStatus,
        *,
        claimed_at: datetime | None = None,
        poll_id: str | None = None,
        message_id: int | None = None,
        closes_at: datetime | None = None,
    ) -> bool:
        """Changes the slot's status only from `expected` (its exactly-once claim)."""
        ...

    async def slot_by_poll(self, poll_id: str) -> tuple[QuizSlot, int] | None:
        """The slot carrying that poll, and its community."""
        ...

    async def add_answer(
        self,
        slot_id: int,
        community_id: int,
        user_id: int,
        option_ids: Sequence[int],
        correct: bool,
        on_time: bool,
        now: datetime,
    ) -> bool:
        """False when the member had answered that question already."""
        ...

    async def answers(self, slot_id: int) -> Sequence[QuizAnswer]:
        """Those of the community's current members, in the order they came."""
        ...

    async def poll_communities(self, poll_ids: Sequence[str]) -> dict[str, int]:
        """The community of each of these polls that is one of ours."""
        ...

    async def with_member_rows(self, pairs: Sequence[tuple[int, int]]) -> set[tuple[int, int]]:
        """The (community id, user id) pairs that have a member row, present or gone."""
        ...

    async def set_points(self, answer_id: int, points: int) -> None: ...
    async def session_scores(self, session_id: int, limit: int) -> Sequence[LeaderboardRow]: ...
    async def top_scorers(self, community_id: int, limit: int) -> Sequence[LeaderboardRow]: ...
    async def add_schedule(
        self, schedule: QuizSchedule, actor_id: int | None, now: datetime
    ) -> int: ...
    async def schedules_of(self, community_id: int) -> Sequence[QuizSchedule]:
        """The active ones, soonest first."""
        ...

    async def get_schedule(self, community_id: int, schedule_id: int) -> QuizSchedule | None: ...
    async def set_schedule(
        self, schedule_id: int, status: str, next_run_at: datetime | None
    ) -> None: ...
    async def due_schedules(self, now: datetime, limit: int) -> Sequence[QuizSchedule]: ...
    async def add_import(self, request: QuizImport, now: datetime) -> bool:
        """A pending import, due now; False when that command was stored already."""
        ...

    async def claim_import(self, now: datetime, lease_until: datetime) -> QuizImport | None:
        """The next pending import, or a working one whose claim ran out, claimed until
        `lease_until` (its attempt counted)."""
        ...

    async def retry_import(self, claim: QuizImport, due_at: datetime) -> bool:
        """Back to pending until `due_at`; False when the claim is no longer this one."""
        ...

    async def finish_import(
        self, claim: QuizImport, status: QuizImportStatus, now: datetime
    ) -> bool:
        """Done or failed; False when the claim is no longer this one (nothing to do)."""
        ...


class QuizFileSource(Protocol):
    """Question files as Telegram holds them; called with no transaction open."""

    async def fetch(self, file_id: str, limit: int) -> bytes:
        """The file's content; QuizFileTooLarge past `limit` bytes (checked before and
        while downloading), QuizFileNotReady when Telegram refuses it for good, anything
        else for a failure worth another try."""
        ...


class QuizPollSender(Protocol):
    """Posts a quiz poll (the Bot API, in production); called with no transaction open."""

    async def send_quiz(
        self, chat_id: int, question: QuizQuestion, open_period: int
    ) -> tuple[int, str]:
        """(message id, poll id)."""
        ...


class UnitOfWork(Protocol):
    """One transaction; repositories share it and never commit on their own."""

    @property
    def communities(self) -> CommunityRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def members(self) -> MemberRepository: ...

    @property
    def checkins(self) -> CheckinRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def badges(self) -> BadgeRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def invite_links(self) -> InviteLinkRepository: ...

    @property
    def referrals(self) -> ReferralRepository: ...

    @property
    def campaigns(self) -> CampaignRepository: ...

    @property
    def outgoing(self) -> OutgoingQueue: ...

    @property
    def chat_moves(self) -> ChatMoveRepository: ...

    @property
    def processed_updates(self) -> ProcessedUpdateRepository: ...

    @property
    def dead_letters(self) -> DeadLetterRepository: ...

    @property
    def shop(self) -> ShopRepository: ...

    @property
    def lotteries(self) -> LotteryRepository: ...

    @property
    def quizzes(self) -> QuizRepository: ...

    @property
    def privacy(self) -> PrivacyRepository: ...

    @property
    def activity(self) -> ActivityRepository: ...

    @property
    def lifecycle(self) -> LifecycleRepository: ...

    @property
    def tickets(self) -> TicketRepository: ...

    @property
    def insights(self) -> InsightsRepository: ...

    @property
    def surveys(self) -> SurveyRepository: ...

    @property
    def birthdays(self) -> BirthdayRepository: ...

    @property
    def reward_memory(self) -> RewardMemory: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A SAVEPOINT inside the transaction: an exception in the block undoes only the
        block's work, and the transaction goes on."""
        ...


class UnitOfWorkFactory(Protocol):
    """Opens a unit of work: one transaction, committed when the block ends normally and
    rolled back on an exception (storage.uow.unit_of_work, bound by bot/app.py)."""

    def __call__(
        self, *, read_only: bool = False, driver_savepoints: bool = True
    ) -> AbstractAsyncContextManager[UnitOfWork]:
        """`read_only`: no write lock (SQLite), and every write refused. `driver_savepoints`
        off: SQLAlchemy's own savepoints (see SavepointsUnavailable)."""
        ...


transaction_open: ContextVar[bool] = ContextVar("transaction_open", default=False)
"""True while this task holds a database transaction open: no Bot API call may be made then
(the test suite fails any that is)."""


class SavepointsUnavailable(Exception):
    """An ORM flush failed inside a savepoint issued on the driver connection, and SQLAlchemy
    rolled the whole transaction back: the batch must run again with SQLAlchemy's own
    savepoints, which contain such a failure."""


class ShopRepository(Protocol):
    """The points shop's items and orders."""

    async def add_item(self, item: ShopItem, actor_id: int | None, now: datetime) -> int: ...
    async def item(self, community_id: int, item_id: int) -> ShopItem | None: ...
    async def items(self, community_id: int) -> Sequence[ShopItem]:
        """The items on sale (not removed), oldest first."""
        ...

    async def update_item(self, community_id: int, item_id: int, **values: Any) -> bool:
        """Changes the given columns of an item on sale; False when there is none."""
        ...

    async def take_one(self, community_id: int, item_id: int) -> int | None:
        """Stock minus one, only while it is above 0 and the item is on sale (one conditional
        UPDATE); the stock left, or None when there was none."""
        ...

    async def put_back(self, community_id: int, item_id: int) -> None: ...
    async def add_order(self, order: ShopOrder, request_key: str) -> int | None:
        """The new order's id; None when an order with that request key exists."""
        ...

    async def order(self, community_id: int, order_id: int) -> ShopOrder | None: ...
    async def order_by_key(self, request_key: str) -> ShopOrder | None: ...
    async def orders_of_item(self, community_id: int, item_id: int, user_id: int) -> int:
        """How many orders, not rejected, the member placed for the item."""
        ...

    async def last_order_at(
        self, community_id: int, item_id: int, user_id: int
    ) -> datetime | None: ...
    async def settle_order(
        self,
        community_id: int,
        order_id: int,
        status: OrderStatus,
        actor_id: int | None,
        note: str | None,
        now: datetime,
    ) -> bool:
        """Pending -> `status` (a conditional UPDATE); False when it was not pending."""
        ...

    async def orders(
        self,
        community_id: int,
        limit: int,
        *,
        user_id: int | None = None,
        status: OrderStatus | None = None,
    ) -> Sequence[ShopOrder]:
        """Orders, newest first, with the buyer's name."""
        ...


class PrivacyRepository(Protocol):
    async def export_user(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Every feature's stored rows about the user, by section (storage.privacy.PARTS)."""
        ...

    async def community_rows(
        self, community_id: int, kind: str, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """members|ledger|checkins|referrals of a group: header and rows, oldest first."""
        ...

    async def erase_user(self, user_id: int) -> dict[str, int]:
        """/forgetme: the user's rows deleted or anonymized, part by part; rows changed by
        section (storage.privacy.PARTS)."""
        ...


class ActivityRepository(Protocol):
    """Activity per member per local day, the raw record behind community metrics (joins and
    leaves are recorded as membership_events by the members repository)."""

    async def note(self, community_id: int, user_id: int, day: date, activity: Activity) -> bool:
        """Counts one activity of the member on their community's local `day`; True when it
        is their first of that day."""
        ...


class LifecycleRepository(Protocol):
    """Members' lifecycle stages, judged in bulk in the database; win-backs once per at-risk
    episode; claims of the daily and weekly work."""

    async def claim(self, community_id: int, kind: str, period: date, now: datetime) -> bool:
        """True for the one caller that claims the community's work of `kind` for `period`."""
        ...

    async def is_claimed(self, community_id: int, kind: str, period: date) -> bool: ...

    async def take_over(
        self, community_id: int, kind: str, period: date, stale_before: datetime, now: datetime
    ) -> bool:
        """True for the one caller that takes over a claim older than `stale_before`."""
        ...

    async def chunk_end(self, community_id: int, after_user: int, size: int) -> int | None:
        """The user id ending the next chunk of `size` members after `after_user`."""
        ...

    async def judge(
        self,
        community_id: int,
        rules: LifecycleRules,
        today: date,
        now: datetime,
        users: tuple[int, int],
    ) -> None:
        """The stage as of the local `today` of each member with a user id in the range."""
        ...

    async def key_changes(
        self, community_id: int, rules: LifecycleRules, now: datetime
    ) -> tuple[Sequence[int], Sequence[int]]:
        """(members who became key members, members who ceased to be)."""
        ...

    async def change_key_members(
        self, community_id: int, became: Sequence[int], ceased: Sequence[int], today: date
    ) -> None: ...

    async def note_return(self, community_id: int, user_id: int, day: date) -> None:
        """The member is active on `day`: an at-risk or churned member is won back."""
        ...

    async def start_winbacks(
        self,
        community_id: int,
        today: date,
        deadline: date,
        now: datetime,
        users: tuple[int, int],
    ) -> Sequence[tuple[int, date]]:
        """A win-back recorded for each reachable at-risk member in the user id range whose
        episode has none."""
        ...

    async def winback_rate(self, community_id: int, since: datetime) -> tuple[int, int]:
        """(win-backs sent since then, those whose member came back by the deadline)."""
        ...

    async def at_risk(self, community_id: int, limit: int) -> Sequence[LifecycleEntry]: ...
    async def key_members(self, community_id: int, limit: int) -> Sequence[LifecycleEntry]: ...
    async def unnoticed_key_members(self, community_id: int) -> Sequence[LifecycleEntry]: ...
    async def mark_key_noticed(self, community_id: int, user_ids: Sequence[int]) -> None: ...
    async def week_numbers(
        self, community_id: int, start: date, start_at: datetime, end_at: datetime
    ) -> WeekNumbers: ...
    async def community_ids(self) -> Sequence[int]: ...
    async def stage_of(self, community_id: int, user_id: int) -> Stage | None: ...


class ModeratorList(Protocol):
    """A group's administrators as Telegram lists them; called outside transactions."""

    async def moderators(self, community_id: int) -> Sequence[int] | None:
        """Their user ids (bots left out); None when Telegram could not tell."""
        ...


class TicketRepository(Protocol):
    """Feedback tickets and their history (bot.domain.tickets)."""

    async def add(self, ticket: FeedbackTicket, request_key: str) -> FeedbackTicket | None:
        """Files the ticket under the community's next number; None when a ticket with that
        request key exists (a redelivered update, a second press)."""
        ...

    async def by_key(self, request_key: str) -> FeedbackTicket | None: ...
    async def get(self, community_id: int, number: int) -> FeedbackTicket | None: ...
    async def filed_since(self, community_id: int, user_id: int, since: datetime) -> int: ...
    async def move(
        self,
        ticket_id: int,
        status: TicketStatus,
        from_statuses: Collection[TicketStatus],
        now: datetime,
        *,
        note: str | None = None,
        merged_into: int | None = None,
    ) -> bool:
        """The status changes only while it is one of `from_statuses` (one conditional
        UPDATE, so that two moderators acting at once change it once); the first answer's
        time is set if it was not. False when nothing changed."""
        ...

    async def mark_answered(self, ticket_id: int, now: datetime) -> None:
        """Sets the first answer's time unless it is set."""
        ...

    async def repoint_duplicates(self, community_id: int, number: int, into: int) -> None:
        """Duplicates merged into ticket `number` now point to ticket `into`."""
        ...

    async def duplicates(self, community_id: int, number: int) -> Sequence[FeedbackTicket]:
        """The tickets merged into ticket `number`."""
        ...

    async def add_event(self, event: TicketEvent) -> None: ...
    async def events(self, ticket_id: int) -> Sequence[TicketEvent]: ...
    async def listing(
        self,
        community_id: int,
        limit: int,
        *,
        statuses: Collection[TicketStatus] | None = None,
        kind: TicketKind | None = None,
    ) -> Sequence[FeedbackTicket]:
        """Tickets, newest first, with the reporter's name."""
        ...

    async def of_user(
        self, user_id: int, community_id: int | None, limit: int
    ) -> Sequence[tuple[FeedbackTicket, str]]:
        """A reporter's tickets, newest first, with their group's title."""
        ...

    async def ticket_stats(self, community_id: int, since: datetime) -> TicketStats:
        """Tickets filed since `since`: counts by kind and status, median time to the first
        answer, accepted rate."""
        ...


class InsightsRepository(Protocol):
    """Community metrics aggregated in SQL from the raw records: a few rows per local day or
    per kind, never a row per member (storage/insights.py). `zone` is the community's
    timezone; `since` a UTC instant (the period's first local midnight), `until` now."""

    async def membership_days(
        self, community_id: int, zone: str, since: datetime, until: datetime
    ) -> Sequence[MembershipDay]:
        """Join and leave events per local day."""
        ...

    async def activity_days(
        self, community_id: int, first: date, last: date
    ) -> Sequence[ActivityDay]:
        """Per day: the members with an activity day, and those who checked in."""
        ...

    async def activity_totals(
        self, community_id: int, first: date, last: date, week_from: date, month_from: date
    ) -> ActivityTotals:
        """One pass over the members' activity days (grouped by member)."""
        ...

    async def join_day_retention(
        self,
        community_id: int,
        zone: str,
        since: datetime,
        until: datetime,
        after_days: Sequence[int],
    ) -> Sequence[JoinDayRetention]: ...
    async def referral_statuses(self, community_id: int, since: datetime) -> dict[str, int]:
        """Referrals by status among those whose invitee joined since then."""
        ...

    async def ledger_days(
        self, community_id: int, zone: str, since: datetime, until: datetime
    ) -> Sequence[LedgerDayKind]:
        """Points issued and spent per local day and ledger kind."""
        ...

    async def kept_ledger_days(
        self, community_id: int, zone: str, first: date, last: date
    ) -> tuple[set[date], Sequence[LedgerDayKind]]:
        """The daily ledger aggregates kept for ended days: the days covered, their rows."""
        ...

    async def keep_ledger_days(
        self, community_id: int, zone: str, days: Sequence[date], rows: Sequence[LedgerDayKind]
    ) -> None: ...


class SurveyRepository(Protocol):
    """Satisfaction surveys, their answers and schedules, and the community's survey and
    birthday settings."""

    async def settings(self, community_id: int) -> CareSettings: ...
    async def save_settings(self, community_id: int, settings: CareSettings) -> None: ...
    async def add(self, survey: Survey, actor_id: int | None) -> int: ...
    async def get(self, community_id: int, survey_id: int) -> Survey | None: ...
    async def recent(self, community_id: int, limit: int) -> Sequence[Survey]: ...
    async def answer(
        self, survey_id: int, community_id: int, user_id: int, score: int, now: datetime
    ) -> bool:
        """Stores the member's answer, replacing an earlier one; True for a first answer."""
        ...

    async def scores(self, survey_id: int) -> Sequence[int]: ...
    async def count_answers(self, survey_id: int) -> int: ...
    async def communities_due(self, now: datetime) -> Sequence[int]:
        """Communities with a survey to close or a scheduled survey to open."""
        ...

    async def due(self, community_id: int, now: datetime, limit: int) -> Sequence[Survey]: ...
    async def close(
        self,
        survey_id: int,
        status: SurveyStatus,
        answer_count: int,
        score_hundredths: int | None,
        now: datetime,
    ) -> bool:
        """Closes or cancels an open survey (a conditional update): True once."""
        ...

    async def closed_before(
        self, community_id: int, kind: SurveyKind, survey_id: int
    ) -> Survey | None: ...
    async def survey_trend(
        self, community_id: int, kind: SurveyKind, limit: int
    ) -> Sequence[Survey]:
        """The latest closed surveys of a kind, newest first (for /stats)."""
        ...

    async def add_schedule(
        self, planned: SurveySchedule, actor_id: int | None, now: datetime
    ) -> int: ...
    async def schedules_of(self, community_id: int) -> Sequence[SurveySchedule]: ...
    async def get_schedule(self, community_id: int, schedule_id: int) -> SurveySchedule | None: ...
    async def due_schedules(
        self, community_id: int, now: datetime, limit: int
    ) -> Sequence[SurveySchedule]: ...
    async def move_schedule(
        self,
        schedule_id: int,
        expected_next: datetime | None,
        status: str,
        next_run_at: datetime | None,
    ) -> bool:
        """Moves a schedule on from the moment it was read at: False when another worker
        did it first."""
        ...


class BirthdayRepository(Protocol):
    """Users' birthdays (month and day only) and the once-a-year greeting claims."""

    async def save(self, user_id: int, month: int, day: int, now: datetime) -> None: ...
    async def remove(self, user_id: int) -> bool: ...
    async def get(self, user_id: int) -> tuple[int, int] | None: ...
    async def candidates(self, days: Collection[tuple[int, int]]) -> Sequence[BirthdayCandidate]:
        """Members still in their group whose birthday is one of the month-days."""
        ...

    async def greeted(
        self, user_ids: Collection[int], years: Collection[int]
    ) -> set[tuple[int, int, int]]: ...
    async def claim(
        self, community_id: int, user_id: int, year: int, gift: int, now: datetime
    ) -> bool:
        """The member's greeting in that community for that year: True once, ever."""
        ...


RewardKey = tuple[int, int, str]  # (community id, user id, occasion)


class RewardMemory(Protocol):
    """One-time rewards already given, kept through /forgetme under a keyed hash of the user
    id (never the id itself): a forgotten member who comes back is not rewarded again."""

    async def remember(
        self, reward: OneTimeReward, community_id: int, user_id: int, occasion: str = ""
    ) -> None: ...

    async def given(self, reward: OneTimeReward, keys: Collection[RewardKey]) -> set[RewardKey]:
        """Those of the keys whose reward was given (and remembered) already."""
        ...
