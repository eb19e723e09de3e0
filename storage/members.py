"""SQL implementations of the member and check-in Protocols in bot.ports. They never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    bindparam,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import (
    Activity,
    CheckingInMember,
    CheckinMark,
    Community,
    LeaderboardRow,
    Member,
    MembershipEvent,
    PointsTotals,
    ReferralStatus,
    Stage,
    Tier,
)
from storage.activity import SqlActivityRepository
from storage.communities import _community_from_row
from storage.models import (
    BlockedChatRow,
    CheckinRow,
    CommunityRow,
    MemberLifecycleRow,
    MemberRow,
    MembershipEventRow,
    ReferralRow,
    UserRow,
)
from storage.prepared import PerDialect, Prepared, is_asyncpg
from storage.sql import _table, insert_ignoring_conflict


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


_PENDING_REFERRAL = (
    exists()
    .where(
        ReferralRow.community_id == bindparam("key_community"),
        ReferralRow.invitee_id == bindparam("key_user"),
        ReferralRow.status == str(ReferralStatus.PENDING),
    )
    .label("pending_referral")
)
_AT_RISK_OR_CHURNED = (
    exists()
    .where(
        MemberLifecycleRow.community_id == bindparam("key_community"),
        MemberLifecycleRow.user_id == bindparam("key_user"),
        or_(
            MemberLifecycleRow.stage == literal(Stage.AT_RISK.value),
            MemberLifecycleRow.stage == literal(Stage.CHURNED.value),
        ),
    )
    .label("at_risk_or_churned")
)
_CHECKING_IN = Prepared(
    select(*_MEMBERS.c, _PENDING_REFERRAL, _AT_RISK_OR_CHURNED).where(_MEMBER_KEY)
)


def _checking_in_adding() -> Prepared:
    """PostgreSQL: the member checking in, inserted (not joined) when absent, with their
    pending referral and lifecycle stage, in one statement (one round trip). The insert's
    rows come back through RETURNING; a present member from the statement's snapshot."""
    columns = ["community_id", "user_id", "is_member", "balance", "lifetime_earned", "streak"]
    columns += ["tier", "activity_points_today"]
    absent = ~exists().where(_MEMBER_KEY)
    added = (
        postgresql.insert(_MEMBERS)
        .from_select(
            columns,
            select(
                bindparam("key_community", type_=BigInteger),
                bindparam("key_user", type_=BigInteger),
                true(),
                literal(0),
                literal(0),
                literal(0),
                literal(int(Tier.NEWCOMER)),
                literal(0),
            ).where(absent),
        )
        .on_conflict_do_nothing()
        .returning(*_MEMBERS.c)
        .cte("added")
    )
    present = select(
        *_MEMBERS.c, false().label("added"), _PENDING_REFERRAL, _AT_RISK_OR_CHURNED
    ).where(_MEMBER_KEY)
    inserted = select(*added.c, true(), false(), _AT_RISK_OR_CHURNED)
    return Prepared(union_all(present, inserted))


_CHECKING_IN_ADDING = _checking_in_adding()


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

    async def get_or_add_for_checkin(
        self, community_id: int, user_id: int, now: datetime, display_name: str
    ) -> CheckingInMember:
        key = {"key_community": community_id, "key_user": user_id}
        dialect = self._session.bind.dialect if self._session.bind is not None else None
        if is_asyncpg(dialect):
            found = (await _CHECKING_IN_ADDING.run(self._session, key)).one_or_none()
            if found is not None:
                return CheckingInMember(
                    _member_from_row(found, display_name),
                    bool(found.added),
                    bool(found.pending_referral),
                    bool(found.at_risk_or_churned),
                )
        else:
            found = (await _CHECKING_IN.run(self._session, key)).one_or_none()
            if found is not None:
                return CheckingInMember(
                    _member_from_row(found, display_name),
                    False,
                    bool(found.pending_referral),
                    bool(found.at_risk_or_churned),
                )
        member = await self.add(community_id, user_id, now, joined=False, display_name=display_name)
        return CheckingInMember(member, True, False, False)

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
                if joined:
                    await self._event(community_id, user_id, MembershipEvent.JOIN, now)
                return _member_from_row(added, display_name)
        elif await insert_ignoring_conflict(self._session, MemberRow, values) and joined:
            await self._event(community_id, user_id, MembershipEvent.JOIN, now)
        member = await self.get(community_id, user_id)
        assert member is not None
        return member

    async def mark_joined(self, community_id: int, user_id: int, now: datetime) -> None:
        await self._session.execute(
            update(MemberRow)
            .where(_member_key(community_id, user_id))
            .values(is_member=True, joined_at=now, left_at=None)
        )
        await self._event(community_id, user_id, MembershipEvent.JOIN, now)

    async def mark_left(self, community_id: int, user_id: int, now: datetime) -> None:
        """A member's leave; one who had left already stays as they were."""
        result = await self._session.execute(
            update(MemberRow)
            .where(_member_key(community_id, user_id), MemberRow.is_member.is_(True))
            .values(is_member=False, left_at=now)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            await self._event(community_id, user_id, MembershipEvent.LEAVE, now)

    async def _event(
        self, community_id: int, user_id: int, kind: MembershipEvent, at: datetime
    ) -> None:
        await self._session.execute(
            insert(MembershipEventRow).values(
                community_id=community_id, user_id=user_id, kind=kind.value, at=at
            )
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

    async def add_noting_activity(
        self, community_id: int, user_id: int, day: date, streak: int, points: int, at: datetime
    ) -> bool | None:
        """The check-in and its count in the day's activity: None when the member had checked
        in that day already, else whether it was their first activity of the day. (On
        PostgreSQL the ledger books both in one statement: `SqlLedgerRepository.book_checkin`.)"""
        if not await self.add(community_id, user_id, day, streak, points, at):
            return None
        return await SqlActivityRepository(self._session).note(
            community_id, user_id, day, Activity.CHECKIN
        )
