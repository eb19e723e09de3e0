"""One-time rewards: what a person is given at most once, however often they leave, ask to be
forgotten and come back."""

from __future__ import annotations

from enum import StrEnum


class OneTimeReward(StrEnum):
    """What the reward memory remembers, per community and person (and occasion)."""

    REFERRAL = "referral"  # a qualified referral: the inviter's reward and the welcome bonus
    MEMBERSHIP = "member"  # was a member: a later join by an invite link is a rejoin
    BIRTHDAY_GIFT = "birthday"  # occasion: the community's local year
    SURVEY_THANKS = "survey"  # occasion: the survey's id
