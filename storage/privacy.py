"""What is stored about one member, feature by feature (/mydata). It never commits.

PARTS is the registry: one entry per table that holds a Telegram user id, naming the
columns that do. tests/unit/test_privacy_registry.py walks the metadata and fails when a
table with such a column is missing here, so a new feature must declare its part."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    Table,
    Text,
    cast,
    delete,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.caches import user_forgotten
from storage.models import Base
from storage.reward_memory import remember_before_erasure
from storage.tickets import reopen_orphaned_duplicates

# Column names that hold a Telegram user id (private chat ids equal user ids).
USER_ID_COLUMNS = frozenset(
    {
        "user_id",
        "invitee_id",
        "inviter_id",
        "actor_id",
        "target_user_id",
        "created_by",
        "settled_by",
        "photo_user_id",
    }
)


# The user id that erased members' kept rows (ledger amounts, lottery picks) point to: a
# users row with no name, so that foreign keys hold and nothing leads back to anyone.
ERASED_USER_ID = 0


class Scrub(StrEnum):
    """What becomes of a free-text or key column of a kept row that may name the user."""

    NULL = "null"
    EMPTY = "empty"
    UNIQUE = "unique"  # `erased:<row id>`: keeps a unique key unique
    ENTRY_LIST = "entry_list"  # a lottery's published `<user id>:<number>` lines


@dataclass(frozen=True)
class Erase:
    """How /forgetme treats a row that names the user in one column: delete the row, or
    keep it with the column set to NULL (`null`) or to ERASED_USER_ID (`placeholder`), the
    `scrub` columns rewritten. `keep` (only for `mentions`) changes just the scrubbed columns."""

    action: Literal["delete", "null", "placeholder", "keep"]
    scrub: tuple[tuple[str, Scrub], ...] = ()


DELETE = Erase("delete")
SET_NULL = Erase("null")
PLACEHOLDER = Erase("placeholder")
# A table that names no one (no user-id column): kept whole by /forgetme.
NOT_PERSONAL = Erase("keep")


def anonymize(action: Literal["null", "placeholder", "keep"], **scrub: Scrub) -> Erase:
    return Erase(action, tuple(scrub.items()))


@dataclass(frozen=True)
class Part:
    """One feature's share of a member's data: a section name, the table's user-id columns,
    and how /forgetme erases it: one Erase for every column, or a mapping column -> Erase.
    `mentions`: text, key or JSON columns of rows that do not otherwise name the user but
    may embed their id (or name), with what to do to such rows."""

    section: str
    table: str
    columns: tuple[str, ...]
    erase: Erase | Mapping[str, Erase] | None = None
    mentions: Mapping[str, Erase] = field(default_factory=dict)
    shown: tuple[str, ...] = ()  # the columns /mydata shows (all when empty)

    def erase_of(self, column: str) -> Erase | None:
        if isinstance(self.erase, Erase) or self.erase is None:
            return self.erase
        return self.erase.get(column)


PARTS: tuple[Part, ...] = (
    Part("user", "users", ("id",)),
    Part("memberships", "members", ("user_id",)),
    Part("checkins", "checkins", ("user_id",)),
    Part("ledger", "points_ledger", ("user_id", "actor_id")),
    Part("badges", "member_badges", ("user_id",)),
    Part("audit", "audit_log", ("actor_id", "target_user_id")),
    Part("invite_links", "invite_links", ("user_id",)),
    Part("console", "console_links", ("user_id",), erase=DELETE),
    Part("referrals", "referrals", ("invitee_id", "inviter_id")),
    Part("remembered_referrals", "remembered_referrals", ("invitee_id", "inviter_id")),
    Part("outgoing_messages", "outgoing_messages", ("chat_id",)),
    Part("blocked_chats", "blocked_chats", ("chat_id",)),
    Part("shop_orders", "shop_orders", ("user_id", "settled_by")),
    Part("campaigns_created", "campaigns", ("created_by",)),
    Part("shop_items_created", "shop_items", ("created_by",)),
    Part("lotteries_created", "lotteries", ("created_by",)),
    Part("quiz_sessions_started", "quiz_sessions", ("created_by",)),
    Part("quiz_schedules_created", "quiz_schedules", ("created_by",)),
    Part("lottery_entries", "lottery_entries", ("user_id",)),
    Part("lottery_wins", "lottery_winners", ("user_id",)),
    Part("lottery_drafts", "lottery_drafts", ("user_id",)),
    Part("quiz_answers", "quiz_answers", ("user_id",)),
    Part("activity_days", "activity_days", ("user_id",), erase=DELETE),
    Part("membership_events", "membership_events", ("user_id",), erase=DELETE),
    Part("lifecycle", "member_lifecycle", ("user_id",), erase=DELETE),
    Part("winbacks", "winbacks", ("user_id",), erase=DELETE),
    # A forgotten reporter's tickets go, with their history (ticket_events cascade); what a
    # moderator did to others' tickets stays without their id.
    Part("tickets", "tickets", ("user_id",), erase=DELETE),
    # Their photo attached to someone else's ticket (a reply to their photo message): the
    # photo goes, the ticket stays; /mydata shows them the photo, not the reporter's words.
    Part(
        "ticket_photos",
        "tickets",
        ("photo_user_id",),
        erase=anonymize("null", photo_file_id=Scrub.NULL),
        shown=("community_id", "number", "photo_file_id", "created_at"),
    ),
    Part("ticket_events", "ticket_events", ("actor_id",), erase=SET_NULL),
    Part("survey_answers", "survey_answers", ("user_id",), erase=DELETE),
    Part("surveys_created", "surveys", ("created_by",), erase=SET_NULL),
    Part("survey_schedules_created", "survey_schedules", ("created_by",), erase=SET_NULL),
    Part("birthdays", "birthdays", ("user_id",), erase=DELETE),
    Part("birthday_greetings", "birthday_greetings", ("user_id",), erase=DELETE),
    Part("quiz_imports_requested", "quiz_imports", ("created_by",), erase=SET_NULL),
    # Not personal data, kept: one-time rewards already given, the person only a keyed hash
    # of their id (HMAC-SHA256) that leads to no one without the secret below; it is what
    # keeps a forgotten member who comes back from being rewarded twice (fraud prevention).
    Part("reward_memory", "reward_memory", (), erase=NOT_PERSONAL),
    Part("app_secrets", "app_secrets", (), erase=NOT_PERSONAL),  # the bot's own random keys
)

# How each part is erased (/forgetme), by (table, section). Kept apart from PARTS only so
# that the parts above read as they did; a new part declares `erase=` in its Part line.
_ERASES: dict[str, Erase | Mapping[str, Erase]] = {
    "memberships": DELETE,
    "checkins": DELETE,
    # Amounts stay so that group totals stay right; nothing in them leads back to the user.
    "ledger": {
        "user_id": anonymize("placeholder", reason=Scrub.NULL, idempotency_key=Scrub.UNIQUE),
        "actor_id": SET_NULL,
    },
    "badges": DELETE,
    # Moderators' accountability stays: what was done, not to whom.
    "audit": {"actor_id": SET_NULL, "target_user_id": anonymize("null", detail=Scrub.EMPTY)},
    "invite_links": DELETE,
    "referrals": {"invitee_id": DELETE, "inviter_id": SET_NULL},
    "remembered_referrals": DELETE,
    "outgoing_messages": DELETE,
    "blocked_chats": DELETE,
    "shop_orders": {"user_id": DELETE, "settled_by": SET_NULL},
    "campaigns_created": SET_NULL,
    "shop_items_created": SET_NULL,
    "lotteries_created": SET_NULL,
    "quiz_sessions_started": SET_NULL,
    "quiz_schedules_created": SET_NULL,
    "lottery_entries": DELETE,
    "lottery_wins": PLACEHOLDER,
    "lottery_drafts": DELETE,
    "quiz_answers": DELETE,
    "user": DELETE,  # last: the rows that point to it were dealt with above
}
_MENTIONS: dict[str, Mapping[str, Erase]] = {
    # Another member's referral reward is keyed by the invitee's id.
    "ledger": {
        "idempotency_key": anonymize("keep", idempotency_key=Scrub.UNIQUE),
        "reason": anonymize("keep", reason=Scrub.NULL),  # "referral of <invitee id>"
    },
    # Announcements about them (a promotion, a welcome), wherever they were to go.
    "outgoing_messages": {"dedup_key": DELETE, "payload": DELETE},
    "lotteries_created": {"drawn_entries": anonymize("keep", drawn_entries=Scrub.ENTRY_LIST)},
}
PARTS = tuple(
    replace(
        part,
        erase=part.erase if part.erase is not None else _ERASES.get(part.section),
        mentions=part.mentions or _MENTIONS.get(part.section, {}),
    )
    for part in PARTS
)
# Tables that hold a user id in a raw payload only (no user-id column).
MENTION_PARTS: tuple[Part, ...] = (
    Part("dead_letters", "dead_letters", (), erase=None, mentions={"payload": DELETE}),
)

# Per section, at most this many rows (newest first by primary key) go into one export.
EXPORT_ROW_LIMIT = 5000


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def user_id_tables() -> dict[str, set[str]]:
    """Every table with a column named like a user id, and those columns."""
    found: dict[str, set[str]] = {}
    for table in Base.metadata.sorted_tables:
        columns = {c.name for c in table.columns if c.name in USER_ID_COLUMNS}
        if columns:
            found[table.name] = columns
    return found


class SqlPrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._export = SqlCommunityExport(session)

    async def community_rows(
        self, community_id: int, kind: str, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """One of EXPORT_TABLES for a group, oldest first, at most `limit` rows."""
        return await self._export.rows(community_id, kind, limit)

    async def export_user(self, user_id: int) -> dict[str, list[dict[str, Any]]]:
        """Each part's rows about the user, as JSON-ready dicts."""
        sections: dict[str, list[dict[str, Any]]] = {}
        for part in PARTS:
            if not part.columns:
                continue
            table: Table = Base.metadata.tables[part.table]
            keys = list(table.primary_key.columns)
            shown = [table.c[name] for name in part.shown] or list(table.columns)
            query = (
                select(*shown)
                .where(or_(*(table.c[name] == user_id for name in part.columns)))
                .order_by(*(key.desc() for key in keys))
                .limit(EXPORT_ROW_LIMIT)
            )
            rows = (await self._session.execute(query)).mappings().all()
            sections[part.section] = [
                {key: _plain(value) for key, value in row.items()} for row in rows
            ]
        return sections

    async def erase_user(self, user_id: int) -> dict[str, int]:
        """/forgetme: every part's rows about the user deleted or anonymized as the part
        declares (PARTS, then MENTION_PARTS, the users row last), in this transaction; the
        one-time rewards those rows show as given are kept in the reward memory first.
        Returns the rows changed per section (all zero: nothing was stored)."""
        await self._session.flush()
        await remember_before_erasure(self._session, user_id)
        names = await self._names_of(user_id)
        await self._ensure_erased_user()
        changed: dict[str, int] = {}
        user_parts = [part for part in PARTS if part.table == "users"]
        for part in [*(p for p in PARTS if p.table != "users"), *MENTION_PARTS, *user_parts]:
            table = Base.metadata.tables[part.table]
            total = 0
            for column in part.columns:
                erase = part.erase_of(column)
                if erase is None:
                    raise RuntimeError(f"{part.table}.{column}: no erase declared")
                where = table.c[column] == user_id
                total += await self._apply(table, where, erase, user_id, column)
            for column, erase in part.mentions.items():
                keys = await self._mentioning(table, table.c[column], user_id, names)
                if keys:
                    where = _key_in(table, keys)
                    total += await self._apply(table, where, erase, user_id, None)
            changed[part.section] = changed.get(part.section, 0) + total
        await reopen_orphaned_duplicates(self._session)
        user_forgotten(self._session, user_id)
        return changed

    async def _mentioning(
        self, table: Table, column: Any, user_id: int, names: list[str]
    ) -> list[Any]:
        """Keys of the rows whose `column` holds the user's id or (a JSON payload) a name."""
        forms = _forms(user_id, names, isinstance(column.type, JSON))
        text = cast(column, Text)
        keys = list(table.primary_key.columns)
        rows = (
            await self._session.execute(
                select(text, *keys).where(
                    or_(*(text.contains(form, autoescape=True) for form in sorted(forms)))
                )
            )
        ).all()
        return [tuple(row[1:]) for row in rows if row[0] and _holds(row[0], user_id, forms)]

    async def _names_of(self, user_id: int) -> list[str]:
        users = Base.metadata.tables["users"]
        row = (
            await self._session.execute(
                select(users.c.first_name, users.c.username).where(users.c.id == user_id)
            )
        ).one_or_none()
        if row is None:
            return []
        return [name for name in (row.first_name, row.username) if name and len(name) >= 2]

    async def _ensure_erased_user(self) -> None:
        users = Base.metadata.tables["users"]
        bind = self._session.get_bind()
        module = postgresql if bind.dialect.name == "postgresql" else sqlite
        await self._session.execute(
            module.insert(users)
            .values(id=ERASED_USER_ID, first_name="", username=None, is_bot=False)
            .on_conflict_do_nothing()
        )

    async def _apply(
        self,
        table: Table,
        where: ColumnElement[bool],
        erase: Erase,
        user_id: int,
        column: str | None,
    ) -> int:
        """`erase` on the rows `where` selects; `column`: the user-id column that named them
        (None for rows found through a mention)."""
        if erase.action == "delete":
            result = await self._session.execute(delete(table).where(where))
            return int(getattr(result, "rowcount", 0) or 0)
        values: dict[str, Any] = {}
        key = next(iter(table.primary_key.columns))
        lists: list[str] = []
        for name, scrub in erase.scrub:
            if scrub is Scrub.ENTRY_LIST:
                lists.append(name)
            elif scrub is Scrub.UNIQUE:
                values[name] = literal(ERASED_KEY_PREFIX) + cast(key, String)
            else:
                values[name] = None if scrub is Scrub.NULL else ""
        if erase.action in ("null", "placeholder") and column is not None:
            values[column] = None if erase.action == "null" else ERASED_USER_ID
        changed = 0
        for name in lists:
            rows = (await self._session.execute(select(key, table.c[name]).where(where))).all()
            for row_key, text in rows:
                rewritten = _without_entries(text or "", user_id)
                if rewritten != text:
                    await self._session.execute(
                        update(table).where(key == row_key).values({name: rewritten})
                    )
                    changed += 1
        if not values:
            return changed
        result = await self._session.execute(update(table).where(where).values(values))
        return changed + int(getattr(result, "rowcount", 0) or 0)


