"""What the process remembers between transactions, one set per engine: communities with
their settings, and the last user details written.

Correctness rules: a cached value is only what a committed transaction read or wrote. Any
write to a community (through the ORM, from any repository) empties the community cache at
once and again when that transaction ends, and that session reads past the cache until
then; user details are remembered only when the transaction that wrote them commits, and
forgotten when anything in it rolls back (a savepoint included). Another process sharing the
database is seen within `COMMUNITY_TTL` (its community changes) and `USER_TTL` (user details
it wrote); sooner when the processes share their invalidations (`communities_committed` tells
of a committed change to a community, `forget_communities` applies one, see
seedbot/shared.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from bot.domain.models import Community
from storage.models import CommunityRow

COMMUNITY_TTL = 5.0
USER_TTL = 600.0
MAX_USERS = 200_000

UserKey = tuple[str, str | None, str | None]
_CHANGED_COMMUNITIES = "seedbot.communities_changed"
_USERS_WRITTEN = "seedbot.users_written"
_USERS_FORGOTTEN = "seedbot.users_forgotten"


@dataclass
class EngineCaches:
    clock: Callable[[], float] = time.monotonic
    communities: dict[int, tuple[float, Community]] = field(default_factory=dict)
    community_generation: int = 0
    users: dict[int, tuple[float, UserKey]] = field(default_factory=dict)
    communities_committed: list[Callable[[], None]] = field(default_factory=list)

    def community(self, community_id: int) -> Community | None:
        found = self.communities.get(community_id)
        if found is None or self.clock() - found[0] > COMMUNITY_TTL:
            return None
        return found[1]

    def remember_community(self, community: Community, generation: int) -> None:
        if generation == self.community_generation:
            self.communities[community.id] = (self.clock(), community)

    def forget_communities(self) -> None:
        self.community_generation += 1
        self.communities.clear()

    def user_unchanged(self, user_id: int, key: UserKey) -> bool:
        found = self.users.get(user_id)
        return found is not None and found[1] == key and self.clock() - found[0] <= USER_TTL

    def remember_users(self, written: dict[int, UserKey]) -> None:
        if len(self.users) + len(written) > MAX_USERS:
            self.users.clear()
        now = self.clock()
        for user_id, key in written.items():
            self.users[user_id] = (now, key)


_caches: WeakKeyDictionary[Engine, EngineCaches] = WeakKeyDictionary()


def caches_of(session: AsyncSession | Session) -> EngineCaches | None:
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    bind = sync.bind
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    if engine is None:
        return None
    return caches_of_engine(engine)


def caches_of_engine(engine: Engine | AsyncEngine) -> EngineCaches:
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    found = _caches.get(sync)
    if found is None:
        found = _caches[sync] = EngineCaches()
    return found


def community_changed_here(session: AsyncSession) -> bool:
    """Whether this session's open transaction wrote to a community (read past the cache)."""
    return bool(session.sync_session.info.get(_CHANGED_COMMUNITIES))


def user_written(session: AsyncSession, user_id: int, key: UserKey) -> None:
    """Remembered for the process once this session's transaction commits."""
    session.sync_session.info.setdefault(_USERS_WRITTEN, {})[user_id] = key


def user_written_here(session: AsyncSession, user_id: int, key: UserKey) -> bool:
    """Whether this session's open transaction already wrote these details of the user (and
    no savepoint undid it since)."""
    return bool(session.sync_session.info.get(_USERS_WRITTEN, {}).get(user_id) == key)


def user_forgotten(session: AsyncSession, user_id: int) -> None:
    """The user's row was deleted (/forgetme): the process forgets their details now and
    again when this transaction commits (a concurrent transaction may have remembered them
    meanwhile), so that their next update writes the row afresh."""
    sync = session.sync_session
    sync.info.get(_USERS_WRITTEN, {}).pop(user_id, None)
    sync.info.setdefault(_USERS_FORGOTTEN, set()).add(user_id)
    caches = caches_of(session)
    if caches is not None:
        caches.users.pop(user_id, None)


def _communities_written(session: Session) -> None:
    session.info[_CHANGED_COMMUNITIES] = True
    caches = caches_of(session)
    if caches is not None:
        caches.forget_communities()


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and table.name == CommunityRow.__tablename__:
        _communities_written(state.session)


@event.listens_for(Session, "after_flush")
def _on_flush(session: Session, _context: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(row, CommunityRow) for row in touched):
        _communities_written(session)


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    written = session.info.pop(_USERS_WRITTEN, None)
    forgotten = session.info.pop(_USERS_FORGOTTEN, None)
    caches = caches_of(session)
    if caches is not None and written:
        caches.remember_users(written)
    if caches is not None and forgotten:
        for user_id in forgotten:
            caches.users.pop(user_id, None)
    if caches is not None and session.info.get(_CHANGED_COMMUNITIES):
        for tell in caches.communities_committed:
            tell()
    _transaction_over(session)


@event.listens_for(Session, "after_soft_rollback")
def _on_rollback(session: Session, _previous: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_USERS_WRITTEN, None)
        session.info.pop(_USERS_FORGOTTEN, None)
        _transaction_over(session)
    else:
        savepoint_undone(session)


def savepoint_undone(session: Session) -> None:
    """What the caches do when a savepoint is rolled back (SQLAlchemy's or one issued on the
    driver connection): users written in the transaction are written again next time, and
    communities are read afresh."""
    session.info.pop(_USERS_WRITTEN, None)
    if session.info.get(_CHANGED_COMMUNITIES):
        caches = caches_of(session)
        if caches is not None:
            caches.forget_communities()


def _transaction_over(session: Session) -> None:
    if session.info.pop(_CHANGED_COMMUNITIES, None):
        caches = caches_of(session)
        if caches is not None:
            caches.forget_communities()
