"""/settings: every setting of the group in one message, grouped, with buttons for the common
changes (each press sets a value, re-checked for moderator rights) and the command for the
rest. settings_text and settings_markup render a view for any chat (the group, or later a
moderator's private chat)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import EditMessageText
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.errors import N_, ModeratorsOnly
from bot.domain.models import Community, JoinRequestPolicy
from bot.i18n import Translator, translator
from bot.ports import UnitOfWork
from bot.services import lifecycle, onboarding, settings_view, tickets
from bot.services.settings_view import (
    BIRTHDAY_GROUP,
    JOIN_REQUESTS,
    LANGUAGE,
    OFF,
    ON,
    REFERRAL_CHECKIN,
    SURVEY_DAYS,
    SURVEY_THANKS,
    WINBACK,
    SettingsView,
)
from handlers.birthdays import SETTINGS_USAGE as BIRTHDAYS_USAGE
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator, ModeratorDirectory
from handlers.render import name, schedule_text
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox

LANGUAGE_NAMES = {"zh": "中文", "en": "English"}
JOIN_REQUEST_NAMES = {
    JoinRequestPolicy.APPROVE: N_("approved by the bot"),
    JoinRequestPolicy.MANUAL: N_("left to the moderators"),
}
SURVEY_USAGE = N_("/survey duration <days> — /survey thanks <points> — /survey list")
QUOTA_USAGE = N_("/quota set <points> (only the bot's owners)")
# The button rows: a setting's key, its label (None: the values speak for themselves) and
# how each value is named on its button.
BUTTON_LABELS: dict[str, str | None] = {
    LANGUAGE: None,
    REFERRAL_CHECKIN: N_("Check-in to qualify"),
    JOIN_REQUESTS: N_("Join requests"),
    WINBACK: N_("Win-back"),
    BIRTHDAY_GROUP: N_("Birthdays in the group"),
    SURVEY_DAYS: N_("Survey days"),
    SURVEY_THANKS: N_("Survey thanks"),
}
VALUE_NAMES = {
    ON: N_("on"),
    OFF: N_("off"),
    JoinRequestPolicy.APPROVE.value: N_("bot"),
    JoinRequestPolicy.MANUAL.value: N_("moderators"),
}


class SettingButton(CallbackData, prefix="v1set"):
    """Sets one setting to one value (not a toggle: a second press finds it set). Who
    pressed is checked to moderate the chat the message is in."""

    key: str
    value: str


def _state(_: Translator, flag: bool) -> str:
    return _("on") if flag else _("off")


def _heading(text: str) -> str:
    return f"<b>{text}</b>"


def _usage(_: Translator, usage: str) -> str:
    return escape(_(usage), quote=False)


def settings_text(_: Translator, view: SettingsView) -> str:
    """The whole view, a heading per group of settings, each with the commands that change
    what the buttons do not."""
    checkin, growth, rules, care = view.checkin, view.growth, view.lifecycle, view.care
    blocks = [
        _("⚙️ Settings of {group}", group=name(view.title))
        + "\n"
        + _("The buttons change the common settings; the commands change the rest."),
        "\n".join(
            (
                _heading(_("🌐 Language and time")),
                _("Language: {language}", language=LANGUAGE_NAMES.get(view.language, "")),
                _("Timezone: {timezone}", timezone=escape(view.timezone)),
                "/lang zh|en — /timezone Area/City",
            )
        ),
        "\n".join(
            (
                _heading(_("✅ Check-in")),
                _(
                    "Points: {base} a day, +{step} for each day of a streak (at most +{cap}), "
                    "+{weekly} on every {every}th day in a row; set by the bot.",
                    base=checkin.base_points,
                    step=checkin.streak_step,
                    cap=checkin.streak_bonus_cap,
                    weekly=checkin.weekly_bonus,
                    every=checkin.weekly_every,
                ),
                _(
                    "Daily check-in post: {state}",
                    state=escape(schedule_text(_, view.checkin_post))
                    if view.checkin_post
                    else _("off"),
                ),
                "/campaign enable checkin — /campaign disable checkin",
            )
        ),
        "\n".join(
            (
                _heading(_("🌱 Referrals")),
                _(
                    "A newcomer qualifies after {hours} hours in the group; a check-in is "
                    "needed: {checkin}.",
                    hours=growth.qualifying_hours,
                    checkin=_state(_, growth.requires_checkin),
                ),
                _(
                    "Inviter reward {reward} points, welcome bonus {bonus} points, at most "
                    "{cap} rewarded referrals per inviter a day.",
                    reward=growth.referral_reward,
                    bonus=growth.welcome_bonus,
                    cap=growth.daily_referral_cap,
                ),
                _(
                    "Join requests: {policy}.",
                    policy=_(JOIN_REQUEST_NAMES[growth.join_requests]),
                ),
                _usage(_, onboarding.GROWTH_USAGE),
            )
        ),
        "\n".join(
            (
                _heading(_("🎫 Ticket rewards")),
                _(
                    "Accepted bug {bug} points, accepted idea {idea} points; at most {limit} "
                    "tickets per member a day.",
                    bug=view.tickets.bug_reward,
                    idea=view.tickets.idea_reward,
                    limit=view.tickets.daily_limit,
                ),
                _usage(_, tickets.RULES_USAGE),
            )
        ),
        "\n".join(
            (
                _heading(_("🔄 Lifecycle")),
                _(
                    "New for {new} days; loyal when active each of the last {loyal} weeks; at "
                    "risk after {factor}× the usual gap (at least {mingap} days), or after "
                    "{inactive} days with fewer than {history} active days; churned after "
                    "{churn} days; won back for {wonback} days.",
                    new=rules.new_days,
                    loyal=rules.loyal_weeks,
                    factor=rules.rhythm_factor,
                    mingap=rules.min_gap_days,
                    inactive=rules.inactive_days,
                    history=rules.min_history_days,
                    churn=rules.churn_days,
                    wonback=rules.won_back_days,
                ),
                _(
                    "Key members: the top {percent}% by points in {days} days with at least "
                    "{referrals} qualified referrals.",
                    percent=rules.key_top_percent,
                    days=rules.key_days,
                    referrals=rules.key_min_referrals,
                ),
                _usage(_, lifecycle.LIFECYCLE_USAGE),
                _usage(_, lifecycle.KEY_RULE_USAGE),
            )
        ),
        "\n".join(
            (
                _heading(_("💌 Win-back")),
                _(
                    "Win-back message: {state}; gift {gift} points; text: {text}.",
                    state=_state(_, rules.winback),
                    gift=rules.winback_gift,
                    text=_("your own") if rules.winback_text else _("the default"),
                ),
                _usage(_, lifecycle.WINBACK_USAGE),
            )
        ),
        "\n".join(
            (
                _heading(_("🎂 Birthdays")),
                _(
                    "Congratulations in the group: {state}; gift {gift} points.",
                    state=_state(_, care.birthday_group),
                    gift=care.birthday_gift,
                ),
                *(
                    ()
                    if care.birthday_vip_gift is None
                    else (
                        _(
                            "VIP gift (reserved, not given yet): {points} points.",
                            points=care.birthday_vip_gift,
                        ),
                    )
                ),
                _usage(_, BIRTHDAYS_USAGE),
            )
        ),
        "\n".join(
            (
                _heading(_("📋 Surveys")),
                _(
                    "New surveys stay open {days} days and thank each member with {points} "
                    "points for a first answer; scheduled surveys: {count}.",
                    days=care.survey_days,
                    points=care.survey_thanks,
                    count=view.survey_schedules,
                ),
                _usage(_, SURVEY_USAGE),
            )
        ),
        "\n".join(
            (
                _heading(_("⚖️ Award quota")),
                _(
                    "{quota} points per moderator a month (awards and ticket rewards).",
                    quota=view.monthly_award_quota,
                ),
                _usage(_, QUOTA_USAGE),
            )
        ),
    ]
    return "\n\n".join(blocks)


def _button_text(_: Translator, key: str, value: str, current: bool) -> str:
    label = BUTTON_LABELS[key]
    if key == LANGUAGE:
        text = LANGUAGE_NAMES[value]
    elif value in VALUE_NAMES:
        text = _(VALUE_NAMES[value])
    else:
        text = value
    if label is not None:
        text = _("{label}: {value}", label=_(label), value=text)
    return f"✅ {text}" if current else text


def settings_markup(_: Translator, view: SettingsView) -> InlineKeyboardMarkup:
    """A row of preset values per setting the buttons change; the current one is marked."""
    rows = []
    for key in BUTTON_LABELS:
        current = view.current(key)
        rows.append(
            [
                InlineKeyboardButton(
                    text=_button_text(_, key, value, value == current),
                    callback_data=SettingButton(key=key, value=value).pack(),
                )
                for value in settings_view.CHOICES[key]
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def press_setting(
    callback: CallbackQuery,
    button: SettingButton,
    uow: UnitOfWork,
    community: Community,
    shown_in: Message,
    now: datetime,
    outbox: Outbox,
    moderators: ModeratorDirectory,
) -> None:
    """A moderator's press on a /settings message about `community` (their rights there
    checked by the caller), shown as `shown_in`: the setting is changed once, the message
    shows the new values, and the press is answered in the community's language."""
    presser = callback.from_user.id
    result = await settings_view.change(
        uow,
        community,
        button.key,
        button.value,
        actor_id=presser,
        now=now,
        by_owner=moderators.is_owner(presser),
    )
    _ = translator(result.community.language)
    if result.view is None:
        outbox.toast(callback, _("Already set."))
        return
    outbox.toast(callback, _("✅ Saved."))
    outbox.call(
        EditMessageText(
            chat_id=shown_in.chat.id,
            message_id=shown_in.message_id,
            text=settings_text(_, result.view),
            reply_markup=settings_markup(_, result.view),
        )
    )


