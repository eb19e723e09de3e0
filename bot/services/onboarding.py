"""Newcomers' welcome, greeted together at most once a minute per group, and its settings."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.errors import TextTooLong
from bot.domain.markup import check_template
from bot.domain.models import Community, JoinRequestPolicy
from bot.ports import UnitOfWork

WELCOME_WINDOW = timedelta(seconds=60)
WELCOME_PLACEHOLDERS = ("names", "group", "rules")
MAX_WELCOME_LENGTH = 1000
MAX_LINK_LENGTH = 200


@dataclass(frozen=True)
class WelcomeBatch:
    community: Community
    newcomers: list[tuple[int, str]]


async def take_due_welcomes(uow: UnitOfWork, now: datetime) -> list[WelcomeBatch]:
    """Groups whose first waiting newcomer joined a minute ago or more, with everyone waiting.

    A group is greeted in one message per window, so a wave of joins never exceeds one
    welcome message a minute.
    """
    batches = []
    for community_id in await uow.members.communities_with_welcomes_due(now - WELCOME_WINDOW):
        community = await uow.communities.get(community_id)
        newcomers = list(await uow.members.take_pending_welcomes(community_id))
        if community is not None and newcomers:
            batches.append(WelcomeBatch(community, newcomers))
    return batches


async def set_welcome_text(
    uow: UnitOfWork, community: Community, text: str | None, actor_id: int | None, now: datetime
) -> None:
    if text is not None:
        check_template(text, WELCOME_PLACEHOLDERS, MAX_WELCOME_LENGTH)
    growth = replace(community.growth, welcome_text=text)
    await uow.communities.save_settings(replace(community, growth=growth))
    await uow.audit.add(community.id, actor_id, "welcome_text", None, text or "(default)", now)


async def set_rules_link(
    uow: UnitOfWork, community: Community, link: str | None, actor_id: int | None, now: datetime
) -> None:
    if link is not None and len(link) > MAX_LINK_LENGTH:
        raise TextTooLong(maximum=MAX_LINK_LENGTH)
    growth = replace(community.growth, rules_link=link)
    await uow.communities.save_settings(replace(community, growth=growth))
    await uow.audit.add(community.id, actor_id, "rules_link", None, link or "(none)", now)


async def set_join_request_policy(
    uow: UnitOfWork,
    community: Community,
    policy: JoinRequestPolicy,
    actor_id: int | None,
    now: datetime,
) -> None:
    growth = replace(community.growth, join_requests=policy)
    await uow.communities.save_settings(replace(community, growth=growth))
    await uow.audit.add(community.id, actor_id, "join_requests", None, str(policy), now)
