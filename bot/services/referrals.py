"""Growth: personal invite links, attribution of joins, and referral rewards that cannot be
farmed."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import NotAMember, UnknownReferralCode
from bot.domain.models import (
    Community,
    InviteLink,
    JoinRequestPolicy,
    LeaderboardPeriod,
    LeaderboardRow,
    LedgerEntry,
    LedgerKind,
    Member,
    PointsChange,
    Referral,
    ReferralCounts,
    ReferralSource,
    ReferralStatus,
    RejectionReason,
    UserInfo,
)
from bot.domain.rewards import OneTimeReward
from bot.domain.rules import day_start, period_start
from bot.ports import InviteLinkIssuer, UnitOfWork
from bot.services.membership import (
    ensure_member,
    is_eligible,
    member_joined,
    member_left,
    member_seen,
)
from bot.services.points import apply_points

REMEMBER_REFERRAL_FOR = timedelta(days=7)
INVITE_LINK_PREFIX = "ref_"
DUE_BATCH = 200
ASK_AGAIN_AFTER = timedelta(minutes=10)  # when Telegram could not say if a newcomer stayed


@dataclass(frozen=True)
class JoinOutcome:
    member: Member | None
    referral: Referral | None
    newcomer: bool


@dataclass(frozen=True)
class QualifiedReferral:
    community: Community
    inviter_id: int
    invitee_id: int
    invitee_name: str
    inviter_reward: PointsChange | None
    welcome_bonus: PointsChange | None


@dataclass(frozen=True)
class ReferralToConfirm:
    community: Community
    invitee_id: int


@dataclass(frozen=True)
class DeepLinkWelcome:
    community: Community
    join_url: str
    already_member: bool


def new_code() -> str:
    """A random, unguessable code; it says nothing about who owns it."""
    return secrets.token_urlsafe(9)


async def personal_link(
    uow: UnitOfWork,
    issuer: InviteLinkIssuer,
    community: Community,
    user: UserInfo,
    now: datetime,
    *,
    renew: bool = False,
    from_group: bool = True,
    make_code: Callable[[], str] = new_code,
) -> InviteLink:
    """The member's own invite link: created once and reused, or replaced when `renew`.

    Asked in the group, the asker is a member; asked privately, they must already be one.
    `make_code` names the new link (the code of a link the issuer made beforehand).
    """
    if from_group:
        await member_seen(uow, community, user, now)
    else:
        member = await uow.members.get(community.id, user.id)
        if member is None or not member.is_member:
            raise NotAMember(group=community.title)
    existing = await uow.invite_links.active_for(community.id, user.id)
    if existing is not None and not renew:
        return existing
    code = make_code()
    url = await issuer.create(community.id, f"{INVITE_LINK_PREFIX}{code}")
    if existing is not None:
        await issuer.revoke(community.id, existing.url)
        await uow.invite_links.revoke(existing.code, now)
    link = InviteLink(
        community_id=community.id, user_id=user.id, code=code, url=url, created_at=now
    )
    await uow.invite_links.add(link)
    return link


async def public_code(uow: UnitOfWork, community: Community) -> str:
    """The community's code for deep links (so that no chat id appears in them)."""
    if community.public_code:
        return community.public_code
    code = new_code()
    await uow.communities.set_public_code(community.id, code)
    return code


async def open_deep_link(
    uow: UnitOfWork, code: str, user: UserInfo, now: datetime
) -> DeepLinkWelcome:
    """Someone opened `t.me/<bot>?start=ref_<code>`: remember who invited them."""
    link = await uow.invite_links.by_code(code)
    community = await uow.communities.get(link.community_id) if link else None
    if link is None or community is None:
        raise UnknownReferralCode()
    # A renewed link keeps its owner's old deep links working: they lead to the new link.
    link = await uow.invite_links.active_for(community.id, link.user_id)
    if link is None:
        raise UnknownReferralCode()
    await uow.users.upsert(user)
    member = await uow.members.get(community.id, user.id)
    if member is not None and member.is_member:
        return DeepLinkWelcome(community, link.url, already_member=True)
    if link.user_id != user.id:
        await uow.referrals.remember(
            community.id, user.id, link.user_id, ReferralSource.DEEP_LINK, now
        )
    return DeepLinkWelcome(community, link.url, already_member=False)


