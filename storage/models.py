from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and always returns them aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        from datetime import UTC

        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        from datetime import UTC

        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        int: BigInteger().with_variant(Integer(), "sqlite"),
        datetime: UtcDateTime(),
        date: Date(),
        str: String(255),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class CommunityRow(Base):
    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str]
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    settings: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    public_code: Mapped[str | None] = mapped_column(String(16), unique=True)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str]
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    language_code: Mapped[str | None] = mapped_column(String(16))
    is_bot: Mapped[bool] = mapped_column(default=False)
    can_message: Mapped[bool] = mapped_column(default=False, server_default=false())


class MemberRow(Base):
    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("community_id", "user_id"),
        CheckConstraint("balance >= 0", name="balance_not_negative"),
        Index("ix_members_community_lifetime", "community_id", "lifetime_earned"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    is_member: Mapped[bool] = mapped_column(default=True)
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    balance: Mapped[int] = mapped_column(Integer, default=0)
    lifetime_earned: Mapped[int] = mapped_column(Integer, default=0)
    streak: Mapped[int] = mapped_column(Integer, default=0)
    last_checkin_day: Mapped[date | None]
    tier: Mapped[int] = mapped_column(Integer, default=0)
    last_active_at: Mapped[datetime | None]
    activity_day: Mapped[date | None]
    activity_points_today: Mapped[int] = mapped_column(Integer, default=0)
    last_activity_point_at: Mapped[datetime | None]
    welcome_due_at: Mapped[datetime | None]


class CheckinRow(Base):
    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("community_id", "user_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date]
    streak: Mapped[int] = mapped_column(Integer)
    points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class LedgerRow(Base):
    __tablename__ = "points_ledger"
    __table_args__ = (
        Index("ix_points_ledger_member", "community_id", "user_id"),
        Index("ix_points_ledger_community_created", "community_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]


class BadgeRow(Base):
    __tablename__ = "member_badges"
    __table_args__ = (UniqueConstraint("community_id", "user_id", "badge"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    badge: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[datetime]


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(BigInteger, index=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    target_user_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ProcessedUpdateRow(Base):
    __tablename__ = "processed_updates"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(index=True)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class InviteLinkRow(Base):
    __tablename__ = "invite_links"
    __table_args__ = (Index("ix_invite_links_member", "community_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    url: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ReferralRow(Base):
    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("community_id", "invitee_id"),
        Index("ix_referrals_inviter", "community_id", "inviter_id"),
        Index("ix_referrals_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    invitee_id: Mapped[int] = mapped_column(BigInteger)
    inviter_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    qualified_at: Mapped[datetime | None]


class RememberedReferralRow(Base):
    """A referral known before the join: an opened deep link or a join request's link."""

    __tablename__ = "remembered_referrals"

    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    invitee_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    inviter_id: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class CampaignRow(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_due", "status", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    schedule: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    photo: Mapped[str | None] = mapped_column(String(255))
    button: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))
    grace_minutes: Mapped[int] = mapped_column(Integer, default=60)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    next_run_at: Mapped[datetime | None]


class CampaignRunRow(Base):
    __tablename__ = "campaign_runs"
    __table_args__ = (UniqueConstraint("campaign_id", "scheduled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("campaigns.id", ondelete="CASCADE"),
    )
    scheduled_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]


class OutgoingMessageRow(Base):
    """The queue of what the bot sends on its own, paced to Telegram's limits."""

    __tablename__ = "outgoing_messages"
    __table_args__ = (Index("ix_outgoing_messages_due", "status", "not_before"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    not_before: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    campaign_run_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_message_id: Mapped[int | None] = mapped_column(BigInteger)  # Telegram's, once sent


class BlockedChatRow(Base):
    """Chats that answered 403 (the user blocked the bot, the bot left the group)."""

    __tablename__ = "blocked_chats"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(Text)
    blocked_at: Mapped[datetime]


class DeadLetterRow(Base):
    """An update that failed for a non-transient reason (a bug): kept with its payload and
    error so that operators can list it and replay it after a fix."""

    __tablename__ = "dead_letters"

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload: Mapped[dict[str, Any]]
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(index=True)
    replayed_at: Mapped[datetime | None]


class ShopItemRow(Base):
    """An item of a community's points shop; removed items stay for their orders."""

    __tablename__ = "shop_items"
    __table_args__ = (CheckConstraint("stock >= 0", name="stock_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(100))
    price: Mapped[int] = mapped_column(Integer)
    stock: Mapped[int] = mapped_column(Integer)
    min_tier: Mapped[int] = mapped_column(Integer, default=0)
    member_limit: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    asks_details: Mapped[bool] = mapped_column(default=False, server_default=false())


class ShopOrderRow(Base):
    """A redemption: created with the ledger debit and the stock decrement, settled once."""

    __tablename__ = "shop_orders"
    __table_args__ = (
        Index("ix_shop_orders_community_status", "community_id", "status"),
        Index("ix_shop_orders_buyer", "community_id", "user_id", "item_id"),
        Index("ix_shop_orders_details_wanted", "user_id", "details_wanted"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    item_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("shop_items.id", ondelete="CASCADE"),
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100))
    price: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    ledger_entry_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]
    settled_by: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)
    details_wanted: Mapped[bool] = mapped_column(default=False, server_default=false())
    rejecting_message_id: Mapped[int | None] = mapped_column(BigInteger)


class LotteryRow(Base):
    """A lottery: its rules, the secret seed (revealed at the draw) and the draw's record."""

    __tablename__ = "lotteries"
    __table_args__ = (Index("ix_lotteries_due", "status", "draw_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(Text)
    prize: Mapped[str] = mapped_column(Text)
    winners: Mapped[int] = mapped_column(Integer)
    draw_at: Mapped[datetime]
    cost: Mapped[int] = mapped_column(Integer)
    max_entries: Mapped[int] = mapped_column(Integer)
    min_tier: Mapped[int] = mapped_column(Integer)
    badge: Mapped[str | None] = mapped_column(String(16))
    min_days: Mapped[int] = mapped_column(Integer)
    late_joiners: Mapped[bool]
    seed: Mapped[str] = mapped_column(String(128))
    commitment: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    drawn_at: Mapped[datetime | None]
    entries_count: Mapped[int | None] = mapped_column(Integer)
    entries_hash: Mapped[str | None] = mapped_column(String(64))
    drawn_entries: Mapped[str | None] = mapped_column(Text)
    picks_taken: Mapped[int] = mapped_column(Integer, default=0)
    repeat_schedule: Mapped[str | None] = mapped_column(String(64))
    repeat_next_at: Mapped[datetime | None] = mapped_column(index=True)


class LotteryEntryRow(Base):
    """One entry (a member's `number`-th) and what it cost; refunded once on cancel."""

    __tablename__ = "lottery_entries"
    __table_args__ = (UniqueConstraint("lottery_id", "user_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    lottery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("lotteries.id", ondelete="CASCADE"),
    )
    user_id: Mapped[int] = mapped_column(BigInteger)
    number: Mapped[int] = mapped_column(Integer)
    cost: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    refunded_at: Mapped[datetime | None]


class LotteryWinnerRow(Base):
    """The draw's picks in order; a rerolled winner stays, marked replaced."""

    __tablename__ = "lottery_winners"
    __table_args__ = (UniqueConstraint("lottery_id", "pick"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    lottery_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("lotteries.id", ondelete="CASCADE"),
    )
    pick: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(BigInteger)
    number: Mapped[int] = mapped_column(Integer)
    replaced_at: Mapped[datetime | None]


class LotteryDraftRow(Base):
    """A moderator's `/lottery new` guided dialog in progress: the answers so far."""

    __tablename__ = "lottery_drafts"

    community_id: Mapped[int] = mapped_column(
        BigInteger,
        ForeignKey("communities.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class QuizQuestionRow(Base):
    """A community's question bank; `fingerprint` keeps a re-imported question single."""

    __tablename__ = "quiz_questions"
    __table_args__ = (UniqueConstraint("community_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    options: Mapped[list[Any]]
    correct: Mapped[list[Any]]
    explanation: Mapped[str | None] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(64))
    difficulty: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class QuizSessionRow(Base):
    """A quiz session's state machine: its polls are posted and closed by the due work."""

    __tablename__ = "quiz_sessions"
    __table_args__ = (Index("ix_quiz_sessions_due", "status", "next_step_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    topic: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    open_period: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    next_step_at: Mapped[datetime | None]


class QuizPollRow(Base):
    """One question of a session: pending, sending (claimed), open, closed, failed or lost."""

    __tablename__ = "quiz_polls"
    __table_args__ = (UniqueConstraint("session_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("quiz_sessions.id", ondelete="CASCADE"),
    )
    position: Mapped[int] = mapped_column(Integer)
    question_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("quiz_questions.id", ondelete="CASCADE"),
    )
    status: Mapped[str] = mapped_column(String(16))
    poll_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]


class QuizAnswerRow(Base):
    """A member's one answer to a session's question, and the points it earned."""

    __tablename__ = "quiz_answers"
    __table_args__ = (UniqueConstraint("quiz_poll_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    quiz_poll_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("quiz_polls.id", ondelete="CASCADE"),
    )
    community_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    option_ids: Mapped[list[Any]]
    correct: Mapped[bool]
    on_time: Mapped[bool]
    points: Mapped[int] = mapped_column(Integer, default=0)
    answered_at: Mapped[datetime]


class QuizScheduleRow(Base):
    """Quiz sessions on a schedule (the forms of /campaign add)."""

    __tablename__ = "quiz_schedules"
    __table_args__ = (Index("ix_quiz_schedules_due", "status", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    schedule: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    next_run_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class QuizImportRow(Base):
    """A /quiz import to carry out off the intake: pending, working (claimed until `due_at`),
    done or failed. `attempts` counts the claims and tells a stale claim from a current one."""

    __tablename__ = "quiz_imports"
    __table_args__ = (
        UniqueConstraint("community_id", "command_message_id"),
        Index("ix_quiz_imports_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    # The command's message id; for a command from the private console, its id negated (as the
    # console hands it to the handlers) with `answer_chat_id` the private chat.
    command_message_id: Mapped[int] = mapped_column(BigInteger)
    answer_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    thread_id: Mapped[int | None] = mapped_column(BigInteger)
    file_id: Mapped[str] = mapped_column(String(256))
    file_name: Mapped[str | None] = mapped_column(String(256))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ActivityDayRow(Base):
    """What a member did on one local day of their community: the raw record of message counts,
    and a tally of the day's check-ins, quiz answers, lottery entries and orders (each also
    stored in its own table). A member is active on a day when a row exists."""

    __tablename__ = "activity_days"
    __table_args__ = (
        Index("ix_activity_days_community_day", "community_id", "day"),
        # Covers /stats' counts of distinct members over a period (migration 0010).
        Index(
            "ix_activity_days_metrics",
            "community_id",
            "day",
            "user_id",
            "checkins",
            "quiz_answers",
            "lottery_entries",
            "orders",
        ),
    )

    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    checkins: Mapped[int] = mapped_column(Integer, default=0)
    quiz_answers: Mapped[int] = mapped_column(Integer, default=0)
    lottery_entries: Mapped[int] = mapped_column(Integer, default=0)
    orders: Mapped[int] = mapped_column(Integer, default=0)


class MembershipEventRow(Base):
    """A join or a leave as the bot saw it (the members row keeps only the latest of each)."""

    __tablename__ = "membership_events"
    __table_args__ = (
        Index("ix_membership_events_community_at", "community_id", "at"),
        Index("ix_membership_events_member", "community_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime]


class MemberLifecycleRow(Base):
    """A member's lifecycle stage as the daily job (or their return) last judged it."""

    __tablename__ = "member_lifecycle"
    __table_args__ = (Index("ix_member_lifecycle_stage", "community_id", "stage"),)

    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(10))
    stage_since: Mapped[date]
    usual_gap_days: Mapped[float | None] = mapped_column(Float)
    last_active_day: Mapped[date | None]
    risk_since: Mapped[date | None]  # the current at-risk episode (also while churned)
    key_since: Mapped[date | None]
    key_noticed: Mapped[bool] = mapped_column(default=False, server_default=false())
    judged_on: Mapped[date]


class WinbackRow(Base):
    """A win-back message, once per member's at-risk episode; a return by `deadline_day`
    counts as won back."""

    __tablename__ = "winbacks"
    __table_args__ = (Index("ix_winbacks_community_sent", "community_id", "sent_at"),)

    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    episode: Mapped[date] = mapped_column(primary_key=True)
    sent_day: Mapped[date]
    deadline_day: Mapped[date]
    sent_at: Mapped[datetime]


class LifecycleClaimRow(Base):
    """Periodic lifecycle work claimed once per community and period (a local day for the
    daily judgement, a week's Monday for the digest)."""

    __tablename__ = "lifecycle_claims"

    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    period: Mapped[date] = mapped_column(primary_key=True)
    claimed_at: Mapped[datetime]


class TicketRow(Base):
    """A feedback ticket: a per-community number (#12), its kind, status and text."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("community_id", "number", name="uq_tickets_community_number"),
        Index("ix_tickets_community_status", "community_id", "status"),
        Index("ix_tickets_reporter", "community_id", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(200))
    photo_user_id: Mapped[int | None] = mapped_column(BigInteger)  # who posted the photo
    request_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    first_answer_at: Mapped[datetime | None]
    merged_into: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class TicketEventRow(Base):
    """One step of a ticket's history; deleted with the ticket."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("tickets.id", ondelete="CASCADE"),
        index=True,
    )
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class LedgerDayRow(Base):
    """A daily aggregate kept by /stats: points issued and spent on one ended local day (in
    `timezone`) per ledger kind, computed from points_ledger and reproducible from it. A row
    of kind "" marks a day as computed (even one without ledger rows)."""

    __tablename__ = "ledger_days"

    community_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    issued: Mapped[int] = mapped_column(BigInteger)
    spent: Mapped[int] = mapped_column(BigInteger)


class SurveyRow(Base):
    """A satisfaction survey (NPS 0-10 or CSAT 1-5): open until `closes_at`, then closed once
    (a conditional update) with its result kept."""

    __tablename__ = "surveys"
    __table_args__ = (
        Index("ix_surveys_due", "status", "closes_at"),
        Index("ix_surveys_community_kind", "community_id", "kind", "closed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(8))
    question: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    thanks_points: Mapped[int] = mapped_column(Integer, default=0)
    answer_count: Mapped[int | None] = mapped_column(Integer)
    score_hundredths: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(BigInteger)


class SurveyAnswerRow(Base):
    """A member's one answer to a survey; a changed answer replaces the score."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("survey_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    survey_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("surveys.id", ondelete="CASCADE"),
    )
    community_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[int] = mapped_column(Integer)
    answered_at: Mapped[datetime]
    changed_at: Mapped[datetime | None]


class SurveyScheduleRow(Base):
    """Surveys on a schedule (the forms of /campaign add)."""

    __tablename__ = "survey_schedules"
    __table_args__ = (Index("ix_survey_schedules_due", "status", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), index=True
    )
    schedule: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    question: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    next_run_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class BirthdayRow(Base):
    """A user's birthday: month and day only (the year is never asked for)."""

    __tablename__ = "birthdays"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    month: Mapped[int] = mapped_column(Integer)
    day: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class BirthdayGreetingRow(Base):
    """One congratulation (and gift) per member per community per local year: the claim."""

    __tablename__ = "birthday_greetings"

    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    greeted_at: Mapped[datetime]
    gift: Mapped[int] = mapped_column(Integer)


class AppSecretRow(Base):
    """Secrets the bot generated for itself, once, at random (never configured, never logged)."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


class RewardMemoryRow(Base):
    """A one-time reward already given, kept through /forgetme: the person is only a keyed
    hash (HMAC-SHA256 of the user id, the key in app_secrets), never the id."""

    __tablename__ = "reward_memory"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    occasion: Mapped[str] = mapped_column(String(32), primary_key=True)


class ConsoleLinkRow(Base):
    """A group a moderator manages from the private chat with the bot. `chosen_at`: when they
    last chose it with /manage (the latest is the console's group). The id is short enough to
    travel in the callback data of the buttons the console sends."""

    __tablename__ = "console_links"
    __table_args__ = (UniqueConstraint("user_id", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    community_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("communities.id", ondelete="CASCADE")
    )
    chosen_at: Mapped[datetime | None]
