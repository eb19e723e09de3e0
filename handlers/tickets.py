"""Feedback tickets: /feedback (/bug, /idea, /complaint) in the group or privately, /mytickets;
moderators' /tickets, /ticket <id> (with buttons) and /ticketrules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import Literal, NamedTuple

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import EditMessageText, SendPhoto
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)

from bot.domain.errors import N_, ModeratorsOnly, UsageError
from bot.domain.models import Community, UserInfo
from bot.domain.tickets import (
    FeedbackTicket,
    NoTicketCommunity,
    TicketKind,
    TicketStats,
    TicketStatus,
)
from bot.i18n import Translator, language_of_user, translator
from bot.parsing.tickets import TICKET_USAGE, parse_listing, parse_number
from bot.ports import UnitOfWork
from bot.services import tickets
from bot.services.tickets import Filed, Outcome, Recipient, TicketView
from handlers.buttons import ChatId, RowId
from handlers.filters.chat import GROUP_CHAT_TYPES, InGroup
from handlers.filters.moderator import IsModerator, ModeratorDirectory
from handlers.render import actor_of, colon, gap, in_brackets, listed, name
from runtime.outbox import Outbox

MODERATORS_ONLY = N_("Only moderators of this group can use this command.")
KIND_NAMES = {
    TicketKind.BUG: N_("bug"),
    TicketKind.IDEA: N_("idea"),
    TicketKind.COMPLAINT: N_("complaint"),
}
KIND_ICONS = {TicketKind.BUG: "🐞", TicketKind.IDEA: "💡", TicketKind.COMPLAINT: "😠"}
KIND_CHARS = {"b": TicketKind.BUG, "i": TicketKind.IDEA, "c": TicketKind.COMPLAINT}
CHAR_OF_KIND = {kind: char for char, kind in KIND_CHARS.items()}
SHORTCUTS = {"bug": TicketKind.BUG, "idea": TicketKind.IDEA, "complaint": TicketKind.COMPLAINT}
MOVE_WORDS = {
    "accept": TicketStatus.ACCEPTED,
    "done": TicketStatus.DONE,
    "reject": TicketStatus.REJECTED,
}
BUTTON_MOVES = {"a": TicketStatus.ACCEPTED, "d": TicketStatus.DONE}
SUMMARY = 80
EVENT_NAMES = {
    "filed": N_("filed"),
    "accepted": N_("accepted"),
    "done": N_("done"),
    "rejected": N_("rejected"),
    "reply": N_("answered"),
    "merged": N_("merged into"),
    "duplicate": N_("duplicate"),
    "announced": N_("announced"),
    "rewarded": N_("reward paid"),
}


class FeedbackButton(CallbackData, prefix="v1tf"):
    """The member who wrote /feedback picks the group (private chat) and the kind; kind ""
    asks for the kind next. The text is the message the prompt replies to; only its author's
    press counts."""

    community_id: ChatId
    kind: str


class TriageButton(CallbackData, prefix="v1tt"):
    """A moderator moves ticket #number: action "a" (accept), "d" (done), "r" (reject: the
    reason is asked for as a command)."""

    action: Literal["a", "d", "r"]
    number: RowId


def status_name(_: Translator, status: TicketStatus) -> str:
    return _(tickets.STATUS_MSGIDS[status])


def kind_name(_: Translator, kind: TicketKind) -> str:
    return f"{KIND_ICONS[kind]} {_(KIND_NAMES[kind])}"


def summary(text: str, length: int = SUMMARY) -> str:
    flat = " ".join(text.split())
    return escape(flat if len(flat) <= length else flat[: length - 1] + "…")


def ticket_line(_: Translator, ticket: FeedbackTicket) -> str:
    """A line of a moderator's list; a complaint's reporter and text are left out, since the
    group can read the list."""
    line = f"#{ticket.number} {kind_name(_, ticket.kind)} · {status_name(_, ticket.status)}"
    if ticket.status == TicketStatus.MERGED and ticket.merged_into is not None:
        line += gap(_) + _("into #{number}", number=ticket.merged_into)
    if ticket.kind == TicketKind.COMPLAINT:
        return line + " · " + _("details only privately: /ticket {number}", number=ticket.number)
    reporter = name(ticket.reporter_name or str(ticket.user_id))
    return line + f" · {reporter}{colon(_)}{summary(ticket.text)}"


def my_line(_: Translator, ticket: FeedbackTicket, group: str) -> str:
    line = (
        f"#{ticket.number} {kind_name(_, ticket.kind)} — {escape(group)} — "
        f"{status_name(_, ticket.status)}"
    )
    if ticket.status == TicketStatus.MERGED and ticket.merged_into is not None:
        line += gap(_) + _("into #{number}", number=ticket.merged_into)
    if ticket.note:
        line += in_brackets(_, summary(ticket.note, 120))
    return line + f"\n   {summary(ticket.text, 60)}"


def triage_keyboard(_: Translator, ticket: FeedbackTicket) -> InlineKeyboardMarkup | None:
    buttons = []
    if ticket.status == TicketStatus.NEW:
        buttons.append(
            InlineKeyboardButton(
                text=_("✅ Accept"),
                callback_data=TriageButton(action="a", number=ticket.number).pack(),
            )
        )
    if ticket.status in (TicketStatus.NEW, TicketStatus.ACCEPTED):
        buttons.append(
            InlineKeyboardButton(
                text=_("🏁 Done"),
                callback_data=TriageButton(action="d", number=ticket.number).pack(),
            )
        )
        buttons.append(
            InlineKeyboardButton(
                text=_("❌ Reject"),
                callback_data=TriageButton(action="r", number=ticket.number).pack(),
            )
        )
    return InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None


def kind_keyboard(_: Translator, community_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=kind_name(_, kind),
                    callback_data=FeedbackButton(community_id=community_id, kind=char).pack(),
                )
                for char, kind in KIND_CHARS.items()
            ]
        ]
    )


def community_keyboard(communities: list[Community], kind: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=community.title[:60] or str(community.id),
                    callback_data=FeedbackButton(community_id=community.id, kind=kind).pack(),
                )
            ]
            for community in communities[:20]
        ]
    )


def view_text(_: Translator, community: Community, shown: TicketView) -> str:
    ticket = shown.ticket
    lines = [
        _("Ticket #{number}", number=ticket.number)
        + f" · {kind_name(_, ticket.kind)} · {status_name(_, ticket.status)}",
        _(
            "From {name}, {time}",
            name=name(ticket.reporter_name or str(ticket.user_id)),
            time=when(community, ticket.created_at),
        ),
        escape(ticket.text),
    ]
    if ticket.photo_file_id:
        lines.append(_("📎 A photo is attached (below)."))
    if ticket.merged_into is not None:
        lines.append(_("Merged into #{number}.", number=ticket.merged_into))
    if shown.duplicates:
        lines.append(
            _(
                "Duplicates: {numbers}",
                numbers=listed(_, (f"#{d.number}" for d in shown.duplicates)),
            )
        )
    if shown.rewarded:
        lines.append(_("The reporter's reward was paid."))
    lines.append(_("History:"))
    for event in shown.events:
        action = _(EVENT_NAMES[event.action]) if event.action in EVENT_NAMES else event.action
        entry = f"• {when(community, event.created_at)} {escape(action)}"
        if event.detail and event.action != "filed":
            entry += colon(_) + summary(event.detail, 200)
        lines.append(entry)
    return "\n".join(lines)


def when(community: Community, at: datetime) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo(community.timezone)).strftime("%m-%d %H:%M")


def filed_privately(_: Translator, community: Community, filed: Filed) -> str:
    ticket = filed.ticket
    return _(
        "🎫 Ticket #{number} ({kind}) is filed in {group}:\n{text}\n"
        "I will tell you here what happens to it. See /mytickets.",
        number=ticket.number,
        kind=kind_name(_, ticket.kind),
        group=name(community.title),
        text=summary(ticket.text, 300),
    )


def filed_in_group(_: Translator, filed: Filed) -> str:
    if filed.reachable:
        return _(
            "🎫 Thanks! Ticket #{number} is filed; details are in our private chat.",
            number=filed.ticket.number,
        )
    return _(
        "🎫 Thanks! Ticket #{number} is filed. Start a private chat with me to hear what "
        "happens to it.",
        number=filed.ticket.number,
    )


def reference(_: Translator, recipient: Recipient, main: FeedbackTicket) -> str:
    own = recipient.ticket.number
    if own == main.number:
        return f"#{own}"
    return _("#{own} (merged into #{main})", own=own, main=main.number)


def notice_text(_: Translator, community: Community, outcome: Outcome, recipient: Recipient) -> str:
    ticket = outcome.ticket
    ref = reference(_, recipient, ticket)
    group = name(community.title)
    if ticket.status == TicketStatus.MERGED:
        return _(
            "🔗 Your ticket #{number} in {group} reports the same as #{main}; "
            "you will hear its outcome here.",
            number=recipient.ticket.number,
            group=group,
            main=ticket.merged_into,
        )
    if ticket.status == TicketStatus.ACCEPTED:
        text = _("✅ Your ticket {ref} in {group} was accepted. Thank you!", ref=ref, group=group)
    elif ticket.status == TicketStatus.DONE:
        text = _("🎉 Your ticket {ref} in {group} is done. Thank you!", ref=ref, group=group)
    else:
        text = _("Your ticket {ref} in {group} was not accepted.", ref=ref, group=group)
        if ticket.note:
            text += "\n" + _("Reason: {reason}", reason=escape(ticket.note))
    reward = outcome.reward
    if reward is not None and recipient.ticket.id == ticket.id:
        text += "\n" + _("+{points} points for it.", points=reward.amount)
    return text


def tell_reporters(outbox: Outbox, community: Community, outcome: Outcome) -> None:
    """Each reporter hears privately, through the paced queue, once per status; only if they
    started a chat with the bot (the queue also leaves out those who blocked it)."""
    for recipient in outcome.recipients:
        if not recipient.reachable:
            continue
        _ = translator(language_of_user(recipient.user.language_code, community.language))
        outbox.announce(
            recipient.user.id,
            notice_text(_, community, outcome, recipient),
            f"ticket:{recipient.ticket.id}:{outcome.ticket.status}",
            kind="ticket",
        )


def announcement_text(_: Translator, ticket: FeedbackTicket) -> str:
    reporter = name(ticket.reporter_name or _("a member"))
    kind = _(KIND_NAMES[ticket.kind])
    if ticket.status == TicketStatus.REJECTED:
        text = _(
            "🙏 Thanks to {name} for {kind} #{number}: “{text}”. We decided not to do it.",
            name=reporter,
            kind=kind,
            number=ticket.number,
            text=summary(ticket.text, 200),
        )
        if ticket.note:
            text += "\n" + _("Reason: {reason}", reason=escape(ticket.note))
        return text
    done = ticket.status == TicketStatus.DONE
    return _(
        "🙏 Thanks to {name} for {kind} #{number}: “{text}”. {outcome}",
        name=reporter,
        kind=kind,
        number=ticket.number,
        text=summary(ticket.text, 200),
        outcome=_("It is done!") if done else _("It is accepted and on our list."),
    )


def ticket_stats_lines(_: Translator, stats: TicketStats) -> list[str]:
    """The tickets' part of /stats: counts by kind and status, the median time to the first
    moderator answer, the accepted rate."""
    lines = [_("🎫 Tickets: {total}", total=stats.total)]
    for kind in TicketKind:
        counts = [
            f"{stats.by_kind_status[(kind, status)]} {status_name(_, status)}"
            for status in TicketStatus
            if stats.by_kind_status.get((kind, status))
        ]
        if counts:
            lines.append(f"{kind_name(_, kind)}{colon(_)}{listed(_, counts)}")
    if stats.median_first_answer is None:
        lines.append(_("Median time to a first answer: no answers yet"))
    else:
        lines.append(
            _(
                "Median time to a first answer: {duration}",
                duration=duration(_, stats.median_first_answer),
            )
        )
    if stats.accepted_rate is None:
        lines.append(_("Accepted: no decisions yet"))
    else:
        lines.append(_("Accepted: {percent}%", percent=round(stats.accepted_rate * 100)))
    return lines


def duration(_: Translator, span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 60:
        return _("{minutes} min", minutes=minutes)
    return _("{hours} h {minutes} min", hours=minutes // 60, minutes=minutes % 60)


class Content(NamedTuple):
    text: str
    photo: str | None
    photo_user_id: int | None


def content_of(message: Message) -> Content:
    """A /feedback message's text (after the command) and photo: its own, or that of the
    message it replies to, with who posted that photo (none known for a channel's or an
    anonymous administrator's)."""
    raw = message.text or message.caption or ""
    words = raw.split(maxsplit=1)
    text = (
        words[1]
        if len(words) > 1 and words[0].startswith("/")
        else raw
        if not raw.startswith("/")
        else ""
    )
    source = message if message.photo else message.reply_to_message
    if source is None or not source.photo:
        return Content(text, None, None)
    author = source.from_user if source.sender_chat is None else None
    return Content(text, source.photo[-1].file_id, author.id if author is not None else None)


def request_key(message: Message) -> str:
    return f"ticket:{message.chat.id}:{message.message_id}"


async def file_and_answer(
    message: Message,
    uow: UnitOfWork,
    community: Community,
    user: UserInfo,
    kind: TicketKind,
    now: datetime,
    outbox: Outbox,
    _: Translator,
) -> None:
    text, photo, photo_user_id = content_of(message)
    filed = await tickets.file_ticket(
        uow,
        community,
        user,
        kind,
        text,
        photo,
        request_key(message),
        now,
        photo_user_id=photo_user_id,
    )
    if message.chat.type in GROUP_CHAT_TYPES:
        if filed.reachable and not filed.repeated:
            private = translator(language_of_user(user.language_code, community.language))
            outbox.send(user.id, filed_privately(private, community, filed))
        outbox.reply(message, filed_in_group(_, filed))
    else:
        outbox.reply(message, filed_privately(_, community, filed))


async def feedback(
    message: Message,
    command: CommandObject,
    uow: UnitOfWork,
    community: Community | None,
    user: UserInfo | None,
    now: datetime,
    outbox: Outbox,
    _: Translator,
) -> None:
    """/feedback (/bug, /idea, /complaint) <text>: asks for the group (privately, when the
    member is in several) and the kind when they are not given, then files."""
    if user is None or message.sender_chat is not None:
        return
    kind = SHORTCUTS.get(command.command.lower())
    text = content_of(message).text
    tickets.check_text(text)  # refused before any question is asked
    if community is None:  # a private chat: which group is it about?
        communities = list(await uow.members.communities_of(user.id))
        if not communities:
            raise NoTicketCommunity()
        if len(communities) > 1:
            outbox.reply(
                message,
                _("Which group is this about?"),
                community_keyboard(communities, CHAR_OF_KIND[kind] if kind else ""),
            )
            return
        community = communities[0]
    if kind is None:
        outbox.reply(
            message,
            _("What is it: a bug, an idea or a complaint?"),
            kind_keyboard(_, community.id),
        )
        return
    await file_and_answer(message, uow, community, user, kind, now, outbox, _)


async def feedback_choice(
    callback: CallbackQuery,
    callback_data: FeedbackButton,
    uow: UnitOfWork,
    community: Community | None,
    user: UserInfo,
    now: datetime,
    outbox: Outbox,
    _: Translator,
) -> None:
    """Only the author of the /feedback message may choose; in a private chat the chosen
    group is checked again to be one of theirs."""
    prompt = callback.message
    original = prompt.reply_to_message if isinstance(prompt, Message) else None
    if (
        not isinstance(prompt, Message)
        or original is None
        or original.from_user is None
        or original.from_user.id != callback.from_user.id
    ):
        outbox.toast(callback, _("Only the member who wrote this can choose."), alert=True)
        return
    if community is None:
        mine = {c.id: c for c in await uow.members.communities_of(user.id)}
        target = mine.get(callback_data.community_id)
        if target is None:
            raise NoTicketCommunity()
    elif community.id == callback_data.community_id:
        target = community
    else:
        outbox.toast(callback, _("This button is not for this group."), alert=True)
        return
    if callback_data.kind not in KIND_CHARS:
        outbox.toast(callback, _("Now choose the kind."))
        outbox.call(
            EditMessageText(
                chat_id=prompt.chat.id,
                message_id=prompt.message_id,
                text=_("What is it: a bug, an idea or a complaint?"),
                reply_markup=kind_keyboard(_, target.id),
            )
        )
        return
    await file_chosen(callback, prompt, original, uow, target, user, callback_data, now, outbox, _)


async def file_chosen(
    callback: CallbackQuery,
    prompt: Message,
    original: Message,
    uow: UnitOfWork,
    target: Community,
    user: UserInfo,
    callback_data: FeedbackButton,
    now: datetime,
    outbox: Outbox,
    _: Translator,
) -> None:
    """Files the /feedback message once its group and kind are chosen, and answers in place
    of the prompt."""
    kind = KIND_CHARS[callback_data.kind]
    text, photo, photo_user_id = content_of(original)
    filed = await tickets.file_ticket(
        uow,
        target,
        user,
        kind,
        text,
        photo,
        request_key(original),
        now,
        photo_user_id=photo_user_id,
    )
    if prompt.chat.type in GROUP_CHAT_TYPES:
        answer = filed_in_group(_, filed)
        if filed.reachable and not filed.repeated:
            private = translator(language_of_user(user.language_code, target.language))
            outbox.send(user.id, filed_privately(private, target, filed))
    else:
        answer = filed_privately(_, target, filed)
    outbox.toast(callback, _("Ticket #{number} is filed.", number=filed.ticket.number))
    if filed.repeated:  # the prompt was answered by the first press
        return
    outbox.call(EditMessageText(chat_id=prompt.chat.id, message_id=prompt.message_id, text=answer))


async def my_tickets(
    message: Message,
    uow: UnitOfWork,
    community: Community | None,
    user: UserInfo | None,
    outbox: Outbox,
    _: Translator,
) -> None:
    if user is None or message.sender_chat is not None:
        return
    mine = await tickets.of_reporter(uow, user, community)
    in_group = community is not None
    shown = [(t, title) for t, title in mine if not (in_group and t.kind == TicketKind.COMPLAINT)]
    lines = (
        [_("Your tickets:")]
        if shown
        else [escape(_("You have no tickets yet. File one with /feedback <text>."))]
    )
    lines.extend(my_line(_, t, title) for t, title in shown)
    if len(shown) < len(mine):
        lines.append(_("Complaints are listed only in a private chat with me."))
    outbox.reply(message, "\n".join(lines))


async def ticket_list(
    message: Message,
    command: CommandObject,
    uow: UnitOfWork,
    community: Community,
    outbox: Outbox,
    _: Translator,
) -> None:
    everything, kind = parse_listing(command.args or "")
    listed = await tickets.listing(uow, community, everything, kind)
    if not listed:
        outbox.reply(message, _("No open tickets.") if not everything else _("No tickets yet."))
        return
    title = _("🎫 Open tickets:") if not everything else _("🎫 Tickets:")
    lines = [title, *(ticket_line(_, t) for t in listed)]
    lines.append(escape(_("See one with /ticket <id>.")))
    outbox.reply(message, "\n".join(lines))


@dataclass(frozen=True)
class Triaging:
    """A moderator's `/ticket <id> <word> [rest]`, as each word's function receives it."""

    message: Message
    uow: UnitOfWork
    community: Community
    number: int
    rest: str
    actor: int | None
    owner: bool  # the group's owner: exempt from the reward quota
    now: datetime
    outbox: Outbox
    translate: Translator


async def move_ticket(asked: Triaging, word: str) -> None:
    """accept | done | reject <reason>."""
    if asked.rest and word != "reject":
        raise UsageError(usage=TICKET_USAGE)
    outcome = await tickets.move(
        asked.uow,
        asked.community,
        asked.number,
        MOVE_WORDS[word],
        asked.actor,
        asked.now,
        asked.rest or None,
        quota_exempt=asked.owner,
    )
    tell_reporters(asked.outbox, asked.community, outcome)
    asked.outbox.reply(asked.message, moved_text(asked.translate, outcome))


async def reply_to_reporter(asked: Triaging, _word: str) -> None:
    """reply <text>: noted in the history and sent to the reporter privately."""
    _, community, number = asked.translate, asked.community, asked.number
    recipient = await tickets.reply(
        asked.uow, community, number, asked.rest, asked.actor, asked.now
    )
    if recipient is None or not recipient.reachable:
        asked.outbox.reply(
            asked.message,
            _("Noted in the history, but the reporter cannot be reached privately."),
        )
        return
    private = translator(language_of_user(recipient.user.language_code, community.language))
    asked.outbox.announce(
        recipient.user.id,
        private(
            "💬 About your ticket #{number} in {group}:\n{text}",
            number=number,
            group=name(community.title),
            text=escape(asked.rest),
        ),
        f"ticket_reply:{community.id}:{asked.message.message_id}",
        kind="ticket",
    )
    asked.outbox.reply(
        asked.message,
        _("📬 The reporter of #{number} will get your answer privately.", number=number),
    )


async def merge_ticket(asked: Triaging, _word: str) -> None:
    """merge <into id>."""
    _, number = asked.translate, asked.number
    if not asked.rest or len(asked.rest.split()) != 1:
        raise UsageError(usage=TICKET_USAGE)
    into = parse_number(asked.rest)
    outcome = await tickets.merge(asked.uow, asked.community, number, into, asked.actor, asked.now)
    tell_reporters(asked.outbox, asked.community, outcome)
    asked.outbox.reply(
        asked.message, _("Ticket #{number} is merged into #{into}.", number=number, into=into)
    )


async def announce_outcome(asked: Triaging, _word: str) -> None:
    """announce: the outcome of a decided bug or idea, posted in the group."""
    _ = asked.translate
    if asked.rest:
        raise UsageError(usage=TICKET_USAGE)
    announced = await tickets.announceable(
        asked.uow, asked.community, asked.number, asked.actor, asked.now
    )
    asked.outbox.announce(
        asked.community.id,
        announcement_text(_, announced),
        f"ticket_announce:{announced.id}:{announced.status}",
        kind="ticket",
    )
    asked.outbox.reply(
        asked.message, _("📣 The outcome of #{number} is posted.", number=asked.number)
    )


async def reward_reporter(asked: Triaging, _word: str) -> None:
    """reward: pays the reporter of a duplicate, once."""
    _, number = asked.translate, asked.number
    if asked.rest:
        raise UsageError(usage=TICKET_USAGE)
    paid = await tickets.reward_duplicate(
        asked.uow, asked.community, number, asked.actor, asked.now, quota_exempt=asked.owner
    )
    if paid is None:
        asked.outbox.reply(
            asked.message,
            _("The reporter of #{number} was paid before; nothing changed.", number=number),
        )
        return
    asked.outbox.reply(
        asked.message,
        _("The reporter of #{number} got {points} points.", number=number, points=paid.amount),
    )


TRIAGE_WORDS: dict[str, Callable[[Triaging, str], Awaitable[None]]] = {
    **dict.fromkeys(MOVE_WORDS, move_ticket),
    "reply": reply_to_reporter,
    "merge": merge_ticket,
    "announce": announce_outcome,
    "reward": reward_reporter,
}


async def ticket_command(
    message: Message,
    command: CommandObject,
    uow: UnitOfWork,
    community: Community,
    now: datetime,
    outbox: Outbox,
    moderators: ModeratorDirectory,
    _: Translator,
) -> None:
    """/ticket <id> shows a ticket; /ticket <id> <word> … runs that word's function
    (TRIAGE_WORDS)."""
    words = (command.args or "").split(maxsplit=2)
    if not words:
        raise UsageError(usage=TICKET_USAGE)
    number = parse_number(words[0])
    word = words[1].lower() if len(words) > 1 else ""
    rest = words[2].strip() if len(words) > 2 else ""
    if not word:
        await show_ticket(message, uow, community, number, outbox, _)
        return
    run = TRIAGE_WORDS.get(word)
    if run is None:
        raise UsageError(usage=TICKET_USAGE)
    actor = actor_of(message)
    owner = actor is not None and moderators.is_owner(actor)
    asked = Triaging(message, uow, community, number, rest, actor, owner, now, outbox, _)
    await run(asked, word)


async def ticket_rules(
    message: Message,
    command: CommandObject,
    uow: UnitOfWork,
    community: Community,
    now: datetime,
    outbox: Outbox,
    moderators: ModeratorDirectory,
    _: Translator,
) -> None:
    words = (command.args or "").lower().split()
    if words:
        if len(words) != 2:
            raise UsageError(usage=tickets.RULES_USAGE)
        actor = actor_of(message)
        community = await tickets.set_rule(
            uow,
            community,
            words[0],
            words[1],
            actor,
            now,
            by_owner=actor is not None and moderators.is_owner(actor),
        )
    rules = community.tickets
    outbox.reply(
        message,
        _(
            "🎫 Ticket rules: an accepted bug pays {bug} points, an accepted idea {idea}; "
            "a member may file at most {limit} tickets a day.",
            bug=rules.bug_reward,
            idea=rules.idea_reward,
            limit=rules.daily_limit,
        ),
    )


async def refused(message: Message, outbox: Outbox, _: Translator) -> None:
    raise ModeratorsOnly()


async def triage(
    callback: CallbackQuery,
    callback_data: TriageButton,
    uow: UnitOfWork,
    community: Community,
    now: datetime,
    outbox: Outbox,
    moderators: ModeratorDirectory,
    _: Translator,
) -> None:
    number = callback_data.number
    status = BUTTON_MOVES.get(callback_data.action)
    if status is None:
        outbox.toast(
            callback,
            _("Reject with a reason: /ticket {number} reject <reason>", number=number),
            alert=True,
        )
        return
    actor = callback.from_user.id
    outcome = await tickets.move(
        uow, community, number, status, actor, now, quota_exempt=moderators.is_owner(actor)
    )
    tell_reporters(outbox, community, outcome)
    outbox.toast(callback, moved_text(_, outcome))


async def triage_refused(callback: CallbackQuery, outbox: Outbox, _: Translator) -> None:
    outbox.toast(callback, _(MODERATORS_ONLY))


def setup() -> Router:
    router = Router(name="tickets")
    router.message.register(feedback, Command("feedback", "bug", "idea", "complaint"))
    router.callback_query.register(feedback_choice, FeedbackButton.filter())
    router.message.register(my_tickets, Command("mytickets"))
    group = Router(name="tickets-group")
    group.message.filter(InGroup())
    group.callback_query.filter(InGroup())
    group.message.register(ticket_list, Command("tickets"), IsModerator())
    group.message.register(ticket_command, Command("ticket"), IsModerator())
    group.message.register(ticket_rules, Command("ticketrules"), IsModerator())
    group.message.register(refused, Command("tickets", "ticket", "ticketrules"))
    group.callback_query.register(triage, TriageButton.filter(), IsModerator())
    group.callback_query.register(triage_refused, TriageButton.filter())
    router.include_router(group)
    return router


def moved_text(_: Translator, outcome: Outcome) -> str:
    text = _(
        "Ticket #{number} is {status}.",
        number=outcome.ticket.number,
        status=status_name(_, outcome.ticket.status),
    )
    if outcome.reward is not None:
        text += gap(_) + _("The reporter got {points} points.", points=outcome.reward.amount)
    return text


async def show_ticket(
    message: Message,
    uow: UnitOfWork,
    community: Community,
    number: int,
    outbox: Outbox,
    _: Translator,
) -> None:
    """A ticket with its history and triage buttons; a complaint's details go to the
    moderator privately, since the group reads the reply."""
    shown = await tickets.view(uow, community, number)
    ticket = shown.ticket
    keyboard = triage_keyboard(_, ticket)
    if ticket.kind != TicketKind.COMPLAINT:
        outbox.reply(message, view_text(_, community, shown), keyboard)
        if ticket.photo_file_id:
            outbox.call(
                SendPhoto(
                    chat_id=message.chat.id,
                    message_thread_id=message.message_thread_id
                    if message.is_topic_message
                    else None,
                    photo=ticket.photo_file_id,
                    caption=_("Ticket #{number}", number=number),
                    reply_parameters=ReplyParameters(
                        message_id=message.message_id, allow_sending_without_reply=True
                    ),
                )
            )
        return
    moderator = actor_of(message)
    header = (
        _("Ticket #{number}", number=number)
        + f" · {kind_name(_, ticket.kind)} · {status_name(_, ticket.status)}"
    )
    if moderator is None or not await uow.users.can_message(moderator):
        outbox.reply(
            message,
            header
            + "\n"
            + _("A complaint's details are shown only privately: start a chat with me first."),
            keyboard,
        )
        return
    outbox.send(moderator, view_text(_, community, shown))
    if ticket.photo_file_id:
        outbox.call(
            SendPhoto(
                chat_id=moderator,
                photo=ticket.photo_file_id,
                caption=_("Ticket #{number}", number=number),
            )
        )
    outbox.reply(message, header + "\n" + _("📬 The details are in our private chat."), keyboard)


from bot.domain.errors import N_  # noqa: E402
from runtime.features import Feature, FeatureCommand  # noqa: E402 - the declaration's own imports, kept with it

FEATURE = Feature(
    "tickets",
    setup,
    commands=(
        FeatureCommand(
            "feedback",
            N_("Report a bug, an idea or a complaint: /feedback <text>, here or privately"),
            private=True,
        ),
        FeatureCommand(
            "bug",
            N_("Report a bug: /bug <text> (a photo with it as caption is attached)"),
            private=True,
        ),
        FeatureCommand("idea", N_("Suggest an idea: /idea <text>"), private=True),
        FeatureCommand(
            "complaint", N_("A complaint only moderators see: /complaint <text>"), private=True
        ),
        FeatureCommand("mytickets", N_("Your tickets and their status"), private=True),
        FeatureCommand(
            "tickets",
            N_("Feedback tickets: /tickets [open|all] [bug|idea|complaint]"),
            moderators=True,
        ),
        FeatureCommand(
            "ticket",
            N_(
                "One ticket: /ticket <id> [accept|done|reject <reason>|reply <text>|"
                "merge <into id>|announce|reward]"
            ),
            moderators=True,
        ),
        FeatureCommand(
            "ticketrules",
            N_("Ticket rewards and limit: /ticketrules bug|idea <points>|limit <n>"),
            moderators=True,
            answered_privately=True,
        ),
    ),
    data_sections=("tickets", "ticket_photos", "ticket_events"),
)
