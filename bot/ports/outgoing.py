"""The queue of messages the bot sends on its own, and their statuses."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.domain.models import OutgoingMessage, QueuedOriginal

# A queued message's status (OutgoingQueue.finish), and the error recorded for the messages
# a stopped sender was sending.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
BLOCKED = "blocked"
UNCERTAIN = "uncertain"
INTERRUPTED = "the sender stopped while sending"
ALL_STATUSES = (PENDING, SENDING, SENT, FAILED, BLOCKED, UNCERTAIN)


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
    async def chats_announced_since(self, kind: str, since: datetime) -> set[int]: ...
    async def hold_for_transaction(self, name: str) -> bool: ...

    # The sender's side (runtime/sender.py).
    async def due(
        self, now: datetime, limit: int, *, skip_chats: Collection[int] = (), per_chat: int = 1
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


class OutgoingPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def outgoing(self) -> OutgoingQueue: ...
