"""The private chat with the bot: /start (with invite deep links), /invite, /help."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, CommandStart, Filter
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.errors import UnknownReferralCode
from bot.domain.models import UserInfo
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.services import membership, referrals
from handlers.filters.chat import InPrivate
from handlers.growth import link_message
from handlers.help import help_text
from handlers.invite_links import OWN_LINK_PAYLOAD, PlannedIssuer, PreparedInviteLinks
from handlers.render import name
from runtime.features import Feature, group_only_commands
from runtime.outbox import Outbox

REFERRAL_PAYLOAD = "ref_"


def setup() -> Router:
    router = Router(name="private")
    router.message.filter(InPrivate())

    @router.message()
    async def note_private_chat(message: Message, uow: UnitOfWork, user: UserInfo | None) -> None:
        """Whoever writes here has started the bot, so it may write to them later."""
        if user is not None:
            await membership.set_private_chat(uow, user, True)
        raise SkipHandler()

    @router.message(CommandStart())
    async def start(
        message: Message,
        command: CommandObject,
        bot: Bot,
        uow: UnitOfWork,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        invite_links: PreparedInviteLinks,
        features: Sequence[Feature],
        _: Translator,
    ) -> None:
        payload = command.args or ""
        if payload.startswith(REFERRAL_PAYLOAD):
            welcome = await referrals.open_deep_link(
                uow, payload.removeprefix(REFERRAL_PAYLOAD), user, now
            )
            if welcome.already_member:
                outbox.reply(
                    message,
                    _("You are already in {group}. 🙂", group=name(welcome.community.title)),
                )
                return
            button = InlineKeyboardButton(
                text=_("Join {group}", group=welcome.community.title), url=welcome.join_url
            )
            outbox.reply(
                message,
                _(
                    "👋 Welcome! A friend invited you to {group}. Join with the button below, "
                    "then say hello and check in with /checkin.",
                    group=name(welcome.community.title),
                ),
                InlineKeyboardMarkup(inline_keyboard=[[button]]),
            )
            return
        if payload.startswith(OWN_LINK_PAYLOAD):
            code = payload.removeprefix(OWN_LINK_PAYLOAD)
            await send_own_links(message, bot, uow, user, now, outbox, invite_links, _, code)
            return
        outbox.reply(
            message,
            _(
                "👋 Hi! I run check-ins, points and tiers in community groups. "
                "Add me to your group as an administrator, or use my commands inside the group."
            )
            + "\n\n"
            + help_text(_, features, moderator=False),
        )

    @router.message(Command("invite"))
    async def invite(
        message: Message,
        bot: Bot,
        uow: UnitOfWork,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        invite_links: PreparedInviteLinks,
        _: Translator,
    ) -> None:
        await send_own_links(message, bot, uow, user, now, outbox, invite_links, _, None)

    @router.message(Command("help"))
    async def show_help(
        message: Message, outbox: Outbox, features: Sequence[Feature], _: Translator
    ) -> None:
        outbox.reply(message, help_text(_, features, moderator=False))

    @router.message(GroupOnlyCommand())
    async def only_in_groups(message: Message, outbox: Outbox, _: Translator) -> None:
        outbox.reply(
            message,
            _(
                "This command works inside a community group, not here. Moderators: choose a "
                "group with /manage, and its commands work here too."
            ),
        )

    return router


class GroupOnlyCommand(Filter):
    """A command some feature declares without `private`: it works only in a group."""

    def __init__(self) -> None:
        self._names: dict[int, frozenset[str]] = {}

    async def __call__(self, message: Message, features: Sequence[Feature]) -> bool:
        text = message.text or message.caption or ""
        if not text.startswith("/"):
            return False
        command = text[1:].split(maxsplit=1)[0].split("@", maxsplit=1)[0] if text[1:] else ""
        names = self._names.get(id(features))
        if names is None:
            names = self._names[id(features)] = frozenset(group_only_commands(features))
        return command in names


async def send_own_links(
    message: Message,
    bot: Bot,
    uow: UnitOfWork,
    user: UserInfo,
    now: datetime,
    outbox: Outbox,
    invite_links: PreparedInviteLinks,
    _: Translator,
    community_code: str | None,
) -> None:
    """The member's invite links: for one community (by its code) or all they belong to."""
    if community_code is not None:
        community = await uow.communities.by_public_code(community_code)
        if community is None:
            raise UnknownReferralCode()
        communities = [community]
    else:
        communities = list(await uow.members.communities_of(user.id))
    if not communities:
        outbox.reply(message, _("I don't know your group yet: send /invite in the group first."))
        return
    me = await bot.me()
    for community in communities:
        issuer = PlannedIssuer(invite_links, outbox, community.id, user.id)
        link = await referrals.personal_link(
            uow, issuer, community, user, now, from_group=False, make_code=issuer.new_code
        )
        outbox.reply(message, link_message(_, community, link, me.username or ""))


FEATURE = Feature("private", setup)