def setup() -> Router:
    router = Router(name="settings")
    router.message.filter(InGroup())
    router.callback_query.filter(InGroup())

    @router.message(Command("settings"), IsModerator())
    async def show_settings(
        message: Message,
        uow: UnitOfWork,
        community: Community,
        outbox: Outbox,
    ) -> None:
        view = await settings_view.view(uow, community)
        _ = translator(view.language)
        outbox.reply(message, settings_text(_, view), settings_markup(_, view))

    @router.message(Command("settings"))
    async def refuse(_message: Message) -> None:
        raise ModeratorsOnly()

    @router.callback_query(SettingButton.filter(), IsModerator())
    async def press(
        callback: CallbackQuery,
        callback_data: SettingButton,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        moderators: ModeratorDirectory,
    ) -> None:
        shown_in = callback.message
        assert isinstance(shown_in, Message)  # IsModerator passes only presses on a message
        await press_setting(
            callback, callback_data, uow, community, shown_in, now, outbox, moderators
        )

    @router.callback_query(SettingButton.filter())
    async def press_refused(callback: CallbackQuery, outbox: Outbox, _: Translator) -> None:
        outbox.toast(callback, _("Only moderators can change the settings."), alert=True)

    return router


FEATURE = Feature(
    "settings",
    setup,
    commands=(
        FeatureCommand(
            "settings",
            N_("All the group's settings in one message: /settings"),
            moderators=True,
            answered_privately=True,
        ),
    ),
)
