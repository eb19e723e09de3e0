"""The growth feature's timed work: the referral re-checks; and the newcomers' welcome text,
posted with the campaigns' posts (one transaction per group's posts)."""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape

from bot.i18n import translator
from bot.ports import MembershipChecker, UnitOfWorkFactory
from bot.services import referrals
from bot.services.onboarding import WelcomeBatch
from handlers.render import announce_referral, gap, listed, name
from runtime.features import JobContext
from runtime.jobs import for_each_community
from runtime.outbox import Outbox

logger = logging.getLogger(__name__)

NAMES_IN_ONE_WELCOME = 30


def render_welcome(batch: WelcomeBatch) -> str:
    _ = translator(batch.community.language)
    shown = [name(newcomer) for _, newcomer in batch.newcomers[:NAMES_IN_ONE_WELCOME]]
    names = listed(_, shown)
    if len(batch.newcomers) > NAMES_IN_ONE_WELCOME:
        names += gap(_) + _("and {count} more", count=len(batch.newcomers) - NAMES_IN_ONE_WELCOME)
    growth = batch.community.growth
    rules = escape(growth.rules_link or "")
    if growth.welcome_text:
        try:
            return escape(growth.welcome_text).format(
                names=names, group=name(batch.community.title), rules=rules
            )
        except (KeyError, IndexError, ValueError, AttributeError):
            logger.exception(
                "Community %d's welcome text cannot be filled in; the default is used",
                batch.community.id,
            )
    text = _(
        "👋 Welcome, {names}!\nCheck in every day with /checkin (or just send 签到) "
        "and invite friends with /invite.",
        names=names,
    )
    if rules:
        text += "\n" + _("📜 Please read the rules: {rules}", rules=rules)
    return text


async def referral_work(context: JobContext) -> None:
    now = context.now()
    async with context.open_uow() as uow:
        due = await uow.referrals.communities_due(now)
    await for_each_community(
        "referrals",
        sorted(due),
        lambda community_id: qualify_referrals(
            context.open_uow, context.members, now, community_id
        ),
    )


async def qualify_referrals(
    open_uow: UnitOfWorkFactory,
    members: MembershipChecker | None,
    now: datetime,
    community_id: int | None = None,
) -> None:
    """Pays the referrals that are due, in three steps: pick them (a transaction), ask
    Telegram whether each newcomer is still in the group (no transaction open), settle them
    and queue the inviters' news (a transaction). Without a way to ask, nothing is paid."""
    async with open_uow() as uow:
        candidates = await referrals.referrals_to_confirm(uow, now, community_id)
    if not candidates:
        return
    verdicts = []
    for candidate in candidates:
        still_member = None
        if members is not None:
            still_member = await members.is_member(candidate.community.id, candidate.invitee_id)
        verdicts.append((candidate, still_member))
    outbox = Outbox()
    async with open_uow() as uow:
        for candidate, still_member in verdicts:
            result = await referrals.settle_confirmed(uow, candidate, still_member, now)
            if result is not None:
                reachable = await uow.users.can_message(result.inviter_id)
                announce_referral(outbox, result, reachable)
        await outbox.queue_announcements(uow.outgoing, now)
