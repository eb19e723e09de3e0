"""SQL implementations of the repository Protocols in bot.ports. They never commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, Table, bindparam, cast, delete, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.models import (
    ActivityRules,
    Badge,
    CheckinMark,
    CheckinRules,
    Community,
    GrowthRules,
    InviteLink,
    JoinRequestPolicy,
    LeaderboardRow,
    LedgerEntry,
    LedgerKind,
    Member,
    ModerationRules,
    PointsTotals,
    QuotaUse,
    Referral,
    ReferralCounts,
    ReferralSource,
    ReferralStatus,
    RejectionReason,
    Tier,
    UserInfo,
)
from storage.caches import caches_of, community_changed_here, user_written
from storage.models import (
    AuditRow,
    BadgeRow,
    Base,
    BlockedChatRow,
    CheckinRow,
    CommunityRow,
    InviteLinkRow,
    LedgerRow,
    MemberRow,
    ProcessedUpdateRow,
    ReferralRow,
    RememberedReferralRow,
    UserRow,
)
from storage.prepared import PerDialect, Prepared


async def insert_ignoring_conflict(
    session: AsyncSession, model: type[Base], values: dict[str, Any]
) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when a row was inserted."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
    statement = insert.values(**values).on_conflict_do_nothing()
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0) == 1)


def _dialect_insert(session: AsyncSession, model: type[Base]) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)


def _community_settings(community: Community) -> dict[str, Any]:
    return {
        "checkin": asdict(community.checkin_rules),
        "activity": asdict(community.activity_rules),
        "tier_thresholds": list(community.tier_thresholds),
        "checkin_keywords": list(community.checkin_keywords),
        "growth": asdict(community.growth),
        "moderation": asdict(community.moderation),
    }


def _community_from_row(row: CommunityRow) -> Community:
    settings = row.settings or {}
    defaults = Community(id=row.id, title=row.title, timezone=row.timezone, language=row.language)
    return Community(
        id=row.id,
        title=row.title,
        timezone=row.timezone,
        language=row.language,
        checkin_rules=CheckinRules(**settings.get("checkin", {})),
        activity_rules=ActivityRules(**settings.get("activity", {})),
        tier_thresholds=tuple(settings.get("tier_thresholds", defaults.tier_thresholds)),
        checkin_keywords=tuple(settings.get("checkin_keywords", defaults.checkin_keywords)),
        growth=_growth_from_settings(settings.get("growth", {})),
        public_code=row.public_code,
        moderation=ModerationRules(
            **{
                key: value
                for key, value in settings.get("moderation", {}).items()
                if key in ModerationRules.__dataclass_fields__
            }
        ),
    )


def _growth_from_settings(values: dict[str, Any]) -> GrowthRules:
    known = {key: value for key, value in values.items() if key in GrowthRules.__dataclass_fields__}
    if "join_requests" in known:
        known["join_requests"] = JoinRequestPolicy(known["join_requests"])
    return GrowthRules(**known)


class SqlCommunityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, community_id: int) -> Community | None:
        """Served from the process cache (see storage/caches.py) when it can be."""
        caches = None if community_changed_here(self._session) else caches_of(self._session)
        if caches is not None:
            cached = caches.community(community_id)
            if cached is not None:
                return cached
            generation = caches.community_generation
        row = await self._session.get(CommunityRow, community_id)
        community = _community_from_row(row) if row else None
        if caches is not None and community is not None:
            caches.remember_community(community, generation)
        return community

    async def add(self, community: Community, now: datetime) -> None:
        await insert_ignoring_conflict(
            self._session,
            CommunityRow,
            {
                "id": community.id,
                "title": community.title,
                "timezone": community.timezone,
                "language": community.language,
                "settings": _community_settings(community),
                "created_at": now,
            },
        )

    async def set_language(self, community_id: int, language: str) -> None:
        await self._session.execute(
            update(CommunityRow).where(CommunityRow.id == community_id).values(language=language)
        )

    async def set_title(self, community_id: int, title: str) -> None:
        await self._session.execute(
            update(CommunityRow).where(CommunityRow.id == community_id).values(title=title)
        )

    async def set_timezone(self, community_id: int, timezone: str) -> None:
        await self._session.execute(
            update(CommunityRow).where(CommunityRow.id == community_id).values(timezone=timezone)
        )

    async def save_settings(self, community: Community) -> None:
        await self._session.execute(
            update(CommunityRow)
            .where(CommunityRow.id == community.id)
            .values(settings=_community_settings(community))
        )

    async def set_public_code(self, community_id: int, code: str) -> None:
        await self._session.execute(
            update(CommunityRow).where(CommunityRow.id == community_id).values(public_code=code)
        )

    async def by_public_code(self, code: str) -> Community | None:
        row = (
            await self._session.execute(
                select(CommunityRow).where(CommunityRow.public_code == code)
            )
        ).scalar_one_or_none()
        return _community_from_row(row) if row else None


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _upsert_user(dialect: Any) -> Any:
    insert = dialect.insert(_USERS).values(
        id=bindparam("id"),
        first_name=bindparam("first_name"),
        username=bindparam("username"),
        language_code=bindparam("language_code"),
        is_bot=bindparam("is_bot"),
    )
    return insert.on_conflict_do_update(
        index_elements=[_USERS.c.id],
        set_={
            "first_name": insert.excluded.first_name,
            "username": insert.excluded.username,
            "language_code": insert.excluded.language_code,
        },
    )


_USERS = _table(UserRow)
_UPSERT_USER = PerDialect(_upsert_user)
_RELEASE_USERNAME = Prepared(
    update(_USERS)
    .where(_USERS.c.username == bindparam("taken"), _USERS.c.id != bindparam("keep"))
    .values(username=None)
)
_USER_BY_ID = select(*_USERS.c).where(_USERS.c.id == bindparam("id"))


def _user_from_row(row: Any) -> UserInfo:
    return UserInfo(
        id=row.id,
        first_name=row.first_name,
        username=row.username,
        language_code=row.language_code,
        is_bot=row.is_bot,
    )


class SqlUserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert(self, user: UserInfo) -> None:
        """Writes the user's details unless this process last wrote the very same ones."""
        username = user.username.lower() if user.username else None
        details = (user.first_name[:255], username, user.language_code)
        caches = caches_of(self._session)
        if caches is not None and caches.user_unchanged(user.id, details):
            return
        if username:
            # A username belongs to one account at a time; whoever had it before moved on.
            await _RELEASE_USERNAME.run(self._session, {"taken": username, "keep": user.id})
        await _UPSERT_USER.run(
            self._session,
            {
                "id": user.id,
                "first_name": details[0],
                "username": username,
                "language_code": user.language_code,
                "is_bot": user.is_bot,
            },
        )
        user_written(self._session, user.id, details)

    async def get(self, user_id: int) -> UserInfo | None:
        row = (await self._session.execute(_USER_BY_ID, {"id": user_id})).one_or_none()
        return _user_from_row(row) if row else None

    async def set_can_message(self, user_id: int, can_message: bool) -> None:
        await self._session.execute(
            update(UserRow).where(UserRow.id == user_id).values(can_message=can_message)
        )

    async def can_message(self, user_id: int) -> bool:
        return bool(
            await self._session.scalar(select(UserRow.can_message).where(UserRow.id == user_id))
        )

    async def find_by_username(self, username: str) -> UserInfo | None:
        row = (
            await self._session.execute(
                select(*_USERS.c).where(_USERS.c.username == username.lower().lstrip("@")).limit(1)
            )
        ).one_or_none()
        return _user_from_row(row) if row else None


