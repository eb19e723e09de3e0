"""Members' lifecycle stages, judged in bulk by SQL over activity_days (never by loading
members into Python), a range of user ids per statement so that a large community is judged
in short transactions, win-back messages once per at-risk episode, and the claims that make
the daily judgement and the weekly digest run once per community. It never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    Float,
    Integer,
    String,
    and_,
    bindparam,
    column,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from bot.domain.models import LifecycleEntry, LifecycleRules, Stage, WeekNumbers
from storage.models import LifecycleClaimRow, MemberLifecycleRow, MemberRow, UtcDateTime
from storage.prepared import Prepared
from storage.sql import insert_ignoring_conflict

RISKY = "('at_risk', 'churned')"

# On a member's first activity of a day: an at-risk or churned member is won back at once.
_RETURNED = Prepared(
    update(MemberLifecycleRow)
    .where(
        MemberLifecycleRow.community_id == bindparam("key_community"),
        MemberLifecycleRow.user_id == bindparam("key_user"),
        or_(
            MemberLifecycleRow.stage == literal(Stage.AT_RISK.value),
            MemberLifecycleRow.stage == literal(Stage.CHURNED.value),
        ),
    )
    .values(
        stage=Stage.WON_BACK.value,
        stage_since=bindparam("returned_day"),
        last_active_day=bindparam("returned_day"),
        risk_since=None,
    )
)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _day_number(dialect: str, column: str) -> str:
    """Days since 1970-01-01 of a DATE column, as an integer."""
    if dialect == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def _param(dialect: str, name: str, sql_type: str) -> str:
    """A bound parameter whose type PostgreSQL cannot infer from where it stands."""
    return f"CAST(:{name} AS {sql_type})" if dialect == "postgresql" else f":{name}"


def _judge_statement(dialect: str, loyal_weeks: int) -> TextClause:
    last_n = _day_number(dialect, "s.last_day")
    first_n = _day_number(dialect, "s.first_day")
    today = _param(dialect, "today", "DATE")
    weeks = ",\n".join(
        f"MAX(CASE WHEN day > :week_{k} AND day <= :week_{k - 1} THEN 1 ELSE 0 END) AS w{k}"
        for k in range(1, loyal_weeks + 1)
    )
    every_week = " AND ".join(f"s.w{k} = 1" for k in range(1, loyal_weeks + 1))
    sql = f"""
WITH stats AS (
  SELECT user_id, COUNT(*) AS n, MIN(day) AS first_day, MAX(day) AS last_day,
  {weeks}
  FROM activity_days
  WHERE community_id = :community_id AND day > :since AND day <= :week_0
    AND user_id > :after_user AND user_id <= :last_user
  GROUP BY user_id
),
judged AS (
  SELECT m.user_id AS user_id, s.last_day AS last_day,
    CASE WHEN s.n >= 2 THEN ({last_n} - {first_n}) * 1.0 / (s.n - 1) END AS usual_gap,
    CASE
      WHEN NOT m.is_member THEN 'churned'
      WHEN s.n IS NULL THEN
        CASE
          WHEN m.joined_at > :new_after THEN 'new'
          WHEN m.joined_at IS NULL OR m.joined_at <= :churn_after THEN 'churned'
          WHEN m.joined_at <= :inactive_after THEN 'at_risk'
          ELSE 'active'
        END
      WHEN :today_n - {last_n} >= :churn_days THEN 'churned'
      WHEN s.n >= :min_history AND :today_n - {last_n} >= :min_gap
        AND (:today_n - {last_n}) * 1.0 > :factor * ({last_n} - {first_n}) * 1.0 / (s.n - 1)
        THEN 'at_risk'
      WHEN s.n < :min_history AND :today_n - {last_n} >= :inactive_days THEN 'at_risk'
      WHEN m.joined_at > :new_after THEN 'new'
      WHEN {every_week} THEN 'loyal'
      ELSE 'active'
    END AS base
  FROM members m LEFT JOIN stats s ON s.user_id = m.user_id
  WHERE m.community_id = :community_id AND m.user_id > :after_user AND m.user_id <= :last_user
),
decided AS (
  SELECT j.user_id AS user_id, j.last_day AS last_day, j.usual_gap AS usual_gap,
    p.stage AS prev, p.stage_since AS prev_since, p.risk_since AS prev_risk,
    p.key_since AS key_since, p.key_noticed AS key_noticed,
    CASE
      WHEN j.base IN {RISKY} THEN j.base
      WHEN p.stage IN {RISKY} THEN 'won_back'
      WHEN p.stage = 'won_back' AND p.stage_since > :won_back_after THEN 'won_back'
      ELSE j.base
    END AS stage
  FROM judged j
  LEFT JOIN member_lifecycle p ON p.community_id = :community_id AND p.user_id = j.user_id
)
INSERT INTO member_lifecycle (community_id, user_id, stage, stage_since, usual_gap_days,
  last_active_day, risk_since, key_since, key_noticed, judged_on)
