from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from html import escape
from typing import Any, Protocol

from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMessage,
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)

from bot.domain.errors import N_
from bot.i18n import Translator, translator
from bot.ports import OutgoingQueue, UnitOfWork

logger = logging.getLogger(__name__)

BLOCKED_CHAT = "chat is blocked"
MAX_MESSAGE_LENGTH = 4096
CHECKED_IN = N_("✅ {count} members checked in: {names}")
CHECKED_IN_ENTRY = N_("{name} +{points} (streak {streak})")
ALREADY_CHECKED_IN = N_("Already checked in today: {names}")
POST_FAILED = N_(
    "⚠️ {what} could not be posted in {group}, so nobody can use its buttons. "
    "Telegram said: {reason}"
)
POST_UNCERTAIN = N_(
    "⚠️ {what} may not have reached {group}: it was sent, but its arrival was not "
    "confirmed, and it is not sent again ({reason}). Please check the group."
)


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


@dataclass(frozen=True)
class CheckinLine:
    """What a check-in reply says, so that a group over its message budget can get the
    check-ins waiting for it as one message instead of many."""

    name: str
    points: int
    streak: int
    language: str
    checked_in: bool = True
    user_id: int | None = None  # one entry per member when merged (the name if unknown)


Build = Callable[[], Awaitable[Sequence[TelegramMethod[Any]]]]


@dataclass(frozen=True)
class Reply:
    """A planned Bot API call; `checkin` marks a check-in reply that may be merged. With
    `build`, the calls are made after the commit by awaiting it (work too slow for the
    transaction, such as drawing charts), and `method` is sent instead when it fails."""

    method: TelegramMethod[Any]
    checkin: CheckinLine | None = None
    build: Build | None = None


def merged_checkins(lines: Sequence[CheckinLine]) -> list[str]:
    """The check-ins as few messages as fit Telegram's length limit, in their language."""
    if not lines:
        return []
    _ = translator(lines[0].language)
    checked_in: dict[int | str, str] = {}
    already: dict[int | str, str] = {}
    for line in lines:  # one entry per member, however often they pressed
        member = line.name if line.user_id is None else line.user_id
        if line.checked_in and member not in checked_in:
            checked_in[member] = _(
                CHECKED_IN_ENTRY, name=escape(line.name), points=line.points, streak=line.streak
            )
        elif not line.checked_in:
            already.setdefault(member, escape(line.name))
    for member in checked_in:
        already.pop(member, None)
    sections = [
        *_chunks(
            list(checked_in.values()),
            lambda names, count: _(CHECKED_IN, count=count, names=names),
        ),
        *_chunks(list(already.values()), lambda names, _count: _(ALREADY_CHECKED_IN, names=names)),
    ]
    messages: list[str] = []
    for section in sections:
        if messages and len(messages[-1]) + 1 + len(section) <= MAX_MESSAGE_LENGTH:
            messages[-1] = f"{messages[-1]}\n{section}"
        else:
            messages.append(section)
    return messages


def fit_message(text: str) -> str:
    """Text Telegram accepts in one message: a longer one (a long list, a ticket with a long
    history) is cut at the last line break that fits, and ends with "…"."""
    if len(text) <= MAX_MESSAGE_LENGTH:
        return text
    room = MAX_MESSAGE_LENGTH - 2
    cut = text.rfind("\n", 0, room)
    return (text[:cut] if cut > 0 else text[:room]) + "\n…"


def _chunks(entries: list[str], render: Callable[[str, int], str]) -> list[str]:
    """`render(names, count)` over runs of entries, each run short enough for one message."""
    room = MAX_MESSAGE_LENGTH - len(render("", 10**6))
    chunks: list[str] = []
    run: list[str] = []
    size = 0
    for entry in entries:
        if run and size + len(entry) + 2 > room:
            chunks.append(render(", ".join(run), len(run)))
            run, size = [], 0
        run.append(entry)
        size += len(entry) + 2
    if run:
        chunks.append(render(", ".join(run), len(run)))
    return chunks


EDIT_TEXT = "edit_text"  # an outgoing message that edits one the queue sent before
FAILURE_NOTICE = "failure_notice"  # the payload's part for telling a moderator about a failed post


def failure_notice(
    _: Translator, what: str, group_id: int, group: str, moderator_id: int | None
) -> dict[str, Any]:
    """What the sender tells the moderator when a post with buttons fails for good (or may
    not have arrived): privately if they can get private messages, otherwise in the group.
    The texts keep `{reason}`, filled in with what Telegram said."""
    return {
        "user_id": moderator_id,
        "group_id": group_id,
        "failed": _(POST_FAILED, what=what, group=group, reason="{reason}"),
        "uncertain": _(POST_UNCERTAIN, what=what, group=group, reason="{reason}"),
    }


