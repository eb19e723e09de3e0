"""/lottery: lotteries with a join button and a provably fair draw."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.errors import N_, ModeratorsOnly, PrivateChatNeeded, UsageError
from bot.domain.lotteries import Lottery, LotteryStatus, LotteryWinner
from bot.domain.models import Community, UserInfo
from bot.i18n import Translator, translator
from bot.parsing.lotteries import NEW_USAGE, USAGE, parse_id, parse_new, parse_repeat
from bot.ports import UnitOfWork
from bot.services import lotteries, moderation
from bot.services.lotteries import DrawResult, LotteryView
from handlers.buttons import RowId
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator
from handlers.moderation import split_target_and_rest
from handlers.render import actor_of, badge_name, name, schedule_text, tier_name
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox, failure_notice

MEMBER_ACTIONS = frozenset({"list", "show", "entries"})
ENTRIES_PER_MESSAGE = 3500  # characters of the entry list in one private message


class LotteryButton(CallbackData, prefix="v1lt"):
    """Join a lottery; who joins is the user who pressed, checked against the chat's lottery."""

    lottery_id: RowId


class MemberAction(Filter):
    async def __call__(self, message: Message) -> bool:
        words = (message.text or "").split(maxsplit=2)
        return len(words) > 1 and words[1].lower() in MEMBER_ACTIONS


def local_time(community: Community, moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(community.timezone)).strftime("%Y-%m-%d %H:%M")