async def _attributed_inviter(
    uow: UnitOfWork,
    community: Community,
    user_id: int,
    link_url: str | None,
    link_name: str | None,
    now: datetime,
) -> tuple[int, ReferralSource] | None:
    link = await uow.invite_links.by_url(community.id, link_url) if link_url else None
    if link is None and link_name and link_name.startswith(INVITE_LINK_PREFIX):
        link = await uow.invite_links.by_code(link_name.removeprefix(INVITE_LINK_PREFIX))
        if link is not None and link.community_id != community.id:
            link = None
    if link is not None:
        return link.user_id, ReferralSource.INVITE_LINK
    remembered = await uow.referrals.remembered(community.id, user_id)
    if remembered is not None and now - remembered[2] <= REMEMBER_REFERRAL_FOR:
        return remembered[0], remembered[1]
    return None


async def record_join(
    uow: UnitOfWork,
    community: Community,
    user: UserInfo,
    at: datetime,
    *,
    link_url: str | None = None,
    link_name: str | None = None,
) -> JoinOutcome:
    """A user joined: registers them, attributes the join, and queues a welcome for newcomers.

    The referral is pending until it qualifies; self-invites, rejoins and bots are recorded
    as rejected with their reason. Someone whose referral qualified here before they were
    forgotten (/forgetme) is a rejoiner too. A join with no known link is recorded as organic.
    """
    existed = await uow.members.get(community.id, user.id) is not None
    attribution = await _attributed_inviter(uow, community, user.id, link_url, link_name, at)
    reason: RejectionReason | None = None
    if not is_eligible(user):
        reason = RejectionReason.BOT
    elif attribution is not None and attribution[0] == user.id:
        reason = RejectionReason.SELF_INVITE
    elif existed or (attribution is not None and await _rewarded_before(uow, community, user.id)):
        reason = RejectionReason.REJOIN
    member = await member_joined(uow, community, user, at)
    referral: Referral | None = None
    if attribution is not None:
        referral = Referral(
            community_id=community.id,
            invitee_id=user.id,
            inviter_id=attribution[0],
            status=ReferralStatus.REJECTED if reason else ReferralStatus.PENDING,
            source=attribution[1],
            joined_at=at,
            reason=reason,
        )
        due = None if reason else at + timedelta(hours=community.growth.qualifying_hours)
        if not await uow.referrals.add(referral, due):
            referral = None  # this user's first join was attributed already: not growth
    elif not existed and reason is None:
        await uow.referrals.add(
            Referral(
                community_id=community.id,
                invitee_id=user.id,
                inviter_id=None,
                status=ReferralStatus.ORGANIC,
                source=ReferralSource.NONE,
                joined_at=at,
            ),
            None,
        )
    newcomer = member is not None and not existed
    if newcomer:
        await uow.members.set_welcome_due(community.id, user.id, at)
    return JoinOutcome(member=member, referral=referral, newcomer=newcomer)


async def _rewarded_before(uow: UnitOfWork, community: Community, user_id: int) -> bool:
    """This person was a member here (their referral may have qualified) before they were
    forgotten (/forgetme)."""
    key = (community.id, user_id, "")
    if await uow.reward_memory.given(OneTimeReward.REFERRAL, [key]):
        return True
    return bool(await uow.reward_memory.given(OneTimeReward.MEMBERSHIP, [key]))


async def record_leave(uow: UnitOfWork, community: Community, user: UserInfo, at: datetime) -> None:
    """A member left; a pending referral whose newcomer leaves never qualifies."""
    await member_left(uow, community, user, at)
    await _reject_as_left(uow, community, user.id, at)


