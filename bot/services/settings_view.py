"""/settings: every setting of a community gathered in one plain view, and the few changes
its buttons offer, each made through the service (rules, bounds and audit) of the command
that owns the setting."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.care import CareSettings
from bot.domain.errors import N_, DomainError
from bot.domain.models import (
    CampaignKind,
    CampaignStatus,
    CheckinRules,
    Community,
    GrowthRules,
    JoinRequestPolicy,
    LifecycleRules,
)
from bot.domain.tickets import TicketRules
from bot.i18n import LANGUAGES
from bot.ports import UnitOfWork
from bot.services import birthdays, lifecycle, moderation, onboarding, surveys

ON, OFF = "on", "off"
# What the buttons may set: a key (short, for the 64-byte callback data) and its preset
# values. A press carries the value it sets, so a second press of the same button finds it
# set and changes nothing.
LANGUAGE = "lang"
REFERRAL_CHECKIN = "refchk"
JOIN_REQUESTS = "join"
WINBACK = "winback"
BIRTHDAY_GROUP = "bday"
SURVEY_DAYS = "svdays"
SURVEY_THANKS = "svthanks"
CHOICES: dict[str, tuple[str, ...]] = {
    LANGUAGE: LANGUAGES,
    REFERRAL_CHECKIN: (ON, OFF),
    JOIN_REQUESTS: tuple(policy.value for policy in JoinRequestPolicy),
    WINBACK: (ON, OFF),
    BIRTHDAY_GROUP: (ON, OFF),
    SURVEY_DAYS: ("1", "3", "7"),
    SURVEY_THANKS: ("0", "5", "10"),
}


class UnknownSettingChoice(DomainError):
    message = N_("This button does not set anything I know; nothing was changed.")


@dataclass(frozen=True)
class SettingsView:
    """A community's settings, grouped as /settings shows them."""

    community_id: int
    title: str
    language: str
    timezone: str
    checkin: CheckinRules
    checkin_post: str | None  # the daily check-in post's schedule when it is on
    growth: GrowthRules
    tickets: TicketRules
    lifecycle: LifecycleRules
    care: CareSettings
    survey_schedules: int  # active scheduled surveys
    monthly_award_quota: int

    def current(self, key: str) -> str:
        """The value a button of `key` would set, as the buttons spell it."""
        return _current(self, key)


@dataclass(frozen=True)
class SettingChange:
    community: Community  # as it is now
    view: SettingsView | None  # the new view; None when it already had that value


async def view(uow: UnitOfWork, community: Community) -> SettingsView:
    """Everything /settings shows of the community."""
    checkin_post = next(
        (
            campaign.schedule
            for campaign in await uow.campaigns.of_community(community.id)
            if campaign.kind == CampaignKind.CHECKIN_POST
            and campaign.status == CampaignStatus.ACTIVE
        ),
        None,
    )
    schedules = await uow.surveys.schedules_of(community.id)
    active = sum(1 for planned in schedules if planned.status == surveys.ACTIVE)
    return _view_of(community, checkin_post, active)


def _view_of(community: Community, checkin_post: str | None, survey_schedules: int) -> SettingsView:
    return SettingsView(
        community_id=community.id,
        title=community.title,
        language=community.language,
        timezone=community.timezone,
        checkin=community.checkin_rules,
        checkin_post=checkin_post,
        growth=community.growth,
        tickets=community.tickets,
        lifecycle=community.lifecycle,
        care=surveys.settings(community),
        survey_schedules=survey_schedules,
        monthly_award_quota=community.moderation.monthly_award_quota,
    )


def check_choice(key: str, value: str) -> None:
    """Refuses a key or value no button offers (a forged or outdated press)."""
    if value not in CHOICES.get(key, ()):
        raise UnknownSettingChoice()


async def change(
    uow: UnitOfWork,
    community: Community,
    key: str,
    value: str,
    *,
    actor_id: int | None,
    now: datetime,
    by_owner: bool = False,
) -> SettingChange:
    """Sets one setting to one of its preset values through the owning feature's service,
    once: a setting that already has the value is left alone (no audit entry)."""
    check_choice(key, value)
    if _view_of(community, None, 0).current(key) == value:  # read from the community alone
        return SettingChange(community, None)
    changed = await _apply(uow, community, key, value, actor_id, now, by_owner)
    return SettingChange(changed, await view(uow, changed))


async def _apply(
    uow: UnitOfWork,
    community: Community,
    key: str,
    value: str,
    actor_id: int | None,
    now: datetime,
    by_owner: bool,
) -> Community:
    if key == LANGUAGE:
        await moderation.set_language(uow, community, actor_id=actor_id, language=value, now=now)
        return replace(community, language=value)
    if key == REFERRAL_CHECKIN:
        return await onboarding.set_growth_rule(
            uow, community, "checkin", value, actor_id, now, by_owner=by_owner
        )
    if key == JOIN_REQUESTS:
        policy = JoinRequestPolicy(value)
        await onboarding.set_join_request_policy(uow, community, policy, actor_id, now)
        return replace(community, growth=replace(community.growth, join_requests=policy))
    if key == WINBACK:
        return await lifecycle.set_winback(uow, community, value, actor_id, now, by_owner=by_owner)
    if key == BIRTHDAY_GROUP:
        care = await birthdays.set_group(uow, community, value == ON, actor_id, now)
        return replace(community, care=care)
    if key == SURVEY_DAYS:
        care = await surveys.set_days(uow, community, value, actor_id, now)
        return replace(community, care=care)
    if key == SURVEY_THANKS:
        care = await surveys.set_thanks(uow, community, value, actor_id, now, by_owner=by_owner)
        return replace(community, care=care)
    raise UnknownSettingChoice()


def _on_off(flag: bool) -> str:
    return ON if flag else OFF


def _current(settings: SettingsView, key: str) -> str:
    values = {
        LANGUAGE: settings.language,
        REFERRAL_CHECKIN: _on_off(settings.growth.requires_checkin),
        JOIN_REQUESTS: settings.growth.join_requests.value,
        WINBACK: _on_off(settings.lifecycle.winback),
        BIRTHDAY_GROUP: _on_off(settings.care.birthday_group),
        SURVEY_DAYS: str(settings.care.survey_days),
        SURVEY_THANKS: str(settings.care.survey_thanks),
    }
    if key not in values:
        raise UnknownSettingChoice()
    return values[key]
