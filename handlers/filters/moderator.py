from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Filter
from aiogram.types import (
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberOwner,
    Message,
    Update,
)

from bot.ports import Clock, transaction_open

logger = logging.getLogger(__name__)

GROUP_TYPES = frozenset({"group", "supergroup"})
ADMIN_STATUSES = frozenset({"creator", "administrator"})


class RightsUnknown(ConnectionError):
    """A chat's administrators are not cached and Telegram may not be asked while a transaction
    is open: the attempt is rolled back and tried again after the intake's prefetch (a
    transient failure, like Telegram being unreachable)."""

    def __init__(self, chat_id: int) -> None:
        super().__init__(f"the administrators of chat {chat_id} are not known yet")
        self.chat_id = chat_id


class ModeratorDirectory:
    """Who moderates which chat: the owners from settings, and each chat's creator and
    administrators as the Bot API reports them. The lists are fetched by `prefetch`, before
    the intake opens its transaction, refreshed after `ttl_seconds`, and kept current by
    `chat_member` updates; inside a transaction they are only read."""

    def __init__(self, owner_ids: frozenset[int], clock: Clock, ttl_seconds: int = 60) -> None:
        self._owner_ids = owner_ids
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_seconds)
        self._admins: dict[int, tuple[datetime, frozenset[int]]] = {}
        # Chats whose rights a handler needed while they were unknown (a check from a private
        # chat, which the updates alone do not name): fetched by the next prefetch.
        self._wanted: set[int] = set()
        self._changed: list[Callable[[str], None]] = []

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Told of every change of rights seen here, as a key for `apply_change` elsewhere."""
        self._changed.append(listener)

    def apply_change(self, key: str) -> None:
        """A change another process saw: `chat:user:status` from a `chat_member` update, a
        chat whose list to fetch again, or "*" for every list."""
        chat, _, rest = key.partition(":")
        if chat == "*":
            self._admins.clear()
        elif not rest:
            self._admins.pop(int(chat), None)
        else:
            user, _, status = rest.partition(":")
            self._note(int(chat), int(user), status)

    def is_owner(self, user_id: int) -> bool:
        return user_id in self._owner_ids

    async def prefetch(self, bot: Bot, updates: Iterable[Update]) -> None:
        """Fetches the stale or unknown administrator lists of the chats where these updates
        may need a rights check (group commands and button presses). Called with no
        transaction open; a list Telegram could not give stays as it was."""
        now = self._clock.now()
        chats = {
            chat_id
            for chat_id in (self._chat_to_check(update) for update in updates)
            if chat_id is not None and self._is_stale(chat_id, now)
        }
        chats |= {chat_id for chat_id in self._wanted if self._is_stale(chat_id, now)}
        self._wanted.clear()
        if chats:
            await asyncio.gather(*(self._refresh(bot, chat_id) for chat_id in sorted(chats)))

    async def is_moderator(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        if user_id in self._owner_ids:
            return True
        cached = self._admins.get(chat_id)
        if cached is None:
            if transaction_open.get():
                self._wanted.add(chat_id)
                raise RightsUnknown(chat_id)
            await self._refresh(bot, chat_id)
            cached = self._admins.get(chat_id)
            if cached is None:
                raise RightsUnknown(chat_id)
        return user_id in cached[1]

    async def is_moderator_now(self, bot: Bot, chat_id: int, user_id: int) -> bool:
        """As is_moderator, from a list no older than the cache's lifetime: a check made from
        a private chat, which the updates of that group do not keep current."""
        if user_id not in self._owner_ids and self._is_stale(chat_id, self._clock.now()):
            if transaction_open.get():
                self._wanted.add(chat_id)
                raise RightsUnknown(chat_id)
            await self._refresh(bot, chat_id)
        return await self.is_moderator(bot, chat_id, user_id)

    def cached_chats_of(self, user_id: int) -> set[int]:
        """The chats whose cached administrators include the user."""
        return {chat_id for chat_id, (_, admins) in self._admins.items() if user_id in admins}

    def moderated_among(self, chat_ids: Iterable[int], user_id: int) -> list[int]:
        """The chats among these that the user moderates now. Lists that are unknown or
        stale are all asked for at once: inside a transaction RightsUnknown sends the update
        back to the intake, whose prefetch fetches them."""
        chats = sorted(set(chat_ids))
        if user_id in self._owner_ids:
            return chats
        now = self._clock.now()
        stale = [chat_id for chat_id in chats if self._is_stale(chat_id, now)]
        if stale:
            self._wanted.update(stale)
            raise RightsUnknown(stale[0])
        return [chat_id for chat_id in chats if user_id in self._admins[chat_id][1]]

    def note_member(self, chat_id: int, user_id: int, status: str) -> None:
        """A `chat_member` update: someone became or stopped being an administrator. The other
        processes are told unless the list here says nothing changed."""
        if self._note(chat_id, user_id, status) is not False:
            self._tell(f"{chat_id}:{user_id}:{status}")

    def _note(self, chat_id: int, user_id: int, status: str) -> bool | None:
        """Whether the cached list changed; None when the chat is not cached here."""
        cached = self._admins.get(chat_id)
        if cached is None:
            return None
        admins = cached[1] | {user_id} if status in ADMIN_STATUSES else cached[1] - {user_id}
        self._admins[chat_id] = (cached[0], admins)
        return admins != cached[1]

    def _tell(self, key: str) -> None:
        for listener in self._changed:
            listener(key)

    def _is_stale(self, chat_id: int, now: datetime) -> bool:
        cached = self._admins.get(chat_id)
        return cached is None or now - cached[0] >= self._ttl

    def _chat_to_check(self, update: Update) -> int | None:
        message: Message | None = None
        user_id: int | None = None
        if update.message is not None:
            text = update.message.text or update.message.caption or ""
            if text.startswith("/") and update.message.sender_chat is None:
                message = update.message
                user_id = message.from_user.id if message.from_user else None
        elif update.callback_query is not None and isinstance(
            update.callback_query.message, Message
        ):
            message = update.callback_query.message
            user_id = update.callback_query.from_user.id
        if message is None or user_id is None or user_id in self._owner_ids:
            return None
        return message.chat.id if message.chat.type in GROUP_TYPES else None

    async def _refresh(self, bot: Bot, chat_id: int) -> None:
        try:
            members = await bot.get_chat_administrators(chat_id)
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            logger.warning("Cannot list the administrators of %d: %s", chat_id, error.message)
            self._admins[chat_id] = (self._clock.now(), frozenset())
            return
        except Exception as error:
            logger.warning("Could not list the administrators of %d: %s", chat_id, error)
            return
        admins = frozenset(
            member.user.id
            for member in members
            if isinstance(member, ChatMemberOwner | ChatMemberAdministrator)
        )
        previous = self._admins.get(chat_id)
        self._admins[chat_id] = (self._clock.now(), admins)
        if previous is not None and previous[1] != admins:
            self._tell(str(chat_id))  # the others fetch the list again


async def is_moderator_message(message: Message, bot: Bot, moderators: ModeratorDirectory) -> bool:
    """From an administrator of that very chat, an owner, or the chat's anonymous admin."""
    if message.chat.type == "private":
        return False
    if message.sender_chat is not None:
        return message.sender_chat.id == message.chat.id
    if message.from_user is None:
        return False
    return await moderators.is_moderator(bot, message.chat.id, message.from_user.id)


class IsModerator(Filter):
    """Passes for moderators of the chat the event comes from; used by every moderator command."""

    async def __call__(
        self, event: Message | CallbackQuery, bot: Bot, moderators: ModeratorDirectory
    ) -> bool:
        if isinstance(event, CallbackQuery):
            message = event.message
            if not isinstance(message, Message) or message.chat.type == "private":
                return False
            return await moderators.is_moderator(bot, message.chat.id, event.from_user.id)
        return await is_moderator_message(event, bot, moderators)


def is_owner_message(message: Message, moderators: ModeratorDirectory) -> bool:
    """From one of the bot's owners in person (an anonymous admin never is one)."""
    return (
        message.sender_chat is None
        and message.from_user is not None
        and moderators.is_owner(message.from_user.id)
    )