async def _reject_as_left(
    uow: UnitOfWork, community: Community, user_id: int, at: datetime
) -> None:
    await uow.referrals.settle(
        community.id, user_id, ReferralStatus.REJECTED, RejectionReason.LEFT_BEFORE_QUALIFYING, at
    )


async def record_join_request(
    uow: UnitOfWork, community: Community, user: UserInfo, link_url: str | None, now: datetime
) -> bool:
    """Remembers the request's link for attribution; True if the bot should approve it."""
    if link_url:
        link = await uow.invite_links.by_url(community.id, link_url)
        if link is not None and link.user_id != user.id:
            await uow.referrals.remember(
                community.id, user.id, link.user_id, ReferralSource.JOIN_REQUEST, now
            )
    return community.growth.join_requests == JoinRequestPolicy.APPROVE and is_eligible(user)


async def note_checkin(
    uow: UnitOfWork, community: Community, invitee_id: int, at: datetime
) -> None:
    """The newcomer checked in: a pending referral becomes due as soon as its qualifying
    period is over. It is paid by the timed work, after Telegram confirmed the newcomer is
    still in the group (see `referrals_to_confirm`)."""
    referral = await uow.referrals.get(community.id, invitee_id)
    if referral is None or referral.status != ReferralStatus.PENDING or referral.inviter_id is None:
        return
    ends = referral.joined_at + timedelta(hours=community.growth.qualifying_hours)
    await uow.referrals.set_due(community.id, invitee_id, max(at, ends))


async def referrals_to_confirm(
    uow: UnitOfWork, now: datetime, community_id: int | None = None
) -> list[ReferralToConfirm]:
    """Paying a referral, step one (in a transaction): the pending referrals due now that pass
    every check the database can answer. A newcomer known to have left is rejected; one who
    has not checked in yet waits for the check-in. Step two asks Telegram, outside any
    transaction, whether each newcomer is still a member; step three is `settle_confirmed`."""
    ready = []
    communities: dict[int, Community | None] = {}
    for referral in await uow.referrals.due(now, DUE_BATCH, community_id):
        if referral.community_id not in communities:
            communities[referral.community_id] = await uow.communities.get(referral.community_id)
        community = communities[referral.community_id]
        if community is not None and await _ready(uow, community, referral, now):
            ready.append(ReferralToConfirm(community, referral.invitee_id))
    return ready


async def _ready(uow: UnitOfWork, community: Community, referral: Referral, now: datetime) -> bool:
    growth = community.growth
    ends = referral.joined_at + timedelta(hours=growth.qualifying_hours)
    if referral.inviter_id is None:
        return False
    if now < ends:
        await uow.referrals.set_due(community.id, referral.invitee_id, ends)
        return False
    invitee = await uow.members.get(community.id, referral.invitee_id)
    if invitee is None or not invitee.is_member:
        await _reject_as_left(uow, community, referral.invitee_id, now)
        return False
    if growth.requires_checkin and invitee.last_checkin_day is None:
        await uow.referrals.set_due(community.id, referral.invitee_id, None)  # see note_checkin
        return False
    return True


async def settle_confirmed(
    uow: UnitOfWork,
    candidate: ReferralToConfirm,
    still_member: bool | None,
    now: datetime,
) -> QualifiedReferral | None:
    """Paying a referral, step three (a new transaction): what Telegram said about the
    newcomer. Gone: the leave the bot never saw is recorded and the referral rejected.
    Unknown (Telegram did not answer): asked again later. Still there: paid, once, if it
    still qualifies."""
    community, invitee_id = candidate.community, candidate.invitee_id
    if still_member is None:
        referral = await uow.referrals.get(community.id, invitee_id)
        if referral is not None and referral.status == ReferralStatus.PENDING:
            await uow.referrals.set_due(community.id, invitee_id, now + ASK_AGAIN_AFTER)
        return None
    if not still_member:
        invitee = await uow.members.get(community.id, invitee_id)
        if invitee is not None and invitee.is_member:
            await uow.members.mark_left(community.id, invitee_id, now)
        await _reject_as_left(uow, community, invitee_id, now)
        return None
    return await try_qualify(uow, community, invitee_id, now)


