"""Feedback tickets: what a member files (a bug, an idea or a complaint) and what moderators
do with it (new -> accepted -> done, or rejected; duplicates merged into one ticket)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import N_, DomainError


class TicketKind(enum.StrEnum):
    BUG = "bug"
    IDEA = "idea"
    COMPLAINT = "complaint"


class TicketStatus(enum.StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    DONE = "done"
    REJECTED = "rejected"
    MERGED = "merged"


OPEN_STATUSES = frozenset({TicketStatus.NEW, TicketStatus.ACCEPTED})
# Which statuses a ticket may move to a status from (the conditional UPDATE's condition).
MOVES_FROM: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.ACCEPTED: frozenset({TicketStatus.NEW}),
    TicketStatus.DONE: frozenset({TicketStatus.NEW, TicketStatus.ACCEPTED}),
    TicketStatus.REJECTED: frozenset({TicketStatus.NEW, TicketStatus.ACCEPTED}),
    TicketStatus.MERGED: frozenset({TicketStatus.NEW, TicketStatus.ACCEPTED}),
}
REWARDED_KINDS = frozenset({TicketKind.BUG, TicketKind.IDEA})


@dataclass(frozen=True)
class TicketRules:
    """Per-community settings (/ticketrules)."""

    bug_reward: int = 30
    idea_reward: int = 20
    daily_limit: int = 10

    def reward_for(self, kind: TicketKind) -> int:
        if kind == TicketKind.BUG:
            return self.bug_reward
        if kind == TicketKind.IDEA:
            return self.idea_reward
        return 0


@dataclass(frozen=True)
class FeedbackTicket:
    id: int
    community_id: int
    number: int
    user_id: int
    kind: TicketKind
    status: TicketStatus
    text: str
    created_at: datetime
    photo_file_id: str | None = None
    reporter_name: str = ""
    photo_user_id: int | None = None  # who posted the photo (to erase it with them)
    first_answer_at: datetime | None = None
    merged_into: int | None = None  # the number of the ticket this one duplicates
    note: str | None = None  # a rejection's reason


@dataclass(frozen=True)
class TicketEvent:
    """One step of a ticket's history: filed, accepted, done, rejected, reply, merged,
    announced, rewarded."""

    ticket_id: int
    action: str
    created_at: datetime
    actor_id: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class TicketStats:
    """A community's tickets since a moment: counts by kind and status (merged duplicates
    left out of the rate), the median time from filing to the first moderator answer (a reply
    or a status change), and the share of decided tickets that were accepted."""

    by_kind_status: dict[tuple[TicketKind, TicketStatus], int]
    answered: int
    median_first_answer: timedelta | None
    accepted_rate: float | None  # accepted or done / (accepted, done or rejected)

    @property
    def total(self) -> int:
        return sum(self.by_kind_status.values())


class UnknownTicket(DomainError):
    message = N_("There is no ticket #{number} in this group.")


class TicketStatusUnchanged(DomainError):
    message = N_("Ticket #{number} is {status} already; nothing was changed.")
    translated_params = ("status",)


class TicketLimitReached(DomainError):
    message = N_(
        "You have filed {limit} tickets today, the daily limit; nothing was filed. "
        "Try again tomorrow."
    )


class TicketTextMissing(DomainError):
    message = N_(
        "Write what it is about after the command, e.g. /bug the check-in button does "
        "nothing. Nothing was filed."
    )


class TicketTextTooLong(DomainError):
    message = N_(
        "That is {length} characters; a ticket may have at most {maximum}. Nothing was filed."
    )


class NoTicketCommunity(DomainError):
    message = N_(
        "I only take tickets for the groups I serve, and you are not in any of them. "
        "Nothing was filed."
    )


class TicketMergeRefused(DomainError):
    message = N_("Ticket #{number} cannot be merged into #{target}.")


class TicketRewardRefused(DomainError):
    message = N_(
        "Only a bug or an idea merged into an accepted or done ticket can be rewarded "
        "this way; ticket #{number} cannot."
    )


class ComplaintNotAnnounced(DomainError):
    message = N_("Complaints are never shown to other members; ticket #{number} stays private.")


class TicketNotDecided(DomainError):
    message = N_("Ticket #{number} has no outcome to announce yet (accept, finish or reject it).")


class OwnTicketReward(DomainError):
    message = N_(
        "Ticket #{number} is yours: a decision that pays you points must be taken by another "
        "moderator. Nothing was changed."
    )


class AnonymousTicketReward(DomainError):
    message = N_(
        "Anonymous admins cannot take a decision that pays points: it counts against one "
        "moderator's monthly quota. Turn off “Remain anonymous” and send the command again."
    )
