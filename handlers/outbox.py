from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.methods import AnswerCallbackQuery, SendMessage, TelegramMethod
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyParameters

from bot.ports import OutgoingQueue

logger = logging.getLogger(__name__)


BLOCKED_CHAT = "chat is blocked"


class SentLog(Protocol):
    def note(self, chat_id: int) -> None: ...


class AnnouncementQueue(OutgoingQueue, Protocol):
    async def settle_run_by_messages(
        self, run_id: int, detail: str | None, now: datetime
    ) -> None: ...


@dataclass(frozen=True)
class Announcement:
    chat_id: int
    key: str
    kind: str
    payload: dict[str, Any]
    not_before: datetime | None
    campaign_run_id: int | None = None


def message_payload(
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
    photo: str | None = None,
    thread_id: int | None = None,
) -> dict[str, Any]:
    """A queued message in plain data: what the sender turns back into a Bot API call."""
    payload: dict[str, Any] = {"text": text}
    if markup is not None:
        payload["markup"] = markup.model_dump(mode="json", exclude_none=True)
    if photo is not None:
        payload["photo"] = photo
    if thread_id is not None:
        payload["thread_id"] = thread_id
    return payload


class Outbox:
    """What an update wants to say. Replies are sent right after the transaction commits;
    announcements join the paced outgoing queue inside that same transaction, once per key."""

    def __init__(self) -> None:
        self._methods: list[TelegramMethod[Any]] = []
        self._threads: dict[int, int] = {}
        self._announcements: list[Announcement] = []

    def announce(
        self,
        chat_id: int,
        text: str,
        key: str,
        *,
        kind: str = "announcement",
        markup: InlineKeyboardMarkup | None = None,
        photo: str | None = None,
        not_before: datetime | None = None,
        campaign_run_id: int | None = None,
    ) -> None:
        payload = message_payload(
            text, markup=markup, photo=photo, thread_id=self._threads.get(chat_id)
        )
        self._announcements.append(
            Announcement(chat_id, key, kind, payload, not_before, campaign_run_id)
        )

    async def queue_announcements(self, queue: AnnouncementQueue, now: datetime) -> None:
        """Queues the announcements, leaving out blocked chats. A campaign run left without
        a message to send (its group removed the bot, or every reminder's member blocked it)
        is settled failed here, as the sender would have."""
        announcements, self._announcements = self._announcements, []
        skipped_runs: set[int] = set()
        for item in announcements:
            if await queue.is_blocked(item.chat_id):
                if item.campaign_run_id is not None:
                    skipped_runs.add(item.campaign_run_id)
                continue
            await queue.enqueue(
                item.chat_id,
                item.kind,
                item.payload,
                item.key,
                item.not_before or now,
                now,
                campaign_run_id=item.campaign_run_id,
            )
        for run_id in sorted(skipped_runs):
            await queue.settle_run_by_messages(run_id, BLOCKED_CHAT, now)

    def use_thread(self, chat_id: int, thread_id: int) -> None:
        """Messages to that chat go to this forum topic (the one the update came from)."""
        self._threads[chat_id] = thread_id

    def reply(
        self, message: Message, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        self._methods.append(
            SendMessage(
                chat_id=message.chat.id,
                message_thread_id=message.message_thread_id if message.is_topic_message else None,
                text=text,
                reply_markup=markup,
                reply_parameters=ReplyParameters(
                    message_id=message.message_id, allow_sending_without_reply=True
                ),
            )
        )

    def send(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        self._methods.append(
            SendMessage(
                chat_id=chat_id,
                message_thread_id=self._threads.get(chat_id),
                text=text,
                reply_markup=markup,
            )
        )

    def toast(self, callback: CallbackQuery, text: str, *, alert: bool = False) -> None:
        self._methods.append(
            AnswerCallbackQuery(callback_query_id=callback.id, text=text, show_alert=alert)
        )

    def call(self, method: TelegramMethod[Any]) -> None:
        self._methods.append(method)

    def __len__(self) -> int:
        return len(self._methods)

    async def flush(self, bot: Bot, sent: SentLog | None = None) -> None:
        """Sends the replies; each one sent is noted in `sent`, so that the paced sender
        counts it against the chat's limit too."""
        methods, self._methods = self._methods, []
        for method in methods:
            try:
                await bot(method)
                chat_id = getattr(method, "chat_id", None)
                if sent is not None and isinstance(chat_id, int):
                    sent.note(chat_id)
            except TelegramForbiddenError as error:
                logger.warning("Cannot send %s: %s", type(method).__name__, error.message)
            except TelegramAPIError as error:
                logger.error("Sending %s failed: %s", type(method).__name__, error.message)