class RepliesToBot(Filter):
    """A text (not a command) replying to one of the bot's messages: maybe a dialog answer."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        reply = message.reply_to_message
        return (
            reply is not None
            and reply.from_user is not None
            and reply.from_user.id == bot.id
            and message.text is not None
            and not message.text.startswith("/")
        )


def join_keyboard(_: Translator, lottery: Lottery) -> InlineKeyboardMarkup:
    label = _("🎟 Join ({cost} points)", cost=lottery.cost) if lottery.cost else _("🎟 Join (free)")
    data = LotteryButton(lottery_id=lottery.id).pack()
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=data)]]
    )


def rules_lines(_: Translator, lottery: Lottery) -> list[str]:
    rules = lottery.eligibility
    cost = _("{cost} points", cost=lottery.cost) if lottery.cost else _("free")
    lines = [
        _(
            "Entry: {cost}, up to {maximum} per member.",
            cost=cost,
            maximum=lottery.max_entries,
        )
    ]
    if rules.min_tier:
        lines.append(_("Tier {tier} or higher.", tier=tier_name(_, rules.min_tier)))
    if rules.badge is not None:
        lines.append(_("Only for the {badge} badge.", badge=badge_name(_, rules.badge)))
    if rules.min_days:
        lines.append(_("At least {days} days in the group.", days=rules.min_days))
    if not rules.late_joiners:
        lines.append(_("Only for members who were here when it was announced."))
    return lines


def announcement(_: Translator, community: Community, lottery: Lottery) -> str:
    lines = [
        _("🎁 Lottery #{id}: {title}", id=lottery.id, title=name(lottery.title)),
        _("Prize: {prize}", prize=escape(lottery.prize)),
        _(
            "{winners} winner(s), drawn at {when} ({timezone}).",
            winners=lottery.winners,
            when=local_time(community, lottery.draw_at),
            timezone=community.timezone,
        ),
        *rules_lines(_, lottery),
        _(
            "Fair draw: the SHA-256 of the secret seed is <code>{commitment}</code>; the seed "
            "is revealed with the result.",
            commitment=lottery.commitment,
        ),
    ]
    return "\n".join(lines)


def status_name(_: Translator, status: LotteryStatus) -> str:
    if status == LotteryStatus.OPEN:
        return _("open")
    if status == LotteryStatus.DRAWN:
        return _("drawn")
    return _("cancelled")


def describe(_: Translator, community: Community, shown: LotteryView) -> str:
    lottery = shown.lottery
    line = _(
        "#{id} {title} — {status} — draw {when} — {entrants} entrants, {entries} entries",
        id=lottery.id,
        title=name(lottery.title),
        status=status_name(_, lottery.status),
        when=local_time(community, lottery.draw_at),
        entrants=shown.entrants,
        entries=shown.entries,
    )
    if shown.mine:
        line += " — " + _("your entries: {count}", count=shown.mine)
    return line


def details(_: Translator, community: Community, shown: LotteryView) -> str:
    lottery = shown.lottery
    lines = [describe(_, community, shown), _("Prize: {prize}", prize=escape(lottery.prize))]
    lines.extend(rules_lines(_, lottery))
    lines.append(_("Commitment: <code>{commitment}</code>", commitment=lottery.commitment))
    if lottery.repeat_schedule and lottery.repeat_next_at:
        lines.append(
            _(
                "Repeats: {schedule}; next copy announced {when}.",
                schedule=schedule_text(_, lottery.repeat_schedule),
                when=local_time(community, lottery.repeat_next_at),
            )
        )
    if lottery.status == LotteryStatus.DRAWN:
        lines.extend(_proof_lines(_, lottery))
        lines.append(winner_list(_, [w for w in shown.winners if not w.replaced]))
    return "\n".join(lines)


def winner_list(_: Translator, winners: list[LotteryWinner]) -> str:
    if not winners:
        return _("No winners: nobody could be drawn.")
    names = "\n".join(
        f"{index}. {name(winner.display_name)}" for index, winner in enumerate(winners, start=1)
    )
    return _("Winners:") + "\n" + names


def _proof_lines(_: Translator, lottery: Lottery) -> list[str]:
    return [
        _(
            "Entries drawn from: {count}; SHA-256 of the entry list: <code>{digest}</code>",
            count=lottery.entries_count or 0,
            digest=lottery.entries_hash or "",
        ),
        _("Seed: <code>{seed}</code>", seed=lottery.seed),
        _(
            "Check it: <code>seedbot verify-draw --seed {seed} --winners {winners} "
            "--entries-file entries.txt</code> (one <code>user_id:entry</code> per line).",
            seed=lottery.seed,
            winners=lottery.winners,
        ),
    ]


def entry_list_messages(_: Translator, lottery: Lottery) -> list[str]:
    """The published entry list, split into private messages; joined with newlines, the
    parts between <pre> tags are exactly the text that was hashed."""
    chunks: list[list[str]] = [[]]
    size = 0
    for line in (lottery.drawn_entries or "").splitlines():
        if size + len(line) + 1 > ENTRIES_PER_MESSAGE:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += len(line) + 1
    head = _(
        "Entry list of lottery #{id}: {count} entries, SHA-256 <code>{digest}</code>",
        id=lottery.id,
        count=lottery.entries_count or 0,
        digest=lottery.entries_hash or "",
    )
    return [head] + [f"<pre>{chr(10).join(chunk)}</pre>" for chunk in chunks if chunk]


def queue_announcement(
    outbox: Outbox,
    community: Community,
    lottery: Lottery,
    *,
    by_hand: bool = False,
    moderator_id: int | None = None,
) -> None:
    """A lottery's announcement with its join button, through the outgoing queue, once; one
    created `by_hand` tells its moderator (None: an anonymous admin, told in the group) if
    it cannot be posted."""
    _ = translator(community.language)
    outbox.announce(
        community.id,
        announcement(_, community, lottery),
        f"lottery:{lottery.id}:announce",
        kind="lottery",
        markup=join_keyboard(_, lottery),
        tell_on_failure=None
        if not by_hand
        else failure_notice(
            _, _("Lottery #{id}", id=lottery.id), community.id, name(community.title), moderator_id
        ),
    )


def queue_draw_result(outbox: Outbox, result: DrawResult) -> None:
    """The result post in the group and a private note to each winner who can get one, all
    through the outgoing queue, each once (keyed by lottery and pick). A reroll edits the
    result post: the current winners, and who replaced whom."""
    community, lottery = result.community, result.lottery
    _ = translator(community.language)
    lines = [
        _("🎉 Lottery #{id} {title} is drawn!", id=lottery.id, title=name(lottery.title)),
        _("Prize: {prize}", prize=escape(lottery.prize)),
        winner_list(_, result.winners),
    ]
    result_key = f"lottery:{lottery.id}:result"
    if result.replaced is not None and result.replacement is not None:
        lines.append(
            _(
                "🔁 Lottery #{id} {title}: {old} is replaced by {new}, "
                "the next pick of the same draw.",
                id=lottery.id,
                title=name(lottery.title),
                old=name(result.replaced.display_name),
                new=name(result.replacement.display_name),
            )
        )
        lines.extend(_proof_lines(_, lottery))
        key = f"lottery:{lottery.id}:reroll:{result.replacement.pick}"
        outbox.announce_edit(community.id, "\n".join(lines), key, edit_of=result_key)
        told = [result.replacement]
    else:
        lines.extend(_proof_lines(_, lottery))
        outbox.announce(community.id, "\n".join(lines), result_key, kind="lottery")
        told = result.winners
    for winner in told:
        if winner.user_id in result.reachable:
            outbox.announce(
                winner.user_id,
                _(
                    "🎉 You won lottery #{id} {title} in {group}! Prize: {prize}",
                    id=lottery.id,
                    title=name(lottery.title),
                    group=name(community.title),
                    prize=escape(lottery.prize),
                ),
                f"lottery:{lottery.id}:winner:{winner.pick}",
                kind="lottery",
            )


@dataclass(frozen=True)
class Managing:
    """A moderator's `/lottery <action> …`, as each action's function receives it."""

    message: Message
    uow: UnitOfWork
    community: Community
    actor: int | None
    now: datetime
    outbox: Outbox
    translate: Translator


async def lottery_look(
    message: Message,
    command: CommandObject,
    uow: UnitOfWork,
    community: Community,
    user: UserInfo | None,
    outbox: Outbox,
    _: Translator,
) -> None:
    """A member's `/lottery list | show <id> | entries <id>`."""
    words = (command.args or "").split()
    user_id = user.id if user is not None and message.sender_chat is None else None
    if words[0].lower() == "list" and len(words) == 1:
        shown = await lotteries.listing(uow, community, user_id)
        lines = [_("🎁 Lotteries:")]
        lines.extend(describe(_, community, item) for item in shown)
        if not shown:
            lines.append(_("None yet."))
        outbox.reply(message, "\n".join(lines))
    elif words[0].lower() == "show" and len(words) == 2:
        item = await lotteries.view(uow, community, parse_id(words[1]), user_id)
        outbox.reply(message, details(_, community, item))
    elif words[0].lower() == "entries" and len(words) == 2:
        lottery = await lotteries.drawn(uow, community, parse_id(words[1]))
        if user_id is None or not await uow.users.can_message(user_id):
            raise PrivateChatNeeded()
        for text in entry_list_messages(_, lottery):
            outbox.send(user_id, text)
        outbox.reply(message, _("📬 I sent you the entry list privately."))
    else:
        raise UsageError(usage=USAGE)