async def queue_failure_notice(
    uow: UnitOfWork,
    notice: Mapping[str, Any],
    uncertain: bool,
    reason: str | None,
    key: str,
    now: datetime,
) -> None:
    """Queues a failure notice (see failure_notice) once per key: to the moderator if they can
    get private messages, otherwise to the group, unless that refuses the bot too."""
    template = notice.get("uncertain" if uncertain else "failed")
    group_id = notice.get("group_id")
    if not isinstance(template, str) or not isinstance(group_id, int):
        return
    moderator_id = notice.get("user_id")
    chat_id = group_id
    if (
        isinstance(moderator_id, int)
        and moderator_id > 0
        and await uow.users.can_message(moderator_id)
        and not await uow.outgoing.is_blocked(moderator_id)
    ):
        chat_id = moderator_id
    elif await uow.outgoing.is_blocked(group_id):
        logger.warning("Nobody can be told that %s did not arrive", key)
        return
    text = template.replace("{reason}", escape(reason or "?"))
    await uow.outgoing.enqueue(chat_id, FAILURE_NOTICE, message_payload(text), key, now, now)


def message_payload(
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
    photo: str | None = None,
    thread_id: int | None = None,
    reply_to: int | None = None,
) -> dict[str, Any]:
    """A queued message in plain data: what the sender turns back into a Bot API call."""
    payload: dict[str, Any] = {"text": fit_message(text)}
    if reply_to is not None:
        payload["reply_to"] = reply_to
    if markup is not None:
        payload["markup"] = markup.model_dump(mode="json", exclude_none=True)
    if photo is not None:
        payload["photo"] = photo
    if thread_id is not None:
        payload["thread_id"] = thread_id
    return payload


MAX_CALLBACK_DATA = 64
SENT_TO_CHAT = (SendMessage, SendPhoto, SendDocument, SendMediaGroup)
EDITS_OF_A_MESSAGE = (EditMessageText, EditMessageReplyMarkup, EditMessageCaption, DeleteMessage)


@dataclass(frozen=True)
class PrivateRoute:
    """An update handled for a group whose answers go to a moderator's private chat: a command
    from the private moderation console, or a set-up command typed in the group that is
    answered privately to keep the group quiet. What would be sent to the group (replies,
    messages, files) goes to `private_chat_id` under `header`, which names the group; edits
    of `edited_message_id` (the console message whose button was pressed) follow it there;
    the buttons sent there carry `button_prefix` before their callback data, which the
    console reads back on a press. Posts meant for the group (the announcements) stay in it.
    """

    group_chat_id: int
    private_chat_id: int
    header: str
    button_prefix: str
    reply_to: int | None = None
    edited_message_id: int | None = None
    group_note: TelegramMethod[Any] | None = None  # the one line the group gets instead

    def routed(self, method: TelegramMethod[Any]) -> TelegramMethod[Any]:
        chat_id = getattr(method, "chat_id", None)
        if chat_id == self.private_chat_id:
            return self._in_private(method)
        if chat_id != self.group_chat_id:
            return method
        if isinstance(method, SENT_TO_CHAT):
            changes: dict[str, Any] = {
                "chat_id": self.private_chat_id,
                "message_thread_id": None,
                "reply_parameters": (
                    ReplyParameters(message_id=self.reply_to, allow_sending_without_reply=True)
                    if self.reply_to is not None
                    else None
                ),
            }
            if not isinstance(method, SendMediaGroup):
                changes["reply_markup"] = self.buttons(method.reply_markup)
            if isinstance(method, SendMessage):
                changes["text"] = fit_message(self.header + method.text)
            elif isinstance(method, SendPhoto | SendDocument):
                changes["caption"] = self.header + (method.caption or "")
            return method.model_copy(update=changes)
        if isinstance(method, EDITS_OF_A_MESSAGE) and method.message_id == self.edited_message_id:
            changes = {"chat_id": self.private_chat_id}
            if not isinstance(method, DeleteMessage):
                changes["reply_markup"] = self.buttons(method.reply_markup)
            text = method.text if isinstance(method, EditMessageText) else None
            if text is not None and not text.startswith(self.header):
                changes["text"] = fit_message(self.header + text)
            return method.model_copy(update=changes)
        return method

    def _in_private(self, method: TelegramMethod[Any]) -> TelegramMethod[Any]:
        """A message of the console's private chat that the handler addressed there itself
        (an edit of the console message a reply answered): its buttons and header too."""
        if not isinstance(method, SendMessage | EditMessageText):
            return method
        changes: dict[str, Any] = {"reply_markup": self.buttons(method.reply_markup)}
        if method.text is not None and not method.text.startswith(self.header):
            changes["text"] = fit_message(self.header + method.text)
        return method.model_copy(update=changes)

    def buttons(self, markup: Any) -> Any:
        if not isinstance(markup, InlineKeyboardMarkup):
            return markup
        rows = [[self._button(button) for button in row] for row in markup.inline_keyboard]
        return InlineKeyboardMarkup(inline_keyboard=rows)

    def _button(self, button: InlineKeyboardButton) -> InlineKeyboardButton:
        data = button.callback_data
        if data is None or data.startswith(self.button_prefix):
            return button
        prefixed = self.button_prefix + data
        if len(prefixed.encode()) > MAX_CALLBACK_DATA:
            logger.error("A console button's data is too long: %r", prefixed)
            return button
        return button.model_copy(update={"callback_data": prefixed})


