"""Every refused command gets one short answer, at most once a minute per member and group: a
moderator's command from a member, wherever it is refused (a handler raising ModeratorsOnly, or
no handler taking it), and a private command typed in the group."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Filter
from aiogram.types import Message

from bot.domain.errors import N_, ModeratorsOnly
from bot.i18n import Translator
from bot.ports import Clock
from handlers.filters.chat import InGroup
from handlers.filters.moderator import ModeratorDirectory
from handlers.middlewares.console import command_of
from runtime.features import Feature, FeatureCommand, Wiring, WiringContext, commands_of
from runtime.outbox import Outbox

REFUSAL_INTERVAL = timedelta(minutes=1)
PRIVATE_ONLY = N_("Send this command to me in a private chat: @{bot}")
FORGOTTEN_AFTER = 10_000  # entries kept before the old ones are dropped


class OnceEvery(Protocol):
    """Something said at most once an interval per key, decided for every process of the bot."""

    async def first_within(self, key: str, now: datetime, interval: timedelta) -> bool | None:
        """True for the first call within the interval; None when it cannot be decided."""
        ...


class RefusalLimiter:
    """Who was refused where, and when: a refusal is spoken once a minute per member and group
    (refusals cannot flood a group, nor its 20-a-minute message budget). With `shared`, the
    minute holds for all the bot's processes; alone when it cannot be asked."""

    def __init__(self, clock: Clock, shared: OnceEvery | None = None) -> None:
        self._clock = clock
        self._last: dict[tuple[int, int], datetime] = {}
        self.shared = shared

    async def may_speak(self, chat_id: int, user_id: int) -> bool:
        if self.shared is not None:
            first = await self.shared.first_within(
                f"{chat_id}:{user_id}", self._clock.now(), REFUSAL_INTERVAL
            )
            if first is not None:
                return first
        return self._may_speak_here(chat_id, user_id)

    def _may_speak_here(self, chat_id: int, user_id: int) -> bool:
        now = self._clock.now()
        last = self._last.get((chat_id, user_id))
        if last is not None and now - last < REFUSAL_INTERVAL:
            return False
        if len(self._last) >= FORGOTTEN_AFTER:
            self._last = {
                key: moment for key, moment in self._last.items() if now - moment < REFUSAL_INTERVAL
            }
        self._last[(chat_id, user_id)] = now
        return True


class UnhandledCommand(Filter):
    """A command some feature declares that no handler took, from a person in the group."""

    def __init__(self) -> None:
        self._declared: dict[int, dict[str, FeatureCommand]] = {}

    async def __call__(
        self, message: Message, features: Sequence[Feature]
    ) -> bool | dict[str, FeatureCommand]:
        if message.from_user is None or message.sender_chat is not None:
            return False
        command = command_of(message)
        if command is None:
            return False
        declared = self._declared.get(id(features))
        if declared is None:
            declared = self._declared[id(features)] = {
                entry.name: entry for entry in commands_of(features)
            }
        entry = declared.get(command[0])
        return {"declared": entry} if entry is not None else False


def setup() -> Router:
    router = Router(name="refusals")
    router.message.filter(InGroup())

    @router.message(UnhandledCommand())
    async def refuse(
        message: Message,
        declared: FeatureCommand,
        bot: Bot,
        moderators: ModeratorDirectory,
        refusals: RefusalLimiter,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        assert message.from_user is not None
        user_id = message.from_user.id
        if declared.moderators and not await moderators.is_moderator(bot, message.chat.id, user_id):
            raise ModeratorsOnly()
        if declared.private and await refusals.may_speak(message.chat.id, user_id):
            me = await bot.me()
            outbox.reply(message, _(PRIVATE_ONLY, bot=me.username or ""))
        raise SkipHandler()  # the activity feature still notes who is here

    return router


def wire(context: WiringContext) -> Wiring:
    return Wiring(data={"refusals": RefusalLimiter(context.clock)})


FEATURE = Feature("refusals", setup, wire=wire)
