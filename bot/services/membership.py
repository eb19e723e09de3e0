from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.models import (
    NON_MEMBER_USER_IDS,
    CheckingInMember,
    Community,
    Member,
    UserInfo,
)
from bot.ports import UnitOfWork


@dataclass(frozen=True)
class CommunityDefaults:
    timezone: str
    language: str


def is_eligible(user: UserInfo) -> bool:
    """Bots, the anonymous-admin account and Telegram's service account are never members."""
    return not user.is_bot and user.id not in NON_MEMBER_USER_IDS


async def ensure_community(
    uow: UnitOfWork, chat_id: int, title: str, now: datetime, defaults: CommunityDefaults
) -> tuple[Community, bool]:
    """The community of a group chat, registered with default settings on first sight.

    Returns the community and whether it was just created.
    """
    existing = await uow.communities.get(chat_id)
    if existing is not None:
        if title and existing.title != title:
            await uow.communities.set_title(chat_id, title)
        return existing, False
    community = Community(
        id=chat_id, title=title, timezone=defaults.timezone, language=defaults.language
    )
    await uow.communities.add(community, now)
    stored = await uow.communities.get(chat_id)
    assert stored is not None
    return stored, True


async def note_sender(uow: UnitOfWork, user: UserInfo) -> None:
    """Whoever sends anything (a message, a command, a press) is recorded with their name,
    members or not (a moderator who only ever sends commands shows by name in /quota)."""
    if is_eligible(user):
        await uow.users.note(user)


async def ensure_member(
    uow: UnitOfWork, community: Community, user: UserInfo, now: datetime, *, joined: bool = False
) -> Member | None:
    """Registers the user and their membership; None for accounts that are never members."""
    if not is_eligible(user):
        return None
    await uow.users.upsert(user)
    member = await uow.members.get(community.id, user.id)
    if member is None:
        return await _add_member(uow, community, user, now, joined=joined)
    if joined and not member.is_member:
        await uow.members.mark_joined(community.id, user.id, now)
        return await uow.members.get(community.id, user.id)
    return member


async def _add_member(
    uow: UnitOfWork, community: Community, user: UserInfo, now: datetime, *, joined: bool
) -> Member:
    return await uow.members.add(
        community.id, user.id, now, joined=joined, display_name=user.first_name[:255]
    )


async def member_checking_in(
    uow: UnitOfWork, community: Community, user: UserInfo, now: datetime
) -> CheckingInMember | None:
    """Like `member_seen`, but the activity is left for the check-in to write with its own
    update; also tells whether the member has a pending referral (a member registered just
    now has none: referrals are recorded when a member joins, together with the member) and
    whether they are at risk or churned."""
    if not is_eligible(user):
        return None
    await uow.users.upsert(user)
    found = await uow.members.get_or_add_for_checkin(
        community.id, user.id, now, user.first_name[:255]
    )
    if not found.member.is_member:
        await uow.members.mark_joined(community.id, user.id, now)
    return replace(found, member=replace(found.member, is_member=True))


async def note_senders(uow: UnitOfWork, users: Sequence[UserInfo]) -> None:
    """A page's senders recorded at once (each update's `note_sender` then has nothing left
    to write)."""
    await uow.users.note_many([user for user in users if is_eligible(user)])


async def member_joined(
    uow: UnitOfWork, community: Community, user: UserInfo, now: datetime
) -> Member | None:
    return await ensure_member(uow, community, user, now, joined=True)


async def member_left(uow: UnitOfWork, community: Community, user: UserInfo, now: datetime) -> None:
    """Recorded for anyone, known or not: someone who was in the group before the bot and
    never spoke leaves a trace, so that coming back is a rejoin, not a first join."""
    if not is_eligible(user):
        return
    await uow.users.upsert(user)
    if await uow.members.get(community.id, user.id) is None:
        await uow.members.add(community.id, user.id, now, joined=False)
    await uow.members.mark_left(community.id, user.id, now)


async def member_seen(
    uow: UnitOfWork, community: Community, user: UserInfo, now: datetime
) -> Member | None:
    """A member spoke: registered if unknown (whoever speaks is in the group), activity noted."""
    member = await ensure_member(uow, community, user, now)
    if member is None:
        return None
    if not member.is_member:
        await uow.members.mark_joined(community.id, user.id, now)
    await uow.members.touch(community.id, user.id, now)
    return replace(member, is_member=True, last_active_at=now)


async def set_private_chat(uow: UnitOfWork, user: UserInfo, reachable: bool) -> None:
    """Whether the bot may write to the user privately: they started it and did not block it."""
    await uow.users.upsert(user)
    await uow.users.set_can_message(user.id, reachable)
    if reachable:
        await uow.outgoing.unblock(user.id)


async def bot_joined(uow: UnitOfWork, community: Community) -> None:
    """The bot is (back) in the group: it may post there again."""
    await uow.outgoing.unblock(community.id)