SELECT :community_id, user_id, stage,
  CASE WHEN prev = stage THEN prev_since ELSE {today} END,
  usual_gap, last_day,
  CASE WHEN stage IN {RISKY} THEN
    CASE WHEN prev IN {RISKY} THEN COALESCE(prev_risk, {today}) ELSE {today} END
  END,
  key_since, COALESCE(key_noticed, false), {today}
FROM decided WHERE true
ON CONFLICT (community_id, user_id) DO UPDATE SET
  stage = excluded.stage, stage_since = excluded.stage_since,
  usual_gap_days = excluded.usual_gap_days, last_active_day = excluded.last_active_day,
  risk_since = excluded.risk_since, judged_on = excluded.judged_on
"""
    return text(sql).bindparams(
        bindparam("today", type_=Date()),
        bindparam("since", type_=Date()),
        bindparam("won_back_after", type_=Date()),
        *(bindparam(f"week_{k}", type_=Date()) for k in range(loyal_weeks + 1)),
        bindparam("new_after", type_=UtcDateTime()),
        bindparam("churn_after", type_=UtcDateTime()),
        bindparam("inactive_after", type_=UtcDateTime()),
    )


_KEY_SET = """
WITH points AS (
  SELECT l.user_id AS user_id, SUM(l.amount) AS points
  FROM points_ledger l JOIN members m ON m.community_id = l.community_id
    AND m.user_id = l.user_id AND m.is_member
  WHERE l.community_id = :community_id AND l.created_at >= :points_after AND l.amount > 0
  GROUP BY l.user_id
),
ranked AS (
  SELECT user_id, ROW_NUMBER() OVER (ORDER BY points DESC, user_id) AS place FROM points
),
population AS (
  SELECT COUNT(*) AS n FROM members WHERE community_id = :community_id AND is_member
),
inviters AS (
  SELECT inviter_id AS user_id, COUNT(*) AS n FROM referrals
  WHERE community_id = :community_id AND status = 'qualified' AND inviter_id IS NOT NULL
  GROUP BY inviter_id
)
SELECT r.user_id FROM ranked r LEFT JOIN inviters i ON i.user_id = r.user_id, population
WHERE (r.place - 1) * 100 < :percent * population.n
  AND COALESCE(i.n, 0) >= :min_referrals
"""


_KEY_MEMBERS_BY_RULE = text(_KEY_SET).bindparams(bindparam("points_after", type_=UtcDateTime()))
_KEY_HOLDERS = text(
    "SELECT user_id FROM member_lifecycle WHERE community_id = :community_id "
    "AND key_since IS NOT NULL"
)
KEY_UPDATE_CHUNK = 500

_CHUNK_END = text(
    """SELECT MAX(user_id) FROM (SELECT user_id FROM members
WHERE community_id = :community_id AND user_id > :after_user
ORDER BY user_id LIMIT :size) AS chunk"""
)

_TAKE_OVER = (
    update(LifecycleClaimRow)
    .where(
        LifecycleClaimRow.community_id == bindparam("key_community"),
        LifecycleClaimRow.kind == bindparam("key_kind"),
        LifecycleClaimRow.period == bindparam("key_period"),
        LifecycleClaimRow.claimed_at < bindparam("stale_before"),
    )
    .values(claimed_at=bindparam("claimed"))
)


_ENTRY_COLUMNS = """l.user_id, u.first_name, u.username, l.stage, l.usual_gap_days,
  l.last_active_day, m.lifetime_earned,
  (SELECT COUNT(*) FROM referrals r WHERE r.community_id = l.community_id
     AND r.inviter_id = l.user_id AND r.status = 'qualified') AS referrals,
  l.key_since"""


def _entry(row: Any) -> LifecycleEntry:
    user_id, first_name, username, stage, gap, last_day, lifetime, referrals, key_since = row
    shown = first_name or (f"@{username}" if username else str(user_id))
    return LifecycleEntry(
        user_id=int(user_id),
        display_name=shown,
        stage=Stage(stage),
        usual_gap_days=None if gap is None else float(gap),
        last_active_day=last_day,
        lifetime_points=int(lifetime or 0),
        referrals=int(referrals or 0),
        key_since=key_since,
    )


def _entries_statement(where: str, order: str) -> TextualSelect:
    return text(
        f"""SELECT {_ENTRY_COLUMNS}
