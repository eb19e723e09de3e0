"""What a feature brings, declared in one place: its router, its commands, its timed work,
what it prefetches before a page's transaction, what it puts in the handlers' reach, and its
part of /mydata and /forgetme. The composition root hands the list to the runtime, which
runs what is declared and knows no feature by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from aiogram import Bot, Router
from aiogram.types import Update

from bot.ports import Clock, MembershipChecker, ModeratorList, UnitOfWorkFactory
from bot.ports.reads import Reader
from runtime.outbox import Outbox


@dataclass(frozen=True)
class FeatureCommand:
    """A command for /help, the private chat's help and BotFather's menus. `description` is
    marked with N_ and translated where it is shown. `moderators`: listed for moderators
    only (their /help part, the administrators' menu). `private`: it also works in the
    private chat with the bot (the others are answered there with "works in a group", or
    act on the moderator's console group). `answered_privately`: a set-up command (all of it,
    or the subcommands named) that a moderator typing it in the group is answered for in
    private, to keep the group quiet."""

    name: str
    description: str
    moderators: bool = False
    private: bool = False
    answered_privately: bool | tuple[str, ...] = False


@dataclass(frozen=True)
class JobContext:
    """What a feature's timed work runs with: given by its argument, never a global."""

    open_uow: UnitOfWorkFactory
    clock: Clock
    bot: Bot | None = None
    members: MembershipChecker | None = None
    moderators: ModeratorList | None = None
    scheduler: Any = None  # APScheduler's AsyncIOScheduler while the bot runs
    wired: Mapping[str, Any] = field(default_factory=dict)  # what the features' wiring made
    due_work: Callable[[], Awaitable[None]] | None = None  # all timed work, for a job to run
    reader: Reader | None = None  # long reads off the event loop (storage/offloop.py)

    def now(self) -> datetime:
        return self.clock.now()

    def scheduling(self) -> bool:
        return self.scheduler is not None and bool(self.scheduler.running)


TimedWork = Callable[[JobContext], Awaitable[None]]


class PagePrefetch(Protocol):
    """Fetched from Telegram before a page's transaction opens (no Bot API call inside it)."""

    async def prefetch(self, bot: Bot, updates: Sequence[Update]) -> None: ...


@runtime_checkable
class PageSettleable(Protocol):
    """After the page's commit: what the prefetch planned carried out, its replies returned."""

    async def settle(self) -> Outbox: ...


@dataclass(frozen=True)
class WiringContext:
    open_uow: UnitOfWorkFactory
    clock: Clock
    bot: Bot
    reader: Reader | None = None


@dataclass(frozen=True)
class Wiring:
    """A feature's per-app objects: `data` reaches the handlers as keyword arguments (the
    dispatcher's data) and the timed work as JobContext.wired; `prefetch` runs before each
    page's transaction and, when it also settles, after its commit."""

    data: Mapping[str, Any] = field(default_factory=dict)
    prefetch: tuple[PagePrefetch, ...] = ()
    close: tuple[Callable[[], None], ...] = ()


@dataclass(frozen=True)
class Feature:
    name: str
    setup: Callable[[], Router]
    commands: tuple[FeatureCommand, ...] = ()
    timed_work: tuple[TimedWork, ...] = ()
    # Brings the feature's own scheduler jobs in line with its tables (deterministic ids):
    # at start and after every pass of the timed work, while the scheduler runs.
    sync_jobs: TimedWork | None = None
    wire: Callable[[WiringContext], Wiring] | None = None
    # Update types it needs beyond the usual ones (e.g. "pre_checkout_query"): asked for
    # in getUpdates' allowed_updates.
    update_types: tuple[str, ...] = ()
    # Updates this feature only reads for (/top, /me): answered in a read-only transaction.
    reads_only: Callable[[Update], bool] | None = None
    # The sections of storage.privacy's registry that hold this feature's rows: its part of
    # /mydata and /forgetme (tests/unit/test_features.py checks each is claimed once).
    data_sections: tuple[str, ...] = ()


def reads_only_of(features: Sequence[Feature]) -> Callable[[Update], bool]:
    """True for an update some feature declares it only reads for."""
    checks = [feature.reads_only for feature in features if feature.reads_only is not None]

    def reads_only(update: Update) -> bool:
        return any(check(update) for check in checks)

    return reads_only


def allowed_updates_of(base: Sequence[str], features: Sequence[Feature]) -> list[str]:
    allowed = list(base)
    for feature in features:
        allowed.extend(kind for kind in feature.update_types if kind not in allowed)
    return allowed


def commands_of(features: Sequence[Feature]) -> list[FeatureCommand]:
    return [command for feature in features for command in feature.commands]


def member_commands(features: Sequence[Feature]) -> list[FeatureCommand]:
    return [command for command in commands_of(features) if not command.moderators]


def moderator_commands(features: Sequence[Feature]) -> list[FeatureCommand]:
    return [command for command in commands_of(features) if command.moderators]


def group_only_commands(features: Sequence[Feature]) -> list[str]:
    return [command.name for command in commands_of(features) if not command.private]


def answered_privately(features: Sequence[Feature]) -> Callable[[str, str], bool]:
    """Whether a command (its name and first word) is a set-up command answered in private."""
    whole: set[str] = set()
    some: dict[str, frozenset[str]] = {}
    for command in commands_of(features):
        if command.answered_privately is True:
            whole.add(command.name)
        elif command.answered_privately:
            some[command.name] = frozenset(command.answered_privately)

    def check(name: str, word: str) -> bool:
        return name in whole or word in some.get(name, frozenset())

    return check
