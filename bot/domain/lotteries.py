"""Lotteries and their provably fair draw: pure data and the one deterministic procedure.

The procedure (also in the README, and what `seedbot verify-draw` runs):

1. The entry list is one line per entry, ``<user id>:<entry number>``, sorted by user id,
   then entry number (as numbers), joined with ``\\n``. It is published as its count and the
   SHA-256 (hex) of that text.
2. For k = 0, 1, 2, ...: h = SHA-256 of the UTF-8 text ``<seed>:<k>``, read as a big-endian
   integer; the k-th pick is entry number ``h mod n`` (counting from 0) of the n entries
   still in the sorted list. All entries of the picked member then leave the list (a member
   wins once), and the next k follows, until the list is empty.
3. Winner i is the i-th pick; a reroll takes the next pick of the same sequence.

The seed is made with `secrets`; before the draw only its SHA-256 (the commitment) is shown.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.models import Badge, Tier

SEED_BYTES = 32


class LotteryStatus(enum.StrEnum):
    OPEN = "open"
    DRAWN = "drawn"
    CANCELLED = "cancelled"


@dataclass(frozen=True, order=True)
class Ticket:
    """One entry: a member's `number`-th entry in a lottery."""

    user_id: int
    number: int

    def __str__(self) -> str:
        return f"{self.user_id}:{self.number}"


@dataclass(frozen=True)
class Eligibility:
    min_tier: Tier = Tier.NEWCOMER
    badge: Badge | None = None
    min_days: int = 0
    late_joiners: bool = True


@dataclass(frozen=True)
class LotteryDraft:
    """A lottery as a moderator described it, before it is created."""

    title: str
    prize: str
    draw_at: datetime
    winners: int = 1
    cost: int = 0
    max_entries: int = 1
    eligibility: Eligibility = field(default_factory=Eligibility)


@dataclass(frozen=True)
class Lottery:
    id: int
    community_id: int
    title: str
    prize: str
    winners: int
    draw_at: datetime
    cost: int
    max_entries: int
    eligibility: Eligibility
    seed: str
    commitment: str
    status: LotteryStatus
    created_at: datetime
    created_by: int | None = None
    drawn_at: datetime | None = None
    entries_count: int | None = None
    entries_hash: str | None = None
    drawn_entries: str | None = None  # the published entry list, as hashed
    picks_taken: int = 0
    repeat_schedule: str | None = None  # `/lottery repeat`: fresh copies on this schedule
    repeat_next_at: datetime | None = None


@dataclass(frozen=True)
class LotteryWinner:
    pick: int
    user_id: int
    number: int
    display_name: str
    replaced: bool = False


@dataclass(frozen=True)
class LotteryEntry:
    user_id: int
    number: int
    cost: int
    refunded: bool


def new_seed() -> str:
    return secrets.token_hex(SEED_BYTES)


def commitment_of(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def entries_text(tickets: Iterable[Ticket]) -> str:
    return "\n".join(str(ticket) for ticket in sorted(set(tickets)))


def entries_hash(tickets: Iterable[Ticket]) -> str:
    return hashlib.sha256(entries_text(tickets).encode()).hexdigest()


def parse_entries(text: str) -> list[Ticket]:
    """The published entry list (lines or commas of ``<user id>:<number>``); ValueError if
    it is not one."""
    tickets = []
    for word in text.replace(",", "\n").split():
        user_id, sep, number = word.partition(":")
        if not sep or not user_id.isdecimal() or not number.isdecimal():
            raise ValueError(f"not an entry: {word!r} (expected <user id>:<number>)")
        tickets.append(Ticket(int(user_id), int(number)))
    return sorted(set(tickets))


def picks(seed: str, tickets: Iterable[Ticket]) -> Iterator[Ticket]:
    """The draw's whole sequence of picks, in order (see the module's docstring)."""
    remaining = sorted(set(tickets))
    k = 0
    while remaining:
        digest = hashlib.sha256(f"{seed}:{k}".encode()).digest()
        chosen = remaining[int.from_bytes(digest, "big") % len(remaining)]
        yield chosen
        remaining = [ticket for ticket in remaining if ticket.user_id != chosen.user_id]
        k += 1


def first_picks(seed: str, tickets: Iterable[Ticket], count: int) -> list[Ticket]:
    chosen: list[Ticket] = []
    for ticket in picks(seed, tickets):
        if len(chosen) >= count:
            break
        chosen.append(ticket)
    return chosen