FROM member_lifecycle l
JOIN users u ON u.id = l.user_id
JOIN members m ON m.community_id = l.community_id AND m.user_id = l.user_id
WHERE l.community_id = :community_id AND {where}
ORDER BY {order}
LIMIT :limit"""
    ).columns(
        column("user_id", Integer()),
        column("first_name", String()),
        column("username", String()),
        column("stage", String()),
        column("usual_gap_days", Float()),
        column("last_active_day", Date()),
        column("lifetime_earned", Integer()),
        column("referrals", Integer()),
        column("key_since", Date()),
    )


_AT_RISK = _entries_statement(
    "l.stage = 'at_risk' AND m.is_member", "m.lifetime_earned DESC, referrals DESC, l.user_id"
)
_KEY_MEMBERS = _entries_statement(
    "l.key_since IS NOT NULL", "m.lifetime_earned DESC, referrals DESC, l.user_id"
)
_UNNOTICED_KEY = _entries_statement("l.key_since IS NOT NULL AND NOT l.key_noticed", "l.user_id")

_START_WINBACKS = (
    text(
        """INSERT INTO winbacks (community_id, user_id, episode, sent_day, deadline_day, sent_at)
SELECT l.community_id, l.user_id, l.risk_since, :today, :deadline, :now
FROM member_lifecycle l
JOIN users u ON u.id = l.user_id
JOIN members m ON m.community_id = l.community_id AND m.user_id = l.user_id
WHERE l.community_id = :community_id AND l.stage = 'at_risk' AND l.risk_since IS NOT NULL
  AND l.user_id > :after_user AND l.user_id <= :last_user
  AND m.is_member AND u.can_message
  AND NOT EXISTS (SELECT 1 FROM blocked_chats b WHERE b.chat_id = l.user_id)
  AND NOT EXISTS (SELECT 1 FROM winbacks w WHERE w.community_id = l.community_id
    AND w.user_id = l.user_id AND w.episode = l.risk_since)
RETURNING user_id, episode"""
    )
    .bindparams(
        bindparam("today", type_=Date()),
        bindparam("deadline", type_=Date()),
        bindparam("now", type_=UtcDateTime()),
    )
    .columns(column("user_id", Integer()), column("episode", Date()))
)

_WINBACK_RATE = text(
    """SELECT COUNT(*),
  SUM(CASE WHEN EXISTS (SELECT 1 FROM activity_days a WHERE a.community_id = w.community_id
    AND a.user_id = w.user_id AND a.day > w.sent_day AND a.day <= w.deadline_day)
    THEN 1 ELSE 0 END)
