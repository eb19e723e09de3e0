"""Growth in the group: personal invite links, referral counts, inviter boards, onboarding."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.errors import N_, UsageError
from bot.domain.models import (
    Community,
    InviteLink,
    JoinRequestPolicy,
    LeaderboardPeriod,
    Referral,
    ReferralStatus,
    UserInfo,
)
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.services import moderation, onboarding, referrals
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator, ModeratorDirectory, is_owner_message
from handlers.invite_links import PlannedIssuer, PreparedInviteLinks
from handlers.moderation import split_target_and_rest
from handlers.render import actor_of, in_brackets, name
from runtime.features import Feature, FeatureCommand, Wiring, WiringContext
from runtime.outbox import Outbox

REJECTION_NAMES = {
    "self_invite": N_("self-invite"),
    "rejoin": N_("was a member before"),
    "bot": N_("bot account"),
    "left_before_qualifying": N_("left before qualifying"),
    "daily_cap": N_("over the daily limit"),
}
STATUS_NAMES = {
    ReferralStatus.PENDING: N_("pending"),
    ReferralStatus.QUALIFIED: N_("qualified"),
    ReferralStatus.REJECTED: N_("rejected"),
    ReferralStatus.ORGANIC: N_("organic"),
}
PERIODS = {
    "week": LeaderboardPeriod.WEEK,
    "month": LeaderboardPeriod.MONTH,
    "all": LeaderboardPeriod.ALL,
}


def link_message(_: Translator, community: Community, link: InviteLink, bot_username: str) -> str:
    return _(
        "🔗 Your personal invite link to {group}:\n{link}\n"
        "Or share this one, which opens a chat with me first: {deep_link}\n"
        "Friends who join through it, stay a day and check in earn you points.",
        group=name(community.title),
        link=link.url,
        deep_link=f"https://t.me/{bot_username}?start=ref_{link.code}",
    )


def open_private_chat_button(_: Translator, bot_username: str, code: str) -> InlineKeyboardMarkup:
    url = f"https://t.me/{bot_username}?start=inv_{code}"
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("🔗 Get my invite link"), url=url)]]
    )


def setup() -> Router:  # noqa: PLR0915 - one statement group per command
    router = Router(name="growth")
    router.message.filter(InGroup())

    @router.message(Command("invite"))
    async def invite(
        message: Message,
        command: CommandObject,
        bot: Bot,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo | None,
        now: datetime,
        outbox: Outbox,
        invite_links: PreparedInviteLinks,
        _: Translator,
    ) -> None:
        if user is None or message.sender_chat is not None:
            return
        renew = (command.args or "").strip().lower() == "new"
        issuer = PlannedIssuer(invite_links, outbox, community.id, user.id)
        link = await referrals.personal_link(
            uow, issuer, community, user, now, renew=renew, make_code=issuer.new_code
        )
        me = await bot.me()
        if await uow.users.can_message(user.id):
            outbox.send(user.id, link_message(_, community, link, me.username or ""))
            outbox.reply(message, _("📬 I sent you your invite link in a private message."))
            return
        code = await referrals.public_code(uow, community)
        outbox.reply(
            message,
            _(
                "I can only send your invite link privately, and you haven't started a chat "
                "with me yet. Press the button, then Start, and I'll send it there."
            ),
            open_private_chat_button(_, me.username or "", code),
        )

    @router.message(Command("invites"))
    async def my_invites(
        message: Message,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo | None,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        if user is None or message.sender_chat is not None:
            return
        counts = await referrals.counts(uow, community, user, now)
        outbox.reply(
            message,
            _(
                "📨 Your invitations: {invited} invited, {pending} pending, "
                "{qualified} qualified, {rejected} rejected.",
                invited=counts.invited,
                pending=counts.pending,
                qualified=counts.qualified,
                rejected=counts.rejected,
            ),
        )

    @router.message(Command("topinviters"))
    async def top_inviters(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        word = (command.args or "").strip().lower()
        if word and word not in PERIODS:
            raise UsageError(usage=N_("/topinviters [week|month|all]"))
        periods = [PERIODS[word]] if word else list(PERIODS.values())
        titles = {
            LeaderboardPeriod.WEEK: _("🌱 Top inviters this week"),
            LeaderboardPeriod.MONTH: _("🌱 Top inviters this month"),
            LeaderboardPeriod.ALL: _("🌱 Top inviters of all time"),
        }
        blocks = []
        for period in periods:
            rows = await referrals.top_inviters(uow, community, period, now)
            lines = [titles[period]]
            lines.extend(
                _(
                    "{rank}. {name} — {count} qualified",
                    rank=r.rank,
                    name=name(r.display_name),
                    count=r.points,
                )
                for r in rows
            )
            if not rows:
                lines.append(_("No qualified referrals yet."))
            blocks.append("\n".join(lines))
        outbox.reply(message, "\n\n".join(blocks))

    @router.message(Command("referrals"), IsModerator())
    async def referral_list(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        target, rest = split_target_and_rest(message, command.args)
        if target is None or rest:
            raise UsageError(usage=N_("/referrals <@username|id>"))
        inviter = await moderation.resolve_target(uow, community, target)
        rows = await referrals.referrals_of(uow, community, inviter)
        lines = [_("Referrals by {name}:", name=name(inviter.display_name))]
        lines.extend(render_referral(_, community, row) for row in rows)
        if not rows:
            lines.append(_("None yet."))
        outbox.reply(message, "\n".join(lines))

    @router.message(Command("setwelcome"), IsModerator())
    async def set_welcome(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        text = (command.args or "").strip()
        if text.lower() == "default":
            await onboarding.set_welcome_text(uow, community, None, actor_of(message), now)
            outbox.reply(message, _("The welcome message is back to the default."))
            return
        if not text:
            raise UsageError(
                usage=N_("/setwelcome <text with {names}, {group}, {rules}> | default")
            )
        await onboarding.set_welcome_text(uow, community, text, actor_of(message), now)
        outbox.reply(message, _("Welcome message saved."))

    @router.message(Command("setrules"), IsModerator())
    async def set_rules(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        link = (command.args or "").strip()
        if not link:
            raise UsageError(usage=N_("/setrules <link> | none"))
        value = None if link.lower() == "none" else link
        await onboarding.set_rules_link(uow, community, value, actor_of(message), now)
        outbox.reply(message, _("Rules link saved."))

    @router.message(Command("joinrequests"), IsModerator())
    async def set_join_requests(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        word = (command.args or "").strip().lower()
        if word not in {policy.value for policy in JoinRequestPolicy}:
            raise UsageError(usage=N_("/joinrequests approve|manual"))
        policy = JoinRequestPolicy(word)
        await onboarding.set_join_request_policy(uow, community, policy, actor_of(message), now)
        if policy == JoinRequestPolicy.APPROVE:
            outbox.reply(message, _("I will approve join requests from people (not bots)."))
        else:
            outbox.reply(message, _("Join requests are left to the moderators."))

    @router.message(Command("growth"), IsModerator())
    async def growth_rules(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
        _: Translator,
    ) -> None:
        words = (command.args or "").lower().split()
        if words:
            if len(words) != 2:
                raise UsageError(usage=onboarding.GROWTH_USAGE)
            community = await onboarding.set_growth_rule(
                uow,
                community,
                words[0],
                words[1],
                actor_of(message),
                now,
                by_owner=is_owner_message(message, moderators),
            )
        rules = community.growth
        outbox.reply(
            message,
            _(
                "🌱 Referral rules: a newcomer qualifies after {hours} hours in the group"
                "{checkin}. Inviter reward {reward}, welcome bonus {bonus}, "
                "at most {cap} rewarded referrals per inviter a day.",
                hours=rules.qualifying_hours,
                checkin=_(" and a check-in") if rules.requires_checkin else "",
                reward=rules.referral_reward,
                bonus=rules.welcome_bonus,
                cap=rules.daily_referral_cap,
            ),
        )

    return router


def render_referral(_: Translator, community: Community, referral: Referral) -> str:
    when = referral.joined_at.astimezone(ZoneInfo(community.timezone)).strftime("%Y-%m-%d %H:%M")
    status = _(STATUS_NAMES[referral.status])
    if referral.reason is not None:
        status += in_brackets(_, _(REJECTION_NAMES[referral.reason.value]))
    return f"• {escape(referral.invitee_name)} — {when} — {status}"


from handlers.growth_work import referral_work  # noqa: E402 - it renders with this module's texts


def _wire(context: WiringContext) -> Wiring:
    invite_links = PreparedInviteLinks(context.open_uow)
    return Wiring(data={"invite_links": invite_links}, prefetch=(invite_links,))


FEATURE = Feature(
    "growth",
    setup,
    commands=(
        FeatureCommand("invite", N_("Your personal invite link"), private=True),
        FeatureCommand("invites", N_("How many friends you invited")),
        FeatureCommand("topinviters", N_("Top inviters: week, month, all time")),
        FeatureCommand(
            "referrals", N_("A member's referrals: /referrals <@user|id>"), moderators=True
        ),
        FeatureCommand(
            "setwelcome",
            N_("Set the newcomers' welcome: /setwelcome <text>|default"),
            moderators=True,
            answered_privately=True,
        ),
        FeatureCommand(
            "setrules",
            N_("Set the rules link: /setrules <link>|none"),
            moderators=True,
            answered_privately=True,
        ),
        FeatureCommand(
            "joinrequests", N_("Join requests: /joinrequests approve|manual"), moderators=True
        ),
        FeatureCommand(
            "growth",
            N_("Referral rules: /growth hours|reward|bonus|cap <n>, /growth checkin on|off"),
            moderators=True,
        ),
    ),
    timed_work=(referral_work,),
    wire=_wire,
    data_sections=("invite_links", "referrals", "remembered_referrals"),
)
