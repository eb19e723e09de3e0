"""A fake Telegram Bot API server for end-to-end tests.

The real bot talks to it over HTTP on 127.0.0.1::

    fake = FakeBotAPI()
    await fake.start()
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))
    bot = Bot(fake.token, session=session)

Every object returned to the bot is built from aiogram's own types and serialised with
``model_dump(mode="json", by_alias=True, exclude_none=True)`` so that it stays valid for aiogram.
Test code drives the "world" (users, groups, messages, button presses, joins) through the
synchronous helper methods; each helper that produces an update returns its ``update_id``.

Webhook delivery. While a webhook is set (``setWebhook``), getUpdates answers 409 and the
queued updates (the same queue the helpers fill for getUpdates) are POSTed as JSON to the
webhook, as Telegram does it; the fake assumes, and tests may rely on:

- at most ``max_connections`` (1-100, default 40; values outside are clamped) requests in
  flight at once;
- the updates of one chat (``message.chat``, ``callback_query.message.chat``,
  ``chat_member.chat``...) one at a time and in order: the next one is sent only after the
  previous one was answered 2xx. An update without a chat goes in the lane of its user
  (``from``, or ``user`` for a ``poll_answer``), one with neither (``poll``) in a lane of
  its own. Different chats are delivered concurrently, in no promised order;
- an update answered non-2xx, refused (connection error) or not answered within
  ``webhook_timeout`` seconds (Telegram: 60) is delivered again after
  ``webhook_retry_delay`` seconds, before any later update of its chat, for as long as it
  takes; ``getWebhookInfo`` tells the last error (``Wrong response from the webhook: 500
  Internal Server Error``, ``Read timeout expired``, ``Connection refused``) and its date;
- an update stays pending (``pending_update_count``) until answered 2xx (a redirect is a
  wrong response too);
- setWebhook with the settings already in force changes nothing (deliveries in flight go
  on); any other setWebhook, or deleteWebhook, stops the deliveries in flight, and what was
  not answered 2xx stays pending (for the next webhook, or getUpdates);
- while Telegram is offline (``go_offline``) no webhook request starts;
- a 2xx answer may carry one Bot API call, as JSON or as aiogram's multipart form with a
  ``method`` field: it is carried out as if the bot had called it (recorded in
  ``requests``), its result and its errors reach nobody, as with Telegram;
- the header ``X-Telegram-Bot-Api-Secret-Token`` carries the secret token when one is set.

Unlike Telegram, the fake accepts ``http://`` webhooks on loopback hosts (127.0.0.1,
localhost, ::1) on any port (Telegram wants HTTPS on port 443, 80, 88 or 8443), delivers
only to loopback hosts (a webhook elsewhere is stored, and its updates stay pending), has
no certificates or ``ip_address``, retries at a fixed delay (Telegram backs off and, after
long failures, may drop updates older than 24 hours), and keeps the order per chat
strictly (Telegram's own ordering across a chat's update kinds is not documented).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import secrets
import string
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiogram.types import (
    AcceptedGiftTypes,
    BotCommand,
    CallbackQuery,
    Chat,
    ChatFullInfo,
    ChatInviteLink,
    ChatJoinRequest,
    ChatMemberAdministrator,
    ChatMemberBanned,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    ChatMemberUpdated,
    Document,
    File,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    MessageOriginChannel,
    PhotoSize,
    Poll,
    PollAnswer,
    PollOption,
    TelegramObject,
    Update,
    User,
    WebhookInfo,
)
from aiogram.types.chat_member_union import ChatMemberUnion
from aiohttp import web
from pydantic import ValidationError

logger = logging.getLogger(__name__)

ANONYMOUS_ADMIN_ID = 1087968824  # "GroupAnonymousBot": sender of anonymous group admins
TELEGRAM_SERVICE_ID = 777000  # "Telegram": sender of automatic forwards from linked channels
CHANNEL_BOT_ID = 136817688  # "Channel_Bot": sender of messages posted on behalf of a channel
# Telegram only delivers these when they are explicitly listed in allowed_updates.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_MEMBER_STATUSES = frozenset({"creator", "administrator", "member"})
FILE_DOWNLOAD = "file download"  # hold() key of the file downloads
_RAW_STRING_FIELDS = frozenset(
    {
        "text", "caption", "parse_mode", "name", "callback_query_id", "invite_link", "url",
        "photo", "data", "action", "language_code", "description", "short_description",
        "title", "secret_token", "ip_address", "custom_title", "message_effect_id",
        "business_connection_id", "inline_message_id", "emoji", "sticker", "document",
        "question", "explanation", "type", "file_id",
    }
)  # fmt: skip
_LINK_ALPHABET = string.ascii_letters + string.digits + "_-"
WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is "
    "active; use deleteWebhook to delete the webhook first"
)
_ERROR_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_NO_LINK_RIGHTS = "Bad Request: not enough rights to manage chat invite link"

_SERVICE_USERS = (
    User(id=ANONYMOUS_ADMIN_ID, is_bot=True, first_name="Group", username="GroupAnonymousBot"),
    User(id=TELEGRAM_SERVICE_ID, is_bot=False, first_name="Telegram"),
    User(id=CHANNEL_BOT_ID, is_bot=True, first_name="Channel", username="Channel_Bot"),
)

JSONDict = dict[str, Any]
MethodHandler = Callable[[JSONDict], Awaitable[Any]]
T = TypeVar("T")
TObj = TypeVar("TObj", bound=TelegramObject)


class TelegramAPIError(Exception):
    """Raised inside method handlers; turned into a Bot API error response."""

    def __init__(
        self,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        *,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id


def _bad(description: str) -> TelegramAPIError:
    return TelegramAPIError(400, f"Bad Request: {description}")


@dataclass
class SentMessage:
    """A message sent (kind="send") or edited (kind="edit") by the bot."""

    chat_id: int
    message_id: int
    text: str | None  # text, or caption for media
    reply_markup: JSONDict | None
    reply_to_message_id: int | None
    parse_mode: str | None
    photo: str | None
    date: datetime
    kind: str = "send"
    method: str = "sendMessage"
    message_thread_id: int | None = None
    deleted: bool = False
    sent_at: float = field(default=0.0, compare=False)  # time.perf_counter(), for benchmarks


@dataclass
class UploadedFile:
    """A file uploaded in a multipart request (``attach://`` reference)."""

    filename: str | None
    content: bytes


Lane = tuple[str, int]  # ("chat", chat id), ("user", user id) or ("update", update id)


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook: `outcome` is the HTTP status of the answer, or
    the error when none came ("Read timeout expired", "Connection refused"...)."""

    update_id: int
    attempt: int  # 1 for the first delivery of the update
    outcome: int | str
    lane: Lane

    @property
    def ok(self) -> bool:
        return isinstance(self.outcome, int) and 200 <= self.outcome < 300


@dataclass
class _Failure:
    error_code: int
    description: str
    retry_after: int | None


@dataclass
class _InviteLinkState:
    chat_id: int
    link: ChatInviteLink
    joined: int = 0


@dataclass
class _JoinRequest:
    invite_link: str | None
    date: datetime


@dataclass
class _GroupState:
    chat: Chat
    creator_id: int
    # user id -> creator / administrator / member / left / kicked
    members: dict[int, str] = field(default_factory=dict)
    bot_can_invite_users: bool = False
    denied_rights: set[str] = field(default_factory=set)
    join_requests: dict[int, _JoinRequest] = field(default_factory=dict)


@dataclass
class _PollState:
    chat_id: int
    message_id: int
    poll: Poll
    votes: dict[int, list[int]] = field(default_factory=dict)  # user id -> option ids
    stopped: bool = False


@dataclass
class _StoredFile:
    file: File
    content: bytes


MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download


class _Pulse:
    """Wakes every current waiter when fired (an asyncio.Event that is replaced on each fire)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)


def _dump(obj: TelegramObject) -> JSONDict:
    data: JSONDict = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def _replace(obj: TObj, **changes: Any) -> TObj:
    """Like model_copy(update=...), but validated (so aiogram types stay well-formed)."""
    return type(obj).model_validate({**dict(obj), **changes})


HTML_TAGS = "b|strong|i|em|u|ins|s|strike|del|a|code|pre|tg-spoiler|span|blockquote|tg-emoji"
_START_TAG = re.compile(
    rf"<({HTML_TAGS})((?:\s+[a-z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'<>=]+))?)*)\s*>"
)
_END_TAG = re.compile(rf"</({HTML_TAGS})\s*>")
_ATTRIBUTE = re.compile(r"([a-z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'<>=]+)))?")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_REQUIRED_ATTRIBUTE = {"a": "href", "tg-emoji": "emoji-id"}


def _html_error(problem: str) -> TelegramAPIError:
    return _bad(f"can't parse entities: {problem}")


def _check_start_tag(name: str, attributes: str, offset: int) -> None:
    values = {
        match.group(1): next((v for v in match.groups()[1:] if v is not None), "")
        for match in _ATTRIBUTE.finditer(attributes)
    }
    if name == "span" and values.get("class") != "tg-spoiler":
        raise _html_error(f'tag "span" must have class "tg-spoiler" at byte offset {offset}')
    required = _REQUIRED_ATTRIBUTE.get(name)
    if required is not None and not values.get(required):
        raise _html_error(f'tag "{name}" must have attribute "{required}" at byte offset {offset}')


def _check_html(text: str, parse_mode: str | None) -> None:
    """Telegram's HTML rules: only its tags (span only as a spoiler, a with an href), balanced;
    entities only &lt; &gt; &amp; &quot; and numeric ones; every other < and & escaped."""
    if (parse_mode or "").upper() != "HTML":
        return
    stack: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "<":
            offset = len(text[:position].encode())
            end = _END_TAG.match(text, position)
            if end is not None:
                if not stack:
                    raise _html_error(f"unexpected end tag at byte offset {offset}")
                expected = stack.pop()
                if expected != end.group(1):
                    raise _html_error(
                        f'unmatched end tag at byte offset {offset}, expected "</{expected}>", '
                        f'found "</{end.group(1)}>"'
                    )
                position = end.end()
                continue
            start = _START_TAG.match(text, position)
            if start is None:
                raise _html_error(f"unsupported start tag at byte offset {offset}")
            _check_start_tag(start.group(1), start.group(2), offset)
            stack.append(start.group(1))
            position = start.end()
            continue
        if char == "&" and _ENTITY.match(text, position) is None:
            offset = len(text[:position].encode())
            raise _html_error(f"unsupported HTML entity at byte offset {offset}")
        position += 1
    if stack:
        raise _html_error(f'can\'t find end tag corresponding to start tag "{stack[-1]}"')


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _truncate_link(link: str) -> str:
    prefix, sep, code = link.rpartition("+")
    if sep:
        return f"{prefix}+{code[:4]}..."
    return f"{link[: max(len(link) - 12, 0)]}..."


_UPLOADS = "\x00uploads"  # where _read_params leaves a multipart request's files


def _decode_value(key: str, raw: str) -> Any:
    if key in _RAW_STRING_FIELDS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _opt_int(params: JSONDict, key: str) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _bad(f"invalid {key} specified")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {key} specified") from None


def _req_int(params: JSONDict, key: str) -> int:
    value = _opt_int(params, key)
    if value is None:
        raise _bad(f"{key} is empty")
    return value


def _opt_str(params: JSONDict, key: str) -> str | None:
    value = params.get(key)
    return None if value is None else str(value)


def _flag(params: JSONDict, key: str) -> bool:
    return params.get(key) in (True, "true", "True", 1, "1")