async def new_lottery(asked: Managing, rest: str) -> None:
    """`/lottery new` alone starts the guided dialog; with its one line, creates it."""
    _, community = asked.translate, asked.community
    if not rest.strip():
        if asked.actor is None:
            raise UsageError(usage=NEW_USAGE)
        question = await lotteries.start_dialog(asked.uow, community, asked.actor, asked.now)
        asked.outbox.reply(asked.message, _(question))
        return
    draft = parse_new(rest, asked.now, community.timezone)
    created = await lotteries.create(asked.uow, community, draft, asked.actor, asked.now)
    queue_announcement(asked.outbox, community, created, by_hand=True, moderator_id=asked.actor)


async def draw_lottery(asked: Managing, rest: str) -> None:
    _ = asked.translate
    lottery_id = parse_id(_single_word(rest))
    result = await lotteries.draw_now(
        asked.uow, asked.community, lottery_id, asked.actor, asked.now
    )
    # The result goes through the paced queue; the moderator hears at once that it is coming.
    asked.outbox.reply(asked.message, _("🎲 Drawing now…"))
    queue_draw_result(asked.outbox, result)


async def cancel_lottery(asked: Managing, rest: str) -> None:
    _ = asked.translate
    lottery_id = parse_id(_single_word(rest))
    cancelled = await lotteries.cancel(
        asked.uow, asked.community, lottery_id, asked.actor, asked.now
    )
    asked.outbox.reply(
        asked.message,
        _(
            "Lottery #{id} is cancelled; {entries} paid entries refunded ({points} points).",
            id=cancelled.lottery.id,
            entries=cancelled.refunded_entries,
            points=cancelled.refunded_points,
        ),
    )


async def repeat_lottery(asked: Managing, rest: str) -> None:
    _, community = asked.translate, asked.community
    words = rest.split()
    if not words:
        raise UsageError(usage=USAGE)
    lottery_id = parse_id(words[0])
    schedule = parse_repeat(" ".join(words[1:]))
    repeated = await lotteries.set_repeat(
        asked.uow, community, lottery_id, schedule, asked.actor, asked.now
    )
    if repeated.repeat_next_at is None:
        asked.outbox.reply(asked.message, _("Lottery #{id} no longer repeats.", id=repeated.id))
        return
    asked.outbox.reply(
        asked.message,
        _(
            "Lottery #{id} repeats: {schedule}; next copy announced {when}.",
            id=repeated.id,
            schedule=schedule_text(_, repeated.repeat_schedule),
            when=local_time(community, repeated.repeat_next_at),
        ),
    )