FROM winbacks w WHERE w.community_id = :community_id AND w.sent_at >= :since"""
).bindparams(bindparam("since", type_=UtcDateTime()))

_WEEK = text(
    """SELECT
  (SELECT COUNT(*) FROM membership_events WHERE community_id = :community_id
     AND kind = 'join' AND at >= :start_at AND at < :end_at),
  (SELECT COUNT(*) FROM membership_events WHERE community_id = :community_id
     AND kind = 'leave' AND at >= :start_at AND at < :end_at),
  (SELECT COUNT(DISTINCT user_id) FROM activity_days WHERE community_id = :community_id
     AND day >= :start_day AND day < :end_day),
  (SELECT COALESCE(SUM(checkins), 0) FROM activity_days WHERE community_id = :community_id
     AND day >= :start_day AND day < :end_day),
  (SELECT COALESCE(SUM(amount), 0) FROM points_ledger WHERE community_id = :community_id
     AND amount > 0 AND created_at >= :start_at AND created_at < :end_at),
  (SELECT COUNT(*) FROM member_lifecycle WHERE community_id = :community_id
     AND key_since >= :start_day AND key_since < :end_day),
  (SELECT COUNT(*) FROM member_lifecycle WHERE community_id = :community_id
     AND stage = 'at_risk' AND risk_since < :end_day)"""
).bindparams(
    bindparam("start_at", type_=UtcDateTime()),
    bindparam("end_at", type_=UtcDateTime()),
    bindparam("start_day", type_=Date()),
    bindparam("end_day", type_=Date()),
)


class SqlLifecycleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, community_id: int, kind: str, period: date, now: datetime) -> bool:
        """True for the one caller that claims this community's work of that period."""
        return await insert_ignoring_conflict(
            self._session,
            LifecycleClaimRow,
            {"community_id": community_id, "kind": kind, "period": period, "claimed_at": now},
        )

    async def take_over(
        self, community_id: int, kind: str, period: date, stale_before: datetime, now: datetime
    ) -> bool:
        """True for the one caller that takes over a claim made before `stale_before` (its
        holder stopped half-way); the claim is then dated `now`."""
        result = await self._session.execute(
            _TAKE_OVER,
            {
                "key_community": community_id,
                "key_kind": kind,
                "key_period": period,
                "stale_before": stale_before,
                "claimed": now,
            },
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    async def chunk_end(self, community_id: int, after_user: int, size: int) -> int | None:
        """The id of the `size`-th member (by user id) after `after_user`, or of the last one
        when fewer follow; None when none follows."""
        found = await self._session.scalar(
            _CHUNK_END, {"community_id": community_id, "after_user": after_user, "size": size}
        )
        return None if found is None else int(found)

    async def judge(
        self,
        community_id: int,
        rules: LifecycleRules,
        today: date,
        now: datetime,
        users: tuple[int, int],
    ) -> None:
        """The stage, as of their community's local `today` (activity up to and including
        it), of every member whose user id is in (users[0], users[1]]; one statement."""
        dialect = _dialect(self._session)
        weeks = {f"week_{k}": today - timedelta(days=7 * k) for k in range(rules.loyal_weeks + 1)}
        await self._session.execute(
            _judge_statement(dialect, rules.loyal_weeks),
            {
                "community_id": community_id,
                "after_user": users[0],
                "last_user": users[1],
                "today": today,
                "today_n": (today - date(1970, 1, 1)).days,
                "since": today - timedelta(days=rules.history_days),
                "won_back_after": today - timedelta(days=rules.won_back_days),
                "new_after": now - timedelta(days=rules.new_days),
                "churn_after": now - timedelta(days=rules.churn_days),
                "inactive_after": now - timedelta(days=rules.inactive_days),
                "churn_days": rules.churn_days,
                "min_history": rules.min_history_days,
                "min_gap": rules.min_gap_days,
                "factor": rules.rhythm_factor,
                "inactive_days": rules.inactive_days,
                **weeks,
            },
        )

    async def key_changes(
        self, community_id: int, rules: LifecycleRules, now: datetime
    ) -> tuple[Sequence[int], Sequence[int]]:
        """(members who became key members by the community's rule, members who ceased)."""
        parameters = {
            "community_id": community_id,
            "points_after": now - timedelta(days=rules.key_days),
            "percent": rules.key_top_percent,
            "min_referrals": rules.key_min_referrals,
        }
        by_rule = {
            int(user_id)
            for user_id in (await self._session.execute(_KEY_MEMBERS_BY_RULE, parameters)).scalars()
        }
        holders = {
            int(user_id)
            for user_id in (
                await self._session.execute(_KEY_HOLDERS, {"community_id": community_id})
            ).scalars()
        }
        return sorted(by_rule - holders), sorted(holders - by_rule)

    async def change_key_members(
        self, community_id: int, became: Sequence[int], ceased: Sequence[int], today: date
    ) -> None:
        """Key members from `today` (not yet told to the moderators), and those no more."""
        for values, users in (
            ({"key_since": None, "key_noticed": False}, ceased),
            ({"key_since": today, "key_noticed": False}, became),
        ):
            for start in range(0, len(users), KEY_UPDATE_CHUNK):
                await self._session.execute(
                    update(MemberLifecycleRow)
                    .where(
                        MemberLifecycleRow.community_id == community_id,
                        MemberLifecycleRow.user_id.in_(users[start : start + KEY_UPDATE_CHUNK]),
                    )
                    .values(**values)
                )

    async def note_return(self, community_id: int, user_id: int, day: date) -> None:
        """The member is active on `day`: won back now if they were at risk or churned."""
        await _RETURNED.run(
            self._session, {"key_community": community_id, "key_user": user_id, "returned_day": day}
        )

    async def start_winbacks(
        self,
        community_id: int,
        today: date,
        deadline: date,
        now: datetime,
        users: tuple[int, int],
    ) -> Sequence[tuple[int, date]]:
        """Records a win-back for each reachable at-risk member, user id in (users[0],
        users[1]], whose episode has none yet; returns (user id, episode) of those recorded."""
        rows = await self._session.execute(
            _START_WINBACKS,
            {
                "community_id": community_id,
                "today": today,
                "deadline": deadline,
                "now": now,
                "after_user": users[0],
                "last_user": users[1],
            },
        )
        return [(int(user_id), episode) for user_id, episode in rows.all()]

    async def winback_rate(self, community_id: int, since: datetime) -> tuple[int, int]:
        row = (
            await self._session.execute(
                _WINBACK_RATE, {"community_id": community_id, "since": since}
            )
        ).one()
        return int(row[0] or 0), int(row[1] or 0)

    async def at_risk(self, community_id: int, limit: int) -> Sequence[LifecycleEntry]:
        rows = await self._session.execute(_AT_RISK, {"community_id": community_id, "limit": limit})
        return [_entry(row) for row in rows.all()]

    async def key_members(self, community_id: int, limit: int) -> Sequence[LifecycleEntry]:
        rows = await self._session.execute(
            _KEY_MEMBERS, {"community_id": community_id, "limit": limit}
        )
        return [_entry(row) for row in rows.all()]

    async def unnoticed_key_members(self, community_id: int) -> Sequence[LifecycleEntry]:
        rows = await self._session.execute(
            _UNNOTICED_KEY, {"community_id": community_id, "limit": 1000}
        )
        return [_entry(row) for row in rows.all()]

    async def mark_key_noticed(self, community_id: int, user_ids: Sequence[int]) -> None:
        if user_ids:
            await self._session.execute(
                update(MemberLifecycleRow)
                .where(
                    MemberLifecycleRow.community_id == community_id,
                    MemberLifecycleRow.user_id.in_(user_ids),
                )
                .values(key_noticed=True)
            )

    async def week_numbers(
        self, community_id: int, start: date, start_at: datetime, end_at: datetime
    ) -> WeekNumbers:
        """The week of local days from `start` (the moments `start_at` to `end_at`)."""
        row = (
            await self._session.execute(
                _WEEK,
                {
                    "community_id": community_id,
                    "start_at": start_at,
                    "end_at": end_at,
                    "start_day": start,
                    "end_day": start + timedelta(days=7),
                },
            )
        ).one()
        return WeekNumbers(*(int(value or 0) for value in row))

    async def community_ids(self) -> Sequence[int]:
        return await community_ids(self._session)

    async def unjudged_members(self, limit: int) -> Sequence[tuple[int, int]]:
        rows = await self._session.execute(
            select(MemberRow.community_id, MemberRow.user_id)
            .outerjoin(
                MemberLifecycleRow,
                and_(
                    MemberLifecycleRow.community_id == MemberRow.community_id,
                    MemberLifecycleRow.user_id == MemberRow.user_id,
                ),
            )
            .where(MemberLifecycleRow.user_id.is_(None))
            .order_by(MemberRow.community_id, MemberRow.user_id)
            .limit(limit)
        )
        return [(int(community_id), int(user_id)) for community_id, user_id in rows]

    async def is_claimed(self, community_id: int, kind: str, period: date) -> bool:
        found = await self._session.scalar(
            select(LifecycleClaimRow.period).where(
                LifecycleClaimRow.community_id == community_id,
                LifecycleClaimRow.kind == kind,
                LifecycleClaimRow.period == period,
            )
        )
        return found is not None


_COMMUNITY_IDS = text("SELECT id FROM communities ORDER BY id")


async def community_ids(session: AsyncSession) -> Sequence[int]:
    return [int(value) for (value,) in (await session.execute(_COMMUNITY_IDS)).all()]