class Outbox:
    """What an update wants to say. Replies are sent right after the transaction commits;
    announcements join the paced outgoing queue inside that same transaction, once per key."""

    def __init__(self) -> None:
        self._methods: list[Reply] = []
        self._threads: dict[int, int] = {}
        self._announcements: list[Announcement] = []
        self.route: PrivateRoute | None = None

    def route_privately(self, route: PrivateRoute) -> None:
        """From now on, what this update sends to the group goes to a private chat (see
        PrivateRoute)."""
        self.route = route

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
        tell_on_failure: dict[str, Any] | None = None,
        reply_to: int | None = None,
    ) -> None:
        """Through the paced queue, once per key, retried until Telegram takes it; with
        `tell_on_failure` (see failure_notice), a moderator hears if it never arrives."""
        if self.route is not None and chat_id == self.route.group_chat_id:
            reply_to = None  # the command was not sent in the group
        payload = message_payload(
            text,
            markup=markup,
            photo=photo,
            thread_id=self._threads.get(chat_id),
            reply_to=reply_to,
        )
        if tell_on_failure is not None:
            payload[FAILURE_NOTICE] = tell_on_failure
        self._announcements.append(
            Announcement(chat_id, key, kind, payload, not_before, campaign_run_id)
        )

    def announce_edit(
        self,
        chat_id: int,
        text: str,
        key: str,
        *,
        edit_of: str,
        markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """Through the queue, once per key: the message queued under the key `edit_of` gets
        this text (a new message if that one was never sent or its id is unknown)."""
        payload = message_payload(text, markup=markup, thread_id=self._threads.get(chat_id))
        payload["edit_of"] = edit_of
        self._announcements.append(Announcement(chat_id, key, EDIT_TEXT, payload, None, None))

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
        self,
        message: Message,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        merge: CheckinLine | None = None,
    ) -> None:
        """A reply to `message`; with `merge`, one that may go out merged with the other
        check-ins to that group when the group is over its message budget."""
        method = SendMessage(
            chat_id=message.chat.id,
            message_thread_id=message.message_thread_id if message.is_topic_message else None,
            text=fit_message(text),
            reply_markup=markup,
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
        )
        if self.route is not None and message.chat.id == self.route.group_chat_id:
            self._methods.append(Reply(self.route.routed(method)))
            return
        if self.route is not None and message.chat.id == self.route.private_chat_id:
            method = method.model_copy(
                update={
                    "text": fit_message(self.route.header + method.text),
                    "reply_markup": self.route.buttons(markup),
                }
            )
        self._methods.append(Reply(method, merge))

    def send(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        self.call(
            SendMessage(
                chat_id=chat_id,
                message_thread_id=self._threads.get(chat_id),
                text=fit_message(text),
                reply_markup=markup,
            )
        )

    def toast(self, callback: CallbackQuery, text: str, *, alert: bool = False) -> None:
        self.call(AnswerCallbackQuery(callback_query_id=callback.id, text=text, show_alert=alert))

    def call(self, method: TelegramMethod[Any]) -> None:
        if self.route is not None:
            method = self.route.routed(method)
        self._methods.append(Reply(method))

    def later(self, build: Build, fallback: TelegramMethod[Any]) -> None:
        """Calls made after the commit, in this reply's place: `build` runs then (off the
        transaction) and returns them; if it fails, `fallback` is sent instead."""
        route = self.route
        if route is not None:
            inner = build

            async def routed_build() -> Sequence[TelegramMethod[Any]]:
                return [route.routed(method) for method in await inner()]

            build, fallback = routed_build, route.routed(fallback)
        self._methods.append(Reply(fallback, build=build))

    def planned(self) -> Sequence[Reply]:
        """The planned calls, left in the outbox."""
        return (*self._note(), *self._methods)

    def take(self) -> list[Reply]:
        """The planned calls, in order, leaving the outbox empty (for the reply path)."""
        replies, self._methods = [*self._note(), *self._methods], []
        if self.route is not None:
            self.route = replace(self.route, group_note=None)
        return replies

    def _note(self) -> list[Reply]:
        note = self.route.group_note if self.route is not None else None
        return [Reply(note)] if note is not None else []

    def __len__(self) -> int:
        return len(self._methods) + len(self._note())