async def try_qualify(
    uow: UnitOfWork, community: Community, invitee_id: int, now: datetime
) -> QualifiedReferral | None:
    """Credits a pending referral once the newcomer stayed long enough and checked in.

    The inviter's reward and the newcomer's welcome bonus are each paid exactly once
    (ledger idempotency keys), and the qualification is kept in the reward memory, which
    /forgetme does not erase (see `record_join`); past the inviter's daily cap the referral
    is recorded as rejected and pays nothing. The inviter's member row is locked while the
    cap is counted, so two referrals of one inviter settled at the same time cannot both
    pass it.
    """
    referral = await uow.referrals.get(community.id, invitee_id)
    if referral is None or referral.status != ReferralStatus.PENDING or referral.inviter_id is None:
        return None
    if not await _ready(uow, community, referral, now):
        return None
    invitee = await uow.members.get(community.id, invitee_id)
    assert invitee is not None
    growth = community.growth
    inviter_id = referral.inviter_id
    await uow.members.lock(community.id, inviter_id)
    rewarded_today = await uow.referrals.qualified_since(
        community.id, inviter_id, day_start(now, community.timezone)
    )
    if rewarded_today >= growth.daily_referral_cap:
        await uow.referrals.settle(
            community.id, invitee_id, ReferralStatus.REJECTED, RejectionReason.DAILY_CAP, now
        )
        return None
    if not await uow.referrals.settle(
        community.id, invitee_id, ReferralStatus.QUALIFIED, None, now
    ):
        return None
    await uow.reward_memory.remember(OneTimeReward.REFERRAL, community.id, invitee_id)
    inviter_reward = await _pay(
        uow, community, inviter_id, growth.referral_reward, LedgerKind.REFERRAL, invitee_id, now
    )
    welcome_bonus = await _pay(
        uow, community, invitee_id, growth.welcome_bonus, LedgerKind.WELCOME_BONUS, invitee_id, now
    )
    return QualifiedReferral(
        community=community,
        inviter_id=inviter_id,
        invitee_id=invitee_id,
        invitee_name=invitee.display_name,
        inviter_reward=inviter_reward,
        welcome_bonus=welcome_bonus,
    )


async def _pay(
    uow: UnitOfWork,
    community: Community,
    user_id: int,
    amount: int,
    kind: LedgerKind,
    invitee_id: int,
    now: datetime,
) -> PointsChange | None:
    if amount <= 0 or await uow.members.get(community.id, user_id) is None:
        return None
    return await apply_points(
        uow,
        community,
        LedgerEntry(
            community_id=community.id,
            user_id=user_id,
            amount=amount,
            kind=kind,
            idempotency_key=f"{kind}:{community.id}:{invitee_id}",
            created_at=now,
            reason=f"referral of {invitee_id}",
        ),
    )


async def counts(
    uow: UnitOfWork, community: Community, user: UserInfo, now: datetime
) -> ReferralCounts:
    await ensure_member(uow, community, user, now)
    return await uow.referrals.counts_for(community.id, user.id)


async def top_inviters(
    uow: UnitOfWork, community: Community, period: LeaderboardPeriod, now: datetime
) -> list[LeaderboardRow]:
    since = period_start(now, community.timezone, period)
    return list(await uow.referrals.top_inviters(community.id, since, 10))


async def referrals_of(
    uow: UnitOfWork, community: Community, inviter: UserInfo, limit: int = 20
) -> list[Referral]:
    return list(await uow.referrals.list_for_inviter(community.id, inviter.id, limit))