async def reroll_lottery(asked: Managing, rest: str) -> None:
    words = rest.split()
    if not words:
        raise UsageError(usage=USAGE)
    lottery_id = parse_id(words[0])
    target, extra = split_target_and_rest(asked.message, " ".join(words[1:]))
    if extra:
        raise UsageError(usage=USAGE)
    winner = await moderation.resolve_target(asked.uow, asked.community, target)
    result = await lotteries.reroll(
        asked.uow, asked.community, lottery_id, winner, asked.actor, asked.now
    )
    queue_draw_result(asked.outbox, result)


def _single_word(rest: str) -> str:
    words = rest.split()
    if len(words) != 1:
        raise UsageError(usage=USAGE)
    return words[0]


MANAGING: dict[str, Callable[[Managing, str], Awaitable[None]]] = {
    "new": new_lottery,
    "draw": draw_lottery,
    "cancel": cancel_lottery,
    "repeat": repeat_lottery,
    "reroll": reroll_lottery,
}


async def lottery_manage(
    message: Message,
    command: CommandObject,
    uow: UnitOfWork,
    community: Community,
    now: datetime,
    outbox: Outbox,
    _: Translator,
) -> None:
    """A moderator's `/lottery <action> …`: one function per action (MANAGING)."""
    action, _sep, rest = (command.args or "").strip().partition(" ")
    run = MANAGING.get(action.lower())
    if run is None:
        raise UsageError(usage=USAGE)
    await run(Managing(message, uow, community, actor_of(message), now, outbox, _), rest)


async def dialog_answer(
    message: Message,
    uow: UnitOfWork,
    community: Community,
    user: UserInfo | None,
    now: datetime,
    outbox: Outbox,
    _: Translator,
) -> None:
    if user is None or message.sender_chat is not None:
        raise SkipHandler()
    reply = await lotteries.answer_dialog(uow, community, user.id, message.text or "", user.id, now)
    if reply is None:
        raise SkipHandler()  # not a dialog answer: ordinary conversation
    if reply.question is not None:
        outbox.reply(message, _(reply.question))
    elif reply.created is not None:
        queue_announcement(outbox, community, reply.created, by_hand=True, moderator_id=user.id)


async def refuse(message: Message, outbox: Outbox, _: Translator) -> None:
    raise ModeratorsOnly()


async def join(
    callback: CallbackQuery,
    callback_data: LotteryButton,
    uow: UnitOfWork,
    community: Community,
    user: UserInfo,
    now: datetime,
    outbox: Outbox,
    _: Translator,
) -> None:
    entered = await lotteries.enter(uow, community, user, callback_data.lottery_id, now)
    if entered.lottery.cost:
        text = _(
            "🎟 You are in lottery #{id} (entry {number}). −{cost} points, {balance} left.",
            id=entered.lottery.id,
            number=entered.number,
            cost=entered.lottery.cost,
            balance=entered.balance,
        )
    else:
        text = _(
            "🎟 You are in lottery #{id} (entry {number}).",
            id=entered.lottery.id,
            number=entered.number,
        )
    outbox.toast(callback, text)


def setup() -> Router:
    router = Router(name="lotteries")
    router.message.filter(InGroup())
    router.callback_query.filter(InGroup())
    router.message.register(lottery_look, Command("lottery"), MemberAction())
    router.message.register(lottery_manage, Command("lottery"), IsModerator())
    router.message.register(dialog_answer, RepliesToBot())
    router.message.register(refuse, Command("lottery"))
    router.callback_query.register(join, LotteryButton.filter())
    return router


from handlers.lottery_work import lottery_work  # noqa: E402 - it renders with this module's texts

FEATURE = Feature(
    "lotteries",
    setup,
    commands=(
        FeatureCommand(
            "lottery", N_("Lotteries: /lottery list|show <id>, and more for moderators")
        ),
    ),
    timed_work=(lottery_work,),
    data_sections=("lotteries_created", "lottery_entries", "lottery_wins", "lottery_drafts"),
)