def _unix(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


class FakeBotAPI:
    """In-process fake of the Telegram Bot API (see module docstring)."""

    def __init__(  # noqa: PLR0915 - one assignment per piece of state
        self,
        token: str = "123456789:TEST-token",
        bot_username: str = "seedbot_test",
        *,
        time_source: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] | None = None,
        enforce_rate_limits: bool = False,
        webhook_timeout: float = 60.0,
        webhook_retry_delay: float = 0.5,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", maxsplit=1)[0])
        self.bot_user = User(
            id=self.bot_id,
            is_bot=True,
            first_name=bot_username,
            username=bot_username,
            can_join_groups=True,
            can_read_all_group_messages=False,
            supports_inline_queries=False,
        )
        self.base_url = ""
        self.time_source = time_source  # monotonic seconds, used for rate limiting
        self.wall_clock = wall_clock or (lambda: datetime.now(UTC))
        self.enforce_rate_limits = enforce_rate_limits
        self.rate_limit_violations = 0
        # When True, a non-admin bot in a group only receives commands and replies to its messages.
        self.privacy_mode = False

        self.requests: list[tuple[str, JSONDict]] = []
        self.sent_messages: list[SentMessage] = []
        self.sent_documents: list[tuple[int, str, bytes]] = []  # (chat id, file name, content)
        self.downloads: list[str] = []  # file paths the bot downloaded
        self.sent_albums: list[tuple[int, list[bytes]]] = []  # (chat id, uploaded photos)
        self.callback_answers: list[JSONDict] = []
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.pinned_messages: list[tuple[int, int]] = []
        self.internal_errors: list[str] = []
        self.refusals: list[tuple[str, int, str]] = []  # (method, error code, description)
        self.allowed_updates: list[str] | None = None
        self.webhook_url: str | None = None
        self.webhook_secret_token: str | None = None
        self.webhook_max_connections = 40
        self.webhook_timeout = webhook_timeout  # seconds an answer may take (Telegram: 60)
        self.webhook_retry_delay = webhook_retry_delay  # seconds before a failed one is resent
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_in_flight = 0
        self.webhook_max_in_flight = 0  # the most requests in flight at once so far
        self.webhook_max_in_flight_per_chat = 0  # the same within one lane (chat)
        self.webhook_acknowledged_at: dict[int, float] = {}  # update id -> perf_counter()
        # time.perf_counter() stamps, for benchmarks: when an update was queued for the bot,
        # when a callback query was first answered.
        self.update_queued_at: dict[int, float] = {}
        self.callback_answered_at: dict[str, float] = {}
        self.confirmed_at: list[tuple[int, float]] = []  # (getUpdates offset, when it came)

        self._users: dict[int, User] = {u.id: u for u in (self.bot_user, *_SERVICE_USERS)}
        self._chats: dict[int, Chat] = {}
        self._groups: dict[int, _GroupState] = {}
        self._started: set[int] = set()
        self._blocked: set[int] = set()
        self._join_request_contacts: set[int] = set()
        self._messages: dict[int, dict[int, Message]] = {}
        self._next_message_id: dict[int, int] = {}
        self._records: dict[tuple[int, int], SentMessage] = {}
        self._links: dict[str, _InviteLinkState] = {}
        self._primary_links: dict[int, str] = {}
        self._open_callbacks: set[str] = set()
        self._callback_counter = 0
        self._failures: dict[str, deque[_Failure]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._dropped_answers: dict[str, int] = {}
        self._garbled_answers: dict[str, list[str]] = {}
        self._migrated: dict[int, int] = {}
        self._global_sends: deque[float] = deque()
        self._chat_sends: dict[int, deque[float]] = {}
        self._chat_failures: dict[int, deque[_Failure]] = {}
        self._polls: dict[str, _PollState] = {}
        self._files: dict[str, _StoredFile] = {}

        self._next_update_id = 1
        self._history: dict[int, JSONDict] = {}
        self._update_kinds: dict[int, str] = {}
        self._pending: list[int] = []
        self._redeliveries: list[int] = []
        self._unconfirmed_redelivered: set[int] = set()
        self._redelivered_sent: set[int] = set()
        self._dropped: set[int] = set()
        self._confirmed_offset = 0
        self._poll_generation = 0
        self._stopping = False
        self._updates_pulse = _Pulse()
        self._state_pulse = _Pulse()
        self._message_pulse = _Pulse()
        self._request_pulse = _Pulse()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._webhook_last_error: tuple[int, str] | None = None
        self._webhook_lanes: dict[Lane, deque[int]] = {}
        self._webhook_workers: dict[Lane, asyncio.Task[None]] = {}
        self._webhook_lane_in_flight: dict[Lane, int] = {}
        self._webhook_outstanding: set[int] = set()  # taken from the queue, not yet 2xx
        self._webhook_acknowledged: set[int] = set()
        self._webhook_feeder: asyncio.Task[None] | None = None
        self._webhook_session: aiohttp.ClientSession | None = None
        self._webhook_slots: asyncio.Semaphore | None = None
        self._online = asyncio.Event()  # cleared by go_offline(): Telegram delivers nothing
        self._online.set()

        # Bot API method names are case-insensitive: "_m_get_chat_member" serves "getChatMember".
        self._methods: dict[str, MethodHandler] = {
            name[3:].replace("_", ""): getattr(self, name)
            for name in dir(self)
            if name.startswith("_m_")
        }

    # ------------------------------------------------------------------ server lifecycle

    async def start(self) -> None:
        self._stopping = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def go_offline(self) -> None:
        """Telegram becomes unreachable: open connections drop and new ones are refused;
        no webhook request starts until it comes back."""
        assert self._runner is not None
        self._online.clear()
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if self._runner.server is not None:
            for connection in self._runner.server.connections:
                connection.force_close()

    async def come_back(self) -> None:
        """Telegram is reachable again, at the same address."""
        assert self._runner is not None
        if self._site is None:
            host, port = self.base_url.removeprefix("http://").rsplit(":", 1)
            self._site = web.TCPSite(self._runner, host, int(port))
            await self._site.start()
        self._online.set()

    async def stop(self) -> None:
        await self._stop_webhook_delivery()
        self._stopping = True
        self._online.set()
        for event in self._holds.values():
            event.set()
        self._updates_pulse.fire()
        self._state_pulse.fire()
        self._message_pulse.fire()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        parts = request.match_info["tail"].split("/")
        if len(parts) > 2 and parts[0] == "file":
            return await self._download(parts[1], "/".join(parts[2:]))
        if len(parts) != 2 or not parts[0].startswith("bot"):
            return self._error_response(TelegramAPIError(404, "Not Found"))
        token, method = parts[0][3:], parts[1]
        if token != self.token:
            return self._error_response(TelegramAPIError(401, "Unauthorized"))
        try:
            params = await self._read_params(request)
        except ValueError:
            return self._error_response(_bad("can't parse request parameters"))
        self.requests.append((method, params))
        self._request_pulse.fire()
        handler = self._methods.get(method.lower())
        if handler is None:
            return self._error_response(TelegramAPIError(404, "Not Found"))
        garbled = self._garbled_answers.get(method.lower())
        if garbled:
            return web.Response(text=garbled.pop(0), content_type="application/json")
        hold = self._holds.get(method.lower())
        if hold is not None:
            await hold.wait()
            if request.transport is None or request.transport.is_closing():
                return self._error_response(TelegramAPIError(499, "the client went away"))
        try:
            self._raise_injected_failure(method)
            result = await handler(params)
        except TelegramAPIError as exc:
            self.refusals.append((method, exc.error_code, exc.description))
            return self._error_response(exc)
        except Exception as exc:  # a bug in the fake: surface it to the test
            logger.exception("FakeBotAPI failed on %s", method)
            self.internal_errors.append(f"{method}: {type(exc).__name__}: {exc}")
            return self._error_response(TelegramAPIError(500, f"Internal Server Error: {exc}"))
        if self._dropped_answers.get(method.lower(), 0) > 0 and request.transport is not None:
            self._dropped_answers[method.lower()] -= 1
            request.transport.close()  # done, but the bot never hears of it
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error_response(exc: TelegramAPIError) -> web.Response:
        body: JSONDict = {"ok": False, "error_code": exc.error_code, "description": exc.description}
        if exc.retry_after is not None:
            body["parameters"] = {"retry_after": exc.retry_after}
        if exc.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": exc.migrate_to_chat_id}
        return web.json_response(body, status=exc.error_code)

    @staticmethod
    async def _read_params(request: web.Request) -> JSONDict:
        params: JSONDict = {k: _decode_value(k, v) for k, v in request.query.items()}
        if not request.can_read_body:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            params.update(body)
            return params
        files: dict[str, UploadedFile] = {}
        for key, value in (await request.post()).items():
            if isinstance(value, str):
                params[key] = _decode_value(key, value)
            elif isinstance(value, web.FileField):
                files[key] = UploadedFile(value.filename, value.file.read())
            else:
                params[key] = _decode_value(key, value.decode())
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
                params[key] = files[value[9:]]
        if files:
            params[_UPLOADS] = files  # for references inside JSON fields (sendMediaGroup)
        return params

    # ------------------------------------------------------------------ world state

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        username: str | None = None,
        last_name: str | None = None,
        is_bot: bool = False,
        language_code: str | None = "en",
    ) -> User:
        user = User(
            id=user_id,
            is_bot=is_bot,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        self._users[user_id] = user
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        creator_id: int,
        admins: Iterable[int] = (),
        username: str | None = None,
        is_forum: bool = False,
        basic: bool = False,
    ) -> Chat:
        if chat_id >= 0:
            raise ValueError(f"group ids are negative (like -100...), got {chat_id}")
        chat = Chat(
            id=chat_id,
            type="group" if basic else "supergroup",
            title=title,
            username=username,
            is_forum=is_forum or None,
        )
        group = _GroupState(chat=chat, creator_id=self._user(creator_id).id)
        group.members[creator_id] = "creator"
        for admin_id in admins:
            group.members[self._user(admin_id).id] = "administrator"
        self._chats[chat_id] = chat
        self._groups[chat_id] = group
        return chat

    def add_channel(self, channel_id: int, title: str, *, username: str | None = None) -> Chat:
        chat = Chat(id=channel_id, type="channel", title=title, username=username)
        self._chats[channel_id] = chat
        return chat

    def add_member(self, chat_id: int, user_id: int) -> None:
        """Make a user a plain member silently (no update), e.g. for initial fixtures."""
        self._group(chat_id).members[self._user(user_id).id] = "member"

    def remove_member(self, chat_id: int, user_id: int) -> None:
        """The user leaves silently (no update reaches the bot), as when it was not an admin."""
        self._group(chat_id).members[self._user(user_id).id] = "left"

    def add_invite_link(
        self,
        chat_id: int,
        *,
        creator_id: int,
        name: str | None = None,
        creates_join_request: bool = False,
    ) -> str:
        """Register an invite link created by a human admin (reported truncated to the bot)."""
        self._group(chat_id)
        link = self._new_link(chat_id, self._user(creator_id), name, creates_join_request)
        return link.invite_link

    def promote(self, chat_id: int, user_id: int) -> int:
        group = self._group(chat_id)
        if group.members.get(user_id) != "member":
            raise ValueError(f"user {user_id} is not a plain member of {chat_id}")
        return self._change_member(chat_id, user_id, "administrator", by_user_id=group.creator_id)

    def demote(self, chat_id: int, user_id: int) -> int:
        group = self._group(chat_id)
        if group.members.get(user_id) != "administrator":
            raise ValueError(f"user {user_id} is not an administrator of {chat_id}")
        return self._change_member(chat_id, user_id, "member", by_user_id=group.creator_id)

    def add_bot_to_group(
        self, chat_id: int, *, by_user_id: int, as_admin: bool = True, can_invite_users: bool = True
    ) -> int:
        group = self._group(chat_id)
        required = ("creator", "administrator") if as_admin else _MEMBER_STATUSES
        if group.members.get(by_user_id) not in required:
            raise ValueError(f"user {by_user_id} may not add the bot to {chat_id}")
        group.bot_can_invite_users = as_admin and can_invite_users
        status = "administrator" if as_admin else "member"
        return self._change_member(chat_id, self.bot_id, status, by_user_id=by_user_id)

    def remove_bot_from_group(self, chat_id: int, *, by_user_id: int, ban: bool = True) -> int:
        status = "kicked" if ban else "left"
        return self._change_member(chat_id, self.bot_id, status, by_user_id=by_user_id)

    def join(
        self,
        chat_id: int,
        user_id: int,
        *,
        invite_link: str | None = None,
        via_join_request: bool = False,
        date: datetime | None = None,
    ) -> int:
        group = self._group(chat_id)
        status = group.members.get(user_id, "left")
        if status != "left":
            raise ValueError(f"user {user_id} cannot join {chat_id}: status is {status}")
        state = self._links.get(invite_link) if invite_link else None
        if state is not None:
            if state.link.is_revoked:
                raise ValueError(f"invite link {invite_link} is revoked")
            if state.link.creates_join_request and not via_join_request:
                raise ValueError("this link requires approval: use join_request()")
            if state.link.member_limit is not None and state.joined >= state.link.member_limit:
                raise ValueError(f"invite link {invite_link} reached its member limit")
            state.joined += 1
        by = group.creator_id if via_join_request else user_id
        return self._change_member(
            chat_id,
            user_id,
            "member",
            by_user_id=by,
            invite_link=invite_link,
            via_join_request=via_join_request and invite_link is None,
            date=date,
        )

    def join_request(
        self,
        chat_id: int,
        user_id: int,
        *,
        invite_link: str | None = None,
        date: datetime | None = None,
    ) -> int:
        group = self._group(chat_id)
        user = self._user(user_id)
        when = self._stamp(date)
        group.join_requests[user_id] = _JoinRequest(invite_link, when)
        self._join_request_contacts.add(user_id)
        request = ChatJoinRequest(
            chat=group.chat,
            from_user=user,
            user_chat_id=user_id,
            date=when,
            invite_link=self._link_for_update(chat_id, invite_link),
        )
        deliverable = self._bot_has_right(group, "can_invite_users")
        return self._emit("chat_join_request", request, deliverable=deliverable)

    def leave(self, chat_id: int, user_id: int, *, date: datetime | None = None) -> int:
        if self._group(chat_id).members.get(user_id) not in _MEMBER_STATUSES:
            raise ValueError(f"user {user_id} is not a member of {chat_id}")
        return self._change_member(chat_id, user_id, "left", by_user_id=user_id, date=date)

    def open_private_chat(self, user_id: int) -> None:
        """The user has started the bot earlier (no update is sent)."""
        self._private_chat(user_id)
        self._started.add(user_id)

    def block_bot(self, user_id: int) -> int | None:
        """User blocks the bot; emits my_chat_member (member -> kicked) if they had started it."""
        self._blocked.add(self._user(user_id).id)
        return self._private_bot_status(user_id, blocked=True)

    def unblock_bot(self, user_id: int) -> int | None:
        if user_id not in self._blocked:
            return None
        self._blocked.discard(user_id)
        return self._private_bot_status(user_id, blocked=False)

    def deny_right(self, chat_id: int, right: str) -> None:
        self._group(chat_id).denied_rights.add(right)

    def hold(self, method: str) -> asyncio.Event:
        """Calls of `method` wait (as a slow or hanging Telegram would) until the event is set;
        `FILE_DOWNLOAD` holds the file downloads (after getFile)."""
        event = asyncio.Event()
        self._holds[method.lower()] = event
        return event

    def release(self, method: str) -> None:
        event = self._holds.pop(method.lower(), None)
        if event is not None:
            event.set()

    def garble_answer(self, method: str, body: str) -> None:
        """The next call of `method` is answered `body` as it is, instead of carrying it out
        (a proxy or a future Bot API answering what aiogram cannot read)."""
        self._garbled_answers.setdefault(method.lower(), []).append(body)

    def drop_answer(self, method: str, *, times: int = 1) -> None:
        """The next calls of `method` are carried out, but the connection closes before the
        answer (as when the network fails after Telegram accepted a message)."""
        self._dropped_answers[method.lower()] = self._dropped_answers.get(method.lower(), 0) + times

    def migrate_group(
        self, chat_id: int, new_chat_id: int, *, by_user_id: int, notify: bool = True
    ) -> tuple[int, int] | None:
        """Upgrades a basic group to a supergroup with a new id, as Telegram does: the old id
        answers 400 with `migrate_to_chat_id` from now on, and (with `notify`) the bot gets a
        service message in each chat. Returns those two update ids (old chat, new chat)."""
        old = self._group(chat_id)
        chat = Chat(id=new_chat_id, type="supergroup", title=old.chat.title)
        group = _GroupState(
            chat=chat,
            creator_id=old.creator_id,
            members=dict(old.members),
            bot_can_invite_users=old.bot_can_invite_users,
            denied_rights=set(old.denied_rights),
        )
        self._chats[new_chat_id] = chat
        self._groups[new_chat_id] = group
        if not notify:
            self._migrated[chat_id] = new_chat_id
            return None
        sender = self._user(by_user_id)
        in_old = self._user_message(
            chat_id, sender, text=None, date=None, extra={"migrate_to_chat_id": new_chat_id}
        )
        self._migrated[chat_id] = new_chat_id
        in_new = self._user_message(
            new_chat_id, sender, text=None, date=None, extra={"migrate_from_chat_id": chat_id}
        )
        return in_old, in_new

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _ERROR_DESCRIPTIONS.get(error_code, "Error")
        failure = _Failure(error_code, description, retry_after if error_code == 429 else None)
        self._failures.setdefault(method.lower(), deque()).extend([failure] * times)

    def fail_next_send_to(self, chat_id: int, *, retry_after: int = 1, times: int = 1) -> None:
        """The next messages sent to that chat get a 429 (a flood limit of that chat only)."""
        failure = _Failure(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        self._chat_failures.setdefault(chat_id, deque()).extend([failure] * times)

    # ------------------------------------------------------------------ user actions -> updates

    def send_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        date: datetime | None = None,
        reply_to_message_id: int | None = None,
        sender_chat_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        sender = self._user(user_id)
        sender_chat: Chat | None = None
        if sender_chat_id is not None:
            sender_chat = self._chats.get(sender_chat_id) or self.add_channel(
                sender_chat_id, f"Channel {sender_chat_id}"
            )
            anonymous = sender_chat_id == chat_id
            sender = self._users[ANONYMOUS_ADMIN_ID if anonymous else CHANNEL_BOT_ID]
        return self._user_message(
            chat_id,
            sender,
            text=text,
            date=date,
            reply_to_message_id=reply_to_message_id,
            sender_chat=sender_chat,
            message_thread_id=message_thread_id,
        )

    def send_anonymous_admin_message(
        self, chat_id: int, text: str, *, date: datetime | None = None
    ) -> int:
        return self._user_message(
            chat_id,
            self._users[ANONYMOUS_ADMIN_ID],
            text=text,
            date=date,
            sender_chat=self._group(chat_id).chat,
        )

    def send_channel_post_in_group(
        self, chat_id: int, channel_id: int, text: str, *, date: datetime | None = None
    ) -> int:
        channel = self._chats.get(channel_id)
        if channel is None:
            channel = self.add_channel(channel_id, f"Channel {channel_id}")
        when = self._stamp(date)
        origin = MessageOriginChannel(
            date=when, chat=channel, message_id=self._alloc_message_id(channel_id)
        )
        return self._user_message(
            chat_id,
            self._users[TELEGRAM_SERVICE_ID],
            text=text,
            date=when,
            sender_chat=channel,
            extra={"is_automatic_forward": True, "forward_origin": origin},
        )

    def send_photo_message(
        self,
        chat_id: int,
        user_id: int,
        *,
        caption: str | None = None,
        date: datetime | None = None,
        file_id: str | None = None,
        reply_to_message_id: int | None = None,
    ) -> int:
        """A user posts a photo (`file_id`: the photo's id, else a new one); a caption that
        starts with a command carries a bot_command caption entity, as Telegram sends it."""
        return self._user_message(
            chat_id,
            self._user(user_id),
            text=None,
            date=date,
            reply_to_message_id=reply_to_message_id,
            extra={
                "photo": self._photo_sizes(file_id),
                "caption": caption,
                "caption_entities": self._command_entities(caption),
            },
        )

    def edit_message(self, chat_id: int, message_id: int, user_id: int, text: str) -> int:
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None or message.from_user is None or message.from_user.id != user_id:
            raise ValueError(f"no message {message_id} from user {user_id} in chat {chat_id}")
        edited = _replace(
            message,
            text=text,
            entities=self._command_entities(text),
            edit_date=int(self._stamp(None).timestamp()),
        )
        self._messages[chat_id][message_id] = edited
        return self._emit("edited_message", edited, deliverable=self._bot_receives(edited))

    def press_button(self, chat_id: int, message_id: int, user_id: int, data: str) -> int:
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None or message.from_user is None or message.from_user.id != self.bot_id:
            raise ValueError(f"no message {message_id} sent by the bot in chat {chat_id}")
        self._callback_counter += 1
        query_id = f"{secrets.randbelow(10**9)}{self._callback_counter:06d}"
        self._open_callbacks.add(query_id)
        group = self._groups.get(chat_id)
        in_chat = group is None or self._bot_status(group) in ("member", "administrator")
        query = CallbackQuery(
            id=query_id,
            from_user=self._user(user_id),
            message=message,
            chat_instance=str(abs(chat_id) * 7 + 1_000_003),
            data=data,
        )
        return self._emit("callback_query", query, deliverable=in_chat)

    def press_buttons(
        self, chat_id: int, message_id: int, user_ids: list[int], data: str
    ) -> list[int]:
        """Many users press the same button at once (for benchmarks): like `press_button` for
        each, but built from one validated update, so that thousands are queued cheaply."""
        if not user_ids:
            return []
        first = self.press_button(chat_id, message_id, user_ids[0], data)
        template = self._history[first]["callback_query"]
        deliverable = first not in self._dropped
        update_ids = [first]
        for user_id in user_ids[1:]:
            self._callback_counter += 1
            query_id = f"{secrets.randbelow(10**9)}{self._callback_counter:06d}"
            self._open_callbacks.add(query_id)
            query = {**template, "id": query_id, "from": _dump(self._user(user_id))}
            update_ids.append(self._emit_raw("callback_query", query, deliverable=deliverable))
        return self._stamp_queued(update_ids)

    def send_messages(self, chat_id: int, user_ids: list[int], text: str) -> list[int]:
        """Many users send the same text to a group at once (for benchmarks): like
        `send_message` for each, but built from one validated message."""
        if not user_ids:
            return []
        first = self.send_message(chat_id, user_ids[0], text)
        template = self._messages[chat_id][self.message_id_of(first)]
        deliverable = first not in self._dropped
        update_ids = [first]
        for user_id in user_ids[1:]:
            message = template.model_copy(
                update={
                    "message_id": self._alloc_message_id(chat_id),
                    "from_user": self._user(user_id),
                }
            )
            self._messages[chat_id][message.message_id] = message
            update_ids.append(self._emit_raw("message", _dump(message), deliverable=deliverable))
        return self._stamp_queued(update_ids)

    def emit_unreadable(self, kind: str, payload: JSONDict) -> int:
        """An update delivered exactly as given, unchecked: one that aiogram's models may
        reject (a field a later Bot API version adds or drops)."""
        return self._stamp_queued([self._emit_raw(kind, payload, deliverable=True)])[0]

    def answers_per_press(self) -> dict[str, int]:
        """How many callback answers Telegram accepted for each press."""
        counts: dict[str, int] = {}
        for answer in self.callback_answers:
            query_id = str(answer["callback_query_id"])
            counts[query_id] = counts.get(query_id, 0) + 1
        return counts

    def callback_query_id(self, update_id: int) -> str:
        return str(self._history[update_id]["callback_query"]["id"])

    def _emit_raw(self, kind: str, payload: JSONDict, *, deliverable: bool) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._history[update_id] = {"update_id": update_id, kind: payload}
        self._update_kinds[update_id] = kind
        if deliverable:
            self._pending.append(update_id)
        else:
            self._dropped.add(update_id)
        return update_id

    def _stamp_queued(self, update_ids: list[int]) -> list[int]:
        now = time.perf_counter()
        for update_id in update_ids:
            self.update_queued_at[update_id] = now
        self._updates_pulse.fire()
        self._state_pulse.fire()
        return update_ids

    def redeliver(self, update_id: int, *, even_if_pending: bool = False) -> None:
        """Delivers the update again; `even_if_pending`: also when it is still waiting, so
        that the next page carries it twice."""
        if update_id not in self._history:
            raise KeyError(f"unknown update_id {update_id}")
        waiting = update_id in self._pending or update_id in self._webhook_outstanding
        if update_id in self._redeliveries or (waiting and not even_if_pending):
            return
        self._redeliveries.append(update_id)
        self._unconfirmed_redelivered.add(update_id)
        self._updates_pulse.fire()

    # ------------------------------------------------------------------ observation

    def messages_to(self, chat_id: int, *, include_edits: bool = False) -> list[SentMessage]:
        return [
            m
            for m in self.sent_messages
            if m.chat_id == chat_id and (include_edits or m.kind == "send")
        ]

    def calls(self, method: str) -> list[JSONDict]:
        """Decoded params of every call of ``method`` (case-insensitive)."""
        return [params for name, params in self.requests if name.lower() == method.lower()]

    @property
    def invite_links(self) -> list[JSONDict]:
        """Current state of every invite link created by the bot, each with its chat_id."""
        return [
            {"chat_id": state.chat_id, **_dump(state.link)}
            for state in self._links.values()
            if state.link.creator.id == self.bot_id
        ]

    @property
    def dropped_updates(self) -> set[int]:
        """Update ids never delivered (not in allowed_updates, bot not entitled to them...)."""
        return set(self._dropped)

    def is_handled(self, update_id: int) -> bool:
        if update_id in self._dropped:
            return True
        if update_id in self._unconfirmed_redelivered:
            return False
        return update_id < self._confirmed_offset or update_id in self._webhook_acknowledged

    async def wait_until_handled(self, update_id: int, timeout: float = 10) -> None:  # noqa: ASYNC109
        if update_id not in self._history:
            raise KeyError(f"unknown update_id {update_id}")
        handled = await self._wait_for(
            lambda: True if self.is_handled(update_id) else None, self._state_pulse, timeout
        )
        if handled:
            return
        raise TimeoutError(
            f"update {update_id} ({self._update_kinds[update_id]}) was not confirmed by the bot "
            f"within {timeout}s: last getUpdates offset={self._confirmed_offset}, "
            f"pending={self._pending}, redeliveries={self._redeliveries}, "
            f"allowed_updates={self.allowed_updates}, "
            f"getUpdates calls so far={len(self.calls('getUpdates'))}"
        )

    async def wait_for_message(
        self,
        predicate: Callable[[SentMessage], bool],
        timeout: float = 10,  # noqa: ASYNC109
        *,
        start: int = 0,
    ) -> SentMessage:
        """First record in ``sent_messages[start:]`` matching ``predicate`` (waits for new ones)."""

        def find() -> SentMessage | None:
            return next((m for m in self.sent_messages[start:] if predicate(m)), None)

        found = await self._wait_for(find, self._message_pulse, timeout)
        if found is None:
            recent = [(m.chat_id, m.kind, m.text) for m in self.sent_messages[start:][-10:]]
            raise TimeoutError(f"no matching message within {timeout}s; recent: {recent}")
        return found

    async def wait_for_call(
        self,
        method: str,
        timeout: float = 10,  # noqa: ASYNC109
        *,
        start: int = 0,
    ) -> JSONDict:
        """Params of the first call of ``method`` in ``requests[start:]`` (waits for it)."""

        def find() -> JSONDict | None:
            return next(
                (p for name, p in self.requests[start:] if name.lower() == method.lower()), None
            )

        found = await self._wait_for(find, self._request_pulse, timeout)
        if found is None:
            raise TimeoutError(f"{method} was not called within {timeout}s")
        return found

    async def wait_for_download(self, timeout: float = 10, *, start: int = 0) -> str:  # noqa: ASYNC109
        """The path of the first file download in ``downloads[start:]`` (waits for it)."""
        found = await self._wait_for(
            lambda: self.downloads[start] if len(self.downloads) > start else None,
            self._request_pulse,
            timeout,
        )
        if found is None:
            raise TimeoutError(f"no file was downloaded within {timeout}s")
        return found

    async def _wait_for(
        self, check: Callable[[], T | None], pulse: _Pulse, seconds: float
    ) -> T | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            result = check()
            remaining = deadline - loop.time()
            if result is not None or remaining <= 0 or self._stopping:
                return result
            await pulse.wait(remaining)

    # ------------------------------------------------------------------ internals: world

    def _user(self, user_id: int) -> User:
        try:
            return self._users[user_id]
        except KeyError:
            raise KeyError(f"unknown user {user_id}: call add_user() first") from None

    def _group(self, chat_id: int) -> _GroupState:
        try:
            return self._groups[chat_id]
        except KeyError:
            raise KeyError(f"unknown group {chat_id}: call add_group() first") from None

    def _stamp(self, date: datetime | None) -> datetime:
        return (date or self.wall_clock()).replace(microsecond=0)

    def _alloc_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _private_chat(self, user_id: int) -> Chat:
        chat = self._chats.get(user_id)
        if chat is None:
            user = self._user(user_id)
            chat = Chat(
                id=user_id,
                type="private",
                first_name=user.first_name,
                last_name=user.last_name,
                username=user.username,
            )
            self._chats[user_id] = chat
        return chat

    def _bot_status(self, group: _GroupState) -> str:
        return group.members.get(self.bot_id, "left")

    def _bot_has_right(self, group: _GroupState, right: str) -> bool:
        if self._bot_status(group) != "administrator" or right in group.denied_rights:
            return False
        return right != "can_invite_users" or group.bot_can_invite_users

    def _member_obj(self, group: _GroupState, user_id: int) -> ChatMemberUnion:
        user = self._user(user_id)
        status = group.members.get(user_id, "left")
        if status == "creator":
            return ChatMemberOwner(user=user, is_anonymous=False)
        if status == "member":
            return ChatMemberMember(user=user)
        if status == "kicked":
            return ChatMemberBanned(user=user, until_date=datetime.fromtimestamp(0, UTC))
        if status != "administrator":
            return ChatMemberLeft(user=user)
        is_bot = user_id == self.bot_id
        rights = {
            r: (self._bot_has_right(group, r) if is_bot else True)
            for r in (
                "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                "can_restrict_members", "can_promote_members", "can_change_info",
                "can_invite_users", "can_post_stories", "can_edit_stories",
                "can_delete_stories", "can_send_welcome_messages", "can_pin_messages",
            )
        }  # fmt: skip
        if is_bot:
            rights["can_promote_members"] = False
        return ChatMemberAdministrator.model_validate(
            {"user": user, "can_be_edited": False, "is_anonymous": False, **rights}
        )

    def _change_member(
        self,
        chat_id: int,
        user_id: int,
        new_status: str,
        *,
        by_user_id: int,
        invite_link: str | None = None,
        via_join_request: bool = False,
        date: datetime | None = None,
    ) -> int:
        group = self._group(chat_id)
        old = self._member_obj(group, user_id)
        group.members[user_id] = new_status
        event = ChatMemberUpdated(
            chat=group.chat,
            from_user=self._user(by_user_id),
            date=self._stamp(date),
            old_chat_member=old,
            new_chat_member=self._member_obj(group, user_id),
            invite_link=self._link_for_update(chat_id, invite_link),
            via_join_request=True if via_join_request else None,
        )
        if user_id == self.bot_id:
            return self._emit("my_chat_member", event)
        bot_is_admin = self._bot_status(group) == "administrator"
        return self._emit("chat_member", event, deliverable=bot_is_admin)

    def _private_bot_status(self, user_id: int, *, blocked: bool) -> int | None:
        if user_id not in self._started:
            return None
        bot_member: ChatMemberUnion = ChatMemberMember(user=self.bot_user)
        banned = ChatMemberBanned(user=self.bot_user, until_date=datetime.fromtimestamp(0, UTC))
        old, new = (bot_member, banned) if blocked else (banned, bot_member)
        event = ChatMemberUpdated(
            chat=self._private_chat(user_id),
            from_user=self._user(user_id),
            date=self._stamp(None),
            old_chat_member=old,
            new_chat_member=new,
        )
        return self._emit("my_chat_member", event)

    def _new_link(
        self,
        chat_id: int,
        creator: User,
        name: str | None,
        creates_join_request: bool,
        **extra: Any,
    ) -> ChatInviteLink:
        code = "".join(secrets.choice(_LINK_ALPHABET) for _ in range(16))
        link = ChatInviteLink(
            invite_link=f"https://t.me/+{code}",
            creator=creator,
            creates_join_request=creates_join_request,
            is_primary=False,
            is_revoked=False,
            name=name,
            **extra,
        )
        self._links[link.invite_link] = _InviteLinkState(chat_id, link)
        return link

    def _link_for_update(self, chat_id: int, invite_link: str | None) -> ChatInviteLink | None:
        if invite_link is None:
            return None
        state = self._links.get(invite_link)
        if state is not None and state.chat_id == chat_id:
            if state.link.creator.id == self.bot_id:
                return state.link
            return _replace(state.link, invite_link=_truncate_link(invite_link))
        return ChatInviteLink(
            invite_link=_truncate_link(invite_link),
            creator=self._user(self._group(chat_id).creator_id),
            creates_join_request=False,
            is_primary=False,
            is_revoked=False,
        )

    def _command_entities(self, text: str | None) -> list[MessageEntity] | None:
        if not text or not text.startswith("/") or len(text) < 2:
            return None
        command = text.split(maxsplit=1)[0]
        return [MessageEntity(type="bot_command", offset=0, length=_utf16_len(command))]

    def _photo_sizes(self, ref: str | None) -> list[PhotoSize]:
        unique = secrets.token_hex(6)
        file_id = ref if ref and not ref.startswith(("http://", "https://")) else f"AgAC{unique}"
        return [
            PhotoSize(file_id=file_id, file_unique_id=f"AQAD{unique}", width=320, height=240),
            PhotoSize(file_id=file_id, file_unique_id=f"AQAE{unique}", width=1280, height=960),
        ]

    def _user_message(
        self,
        chat_id: int,
        sender: User,
        *,
        text: str | None,
        date: datetime | None,
        reply_to_message_id: int | None = None,
        sender_chat: Chat | None = None,
        message_thread_id: int | None = None,
        extra: JSONDict | None = None,
    ) -> int:
        if chat_id > 0:
            if chat_id != sender.id:
                raise ValueError("private chat id must equal the user id")
            if chat_id in self._blocked:
                raise ValueError(f"user {chat_id} blocked the bot: call unblock_bot() first")
            chat = self._private_chat(chat_id)
            self._started.add(chat_id)
        else:
            group = self._group(chat_id)
            chat = group.chat
            if sender_chat is None and group.members.get(sender.id) not in _MEMBER_STATUSES:
                raise ValueError(f"user {sender.id} is not a member of {chat_id}")
        reply_to: Message | None = None
        if reply_to_message_id is not None:
            original = self._messages.get(chat_id, {}).get(reply_to_message_id)
            if original is None:
                raise ValueError(f"no message {reply_to_message_id} in chat {chat_id}")
            reply_to = _replace(original, reply_to_message=None)
        message = Message(
            message_id=self._alloc_message_id(chat_id),
            date=self._stamp(date),
            chat=chat,
            from_user=sender,
            sender_chat=sender_chat,
            message_thread_id=message_thread_id,
            is_topic_message=True if message_thread_id is not None and chat.is_forum else None,
            reply_to_message=reply_to,
            text=text,
            entities=self._command_entities(text),
            **(extra or {}),
        )
        self._messages.setdefault(chat_id, {})[message.message_id] = message
        return self._emit("message", message, deliverable=self._bot_receives(message))

    def _bot_receives(self, message: Message) -> bool:
        group = self._groups.get(message.chat.id)
        if group is None:
            return True
        status = self._bot_status(group)
        if status not in ("member", "administrator"):
            return False
        if status == "administrator" or not self.privacy_mode:
            return True
        reply = message.reply_to_message
        is_reply_to_bot = (
            reply is not None
            and reply.from_user is not None
            and (reply.from_user.id == self.bot_id)
        )
        return bool(message.entities or message.caption_entities) or is_reply_to_bot

    # ------------------------------------------------------------------ internals: updates

    def _emit(self, kind: str, payload: TelegramObject, *, deliverable: bool = True) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        update = Update.model_validate({"update_id": update_id, kind: payload})
        self._history[update_id] = _dump(update)
        self._update_kinds[update_id] = kind
        self.update_queued_at[update_id] = time.perf_counter()
        if deliverable:
            self._pending.append(update_id)
        else:
            self._dropped.add(update_id)
        self._updates_pulse.fire()
        self._state_pulse.fire()
        return update_id

    def update_of(self, update_id: int) -> Update:
        """The update as it was (or will be) delivered."""
        return Update.model_validate(self._history[update_id])

    def message_id_of(self, update_id: int) -> int:
        """The message id of the message (or edited message) an update carried."""
        update = self._history[update_id]
        message = update.get("message") or update.get("edited_message")
        if not isinstance(message, dict):
            raise KeyError(f"update {update_id} carries no message")
        return int(message["message_id"])

    def _is_allowed(self, kind: str) -> bool:
        if not self.allowed_updates:
            return kind not in DEFAULT_EXCLUDED_UPDATES
        return kind in self.allowed_updates

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            kept = self._pending[offset:]
            cutoff = kept[0] if kept else self._next_update_id
        else:
            cutoff = offset
            for update_id in [u for u in self._redelivered_sent if u < offset]:
                self._redelivered_sent.discard(update_id)
                self._unconfirmed_redelivered.discard(update_id)
        self._pending = [u for u in self._pending if u >= cutoff]
        if cutoff > self._confirmed_offset:
            self.confirmed_at.append((cutoff, time.perf_counter()))
        self._confirmed_offset = max(self._confirmed_offset, cutoff)
        self._state_pulse.fire()

    def _take_updates(self, limit: int) -> list[JSONDict]:
        batch: list[JSONDict] = []
        while self._redeliveries and len(batch) < limit:
            update_id = self._redeliveries.pop(0)
            if self._is_allowed(self._update_kinds[update_id]):
                batch.append(self._history[update_id])
                self._redelivered_sent.add(update_id)
            else:
                self._unconfirmed_redelivered.discard(update_id)
        kept: list[int] = []
        for update_id in self._pending:
            if len(batch) < limit and not self._is_allowed(self._update_kinds[update_id]):
                self._dropped.add(update_id)
                continue
            kept.append(update_id)
            if len(batch) < limit:
                batch.append(self._history[update_id])
        if len(kept) != len(self._pending):
            self._state_pulse.fire()
        self._pending = kept
        return batch

    def _raise_injected_failure(self, method: str) -> None:
        queue = self._failures.get(method.lower())
        if queue:
            failure = queue.popleft()
            raise TelegramAPIError(failure.error_code, failure.description, failure.retry_after)

    def _check_rate_limit(self, chat_id: int) -> None:
        now = self.time_source()
        chat_failures = self._chat_failures.get(chat_id)
        if chat_failures:
            failure = chat_failures.popleft()
            raise TelegramAPIError(failure.error_code, failure.description, failure.retry_after)
        glob = self._global_sends
        per_chat = self._chat_sends.setdefault(chat_id, deque())
        while glob and glob[0] <= now - 1.0:
            glob.popleft()
        while per_chat and per_chat[0] <= now - 60.0:
            per_chat.popleft()
        if self.enforce_rate_limits:
            retry: float | None = None
            if len(glob) >= 30:
                retry = glob[0] + 1.0 - now
            elif chat_id in self._groups and len(per_chat) >= 20:
                retry = per_chat[0] + 60.0 - now
            if retry is not None:
                self.rate_limit_violations += 1
                seconds = max(1, math.ceil(retry))
                raise TelegramAPIError(429, f"Too Many Requests: retry after {seconds}", seconds)
        glob.append(now)
        per_chat.append(now)

    # ------------------------------------------------------------------ internals: bot access

    def _chat_id_param(self, params: JSONDict, key: str = "chat_id") -> int:
        value = params.get(key)
        if value is None or value == "":
            raise _bad(f"{key} is empty")
        if isinstance(value, str) and value.startswith("@"):
            for chat in self._chats.values():
                if chat.username and chat.username.lower() == value[1:].lower():
                    return chat.id
            raise _bad("chat not found")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _bad("chat not found") from None

    def _group_access(self, chat_id: int) -> _GroupState:
        group = self._groups[chat_id]
        status = self._bot_status(group)
        kind = group.chat.type
        if status == "kicked":
            raise TelegramAPIError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if status == "left":
            raise TelegramAPIError(403, f"Forbidden: bot is not a member of the {kind} chat")
        return group

    def _writable_chat(self, chat_id: int) -> Chat:
        if chat_id in self._migrated:
            raise TelegramAPIError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=self._migrated[chat_id],
            )
        if chat_id in self._groups:
            return self._group_access(chat_id).chat
        if chat_id in self._chats and self._chats[chat_id].type == "channel":
            raise TelegramAPIError(403, "Forbidden: bot is not a member of the channel chat")
        if chat_id <= 0 or chat_id not in self._users:
            raise _bad("chat not found")
        if self._users[chat_id].is_bot:
            raise TelegramAPIError(403, "Forbidden: bot can't send messages to bots")
        if chat_id in self._blocked:
            raise TelegramAPIError(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self._started and chat_id not in self._join_request_contacts:
            raise TelegramAPIError(403, "Forbidden: bot can't initiate conversation with a user")
        return self._private_chat(chat_id)

    def _admin_group(self, chat_id: int, right: str, description: str) -> _GroupState:
        if chat_id not in self._groups:
            raise _bad("chat not found")
        group = self._group_access(chat_id)
        if not self._bot_has_right(group, right):
            raise TelegramAPIError(400, description)
        return group

    def _reply_markup(
        self, params: JSONDict
    ) -> tuple[JSONDict | None, InlineKeyboardMarkup | None]:
        raw = params.get("reply_markup")
        if raw is None:
            return None, None
        if not isinstance(raw, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in raw:
            return raw, None  # reply keyboards are accepted but never part of the Message object
        rows = raw["inline_keyboard"]
        for row in rows if isinstance(rows, list) else []:
            for button in row if isinstance(row, list) else []:
                data = button.get("callback_data") if isinstance(button, dict) else None
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise _bad("BUTTON_DATA_INVALID")
        try:
            return raw, InlineKeyboardMarkup.model_validate(raw)
        except ValidationError:
            raise _bad("can't parse inline keyboard button") from None

    @staticmethod
    def _entities(params: JSONDict, key: str) -> list[MessageEntity] | None:
        raw = params.get(key)
        if raw is None:
            return None
        try:
            return [MessageEntity.model_validate(item) for item in raw]
        except (TypeError, ValidationError):
            raise _bad(f"can't parse {key} JSON object") from None

    def _reply_target(self, chat_id: int, params: JSONDict) -> Message | None:
        reply_params = params.get("reply_parameters")
        allow_without = _flag(params, "allow_sending_without_reply")
        if isinstance(reply_params, dict):
            reply_id = _opt_int(reply_params, "message_id")
            allow_without = _flag(reply_params, "allow_sending_without_reply")
        else:
            reply_id = _opt_int(params, "reply_to_message_id")
        if reply_id is None:
            return None
        original = self._messages.get(chat_id, {}).get(reply_id)
        if original is None:
            if allow_without:
                return None
            raise _bad("message to be replied not found")
        return _replace(original, reply_to_message=None)

    def _bot_send(
        self,
        method: str,
        params: JSONDict,
        *,
        text: str | None,
        caption: str | None = None,
        photo: Any = None,
        document: Document | None = None,
    ) -> JSONDict:
        chat_id = self._chat_id_param(params)
        chat = self._writable_chat(chat_id)
        markup_dict, inline_markup = self._reply_markup(params)
        reply_to = self._reply_target(chat_id, params)
        entities = self._entities(params, "caption_entities" if photo is not None else "entities")
        self._check_rate_limit(chat_id)
        photo_ref = photo if isinstance(photo, str) or photo is None else f"upload:{photo.filename}"
        message = Message(
            message_id=self._alloc_message_id(chat_id),
            date=self._stamp(None),
            chat=chat,
            from_user=self.bot_user,
            message_thread_id=_opt_int(params, "message_thread_id"),
            is_topic_message=(
                True
                if _opt_int(params, "message_thread_id") is not None and chat.is_forum
                else None
            ),
            reply_to_message=reply_to,
            text=text,
            entities=entities if text is not None else None,
            caption=caption,
            caption_entities=entities if photo is not None else None,
            photo=self._photo_sizes(photo_ref) if photo is not None else None,
            document=document,
            reply_markup=inline_markup,
        )
        self._messages.setdefault(chat_id, {})[message.message_id] = message
        record = SentMessage(
            chat_id=chat_id,
            message_id=message.message_id,
            text=text if text is not None else caption,
            reply_markup=markup_dict,
            reply_to_message_id=reply_to.message_id if reply_to else None,
            parse_mode=_opt_str(params, "parse_mode"),
            photo=photo_ref,
            date=message.date,
            method=method,
            message_thread_id=message.message_thread_id,
            sent_at=time.perf_counter(),
        )
        self._records[(chat_id, message.message_id)] = record
        self.sent_messages.append(record)
        self._message_pulse.fire()
        return _dump(message)

    def _own_message(self, params: JSONDict, not_found: str) -> Message:
        if params.get("inline_message_id"):
            raise _bad("inline messages are not supported by FakeBotAPI")
        chat_id = self._chat_id_param(params)
        self._writable_chat(chat_id)
        message = self._messages.get(chat_id, {}).get(_req_int(params, "message_id"))
        if message is None:
            raise _bad(not_found)
        if message.from_user is None or message.from_user.id != self.bot_id:
            raise _bad("message can't be edited")
        return message

    def _store_edit(
        self,
        method: str,
        message: Message,
        update: JSONDict,
        markup_dict: JSONDict | None,
        parse_mode: str | None,
    ) -> JSONDict:
        edited = _replace(message, **update, edit_date=int(self._stamp(None).timestamp()))
        self._messages[message.chat.id][message.message_id] = edited
        text = edited.text if edited.text is not None else edited.caption
        record = self._records.get((message.chat.id, message.message_id))
        if record is not None:
            record.text, record.reply_markup = text, markup_dict
            record.parse_mode = parse_mode if "text" in update else record.parse_mode
        self.sent_messages.append(
            SentMessage(
                chat_id=message.chat.id,
                message_id=message.message_id,
                text=text,
                reply_markup=markup_dict,
                reply_to_message_id=record.reply_to_message_id if record else None,
                parse_mode=parse_mode,
                photo=record.photo if record else None,
                date=self._stamp(None),
                kind="edit",
                method=method,
            )
        )
        self._message_pulse.fire()
        return _dump(edited)

    # ------------------------------------------------------------------ Bot API methods

    async def _m_get_me(self, params: JSONDict) -> Any:
        return _dump(_replace(self.bot_user, can_read_all_group_messages=not self.privacy_mode))

    async def _m_get_updates(self, params: JSONDict) -> Any:
        if self.webhook_url:
            raise TelegramAPIError(409, _WEBHOOK_CONFLICT)
        offset = _opt_int(params, "offset")
        limit = min(max(_opt_int(params, "limit") or 100, 1), 100)
        timeout = max(_opt_int(params, "timeout") or 0, 0)
        allowed = params.get("allowed_updates")
        if allowed is not None:
            if not isinstance(allowed, list):
                raise _bad("can't parse allowed_updates")
            self.allowed_updates = [str(kind) for kind in allowed]
        if offset is not None:
            self._confirm(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_pulse.fire()  # a newer getUpdates terminates the older long poll
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise TelegramAPIError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            if self.webhook_url:
                raise TelegramAPIError(409, _WEBHOOK_CONFLICT)
            batch = self._take_updates(limit)
            remaining = deadline - loop.time()
            if batch or self._stopping or remaining <= 0:
                return batch
            await self._updates_pulse.wait(remaining)

    async def _m_set_webhook(self, params: JSONDict) -> Any:
        """See the module docstring for what the fake assumes of Telegram's delivery."""
        url = _opt_str(params, "url") or ""
        secret = _opt_str(params, "secret_token") or None
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise _bad("secret token contains unallowed characters")
        if url:
            _check_webhook_url(url)
        max_connections = min(max(_opt_int(params, "max_connections") or 40, 1), 100)
        allowed = params.get("allowed_updates")
        if allowed is not None and not isinstance(allowed, list):
            raise _bad("can't parse allowed_updates")
        if allowed is not None:
            self.allowed_updates = [str(kind) for kind in allowed]
        drop = _flag(params, "drop_pending_updates")
        delivering = self._webhook_feeder is not None
        if delivering and not drop and self._webhook_settings() == (url, secret, max_connections):
            return True  # "Webhook is already set": deliveries in flight go on
        await self._stop_webhook_delivery()
        if drop:
            self._confirm(self._next_update_id)
        if url != self.webhook_url:
            self._webhook_last_error = None
        self.webhook_url = url or None
        self.webhook_secret_token = secret if url else None
        self.webhook_max_connections = max_connections
        if url and _is_loopback(url):
            self._start_webhook_delivery()
        self._updates_pulse.fire()  # a long poll in progress ends with a 409
        return True

    def _webhook_settings(self) -> tuple[str, str | None, int]:
        return self.webhook_url or "", self.webhook_secret_token, self.webhook_max_connections

    async def _m_delete_webhook(self, params: JSONDict) -> Any:
        await self._stop_webhook_delivery()
        self.webhook_url = None
        self.webhook_secret_token = None
        if _flag(params, "drop_pending_updates"):
            self._confirm(self._next_update_id)
        return True

    async def _m_get_webhook_info(self, params: JSONDict) -> Any:
        last_error = self._webhook_last_error if self.webhook_url else None
        info = WebhookInfo(
            url=self.webhook_url or "",
            has_custom_certificate=False,
            pending_update_count=self.pending_update_count,
            max_connections=self.webhook_max_connections if self.webhook_url else None,
            allowed_updates=self.allowed_updates,
            last_error_date=_unix(last_error[0]) if last_error else None,
            last_error_message=last_error[1] if last_error else None,
        )
        return _dump(info)

    # ------------------------------------------------------------------ webhook delivery

    @property
    def pending_update_count(self) -> int:
        """Updates queued for the bot and not yet confirmed (by an offset or a 2xx answer)."""
        return len(self._pending) + len(self._webhook_outstanding)

    async def wait_until_delivered(self, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Waits until the webhook has answered 2xx to every queued update."""
        done = await self._wait_for(
            lambda: True if not self.pending_update_count and not self._redeliveries else None,
            self._state_pulse,
            timeout,
        )
        if done:
            return
        last = self.webhook_deliveries[-5:]
        raise TimeoutError(
            f"{self.pending_update_count} updates still pending after {timeout}s: "
            f"webhook={self.webhook_url}, in flight={self.webhook_in_flight}, "
            f"last error={self._webhook_last_error}, last deliveries={last}"
        )

    def _start_webhook_delivery(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.webhook_max_connections)
        self._webhook_session = aiohttp.ClientSession(connector=connector)
        self._webhook_slots = asyncio.Semaphore(self.webhook_max_connections)
        self._webhook_feeder = asyncio.create_task(self._feed_webhook())

    async def _stop_webhook_delivery(self) -> None:
        """Stops every delivery; what was not answered 2xx goes back to the queue."""
        tasks = list(self._webhook_workers.values())
        if self._webhook_feeder is not None:
            tasks.append(self._webhook_feeder)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._webhook_feeder = None
        self._webhook_workers.clear()
        self._webhook_lanes.clear()
        self._webhook_lane_in_flight.clear()
        self.webhook_in_flight = 0
        for update_id in sorted(self._webhook_outstanding):
            if update_id in self._unconfirmed_redelivered:
                self._redeliveries.append(update_id)
            else:
                self._pending.append(update_id)
        self._pending.sort()
        self._webhook_outstanding.clear()
        if self._webhook_session is not None:
            await self._webhook_session.close()
            self._webhook_session = None

    async def _feed_webhook(self) -> None:
        while True:
            self._take_for_webhook()
            await self._updates_pulse.wait(3600)

    def _take_for_webhook(self) -> None:
        if not self._pending and not self._redeliveries:
            return
        for update_id in self._redeliveries:
            if self._is_allowed(self._update_kinds[update_id]):
                self._queue_for_webhook(update_id)
            else:
                self._unconfirmed_redelivered.discard(update_id)
        for update_id in self._pending:
            if self._is_allowed(self._update_kinds[update_id]):
                self._queue_for_webhook(update_id)
            else:
                self._dropped.add(update_id)
        self._redeliveries = []
        self._pending = []
        self._state_pulse.fire()

    def _queue_for_webhook(self, update_id: int) -> None:
        lane = self._lane_of(update_id)
        queue = self._webhook_lanes.setdefault(lane, deque())
        queue.append(update_id)
        self._webhook_outstanding.add(update_id)
        if lane not in self._webhook_workers:
            self._webhook_workers[lane] = asyncio.create_task(self._deliver_lane(lane, queue))

    def _lane_of(self, update_id: int) -> Lane:
        payload = self._history[update_id].get(self._update_kinds[update_id])
        if isinstance(payload, dict):
            message = payload.get("message")
            chat = payload.get("chat") or (
                message.get("chat") if isinstance(message, dict) else None
            )
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return "chat", chat["id"]
            user = payload.get("from") or payload.get("user")
            if isinstance(user, dict) and isinstance(user.get("id"), int):
                return "user", user["id"]
        return "update", update_id

    async def _deliver_lane(self, lane: Lane, queue: deque[int]) -> None:
        """Delivers a lane's updates one at a time, each until it is answered 2xx."""
        try:
            while queue:
                update_id = queue[0]
                attempt = 1
                await self._online.wait()
                while not await self._deliver(update_id, attempt, lane):
                    attempt += 1
                    await asyncio.sleep(self.webhook_retry_delay)
                    await self._online.wait()
                queue.popleft()
                self._webhook_outstanding.discard(update_id)
                self._webhook_acknowledged.add(update_id)
                self._unconfirmed_redelivered.discard(update_id)
                self.webhook_acknowledged_at[update_id] = time.perf_counter()
                self._state_pulse.fire()
        finally:
            self._webhook_workers.pop(lane, None)
            if not queue:
                self._webhook_lanes.pop(lane, None)

    async def _deliver(self, update_id: int, attempt: int, lane: Lane) -> bool:
        assert self._webhook_slots is not None
        async with self._webhook_slots:
            self.webhook_in_flight += 1
            in_lane = self._webhook_lane_in_flight.get(lane, 0) + 1
            self._webhook_lane_in_flight[lane] = in_lane
            self.webhook_max_in_flight = max(self.webhook_max_in_flight, self.webhook_in_flight)
            self.webhook_max_in_flight_per_chat = max(self.webhook_max_in_flight_per_chat, in_lane)
            try:
                outcome, error = await self._post_update(update_id)
            finally:
                self.webhook_in_flight -= 1
                self._webhook_lane_in_flight[lane] -= 1
        delivery = WebhookDelivery(update_id, attempt, outcome, lane)
        self.webhook_deliveries.append(delivery)
        if error is not None:
            self._webhook_last_error = (int(self.wall_clock().timestamp()), error)
        return delivery.ok

    async def _post_update(self, update_id: int) -> tuple[int | str, str | None]:
        """POSTs the update; returns the answer's status (or the error) and the error
        message getWebhookInfo would tell."""
        assert self._webhook_session is not None and self.webhook_url is not None
        headers = {"Content-Type": "application/json"}
        if self.webhook_secret_token:
            headers[WEBHOOK_SECRET_HEADER] = self.webhook_secret_token
        try:
            async with self._webhook_session.post(
                self.webhook_url,
                data=json.dumps(self._history[update_id]),
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                allow_redirects=False,
            ) as response:
                if not 200 <= response.status < 300:
                    await response.read()
                    reason = f"{response.status} {response.reason or ''}".rstrip()
                    return response.status, f"Wrong response from the webhook: {reason}"
                await self._carry_out_webhook_reply(response)
                return response.status, None
        except TimeoutError:
            return "Read timeout expired", "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return "Connection refused", "Connection refused"
        except aiohttp.ClientError as error:
            message = f"Connection failed: {type(error).__name__}"
            return message, message

    async def _carry_out_webhook_reply(self, response: aiohttp.ClientResponse) -> None:
        """A Bot API call in the answer's body is carried out; nobody hears of its result."""
        params = await _webhook_reply(response)
        method = params.pop("method", None)
        if not isinstance(method, str) or not method:
            return
        self.requests.append((method, params))
        self._request_pulse.fire()
        handler = self._methods.get(method.lower())
        if handler is None:
            return
        try:
            self._raise_injected_failure(method)
            await handler(params)
        except TelegramAPIError as exc:
            self.refusals.append((method, exc.error_code, exc.description))
        except Exception as exc:  # a bug in the fake: surface it to the test
            logger.exception("FakeBotAPI failed on %s from a webhook answer", method)
            self.internal_errors.append(f"{method}: {type(exc).__name__}: {exc}")

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope")
        scope_type = "default"
        if isinstance(scope, dict):
            scope_type = str(scope.get("type", "default"))
            if "chat_id" in scope:
                scope_type += f":{scope['chat_id']}"
            if "user_id" in scope:
                scope_type += f":{scope['user_id']}"
        return scope_type, _opt_str(params, "language_code") or ""

    async def _m_set_my_commands(self, params: JSONDict) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        validated: list[JSONDict] = []
        for raw in commands:
            try:
                command = BotCommand.model_validate(raw)
            except ValidationError:
                raise _bad("can't parse BotCommand") from None
            name = command.command.lstrip("/")
            if not (
                1 <= len(name) <= 32
                and all(c in string.ascii_lowercase + string.digits + "_" for c in name)
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(command.description) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            validated.append({"command": name, "description": command.description})
        self.commands[self._commands_key(params)] = validated
        return True

    async def _m_delete_my_commands(self, params: JSONDict) -> Any:
        self.commands.pop(self._commands_key(params), None)
        return True

    async def _m_get_my_commands(self, params: JSONDict) -> Any:
        return self.commands.get(self._commands_key(params), [])

    async def _m_send_message(self, params: JSONDict) -> Any:
        text = _opt_str(params, "text") or ""
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > 4096:
            raise _bad("message is too long")
        _check_html(text, _opt_str(params, "parse_mode"))
        return self._bot_send("sendMessage", params, text=text)

    async def _m_send_photo(self, params: JSONDict) -> Any:
        photo = params.get("photo")
        if photo is None or photo == "":
            raise _bad("there is no photo in the request")
        caption = _opt_str(params, "caption")
        if caption is not None and len(caption) > 1024:
            raise _bad("message caption is too long")
        if caption is not None:
            _check_html(caption, _opt_str(params, "parse_mode"))
        return self._bot_send("sendPhoto", params, text=None, caption=caption, photo=photo)

    async def _m_send_document(self, params: JSONDict) -> Any:
        """A file from the bot: a multipart upload (kept in `sent_documents`) or a file_id."""
        upload = params.get("document")
        if upload is None or upload == "":
            raise _bad("there is no document in the request")
        caption = _opt_str(params, "caption")
        if caption is not None and len(caption) > 1024:
            raise _bad("message caption is too long")
        if isinstance(upload, UploadedFile):
            if len(upload.content) > 50 * 1024 * 1024:
                raise _bad("file is too big")
            unique = secrets.token_hex(6)
            file_id = f"BQAC{unique}"
            file_name = upload.filename
            content = upload.content
            self._files[file_id] = _StoredFile(
                File(
                    file_id=file_id,
                    file_unique_id=f"AgAD{unique}",
                    file_size=len(content),
                    file_path=f"documents/file_{len(self._files)}{_suffix(file_name or '')}",
                ),
                content,
            )
        elif isinstance(upload, str) and upload in self._files:
            file_id = upload
            content = self._files[upload].content
            file_name = None
        else:
            raise _bad("wrong file identifier/HTTP URL specified")
        document = Document(
            file_id=file_id,
            file_unique_id=self._files[file_id].file.file_unique_id,
            file_name=file_name,
            file_size=len(content),
        )
        result = self._bot_send(
            "sendDocument", params, text=None, caption=caption, document=document
        )
        self.sent_documents.append((self._chat_id_param(params), file_name or "", content))
        return result

    async def _m_send_media_group(self, params: JSONDict) -> Any:
        """An album of 2 to 10 photos, each uploaded (``attach://``) or a file_id/URL; one
        message per photo, the first one carrying its caption. Uploads are kept in
        `sent_albums`."""
        media = params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise _bad("wrong number of media specified: must be between 2 and 10")
        uploads: dict[str, UploadedFile] = params.get(_UPLOADS) or {}
        photos: list[tuple[Any, str | None, str | None]] = []
        contents: list[bytes] = []
        for item in media:
            if not isinstance(item, dict) or item.get("type") != "photo":
                raise _bad("only photos are supported in albums by FakeBotAPI")
            reference = item.get("media")
            photo: Any
            if isinstance(reference, str) and reference.startswith("attach://"):
                upload = uploads.get(reference[9:])
                if upload is None:
                    raise _bad("wrong file identifier/HTTP URL specified")
                if len(upload.content) > 10 * 1024 * 1024:
                    raise _bad("photo is too big")
                contents.append(upload.content)
                photo = upload
            elif isinstance(reference, str) and reference:
                photo = reference
            else:
                raise _bad("there is no photo in the request")
            caption = item.get("caption")
            if caption is not None and (not isinstance(caption, str) or len(caption) > 1024):
                raise _bad("message caption is too long")
            parse_mode = item.get("parse_mode") or _opt_str(params, "parse_mode")
            if caption is not None:
                _check_html(caption, parse_mode)
            photos.append((photo, caption, parse_mode))
        chat_id = self._chat_id_param(params)
        sent = []
        for photo, caption, parse_mode in photos:
            single = {k: v for k, v in params.items() if k not in ("media", _UPLOADS)}
            if parse_mode is not None:
                single["parse_mode"] = parse_mode
            sent.append(
                self._bot_send("sendMediaGroup", single, text=None, caption=caption, photo=photo)
            )
        self.sent_albums.append((chat_id, contents))
        return sent

    async def _m_edit_message_text(self, params: JSONDict) -> Any:
        text = _opt_str(params, "text") or ""
        if not text.strip():
            raise _bad("message text is empty")
        if len(text) > 4096:
            raise _bad("MESSAGE_TOO_LONG")
        _check_html(text, _opt_str(params, "parse_mode"))
        message = self._own_message(params, "message to edit not found")
        if message.text is None:
            raise _bad("there is no text in the message to edit")
        markup_dict, inline = self._reply_markup(params)
        old_markup = _dump(message.reply_markup) if message.reply_markup else None
        if message.text == text and old_markup == (_dump(inline) if inline else None):
            raise _bad(_NOT_MODIFIED)
        update = {
            "text": text,
            "reply_markup": inline,
            "entities": self._entities(params, "entities"),
        }
        return self._store_edit(
            "editMessageText", message, update, markup_dict, _opt_str(params, "parse_mode")
        )

    async def _m_edit_message_reply_markup(self, params: JSONDict) -> Any:
        message = self._own_message(params, "message to edit not found")
        markup_dict, inline = self._reply_markup(params)
        old_markup = _dump(message.reply_markup) if message.reply_markup else None
        if old_markup == (_dump(inline) if inline else None):
            raise _bad(_NOT_MODIFIED)
        record = self._records.get((message.chat.id, message.message_id))
        return self._store_edit(
            "editMessageReplyMarkup",
            message,
            {"reply_markup": inline},
            markup_dict,
            record.parse_mode if record else None,
        )

    async def _m_delete_message(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        self._writable_chat(chat_id)
        message_id = _req_int(params, "message_id")
        message = self._messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise _bad("message to delete not found")
        own = message.from_user is not None and message.from_user.id == self.bot_id
        group = self._groups.get(chat_id)
        if not own and group is not None and not self._bot_has_right(group, "can_delete_messages"):
            raise _bad("message can't be deleted")
        del self._messages[chat_id][message_id]
        record = self._records.get((chat_id, message_id))
        if record is not None:
            record.deleted = True
        return True

    async def _m_answer_callback_query(self, params: JSONDict) -> Any:
        query_id = _opt_str(params, "callback_query_id") or ""
        text = _opt_str(params, "text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        if query_id not in self._open_callbacks:
            raise TelegramAPIError(400, _QUERY_INVALID)
        self._open_callbacks.discard(query_id)
        self.callback_answered_at.setdefault(query_id, time.perf_counter())
        self.callback_answers.append(
            {"callback_query_id": query_id, "text": text, "show_alert": _flag(params, "show_alert")}
        )
        return True

    async def _m_get_chat(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        chat = self._chats.get(chat_id)
        if chat is None:
            raise _bad("chat not found")
        extra: JSONDict = {}
        group = self._groups.get(chat_id)
        if group is not None:
            if self._bot_status(group) == "kicked" or (
                self._bot_status(group) == "left" and not chat.username
            ):
                self._group_access(chat_id)  # raises the right 403
            if chat_id in self._primary_links:
                extra["invite_link"] = self._primary_links[chat_id]
        info = ChatFullInfo.model_validate(
            {
                **_dump(chat),
                **extra,
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": AcceptedGiftTypes(
                    unlimited_gifts=False,
                    limited_gifts=False,
                    unique_gifts=False,
                    premium_subscription=False,
                    gifts_from_channels=False,
                ),
            }
        )
        return _dump(info)

    async def _m_get_chat_member(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        user_id = _req_int(params, "user_id")
        if user_id not in self._users:
            raise _bad("user not found")
        if chat_id > 0:
            if chat_id not in self._users:
                raise _bad("chat not found")
            if user_id not in (chat_id, self.bot_id):
                raise _bad("user not found")
            return _dump(ChatMemberMember(user=self._users[user_id]))
        if chat_id not in self._groups:
            raise _bad("chat not found")
        return _dump(self._member_obj(self._group_access(chat_id), user_id))

    async def _m_get_chat_administrators(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        if chat_id not in self._groups:
            raise _bad("chat not found")
        group = self._group_access(chat_id)
        return [
            _dump(self._member_obj(group, user_id))
            for user_id, status in group.members.items()
            if status in ("creator", "administrator")
        ]

    async def _m_get_chat_member_count(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        if chat_id > 0 and chat_id in self._users:
            return 2
        if chat_id not in self._groups:
            raise _bad("chat not found")
        group = self._group_access(chat_id)
        return sum(1 for status in group.members.values() if status in _MEMBER_STATUSES)

    def _link_options(self, params: JSONDict) -> JSONDict:
        options: JSONDict = {}
        if "name" in params:
            name = _opt_str(params, "name")
            if name is not None and len(name) > 32:
                raise _bad("invite link name is too long")
            options["name"] = name or None
        if "expire_date" in params:
            options["expire_date"] = _unix(_opt_int(params, "expire_date"))
        if "member_limit" in params:
            limit = _opt_int(params, "member_limit")
            if limit is not None and not 1 <= limit <= 99999:
                raise _bad("member limit must be between 1 and 99999")
            options["member_limit"] = limit
        if "creates_join_request" in params:
            options["creates_join_request"] = _flag(params, "creates_join_request")
        if options.get("creates_join_request") and options.get("member_limit"):
            raise _bad("member limit can't be specified for links requiring administrator approval")
        return options

    def _known_link(self, chat_id: int, params: JSONDict) -> _InviteLinkState:
        state = self._links.get(_opt_str(params, "invite_link") or "")
        if state is None or state.chat_id != chat_id:
            raise _bad("INVITE_HASH_EXPIRED")
        return state

    async def _m_create_chat_invite_link(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        self._admin_group(chat_id, "can_invite_users", _NO_LINK_RIGHTS)
        options = self._link_options(params)
        name = options.pop("name", None)
        join_request = bool(options.pop("creates_join_request", False))
        return _dump(self._new_link(chat_id, self.bot_user, name, join_request, **options))

    async def _m_edit_chat_invite_link(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        self._admin_group(chat_id, "can_invite_users", _NO_LINK_RIGHTS)
        state = self._known_link(chat_id, params)
        if state.link.is_revoked:
            raise _bad("INVITE_HASH_EXPIRED")
        state.link = _replace(state.link, **self._link_options(params))
        return _dump(state.link)

    async def _m_revoke_chat_invite_link(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        self._admin_group(chat_id, "can_invite_users", _NO_LINK_RIGHTS)
        state = self._known_link(chat_id, params)
        state.link = _replace(state.link, is_revoked=True)
        if self._primary_links.get(chat_id) == state.link.invite_link:
            del self._primary_links[chat_id]
        return _dump(state.link)

    async def _m_export_chat_invite_link(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        self._admin_group(chat_id, "can_invite_users", _NO_LINK_RIGHTS)
        old = self._links.get(self._primary_links.get(chat_id, ""))
        if old is not None:
            old.link = _replace(old.link, is_revoked=True)
        link = self._new_link(chat_id, self.bot_user, None, False)
        link = _replace(link, is_primary=True)
        self._links[link.invite_link].link = link
        self._primary_links[chat_id] = link.invite_link
        return link.invite_link

    def _pending_request(self, params: JSONDict) -> tuple[_GroupState, int, _JoinRequest]:
        chat_id = self._chat_id_param(params)
        group = self._admin_group(chat_id, "can_invite_users", "Bad Request: CHAT_ADMIN_REQUIRED")
        user_id = _req_int(params, "user_id")
        request = group.join_requests.get(user_id)
        if request is None:
            raise _bad("HIDE_REQUESTER_MISSING")
        return group, user_id, request

    async def _m_approve_chat_join_request(self, params: JSONDict) -> Any:
        group, user_id, request = self._pending_request(params)
        del group.join_requests[user_id]
        self._join_request_contacts.discard(user_id)
        if group.members.get(user_id) in _MEMBER_STATUSES:
            raise _bad("USER_ALREADY_PARTICIPANT")
        state = self._links.get(request.invite_link or "")
        if state is not None:
            state.joined += 1
        self._change_member(
            group.chat.id,
            user_id,
            "member",
            by_user_id=self.bot_id,
            invite_link=request.invite_link,
            via_join_request=request.invite_link is None,
        )
        return True

    async def _m_decline_chat_join_request(self, params: JSONDict) -> Any:
        group, user_id, _ = self._pending_request(params)
        del group.join_requests[user_id]
        self._join_request_contacts.discard(user_id)
        return True

    async def _m_send_chat_action(self, params: JSONDict) -> Any:
        self._writable_chat(self._chat_id_param(params))
        if not _opt_str(params, "action"):
            raise _bad("action is empty")
        return True

    async def _m_pin_chat_message(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        if chat_id in self._groups:
            no_rights = "Bad Request: not enough rights to manage pinned messages in the chat"
            self._admin_group(chat_id, "can_pin_messages", no_rights)
        else:
            self._writable_chat(chat_id)
        message_id = _req_int(params, "message_id")
        if message_id not in self._messages.get(chat_id, {}):
            raise _bad("message to pin not found")
        self.pinned_messages.append((chat_id, message_id))
        return True

    async def _m_leave_chat(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        if chat_id not in self._groups:
            raise _bad("chat not found")
        self._group_access(chat_id)
        self._change_member(chat_id, self.bot_id, "left", by_user_id=self.bot_id)
        return True

    # ------------------------------------------------------------------ polls and files

    def send_document(
        self,
        chat_id: int,
        user_id: int,
        content: bytes,
        file_name: str,
        *,
        mime_type: str | None = None,
        caption: str | None = None,
        size_in_message: bool = True,
    ) -> int:
        """A user sends a file; the bot may fetch it with getFile and download it. Without
        `size_in_message` the message's document has no file_size (Telegram may omit it);
        getFile still tells it."""
        unique = secrets.token_hex(6)
        file_id = f"BQAC{unique}"
        self._files[file_id] = _StoredFile(
            File(
                file_id=file_id,
                file_unique_id=f"AgAD{unique}",
                file_size=len(content),
                file_path=f"documents/file_{len(self._files)}{_suffix(file_name)}",
            ),
            content,
        )
        document = Document(
            file_id=file_id,
            file_unique_id=f"AgAD{unique}",
            file_name=file_name,
            mime_type=mime_type,
            file_size=len(content) if size_in_message else None,
        )
        return self._user_message(
            chat_id,
            self._user(user_id),
            text=None,
            date=None,
            extra={"document": document, "caption": caption},
        )

    def polls_in(self, chat_id: int) -> list[Poll]:
        """The polls the bot sent to the chat, oldest first, as they stand now."""
        return [self._poll_now(state) for state in self._polls.values() if state.chat_id == chat_id]

    def answer_poll(
        self,
        poll_id: str,
        user_id: int,
        option_ids: list[int],
        *,
        delivered_late: bool = False,
        repeat: bool = False,
        outsider: bool = False,
    ) -> int:
        """A member votes in a non-anonymous poll: a `poll_answer` update. Telegram refuses a
        vote in a closed poll and a second vote in a quiz; `delivered_late` is a vote taken
        just before the close whose update reaches the bot after it, `repeat` a second
        answer from the same user (to test the bot's own guard), `outsider` a vote from
        someone not in the group who sees the poll (a public group's visitor)."""
        state = self._polls[poll_id]
        poll = self._poll_now(state)
        if poll.is_anonymous:
            raise ValueError("Telegram sends no poll_answer for anonymous polls")
        group = self._groups.get(state.chat_id)
        in_group = group is None or group.members.get(user_id) in _MEMBER_STATUSES
        if not in_group and not outsider:
            raise ValueError(f"user {user_id} is not a member of {state.chat_id}")
        if poll.is_closed and not delivered_late:
            raise ValueError(f"poll {poll_id} is closed")
        if user_id in state.votes and not repeat:
            raise ValueError(f"user {user_id} already answered poll {poll_id}")
        if any(not 0 <= option < len(poll.options) for option in option_ids):
            raise ValueError("no such option")
        if user_id not in state.votes:
            state.votes[user_id] = list(option_ids)
        answer = PollAnswer(
            poll_id=poll_id,
            user=self._user(user_id),
            option_ids=option_ids,
            option_persistent_ids=[poll.options[i].persistent_id for i in option_ids],
        )
        return self._emit("poll_answer", answer)

    def emit_poll_state(self, poll_id: str) -> int:
        """A `poll` update with the poll as it stands (Telegram sends one when it closes)."""
        return self._emit("poll", self._poll_now(self._polls[poll_id]))

    def _poll_now(self, state: _PollState) -> Poll:
        poll = state.poll
        closed = state.stopped or (
            poll.close_date is not None and self.wall_clock() >= _as_datetime(poll.close_date)
        )
        counts = [0] * len(poll.options)
        for options in state.votes.values():
            for option in options:
                counts[option] += 1
        return _replace(
            poll,
            is_closed=closed,
            total_voter_count=len(state.votes),
            options=[
                _replace(option, voter_count=count)
                for option, count in zip(poll.options, counts, strict=True)
            ],
        )

    async def _download(self, token_part: str, file_path: str) -> web.Response:
        if token_part != f"bot{self.token}":
            return self._error_response(TelegramAPIError(401, "Unauthorized"))
        self.downloads.append(file_path)
        self._request_pulse.fire()
        hold = self._holds.get(FILE_DOWNLOAD)
        if hold is not None:
            await hold.wait()
        for stored in self._files.values():
            if stored.file.file_path == file_path:
                return web.Response(body=stored.content)
        return self._error_response(TelegramAPIError(404, "Not Found"))

    async def _m_get_file(self, params: JSONDict) -> Any:
        file_id = _opt_str(params, "file_id")
        stored = self._files.get(file_id or "")
        if stored is None:
            raise _bad("invalid file_id")
        if len(stored.content) > MAX_DOWNLOAD_BYTES:
            raise _bad("file is too big")
        return _dump(stored.file)

    async def _m_send_poll(self, params: JSONDict) -> Any:  # noqa: PLR0912, PLR0915 - one check per rule
        chat_id = self._chat_id_param(params)
        chat = self._writable_chat(chat_id)
        question = _opt_str(params, "question") or ""
        if not question.strip():
            raise _bad("poll question must be non-empty")
        if len(question) > 300:
            raise _bad("poll question length must not exceed 300")
        raw_options = params.get("options")
        if not isinstance(raw_options, list):
            raise _bad("can't parse options JSON object")
        texts = [str(o.get("text", "")) if isinstance(o, dict) else str(o) for o in raw_options]
        if len(texts) < 2:
            raise _bad("poll must have at least 2 option")
        if len(texts) > 12:
            raise _bad("poll can't have more than 12 options")
        if any(not text.strip() for text in texts):
            raise _bad("poll options must be non-empty")
        if any(len(text) > 100 for text in texts):
            raise _bad("poll options length must not exceed 100")
        kind = _opt_str(params, "type") or "regular"
        if kind not in ("regular", "quiz"):
            raise _bad("poll type is invalid")
        anonymous = "is_anonymous" not in params or _flag(params, "is_anonymous")
        if not anonymous and chat.type == "channel":
            raise _bad("non-anonymous polls can't be sent to channel chats")
        correct: list[int] | None = None
        if kind == "quiz":
            raw_ids = params.get("correct_option_ids")
            single = _opt_int(params, "correct_option_id")
            if isinstance(raw_ids, list):
                correct = [int(i) for i in raw_ids]
            elif single is not None:
                correct = [single]
            if not correct or any(not 0 <= i < len(texts) for i in correct):
                raise _bad("wrong correct option id specified")
        explanation = _opt_str(params, "explanation")
        if explanation is not None and len(explanation) > 200:
            raise _bad("explanation is too long")
        open_period = _opt_int(params, "open_period")
        if open_period is not None and not 5 <= open_period <= 600:
            raise _bad("wrong open period specified")
        now = self._stamp(None)
        close_date = _opt_int(params, "close_date")
        if open_period is not None:
            close_date = int(now.timestamp()) + open_period
        self._check_rate_limit(chat_id)
        poll = Poll(
            id=str(secrets.randbelow(9 * 10**18) + 10**18),
            question=question,
            options=[
                PollOption(persistent_id=str(index), text=text, voter_count=0)
                for index, text in enumerate(texts)
            ],
            total_voter_count=0,
            is_closed=_flag(params, "is_closed"),
            is_anonymous=anonymous,
            type=kind,
            allows_multiple_answers=_flag(params, "allows_multiple_answers"),
            allows_revoting=False,
            members_only=False,
            correct_option_ids=correct if correct and len(correct) > 1 else None,
            correct_option_id=correct[0] if correct and len(correct) == 1 else None,
            explanation=explanation,
            open_period=open_period,
            close_date=_unix(close_date),
        )
        message = Message(
            message_id=self._alloc_message_id(chat_id),
            date=now,
            chat=chat,
            from_user=self.bot_user,
            message_thread_id=_opt_int(params, "message_thread_id"),
            poll=poll,
        )
        self._messages.setdefault(chat_id, {})[message.message_id] = message
        self._polls[poll.id] = _PollState(chat_id, message.message_id, poll)
        record = SentMessage(
            chat_id=chat_id,
            message_id=message.message_id,
            text=question,
            reply_markup=None,
            reply_to_message_id=None,
            parse_mode=None,
            photo=None,
            date=now,
            method="sendPoll",
            message_thread_id=message.message_thread_id,
            sent_at=time.perf_counter(),
        )
        self._records[(chat_id, message.message_id)] = record
        self.sent_messages.append(record)
        self._message_pulse.fire()
        return _dump(message)

    async def _m_stop_poll(self, params: JSONDict) -> Any:
        chat_id = self._chat_id_param(params)
        self._writable_chat(chat_id)
        message_id = _req_int(params, "message_id")
        state = next(
            (
                s
                for s in self._polls.values()
                if s.chat_id == chat_id and s.message_id == message_id
            ),
            None,
        )
        if state is None:
            raise _bad("message with poll to stop not found")
        if self._poll_now(state).is_closed:
            raise _bad("poll has already been closed")
        state.stopped = True
        return _dump(self._poll_now(state))


def _suffix(file_name: str) -> str:
    dot = file_name.rfind(".")
    return file_name[dot:] if dot > 0 else ""


def _as_datetime(value: datetime | int) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value, tz=UTC)


def _is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in _LOOPBACK_HOSTS


def _check_webhook_url(url: str) -> None:
    """Telegram wants HTTPS; the fake also takes plain HTTP on a loopback host."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise _bad("bad webhook: Failed to resolve host: Name or service not known")
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(url)):
        raise _bad("bad webhook: An HTTPS URL must be provided for webhook")


async def _webhook_reply(response: aiohttp.ClientResponse) -> JSONDict:
    """The fields of a webhook answer's body: JSON, or a multipart form as aiogram sends."""
    if response.content_type == "application/json":
        with contextlib.suppress(ValueError):
            body = json.loads(await response.read() or b"null")
            return dict(body) if isinstance(body, dict) else {}
        return {}
    if not response.content_type.startswith("multipart/"):
        await response.read()
        return {}
    params: JSONDict = {}
    reader = aiohttp.MultipartReader(response.headers, response.content)
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader) or not part.name:
            continue
        if part.filename:
            params[part.name] = UploadedFile(part.filename, bytes(await part.read()))
        else:
            params[part.name] = _decode_value(part.name, await part.text())
    return params
