"""Daily check-in: the command, the keywords and the button under a check-in post."""

from __future__ import annotations

from datetime import datetime

from aiogram import Router
from aiogram.filters import Command, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.errors import N_
from bot.domain.models import Community, UserInfo
from bot.i18n import Translator
from bot.ports import UnitOfWork
from bot.services.checkin import CheckinOutcome, check_in, is_checkin_keyword
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator
from handlers.render import actor_of, announce_promotion, name
from runtime.features import Feature, FeatureCommand
from runtime.outbox import CheckinLine, Outbox, failure_notice


class CheckinButton(CallbackData, prefix="v1ci"):
    """The check-in button; the pressing user and chat come from the callback itself."""


class IsCheckinKeyword(Filter):
    async def __call__(self, message: Message, community: Community | None = None) -> bool:
        return (
            community is not None
            and message.text is not None
            and is_checkin_keyword(community, message.text)
        )


def checkin_keyboard(_: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("✅ Check in"), callback_data=CheckinButton().pack())]
        ]
    )


def setup() -> Router:
    router = Router(name="checkin")
    router.message.filter(InGroup())
    router.callback_query.filter(InGroup())

    @router.message(Command("checkin"))
    @router.message(IsCheckinKeyword())
    async def checkin_by_message(
        message: Message,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo | None,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        if user is None or message.sender_chat is not None:
            return
        outcome = await check_in(uow, community, user, message.date)
        line = CheckinLine(
            user.display_name,
            outcome.points,
            outcome.streak,
            _.language,
            outcome.checked_in,
            user_id=user.id,
        )
        outbox.reply(message, _describe(_, user, outcome), merge=line)
        announce_promotion(outbox, _, community, outcome.change)

    @router.callback_query(CheckinButton.filter())
    async def checkin_by_button(
        callback: CallbackQuery,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        outcome = await check_in(uow, community, user, now)
        if outcome.checked_in:
            text = _(
                "✅ +{points} points! Total {balance}, streak {streak} days.",
                points=outcome.points,
                balance=outcome.balance,
                streak=outcome.streak,
            )
        else:
            text = _("You already checked in today. Streak: {streak} days.", streak=outcome.streak)
        outbox.toast(callback, text)
        announce_promotion(outbox, _, community, outcome.change)

    @router.message(Command("checkinpost"), IsModerator())
    async def post_checkin_button(
        message: Message, community: Community, outbox: Outbox, _: Translator
    ) -> None:
        outbox.announce(
            community.id,
            _("📅 Daily check-in! Press the button to check in and keep your streak."),
            f"checkinpost:{community.id}:{message.message_id}",
            kind="checkin_post",
            markup=checkin_keyboard(_),
            tell_on_failure=failure_notice(
                _, _("The check-in button"), community.id, name(community.title), actor_of(message)
            ),
        )

    return router


def _describe(_: Translator, user: UserInfo, outcome: CheckinOutcome) -> str:
    if outcome.checked_in:
        return _(
            "✅ {name} checked in: +{points} points. Total: {balance}. Streak: {streak} days.",
            name=name(user.display_name),
            points=outcome.points,
            balance=outcome.balance,
            streak=outcome.streak,
        )
    return _(
        "{name}, you already checked in today. Streak: {streak} days.",
        name=name(user.display_name),
        streak=outcome.streak,
    )


FEATURE = Feature(
    "checkin",
    setup,
    commands=(
        FeatureCommand("checkin", N_("Check in for today")),
        FeatureCommand("checkinpost", N_("Post the check-in button"), moderators=True),
    ),
)