ERASED_KEY_PREFIX = "erased:"


def _key_in(table: Table, keys: list[Any]) -> ColumnElement[bool]:
    columns = list(table.primary_key.columns)
    if len(columns) == 1:
        return columns[0].in_([key[0] for key in keys])
    return tuple_(*columns).in_(keys)


def _forms(user_id: int, names: list[str], payload: bool) -> set[str]:
    """The user's id, and in a JSON payload their names as a payload escapes them."""
    forms = {str(user_id)}
    if payload:
        for name in names:
            for form in (name, html.escape(name, quote=False)):
                forms |= {form, json.dumps(form)[1:-1]}
    return forms


def _holds(text: str, user_id: int, forms: set[str]) -> bool:
    """The id as a whole number (not a digit run inside a group id), or a name."""
    uid = str(user_id)
    if re.search(rf"(?<![0-9-]){uid}(?![0-9])", text):
        return True
    return any(form in text for form in forms if form != uid)


def _without_entries(text: str, user_id: int) -> str:
    """A published entry list with the user's `<id>:<number>` tickets given to ERASED_USER_ID."""
    tickets = text.replace(",", "\n").split()
    if not any(ticket.partition(":")[0] == str(user_id) for ticket in tickets):
        return text
    return "\n".join(
        f"{ERASED_USER_ID}:{ticket.partition(':')[2]}"
        if ticket.partition(":")[0] == str(user_id)
        else ticket
        for ticket in tickets
    )


EXPORT_TABLES = {
    "members": "members",
    "ledger": "points_ledger",
    "checkins": "checkins",
    "referrals": "referrals",
    "tickets": "tickets",
}


class SqlCommunityExport:
    """A group's table as header and rows for a CSV file (/export)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def rows(
        self, community_id: int, kind: str, limit: int
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        table = Base.metadata.tables[EXPORT_TABLES[kind]]
        columns = list(table.columns)
        header = [column.name for column in columns]
        query = select(*columns)
        if kind == "members":
            users = Base.metadata.tables["users"]
            header += ["first_name", "username"]
            query = select(*columns, users.c.first_name, users.c.username).join(
                users, users.c.id == table.c.user_id
            )
        query = query.where(table.c.community_id == community_id).order_by(table.c.id).limit(limit)
        result = await self._session.execute(query)
        return header, [tuple(_plain(value) for value in row) for row in result.all()]
