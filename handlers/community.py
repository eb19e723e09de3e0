"""The bot joining a group, and members joining and leaving it."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import JOIN_TRANSITION, LEAVE_TRANSITION, ChatMemberUpdatedFilter
from aiogram.methods import ApproveChatJoinRequest
from aiogram.types import ChatJoinRequest, ChatMember, ChatMemberAdministrator, ChatMemberUpdated

from bot.domain.errors import N_
from bot.domain.models import Community, UserInfo
from bot.i18n import Translator, translator
from bot.ports import UnitOfWork
from bot.services import membership, referrals
from handlers.filters.chat import InGroup, InPrivate
from handlers.filters.moderator import ModeratorDirectory
from handlers.middlewares.context import user_info
from runtime.features import Feature
from runtime.outbox import Outbox


def setup() -> Router:
    router = Router(name="community")
    router.chat_member.filter(InGroup())
    router.chat_join_request.filter(InGroup())

    @router.my_chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION), InGroup())
    async def bot_added(
        event: ChatMemberUpdated,
        uow: UnitOfWork,
        community: Community,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        await membership.bot_joined(uow, community)
        outbox.send(community.id, greeting(_, event.new_chat_member))

    @router.chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION))
    async def member_joined(
        event: ChatMemberUpdated,
        uow: UnitOfWork,
        community: Community,
        moderators: ModeratorDirectory,
    ) -> None:
        _note_admin_change(event, moderators)
        link = event.invite_link
        await referrals.record_join(
            uow,
            community,
            user_info(event.new_chat_member.user),
            event.date,
            link_url=link.invite_link if link else None,
            link_name=link.name if link else None,
        )

    @router.chat_member(ChatMemberUpdatedFilter(LEAVE_TRANSITION))
    async def member_left(
        event: ChatMemberUpdated,
        uow: UnitOfWork,
        community: Community,
        moderators: ModeratorDirectory,
    ) -> None:
        _note_admin_change(event, moderators)
        await referrals.record_leave(
            uow, community, user_info(event.new_chat_member.user), event.date
        )

    @router.chat_join_request()
    async def join_request(
        request: ChatJoinRequest,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
    ) -> None:
        link = request.invite_link
        approve = await referrals.record_join_request(
            uow, community, user, link.invite_link if link else None, now
        )
        if approve:
            outbox.call(ApproveChatJoinRequest(chat_id=community.id, user_id=user.id))

    @router.my_chat_member(InPrivate())
    async def private_chat_status(
        event: ChatMemberUpdated, uow: UnitOfWork, user: UserInfo
    ) -> None:
        """A user blocked (kicked) or restarted the bot in their private chat."""
        reachable = event.new_chat_member.status == "member"
        await membership.set_private_chat(uow, user, reachable)

    @router.chat_member()
    async def member_changed(event: ChatMemberUpdated, moderators: ModeratorDirectory) -> None:
        _note_admin_change(event, moderators)

    return router


# The way to the other language, written in it (a reader of the greeting may not read this one).
SWITCH_TO_OTHER_LANGUAGE = {
    "zh": ("en", N_("Send /lang en to switch to English")),
    "en": ("zh", N_("Send /lang zh to switch to Chinese")),
}


def greeting(_: Translator, bot_member: ChatMember) -> str:
    """The bot's first message in a group: what it does, the right it still lacks (none when
    it was added as an administrator allowed to invite users), and how to change language."""
    is_admin = isinstance(bot_member, ChatMemberAdministrator)
    if isinstance(bot_member, ChatMemberAdministrator) and bot_member.can_invite_users:
        moderators = _("Moderators: post the daily check-in button with /checkinpost.")
    elif is_admin:  # an administrator without the right to invite users
        moderators = _(
            "Moderators: give me the right to invite users, then post the daily check-in "
            "button with /checkinpost."
        )
    else:
        moderators = _(
            "Moderators: make me an administrator with the right to invite users, then post "
            "the daily check-in button with /checkinpost."
        )
    lines = [
        _("👋 Hello! I am seedbot. I run daily check-ins, points and tiers for this group."),
        moderators,
        _(
            "Members: send /checkin every day and see your points with /me. "
            "/help lists every command."
        ),
    ]
    other = SWITCH_TO_OTHER_LANGUAGE.get(_.language)
    if other is not None:
        language, hint = other
        lines.append(translator(language)(hint))
    return "\n".join(lines)


def _note_admin_change(event: ChatMemberUpdated, moderators: ModeratorDirectory) -> None:
    """Keeps the cached administrators current without asking Telegram."""
    moderators.note_member(
        event.chat.id, event.new_chat_member.user.id, event.new_chat_member.status
    )


FEATURE = Feature(
    "community",
    setup,
)
