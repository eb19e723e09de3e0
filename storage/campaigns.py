"""Campaigns, their runs, and the outgoing message queue. Repositories never commit."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import (
    Campaign,
    CampaignButton,
    CampaignKind,
    CampaignRun,
    CampaignStatus,
    OutgoingMessage,
    QueuedOriginal,
    RunOutcome,
)
from bot.ports import INTERRUPTED, PENDING, SENDING, SENT, UNCERTAIN
from bot.ports.outgoing import ALL_STATUSES
from storage.models import BlockedChatRow, CampaignRow, CampaignRunRow, OutgoingMessageRow
from storage.sql import insert_ignoring_conflict

logger = logging.getLogger(__name__)

# The outcomes each settled outcome may replace.
SETTLED_OVER: dict[RunOutcome, tuple[RunOutcome, ...]] = {
    RunOutcome.POSTED: (RunOutcome.QUEUED, RunOutcome.FAILED, RunOutcome.UNCERTAIN),
    RunOutcome.UNCERTAIN: (RunOutcome.QUEUED, RunOutcome.FAILED),
    RunOutcome.FAILED: (RunOutcome.QUEUED,),
}


def lock_key(name: str) -> int:
    """A named lock's 64-bit advisory lock key."""
    digest = hashlib.blake2b(f"seedbot:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _campaign(row: CampaignRow) -> Campaign:
    return Campaign(
        id=row.id,
        community_id=row.community_id,
        kind=CampaignKind(row.kind),
        schedule=row.schedule,
        text=row.text,
        status=CampaignStatus(row.status),
        next_run_at=row.next_run_at,
        grace_minutes=row.grace_minutes,
        photo=row.photo,
        button=CampaignButton(**row.button) if row.button else None,
        created_by=row.created_by,
    )


def _readable_campaigns(rows: Iterable[CampaignRow]) -> list[Campaign]:
    """The rows as campaigns; a row that cannot be read (written by hand) is logged and left
    out, so it never stops the others."""
    campaigns = []
    for row in rows:
        try:
            campaigns.append(_campaign(row))
        except (ValueError, TypeError):
            logger.exception("Campaign %d has an unreadable row; skipped", row.id)
    return campaigns


class SqlCampaignRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, campaign: Campaign, now: datetime) -> int:
        row = CampaignRow(
            community_id=campaign.community_id,
            kind=str(campaign.kind),
            schedule=campaign.schedule,
            text=campaign.text,
            photo=campaign.photo,
            button=asdict(campaign.button) if campaign.button else None,
            status=str(campaign.status),
            grace_minutes=campaign.grace_minutes,
            created_by=campaign.created_by,
            created_at=now,
            next_run_at=campaign.next_run_at,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def get(self, community_id: int, campaign_id: int) -> Campaign | None:
        row = await self._session.get(CampaignRow, campaign_id)
        if row is None or row.community_id != community_id or row.status == CampaignStatus.DELETED:
            return None
        return _campaign(row)

    async def of_community(self, community_id: int) -> Sequence[Campaign]:
        rows = await self._session.scalars(
            select(CampaignRow)
            .where(
                CampaignRow.community_id == community_id,
                CampaignRow.status != str(CampaignStatus.DELETED),
            )
            .order_by(CampaignRow.id)
        )
        return [_campaign(row) for row in rows]

    async def builtin(self, community_id: int, kind: CampaignKind) -> Campaign | None:
        row = (
            await self._session.execute(
                select(CampaignRow)
                .where(
                    CampaignRow.community_id == community_id,
                    CampaignRow.kind == str(kind),
                    CampaignRow.status != str(CampaignStatus.DELETED),
                )
                .limit(1)
            )
        ).scalar_one_or_none()
        return _campaign(row) if row else None

    async def set_state(
        self, campaign_id: int, status: CampaignStatus, next_run_at: datetime | None
    ) -> None:
        await self._session.execute(
            update(CampaignRow)
            .where(CampaignRow.id == campaign_id)
            .values(status=str(status), next_run_at=next_run_at)
        )

    async def set_grace(self, campaign_id: int, minutes: int) -> None:
        await self._session.execute(
            update(CampaignRow).where(CampaignRow.id == campaign_id).values(grace_minutes=minutes)
        )

    async def due(
        self, now: datetime, limit: int, community_id: int | None = None
    ) -> Sequence[Campaign]:
        query = select(CampaignRow).where(
            CampaignRow.status == str(CampaignStatus.ACTIVE),
            CampaignRow.next_run_at <= now,
        )
        if community_id is not None:
            query = query.where(CampaignRow.community_id == community_id)
        # Each due campaign is claimed by the worker that locks its row; another worker
        # skips it, and once the claim commits it is no longer due (PostgreSQL; SQLite has
        # one writer at a time).
        query = query.order_by(CampaignRow.next_run_at).limit(limit)
        rows = await self._session.scalars(query.with_for_update(skip_locked=True))
        return _readable_campaigns(rows)

    async def communities_due(self, now: datetime) -> Sequence[int]:
        rows = await self._session.scalars(
            select(CampaignRow.community_id)
            .where(
                CampaignRow.status == str(CampaignStatus.ACTIVE),
                CampaignRow.next_run_at <= now,
            )
            .distinct()
        )
        return list(rows)

    async def scheduled(self) -> Sequence[Campaign]:
        rows = await self._session.scalars(
            select(CampaignRow).where(
                CampaignRow.status == str(CampaignStatus.ACTIVE),
                CampaignRow.next_run_at.is_not(None),
            )
        )
        return _readable_campaigns(rows)

    async def record_run(
        self,
        campaign_id: int,
        scheduled_at: datetime,
        outcome: RunOutcome,
        detail: str | None,
        now: datetime,
    ) -> int | None:
        """The new run's id; None when that run (campaign + scheduled time) was already
        recorded."""
        inserted = await insert_ignoring_conflict(
            self._session,
            CampaignRunRow,
            {
                "campaign_id": campaign_id,
                "scheduled_at": scheduled_at,
                "outcome": str(outcome),
                "detail": detail,
                "recorded_at": now,
            },
        )
        if not inserted:
            return None
        return await self._session.scalar(
            select(CampaignRunRow.id).where(
                CampaignRunRow.campaign_id == campaign_id,
                CampaignRunRow.scheduled_at == scheduled_at,
            )
        )

    async def settle_run(
        self, run_id: int, outcome: RunOutcome, detail: str | None, now: datetime
    ) -> None:
        """What Telegram made of a queued run. An outcome never goes back: a run posted by
        one of its messages stays posted, and one uncertain never becomes failed."""
        await self._session.execute(
            update(CampaignRunRow)
            .where(
                CampaignRunRow.id == run_id,
                CampaignRunRow.outcome.in_([str(o) for o in SETTLED_OVER[outcome]]),
            )
            .values(outcome=str(outcome), detail=detail, recorded_at=now)
        )

    async def recent_runs(self, campaign_id: int, limit: int) -> Sequence[CampaignRun]:
        rows = await self._session.scalars(
            select(CampaignRunRow)
            .where(CampaignRunRow.campaign_id == campaign_id)
            .order_by(CampaignRunRow.scheduled_at.desc(), CampaignRunRow.id.desc())
            .limit(limit)
        )
        return [
            CampaignRun(
                campaign_id=row.campaign_id,
                scheduled_at=row.scheduled_at,
                outcome=RunOutcome(row.outcome),
                recorded_at=row.recorded_at,
                detail=row.detail,
            )
            for row in rows
        ]


class SqlOutgoingQueue:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

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
    ) -> bool:
        """Queues a message once per dedup key; False if that key was queued before."""
        return await insert_ignoring_conflict(
            self._session,
            OutgoingMessageRow,
            {
                "chat_id": chat_id,
                "dedup_key": dedup_key,
                "kind": kind,
                "payload": payload,
                "status": PENDING,
                "not_before": not_before,
                "attempts": 0,
                "created_at": now,
                "campaign_run_id": campaign_run_id,
            },
        )

    async def hold_for_transaction(self, name: str) -> bool:
        """Holds the lock named `name` until this transaction ends; False while another
        transaction holds it. On PostgreSQL a transaction advisory lock; SQLite, one process
        whose transactions write one at a time, always holds it."""
        if self._session.bind is None or self._session.bind.dialect.name != "postgresql":
            return True
        held = await self._session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)}
        )
        return bool(held)

    async def chats_announced_since(self, kind: str, since: datetime) -> set[int]:
        """Chats given a message of this kind due at `since` or later (read through the
        status and due-time index, so only the recent rows are looked at)."""
        rows = await self._session.scalars(
            select(OutgoingMessageRow.chat_id)
            .where(
                OutgoingMessageRow.status.in_(ALL_STATUSES),
                OutgoingMessageRow.not_before >= since,
                OutgoingMessageRow.kind == kind,
            )
            .distinct()
        )
        return set(rows)

    async def due(
        self,
        now: datetime,
        limit: int,
        *,
        skip_chats: Collection[int] = (),
        per_chat: int = 1,
    ) -> Sequence[OutgoingMessage]:
        """Due messages taken round-robin over chats: every chat's oldest first, then every
        chat's second, up to `per_chat` each, so that no chat waits behind a busy one.
        `skip_chats` are chats at their rate limit right now."""
        conditions = [OutgoingMessageRow.status == PENDING, OutgoingMessageRow.not_before <= now]
        if skip_chats:
            conditions.append(OutgoingMessageRow.chat_id.not_in(list(skip_chats)))
        turn = (
            func.row_number()
            .over(
                partition_by=OutgoingMessageRow.chat_id,
                order_by=(OutgoingMessageRow.not_before, OutgoingMessageRow.id),
            )
            .label("turn")
        )
        ranked = select(OutgoingMessageRow.id, turn).where(*conditions).subquery()
        rows = await self._session.scalars(
            select(OutgoingMessageRow)
            .join(ranked, ranked.c.id == OutgoingMessageRow.id)
            .where(ranked.c.turn <= per_chat)
            .order_by(ranked.c.turn, OutgoingMessageRow.not_before, OutgoingMessageRow.id)
            .limit(limit)
        )
        return [
            OutgoingMessage(
                id=row.id,
                chat_id=row.chat_id,
                kind=row.kind,
                payload=row.payload,
                dedup_key=row.dedup_key,
                attempts=row.attempts,
                campaign_run_id=row.campaign_run_id,
            )
            for row in rows
        ]

    async def chats_with_due(self, now: datetime, among: Collection[int]) -> Sequence[int]:
        """Which of these chats have a message due."""
        if not among:
            return []
        rows = await self._session.scalars(
            select(OutgoingMessageRow.chat_id)
            .where(
                OutgoingMessageRow.status == PENDING,
                OutgoingMessageRow.not_before <= now,
                OutgoingMessageRow.chat_id.in_(list(among)),
            )
            .distinct()
        )
        return list(rows)

    async def claim(self, message_id: int) -> bool:
        """Takes a pending message for sending; False if another sender took it."""
        result = await self._session.execute(
            update(OutgoingMessageRow)
            .where(OutgoingMessageRow.id == message_id, OutgoingMessageRow.status == PENDING)
            .values(status=SENDING, attempts=OutgoingMessageRow.attempts + 1)
        )
        return bool(getattr(result, "rowcount", 0))

    async def finish(
        self,
        message_id: int,
        status: str,
        now: datetime,
        error: str | None = None,
        *,
        sent_message_id: int | None = None,
    ) -> None:
        await self._session.execute(
            update(OutgoingMessageRow)
            .where(OutgoingMessageRow.id == message_id)
            .values(
                status=status,
                sent_at=now if status == SENT else None,
                last_error=error,
                sent_message_id=sent_message_id,
            )
        )

    async def original(self, dedup_key: str) -> QueuedOriginal | None:
        """The queued message with this dedup key, for an edit of it; None if never queued."""
        row = await self._session.scalar(
            select(OutgoingMessageRow).where(OutgoingMessageRow.dedup_key == dedup_key)
        )
        if row is None:
            return None
        return QueuedOriginal(row.chat_id, row.status, row.not_before, row.sent_message_id)

    async def retry_later(self, message_id: int, not_before: datetime, error: str) -> None:
        await self._session.execute(
            update(OutgoingMessageRow)
            .where(OutgoingMessageRow.id == message_id)
            .values(status=PENDING, not_before=not_before, last_error=error)
        )

    async def abandon_interrupted(self) -> int:
        """Messages a crashed sender was sending may have gone out: never send them again."""
        in_flight_runs = select(OutgoingMessageRow.campaign_run_id).where(
            OutgoingMessageRow.status == SENDING, OutgoingMessageRow.campaign_run_id.is_not(None)
        )
        await self._session.execute(
            update(CampaignRunRow)
            .where(
                CampaignRunRow.id.in_(in_flight_runs),
                CampaignRunRow.outcome.in_([str(o) for o in SETTLED_OVER[RunOutcome.UNCERTAIN]]),
            )
            .values(outcome=str(RunOutcome.UNCERTAIN), detail=INTERRUPTED)
        )
        result = await self._session.execute(
            update(OutgoingMessageRow)
            .where(OutgoingMessageRow.status == SENDING)
            .values(status=UNCERTAIN, last_error=INTERRUPTED)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def settle_run_by_messages(self, run_id: int, detail: str | None, now: datetime) -> None:
        """A campaign run by what became of its messages (a run of reminders has one per
        member): posted as soon as one was sent; otherwise, once none is left to send,
        uncertain if one may have gone out, else failed with `detail`. A run none of whose
        messages was queued (every chat blocked) fails with `detail`."""
        rows = (
            await self._session.execute(
                select(OutgoingMessageRow.status, OutgoingMessageRow.last_error)
                .where(OutgoingMessageRow.campaign_run_id == run_id)
                .order_by(OutgoingMessageRow.id)
            )
        ).all()
        statuses = {row.status for row in rows}
        campaigns = SqlCampaignRepository(self._session)
        if SENT in statuses:
            await campaigns.settle_run(run_id, RunOutcome.POSTED, None, now)
        elif statuses & {PENDING, SENDING}:
            return
        elif UNCERTAIN in statuses:
            reason = next(row.last_error for row in rows if row.status == UNCERTAIN)
            await campaigns.settle_run(run_id, RunOutcome.UNCERTAIN, reason, now)
        else:
            await campaigns.settle_run(run_id, RunOutcome.FAILED, detail, now)

    async def is_blocked(self, chat_id: int) -> bool:
        return await self._session.get(BlockedChatRow, chat_id) is not None

    async def block(self, chat_id: int, reason: str, now: datetime) -> None:
        await insert_ignoring_conflict(
            self._session,
            BlockedChatRow,
            {"chat_id": chat_id, "reason": reason, "blocked_at": now},
        )

    async def unblock(self, chat_id: int) -> None:
        await self._session.execute(delete(BlockedChatRow).where(BlockedChatRow.chat_id == chat_id))
