"""The words of `/ticket` and `/tickets`: ticket numbers and the listing's filters."""

from __future__ import annotations

from bot.domain.errors import N_, UsageError
from bot.domain.tickets import TicketKind

LARGEST_NUMBER = 2**31 - 1
KIND_WORDS: dict[str, TicketKind] = {
    "bug": TicketKind.BUG,
    "bugs": TicketKind.BUG,
    "idea": TicketKind.IDEA,
    "ideas": TicketKind.IDEA,
    "complaint": TicketKind.COMPLAINT,
    "complaints": TicketKind.COMPLAINT,
}
TICKET_USAGE = N_(
    "/ticket <id> | /ticket <id> accept|done|reject <reason>|reply <text>|merge <into id>|"
    "announce|reward"
)
TICKETS_USAGE = N_("/tickets [open|all] [bug|idea|complaint]")


def parse_number(word: str, usage: str = TICKET_USAGE) -> int:
    digits = word.lstrip("#")
    if not digits.isdecimal():
        raise UsageError(usage=usage)
    number = int(digits)
    if not 1 <= number <= LARGEST_NUMBER:
        raise UsageError(usage=usage)
    return number


def parse_kind(word: str) -> TicketKind | None:
    return KIND_WORDS.get(word.lower())


def parse_listing(args: str) -> tuple[bool, TicketKind | None]:
    """`[open|all] [kind]`: whether to list every status, and the kind."""
    everything, kind = False, None
    for word in args.lower().split():
        if word in ("open", "all") and not everything:
            everything = word == "all"
        elif (found := parse_kind(word)) is not None and kind is None:
            kind = found
        else:
            raise UsageError(usage=TICKETS_USAGE)
    return everything, kind
