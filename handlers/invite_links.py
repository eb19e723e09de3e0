"""Members' invite links, made through the Bot API outside any transaction.

Before a batch's transaction opens, `PreparedInviteLinks.prefetch` reads which of its updates
will need a new personal link (/invite, /invite new, `/start inv_…`) and creates those links;
inside the transaction the handlers take them (`PlannedIssuer`) and plan the revocation of a
replaced link into the update's outbox. After the commit, `settle` plans the revocation of
every prepared link that was not stored (the member had one already, the update was a
redelivery, or its savepoint was rolled back)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.methods import RevokeChatInviteLink
from aiogram.types import Update

from bot.domain.errors import MissingInviteRight
from bot.ports import UnitOfWork, UnitOfWorkFactory
from bot.services.referrals import INVITE_LINK_PREFIX, new_code
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)

MISSING_RIGHT_MARKERS = ("not enough rights", "chat_admin_required", "need administrator rights")
GROUP_TYPES = frozenset({"group", "supergroup"})
OWN_LINK_PAYLOAD = "inv_"

Key = tuple[int, int]  # community id, user id


class InviteLinkNotReady(ConnectionError):
    """A handler needed a link the prefetch did not make: the batch is rolled back and tried
    again (a transient failure), and the next prefetch makes it."""


@dataclass(frozen=True)
class InviteRequest:
    """An update that may need a new personal link: in a group (`community_id`), for the
    communities of a private chat (`public_code` names one, else all the member's)."""

    user_id: int
    community_id: int | None = None
    public_code: str | None = None
    renew: bool = False


@dataclass
class PreparedLink:
    community_id: int
    code: str
    url: str
    taken: bool = False


def invite_request(update: Update) -> InviteRequest | None:
    message = update.message
    if message is None or message.from_user is None or message.sender_chat is not None:
        return None
    words = (message.text or "").split(maxsplit=1)
    if not words or not words[0].startswith("/"):
        return None
    command = words[0][1:].split("@", 1)[0]
    args = words[1].strip() if len(words) > 1 else ""
    user_id = message.from_user.id
    if message.chat.type in GROUP_TYPES:
        if command != "invite":
            return None
        return InviteRequest(user_id, community_id=message.chat.id, renew=args.lower() == "new")
    if message.chat.type != "private":
        return None
    if command == "invite":
        return InviteRequest(user_id)
    if command == "start" and args.startswith(OWN_LINK_PAYLOAD):
        return InviteRequest(user_id, public_code=args.removeprefix(OWN_LINK_PAYLOAD))
    return None


class PreparedInviteLinks:
    """The personal links a batch's handlers will hand out, made before its transaction (see
    the module docstring). Kept until `settle`, so that a batch tried again reuses them."""

    def __init__(self, open_uow: UnitOfWorkFactory) -> None:
        self._open_uow = open_uow
        self._links: dict[Key, list[PreparedLink]] = {}
        self._failures: dict[Key, Exception] = {}
        self._wanted: Counter[Key] = Counter()

    async def prefetch(self, bot: Bot, updates: Iterable[Update]) -> None:
        """Called with no transaction open: reads what the updates need, then makes it."""
        requests = [r for r in (invite_request(update) for update in updates) if r is not None]
        for links in self._links.values():
            for link in links:
                link.taken = False  # an earlier attempt of this batch was rolled back
        self._failures.clear()
        if not requests and not self._wanted:
            return
        async with self._open_uow() as uow:
            needed = await _needed(uow, requests)
        needed.update(self._wanted)
        self._wanted.clear()
        for key, count in sorted(needed.items()):
            links = self._links.setdefault(key, [])
            for _ in range(count - len(links)):
                try:
                    links.append(await _create(bot, key[0]))
                except Exception as error:
                    logger.warning("Could not create an invite link in %d: %s", key[0], error)
                    self._failures[key] = error
                    break

    def take(self, community_id: int, user_id: int) -> PreparedLink:
        """A prepared link for the member, from inside the transaction."""
        key = (community_id, user_id)
        for link in self._links.get(key, []):
            if not link.taken:
                link.taken = True
                return link
        failure = self._failures.get(key)
        if isinstance(failure, MissingInviteRight):
            raise MissingInviteRight()
        if failure is not None:
            raise failure
        self._wanted[key] += 1
        raise InviteLinkNotReady(f"no invite link prepared for {user_id} in {community_id}")

    async def settle(self) -> Outbox:
        """After the commit: the revocations of the prepared links that were not stored."""
        links = [link for links in self._links.values() for link in links]
        self._links.clear()
        outbox = Outbox()
        if not links:
            return outbox
        stored: set[str] = set()
        taken = [link for link in links if link.taken]
        try:
            async with self._open_uow() as uow:
                for link in taken:
                    if await uow.invite_links.by_code(link.code) is not None:
                        stored.add(link.code)
        except Exception as error:  # not knowing, keep them: a stored link must keep working
            logger.warning("Could not tell which invite links were stored: %s", error)
            stored.update(link.code for link in taken)
        for link in links:
            if link.code not in stored:
                outbox.call(RevokeChatInviteLink(chat_id=link.community_id, invite_link=link.url))
        return outbox


class PlannedIssuer:
    """The InviteLinkIssuer of one member in one community, inside a transaction: new links
    come prepared (`new_code`, then `create`), a replaced link is revoked after the commit."""

    def __init__(
        self, prepared: PreparedInviteLinks, outbox: Outbox, community_id: int, user_id: int
    ) -> None:
        self._prepared = prepared
        self._outbox = outbox
        self._key = (community_id, user_id)
        self._urls: dict[str, str] = {}

    def new_code(self) -> str:
        link = self._prepared.take(*self._key)
        self._urls[f"{INVITE_LINK_PREFIX}{link.code}"] = link.url
        return link.code

    async def create(self, community_id: int, name: str) -> str:
        return self._urls[name]

    async def revoke(self, community_id: int, url: str) -> None:
        self._outbox.call(RevokeChatInviteLink(chat_id=community_id, invite_link=url))


async def _needed(uow: UnitOfWork, requests: list[InviteRequest]) -> Counter[Key]:
    needed: Counter[Key] = Counter()
    for request in requests:
        if request.community_id is not None:
            community_ids = [request.community_id]
        elif request.public_code is not None:
            community = await uow.communities.by_public_code(request.public_code)
            member = community and await uow.members.get(community.id, request.user_id)
            community_ids = [member.community_id] if member and member.is_member else []
        else:
            community_ids = [c.id for c in await uow.members.communities_of(request.user_id)]
        for community_id in community_ids:
            key = (community_id, request.user_id)
            if request.renew:
                needed[key] += 1
            elif key not in needed and not await uow.invite_links.active_for(*key):
                needed[key] = 1
    return needed


async def _create(bot: Bot, community_id: int) -> PreparedLink:
    code = new_code()
    try:
        link = await bot.create_chat_invite_link(community_id, name=f"{INVITE_LINK_PREFIX}{code}")
    except (TelegramBadRequest, TelegramForbiddenError) as error:
        if any(marker in error.message.lower() for marker in MISSING_RIGHT_MARKERS):
            raise MissingInviteRight() from error
        raise
    return PreparedLink(community_id, code, link.invite_link)