def _member_from_row(row: MemberRow | Any, display_name: str) -> Member:
    return Member(
        id=row.id,
        community_id=row.community_id,
        user_id=row.user_id,
        display_name=display_name,
        balance=row.balance,
        lifetime_earned=row.lifetime_earned,
        streak=row.streak,
        last_checkin_day=row.last_checkin_day,
        tier=Tier(row.tier),
        is_member=row.is_member,
        joined_at=row.joined_at,
        last_active_at=row.last_active_at,
        activity_day=row.activity_day,
        activity_points_today=row.activity_points_today,
        last_activity_point_at=row.last_activity_point_at,
    )


def _member_key(community_id: int, user_id: int) -> Any:
    return (MemberRow.community_id == community_id) & (MemberRow.user_id == user_id)


# Built once: constructing a statement costs more than running it on SQLite. Plain columns,
# not ORM entities, so nothing in the session goes stale.
_MEMBER_FOR_CHECKIN = (
    select(
        *MemberRow.__table__.c,
        UserRow.first_name,
        exists()
        .where(
            ReferralRow.community_id == bindparam("community_id"),
            ReferralRow.invitee_id == bindparam("user_id"),
            ReferralRow.status == str(ReferralStatus.PENDING),
        )
        .label("pending_referral"),
    )
    .join(UserRow, UserRow.id == MemberRow.user_id)
    .where(
        MemberRow.community_id == bindparam("community_id"),
        MemberRow.user_id == bindparam("user_id"),
    )
)
_MEMBERS = _table(MemberRow)
# Named apart from the columns: SQLAlchemy reserves column names for the SET clause.
_MEMBER_KEY = (_MEMBERS.c.community_id == bindparam("key_community")) & (
    _MEMBERS.c.user_id == bindparam("key_user")
)
_MEMBER = (
    select(*_MEMBERS.c, UserRow.first_name)
    .join(UserRow, UserRow.id == _MEMBERS.c.user_id)
    .where(_MEMBER_KEY)
)
_ADD_CHECKIN = PerDialect(
    lambda dialect: (
        dialect.insert(CheckinRow.__table__)
        .values(
            community_id=bindparam("community_id"),
            user_id=bindparam("user_id"),
            day=bindparam("day"),
            streak=bindparam("streak"),
            points=bindparam("points"),
            created_at=bindparam("created_at"),
        )
        .on_conflict_do_nothing()
    )
)
_ADD_MEMBER = PerDialect(
    lambda dialect: (
        dialect.insert(_MEMBERS)
        .values(
            community_id=bindparam("community_id"),
            user_id=bindparam("user_id"),
            is_member=True,
            joined_at=bindparam("joined_at"),
            balance=0,
            lifetime_earned=0,
            streak=0,
            tier=int(Tier.NEWCOMER),
            activity_points_today=0,
            last_active_at=None,
        )
        .on_conflict_do_nothing()
        .returning(*_MEMBERS.c)
    )
)
_TOTALS = (_MEMBERS.c.balance, _MEMBERS.c.lifetime_earned, _MEMBERS.c.tier)
_APPLY_POINTS = Prepared(
    update(_MEMBERS)
    .where(_MEMBER_KEY, _MEMBERS.c.balance + bindparam("amount") >= 0)
    .values(
        balance=_MEMBERS.c.balance + bindparam("amount"),
        lifetime_earned=_MEMBERS.c.lifetime_earned + bindparam("lifetime_change"),
    )
    .returning(*_TOTALS)
)
_APPLY_CHECKIN_POINTS = Prepared(
    update(_MEMBERS)
    .where(_MEMBER_KEY, _MEMBERS.c.balance + bindparam("amount") >= 0)
    .values(
        balance=_MEMBERS.c.balance + bindparam("amount"),
        lifetime_earned=_MEMBERS.c.lifetime_earned + bindparam("lifetime_change"),
        streak=bindparam("new_streak"),
        last_checkin_day=bindparam("new_day"),
        last_active_at=bindparam("active_at"),
    )
    .returning(*_TOTALS)
)
_TOUCH = Prepared(update(_MEMBERS).where(_MEMBER_KEY).values(last_active_at=bindparam("active_at")))
_MEMBER_FOR_CHECKIN_PREPARED = Prepared(_MEMBER_FOR_CHECKIN)


class SqlMemberRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, community_id: int, user_id: int) -> Member | None:
        found = (
            await self._session.execute(
                _MEMBER, {"key_community": community_id, "key_user": user_id}
            )
        ).one_or_none()
        return _member_from_row(found, found.first_name) if found else None

    async def get_for_checkin(self, community_id: int, user_id: int) -> tuple[Member, bool] | None:
        found = (
            await _MEMBER_FOR_CHECKIN_PREPARED.run(
                self._session, {"community_id": community_id, "user_id": user_id}
            )
        ).one_or_none()
        return (
            (_member_from_row(found, found.first_name), bool(found.pending_referral))
            if found
            else None
        )

    async def add(
        self,
        community_id: int,
        user_id: int,
        now: datetime,
        *,
        joined: bool,
        display_name: str | None = None,
    ) -> Member:
        values: dict[str, Any] = {
            "community_id": community_id,
            "user_id": user_id,
            "is_member": True,
            "joined_at": now if joined else None,
            "balance": 0,
            "lifetime_earned": 0,
            "streak": 0,
            "tier": int(Tier.NEWCOMER),
            "activity_points_today": 0,
            "last_active_at": None,
        }
        if display_name is not None:
            added = (
                await _ADD_MEMBER.run(
                    self._session,
                    {
                        "community_id": community_id,
                        "user_id": user_id,
                        "joined_at": values["joined_at"],
                    },
                )
            ).one_or_none()
            if added is not None:
                return _member_from_row(added, display_name)
        else:
            await insert_ignoring_conflict(self._session, MemberRow, values)
        member = await self.get(community_id, user_id)
        assert member is not None
        return member

    async def mark_joined(self, community_id: int, user_id: int, now: datetime) -> None:
        await self._session.execute(
            update(MemberRow)
            .where(_member_key(community_id, user_id))
            .values(is_member=True, joined_at=now, left_at=None)
        )

    async def mark_left(self, community_id: int, user_id: int, now: datetime) -> None:
        await self._session.execute(
            update(MemberRow)
            .where(_member_key(community_id, user_id))
            .values(is_member=False, left_at=now)
        )

    async def touch(self, community_id: int, user_id: int, now: datetime) -> None:
        await _TOUCH.run(
            self._session, {"key_community": community_id, "key_user": user_id, "active_at": now}
        )

    async def apply_points(
        self,
        community_id: int,
        user_id: int,
        amount: int,
        lifetime_change: int,
        checkin: CheckinMark | None = None,
    ) -> PointsTotals | None:
        """Changes the balance and lifetime points relative to the stored row (never below
        zero: None then); with `checkin`, records the check-in's streak and day in the same
        statement."""
        parameters: dict[str, Any] = {
            "key_community": community_id,
            "key_user": user_id,
            "amount": amount,
            "lifetime_change": lifetime_change,
        }
        statement = _APPLY_POINTS
        if checkin is not None:
            statement = _APPLY_CHECKIN_POINTS
            parameters.update(new_streak=checkin.streak, new_day=checkin.day, active_at=checkin.at)
        found = (await statement.run(self._session, parameters)).one_or_none()
        if found is None:
            return None
        return PointsTotals(balance=found[0], lifetime_earned=found[1], tier=Tier(found[2]))

    async def raise_tier(self, community_id: int, user_id: int, tier: Tier) -> None:
        await self._session.execute(
            update(MemberRow)
            .where(_member_key(community_id, user_id), MemberRow.tier < int(tier))
            .values(tier=int(tier))
        )

    async def lower_tier(self, community_id: int, user_id: int, tier: Tier) -> None:
        await self._session.execute(
            update(MemberRow)
            .where(_member_key(community_id, user_id), MemberRow.tier > int(tier))
            .values(tier=int(tier))
        )

    async def lock(self, community_id: int, user_id: int) -> None:
        await self._session.execute(
            select(MemberRow.id).where(_member_key(community_id, user_id)).with_for_update()
        )

    async def record_checkin_streak(
        self, community_id: int, user_id: int, streak: int, day: date
    ) -> None:
        await self._session.execute(
            update(MemberRow)
            .where(_member_key(community_id, user_id))
            .values(streak=streak, last_checkin_day=day)
        )

    async def record_activity_point(
        self, community_id: int, user_id: int, day: date, count_today: int, at: datetime
    ) -> None:
        await self._session.execute(
            update(MemberRow)
            .where(_member_key(community_id, user_id))
            .values(activity_day=day, activity_points_today=count_today, last_activity_point_at=at)
        )

    async def set_welcome_due(self, community_id: int, user_id: int, due: datetime | None) -> None:
        await self._session.execute(
            update(MemberRow).where(_member_key(community_id, user_id)).values(welcome_due_at=due)
        )

    async def communities_with_welcomes_due(self, now: datetime) -> Sequence[int]:
        rows = await self._session.scalars(
            select(MemberRow.community_id)
            .where(MemberRow.welcome_due_at <= now, MemberRow.is_member.is_(True))
            .distinct()
        )
        return list(rows)

    async def take_pending_welcomes(self, community_id: int) -> Sequence[tuple[int, str]]:
        """Members of the community waiting for a welcome, oldest join first; clears them."""
        rows = (
            await self._session.execute(
                select(MemberRow.user_id, UserRow.first_name)
                .join(UserRow, UserRow.id == MemberRow.user_id)
                .where(
                    MemberRow.community_id == community_id,
                    MemberRow.welcome_due_at.is_not(None),
                    MemberRow.is_member.is_(True),
                )
                .order_by(MemberRow.welcome_due_at, MemberRow.id)
            )
        ).all()
        await self._session.execute(
            update(MemberRow)
            .where(MemberRow.community_id == community_id, MemberRow.welcome_due_at.is_not(None))
            .values(welcome_due_at=None)
        )
        return [(user_id, name) for user_id, name in rows]

    async def count_current(self, community_id: int) -> int:
        value = await self._session.scalar(
            select(func.count())
            .select_from(MemberRow)
            .where(MemberRow.community_id == community_id, MemberRow.is_member.is_(True))
        )
        return int(value or 0)

    async def reminder_candidates(
        self, community_id: int, yesterday: date, min_streak: int
    ) -> Sequence[tuple[int, str, int]]:
        rows = await self._session.execute(
            select(MemberRow.user_id, UserRow.first_name, MemberRow.streak)
            .join(UserRow, UserRow.id == MemberRow.user_id)
            .where(
                MemberRow.community_id == community_id,
                MemberRow.is_member.is_(True),
                MemberRow.last_checkin_day == yesterday,
                MemberRow.streak >= min_streak,
                UserRow.can_message.is_(True),
                ~exists().where(BlockedChatRow.chat_id == MemberRow.user_id),
            )
            .order_by(MemberRow.id)
        )
        return [(user_id, name, streak) for user_id, name, streak in rows]

    async def last_checkins_since(
        self, community_id: int, since: date
    ) -> Sequence[tuple[int, date, datetime, int]]:
        rows = await self._session.execute(
            select(MemberRow.user_id, CheckinRow.day, CheckinRow.created_at, MemberRow.streak)
            .join(
                CheckinRow,
                (CheckinRow.community_id == MemberRow.community_id)
                & (CheckinRow.user_id == MemberRow.user_id)
                & (CheckinRow.day == MemberRow.last_checkin_day),
            )
            .where(MemberRow.community_id == community_id, MemberRow.last_checkin_day >= since)
        )
        return [(user_id, day, at, streak) for user_id, day, at, streak in rows]

    async def communities_of(self, user_id: int) -> Sequence[Community]:
        rows = await self._session.scalars(
            select(CommunityRow)
            .join(MemberRow, MemberRow.community_id == CommunityRow.id)
            .where(MemberRow.user_id == user_id, MemberRow.is_member.is_(True))
            .order_by(CommunityRow.id)
        )
        return [_community_from_row(row) for row in rows]

    async def rank_by_lifetime(self, community_id: int, user_id: int) -> int:
        """The position /top would show: by lifetime points, ties by who arrived first."""
        me = (
            select(MemberRow.id, MemberRow.lifetime_earned)
            .where(_member_key(community_id, user_id))
            .subquery()
        )
        ahead = await self._session.scalar(
            select(func.count())
            .select_from(MemberRow)
            .join(me, literal(True))
            .where(
                MemberRow.community_id == community_id,
                MemberRow.is_member.is_(True),
                (MemberRow.lifetime_earned > me.c.lifetime_earned)
                | ((MemberRow.lifetime_earned == me.c.lifetime_earned) & (MemberRow.id < me.c.id)),
            )
        )
        return int(ahead or 0) + 1

    async def top_by_lifetime(self, community_id: int, limit: int) -> Sequence[LeaderboardRow]:
        statement = (
            select(MemberRow.user_id, UserRow.first_name, MemberRow.lifetime_earned)
            .join(UserRow, UserRow.id == MemberRow.user_id)
            .where(
                MemberRow.community_id == community_id,
                MemberRow.is_member.is_(True),
                MemberRow.lifetime_earned > 0,
            )
            .order_by(MemberRow.lifetime_earned.desc(), MemberRow.id)
            .limit(limit)
        )
        rows = (await self._session.execute(statement)).all()
        return [
            LeaderboardRow(rank=index, user_id=user_id, display_name=name, points=points)
            for index, (user_id, name, points) in enumerate(rows, start=1)
        ]

    async def count_by_tier(self, community_id: int) -> dict[Tier, int]:
        rows = (
            await self._session.execute(
                select(MemberRow.tier, func.count())
                .where(MemberRow.community_id == community_id, MemberRow.is_member.is_(True))
                .group_by(MemberRow.tier)
            )
        ).all()
        counts = dict.fromkeys(Tier, 0)
        for tier, count in rows:
            counts[Tier(tier)] = int(count)
        return counts


class SqlCheckinRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self, community_id: int, user_id: int, day: date, streak: int, points: int, at: datetime
    ) -> bool:
        result = await _ADD_CHECKIN.run(
            self._session,
            {
                "community_id": community_id,
                "user_id": user_id,
                "day": day,
                "streak": streak,
                "points": points,
                "created_at": at,
            },
        )
        return result.rowcount == 1


def _ledger_entry_from_row(row: LedgerRow) -> LedgerEntry:
    return LedgerEntry(
        community_id=row.community_id,
        user_id=row.user_id,
        amount=row.amount,
        kind=LedgerKind(row.kind),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
        reason=row.reason,
        actor_id=row.actor_id,
        id=row.id,
    )


_ADD_LEDGER_ENTRY = PerDialect(
    lambda dialect: (
        dialect.insert(LedgerRow.__table__)
        .values(
            {
                name: bindparam(name)
                for name in (
                    "community_id",
                    "user_id",
                    "amount",
                    "kind",
                    "reason",
                    "actor_id",
                    "idempotency_key",
                    "created_at",
                )
            }
        )
        .on_conflict_do_nothing()
        .returning(LedgerRow.__table__.c.id)
    )
)


class SqlLedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, entry: LedgerEntry) -> int | None:
        added = (
            await _ADD_LEDGER_ENTRY.run(
                self._session,
                {
                    "community_id": entry.community_id,
                    "user_id": entry.user_id,
                    "amount": entry.amount,
                    "kind": str(entry.kind),
                    "reason": entry.reason,
                    "actor_id": entry.actor_id,
                    "idempotency_key": entry.idempotency_key,
                    "created_at": entry.created_at,
                },
            )
        ).one_or_none()
        return int(added[0]) if added is not None else None

    async def get(self, entry_id: int) -> LedgerEntry | None:
        row = await self._session.get(LedgerRow, entry_id)
        return _ledger_entry_from_row(row) if row else None

    async def has_key(self, idempotency_key: str) -> bool:
        found = await self._session.scalar(
            select(LedgerRow.id).where(LedgerRow.idempotency_key == idempotency_key)
        )
        return found is not None

    async def awards_since(self, community_id: int, since: datetime) -> Sequence[QuotaUse]:
        award, revoke = aliased(LedgerRow), aliased(LedgerRow)
        used = func.sum(award.amount).label("used")
        rows = (
            await self._session.execute(
                select(award.actor_id, UserRow.first_name, used)
                .outerjoin(UserRow, UserRow.id == award.actor_id)
                .outerjoin(
                    revoke,
                    revoke.idempotency_key
                    == literal(f"{LedgerKind.REVOKE}:") + cast(award.id, String),
                )
                .where(
                    award.community_id == community_id,
                    award.kind == str(LedgerKind.AWARD),
                    award.created_at >= since,
                    revoke.id.is_(None),
                )
                .group_by(award.actor_id, UserRow.first_name)
                .order_by(used.desc(), award.actor_id)
            )
        ).all()
        return [
            QuotaUse(
                actor_id=actor_id,
                display_name=first_name or (str(actor_id) if actor_id else ""),
                used=int(total),
            )
            for actor_id, first_name, total in rows
        ]

    async def recent_moderation(
        self, community_id: int, user_id: int, limit: int
    ) -> Sequence[LedgerEntry]:
        rows = await self._session.scalars(
            select(LedgerRow)
            .where(
                LedgerRow.community_id == community_id,
                LedgerRow.user_id == user_id,
                LedgerRow.kind.in_([str(LedgerKind.AWARD), str(LedgerKind.DEDUCT)]),
            )
            .order_by(LedgerRow.id.desc())
            .limit(limit)
        )
        return [_ledger_entry_from_row(row) for row in rows]

    async def sum_for_member(self, community_id: int, user_id: int) -> int:
        total = await self._session.scalar(
            select(func.coalesce(func.sum(LedgerRow.amount), 0)).where(
                LedgerRow.community_id == community_id, LedgerRow.user_id == user_id
            )
        )
        return int(total or 0)

    async def top_earners_since(
        self, community_id: int, since: datetime, limit: int, until: datetime | None = None
    ) -> Sequence[LeaderboardRow]:
        earned = func.sum(LedgerRow.amount).label("earned")
        before = LedgerRow.created_at < until if until is not None else literal(True)
        rows = (
            await self._session.execute(
                select(LedgerRow.user_id, UserRow.first_name, earned)
                .join(UserRow, UserRow.id == LedgerRow.user_id)
                .join(
                    MemberRow,
                    (MemberRow.community_id == LedgerRow.community_id)
                    & (MemberRow.user_id == LedgerRow.user_id),
                )
                .where(
                    LedgerRow.community_id == community_id,
                    LedgerRow.created_at >= since,
                    before,
                    LedgerRow.amount > 0,
                    MemberRow.is_member.is_(True),
                )
                .group_by(LedgerRow.user_id, UserRow.first_name)
                .order_by(earned.desc(), LedgerRow.user_id)
                .limit(limit)
            )
        ).all()
        return [
            LeaderboardRow(rank=index, user_id=user_id, display_name=name, points=int(points))
            for index, (user_id, name, points) in enumerate(rows, start=1)
        ]


class SqlBadgeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def grant(self, community_id: int, user_id: int, badge: Badge, now: datetime) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            BadgeRow,
            {
                "community_id": community_id,
                "user_id": user_id,
                "badge": str(badge),
                "granted_at": now,
            },
        )

    async def revoke(self, community_id: int, user_id: int, badge: Badge) -> bool:
        result = await self._session.execute(
            delete(BadgeRow).where(
                BadgeRow.community_id == community_id,
                BadgeRow.user_id == user_id,
                BadgeRow.badge == str(badge),
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def of_member(self, community_id: int, user_id: int) -> frozenset[Badge]:
        rows = await self._session.scalars(
            select(BadgeRow.badge).where(
                BadgeRow.community_id == community_id, BadgeRow.user_id == user_id
            )
        )
        return frozenset(Badge(value) for value in rows)

    async def count_by_badge(self, community_id: int) -> dict[Badge, int]:
        rows = (
            await self._session.execute(
                select(BadgeRow.badge, func.count())
                .join(
                    MemberRow,
                    (MemberRow.community_id == BadgeRow.community_id)
                    & (MemberRow.user_id == BadgeRow.user_id),
                )
                .where(BadgeRow.community_id == community_id, MemberRow.is_member.is_(True))
                .group_by(BadgeRow.badge)
            )
        ).all()
        counts = dict.fromkeys(Badge, 0)
        for badge, count in rows:
            counts[Badge(badge)] = int(count)
        return counts


class SqlAuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        community_id: int,
        actor_id: int | None,
        action: str,
        target_user_id: int | None,
        detail: str,
        now: datetime,
    ) -> None:
        self._session.add(
            AuditRow(
                community_id=community_id,
                actor_id=actor_id,
                action=action,
                target_user_id=target_user_id,
                detail=detail,
                created_at=now,
            )
        )


class SqlProcessedUpdates:
    """Remembers which updates took effect, in the same transaction as their effects."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, bot_id: int, update_id: int, now: datetime) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            ProcessedUpdateRow,
            {"bot_id": bot_id, "update_id": update_id, "processed_at": now},
        )

    async def claim_many(self, bot_id: int, update_ids: Iterable[int], now: datetime) -> set[int]:
        """Claims a batch's updates in one multi-row statement; returns the ids newly claimed
        (those not handled before)."""
        rows = [
            {"bot_id": bot_id, "update_id": update_id, "processed_at": now}
            for update_id in sorted(set(update_ids))
        ]
        if not rows:
            return set()
        statement = (
            _dialect_insert(self._session, ProcessedUpdateRow)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(ProcessedUpdateRow.update_id)
        )
        return set((await self._session.scalars(statement)).all())

    async def release(self, bot_id: int, update_id: int) -> None:
        """Forgets a claim, so that the update can be handled again (by a replay)."""
        await self._session.execute(
            delete(ProcessedUpdateRow).where(
                ProcessedUpdateRow.bot_id == bot_id, ProcessedUpdateRow.update_id == update_id
            )
        )

    async def forget_before(self, cutoff: datetime) -> None:
        await self._session.execute(
            delete(ProcessedUpdateRow).where(ProcessedUpdateRow.processed_at < cutoff)
        )


def _invite_link_from_row(row: InviteLinkRow) -> InviteLink:
    return InviteLink(
        community_id=row.community_id,
        user_id=row.user_id,
        code=row.code,
        url=row.url,
        created_at=row.created_at,
    )


class SqlInviteLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def active_for(self, community_id: int, user_id: int) -> InviteLink | None:
        row = (
            await self._session.execute(
                select(InviteLinkRow)
                .where(
                    InviteLinkRow.community_id == community_id,
                    InviteLinkRow.user_id == user_id,
                    InviteLinkRow.revoked_at.is_(None),
                )
                .order_by(InviteLinkRow.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        return _invite_link_from_row(row) if row else None

    async def add(self, link: InviteLink) -> None:
        self._session.add(
            InviteLinkRow(
                community_id=link.community_id,
                user_id=link.user_id,
                code=link.code,
                url=link.url,
                created_at=link.created_at,
            )
        )
        await self._session.flush()

    async def revoke(self, code: str, now: datetime) -> None:
        await self._session.execute(
            update(InviteLinkRow).where(InviteLinkRow.code == code).values(revoked_at=now)
        )

    async def by_code(self, code: str) -> InviteLink | None:
        row = (
            await self._session.execute(select(InviteLinkRow).where(InviteLinkRow.code == code))
        ).scalar_one_or_none()
        return _invite_link_from_row(row) if row else None

    async def by_url(self, community_id: int, url: str) -> InviteLink | None:
        row = (
            await self._session.execute(
                select(InviteLinkRow)
                .where(InviteLinkRow.community_id == community_id, InviteLinkRow.url == url)
                .limit(1)
            )
        ).scalar_one_or_none()
        return _invite_link_from_row(row) if row else None


def _referral_from_row(row: ReferralRow, invitee_name: str = "") -> Referral:
    return Referral(
        community_id=row.community_id,
        invitee_id=row.invitee_id,
        inviter_id=row.inviter_id,
        status=ReferralStatus(row.status),
        source=ReferralSource(row.source),
        joined_at=row.joined_at,
        reason=RejectionReason(row.reason) if row.reason else None,
        qualified_at=row.qualified_at,
        invitee_name=invitee_name,
    )


def _invited_by(community_id: int, inviter_id: int) -> Any:
    return (ReferralRow.community_id == community_id) & (ReferralRow.inviter_id == inviter_id)


class SqlReferralRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, community_id: int, invitee_id: int) -> Referral | None:
        row = (
            await self._session.execute(
                select(ReferralRow).where(
                    ReferralRow.community_id == community_id, ReferralRow.invitee_id == invitee_id
                )
            )
        ).scalar_one_or_none()
        return _referral_from_row(row) if row else None

    async def add(self, referral: Referral, due_at: datetime | None) -> bool:
        return await insert_ignoring_conflict(
            self._session,
            ReferralRow,
            {
                "community_id": referral.community_id,
                "invitee_id": referral.invitee_id,
                "inviter_id": referral.inviter_id,
                "status": str(referral.status),
                "reason": str(referral.reason) if referral.reason else None,
                "source": str(referral.source),
                "joined_at": referral.joined_at,
                "due_at": due_at,
                "qualified_at": None,
            },
        )

    async def settle(
        self,
        community_id: int,
        invitee_id: int,
        status: ReferralStatus,
        reason: RejectionReason | None,
        at: datetime,
    ) -> bool:
        """Moves a pending referral to its final status; False if it was no longer pending."""
        result = await self._session.execute(
            update(ReferralRow)
            .where(
                ReferralRow.community_id == community_id,
                ReferralRow.invitee_id == invitee_id,
                ReferralRow.status == str(ReferralStatus.PENDING),
            )
            .values(
                status=str(status),
                reason=str(reason) if reason else None,
                qualified_at=at if status == ReferralStatus.QUALIFIED else None,
                due_at=None,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_due(self, community_id: int, invitee_id: int, due: datetime | None) -> None:
        await self._session.execute(
            update(ReferralRow)
            .where(ReferralRow.community_id == community_id, ReferralRow.invitee_id == invitee_id)
            .values(due_at=due)
        )

    async def due(
        self, now: datetime, limit: int, community_id: int | None = None
    ) -> Sequence[Referral]:
        query = select(ReferralRow).where(
            ReferralRow.status == str(ReferralStatus.PENDING), ReferralRow.due_at <= now
        )
        if community_id is not None:
            query = query.where(ReferralRow.community_id == community_id)
        rows = await self._session.scalars(query.order_by(ReferralRow.due_at).limit(limit))
        return [_referral_from_row(row) for row in rows]

    async def communities_due(self, now: datetime) -> Sequence[int]:
        rows = await self._session.scalars(
            select(ReferralRow.community_id)
            .where(ReferralRow.status == str(ReferralStatus.PENDING), ReferralRow.due_at <= now)
            .distinct()
        )
        return list(rows)

    async def qualified_since(self, community_id: int, inviter_id: int, since: datetime) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(ReferralRow)
            .where(
                ReferralRow.community_id == community_id,
                ReferralRow.inviter_id == inviter_id,
                ReferralRow.status == str(ReferralStatus.QUALIFIED),
                ReferralRow.qualified_at >= since,
            )
        )
        return int(count or 0)

    async def counts_for(self, community_id: int, inviter_id: int) -> ReferralCounts:
        rows = (
            await self._session.execute(
                select(ReferralRow.status, func.count())
                .where(
                    ReferralRow.community_id == community_id, ReferralRow.inviter_id == inviter_id
                )
                .group_by(ReferralRow.status)
            )
        ).all()
        by_status = {status: int(count) for status, count in rows}
        return ReferralCounts(
            invited=sum(by_status.values()),
            pending=by_status.get(str(ReferralStatus.PENDING), 0),
            qualified=by_status.get(str(ReferralStatus.QUALIFIED), 0),
            rejected=by_status.get(str(ReferralStatus.REJECTED), 0),
        )

    async def list_for_inviter(
        self, community_id: int, inviter_id: int, limit: int
    ) -> Sequence[Referral]:
        rows = (
            await self._session.execute(
                select(ReferralRow, UserRow.first_name)
                .outerjoin(UserRow, UserRow.id == ReferralRow.invitee_id)
                .where(
                    ReferralRow.community_id == community_id, ReferralRow.inviter_id == inviter_id
                )
                .order_by(ReferralRow.joined_at.desc(), ReferralRow.id.desc())
                .limit(limit)
            )
        ).all()
        return [_referral_from_row(row, name or str(row.invitee_id)) for row, name in rows]

    async def top_inviters(
        self, community_id: int, since: datetime | None, limit: int
    ) -> Sequence[LeaderboardRow]:
        qualified = func.count().label("qualified")
        statement = (
            select(ReferralRow.inviter_id, UserRow.first_name, qualified)
            .join(UserRow, UserRow.id == ReferralRow.inviter_id)
            .where(
                ReferralRow.community_id == community_id,
                ReferralRow.status == str(ReferralStatus.QUALIFIED),
            )
            .group_by(ReferralRow.inviter_id, UserRow.first_name)
            .order_by(qualified.desc(), ReferralRow.inviter_id)
            .limit(limit)
        )
        if since is not None:
            statement = statement.where(ReferralRow.qualified_at >= since)
        rows = (await self._session.execute(statement)).all()
        return [
            LeaderboardRow(
                rank=index, user_id=int(user_id or 0), display_name=name, points=int(count)
            )
            for index, (user_id, name, count) in enumerate(rows, start=1)
        ]

    async def remember(
        self,
        community_id: int,
        invitee_id: int,
        inviter_id: int,
        source: ReferralSource,
        now: datetime,
    ) -> None:
        await self._session.execute(
            delete(RememberedReferralRow).where(
                RememberedReferralRow.community_id == community_id,
                RememberedReferralRow.invitee_id == invitee_id,
            )
        )
        self._session.add(
            RememberedReferralRow(
                community_id=community_id,
                invitee_id=invitee_id,
                inviter_id=inviter_id,
                source=str(source),
                created_at=now,
            )
        )
        await self._session.flush()

    async def remembered(
        self, community_id: int, invitee_id: int
    ) -> tuple[int, ReferralSource, datetime] | None:
        row = await self._session.get(RememberedReferralRow, (community_id, invitee_id))
        if row is None:
            return None
        return row.inviter_id, ReferralSource(row.source), row.created_at
