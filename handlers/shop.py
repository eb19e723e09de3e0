"""The points shop: /shop (browse and redeem by button; moderators add, edit, remove),
/orders (moderators fulfil, or reject with an optional reason and a confirmation) and
/myorders; the buyer's delivery details, asked for privately.

A redeem button carries the price it shows, and a press charges that price or nothing: when
the item costs something else now (after `/shop edit`), the member is told, nothing is
charged, and the pressed /shop message is redrawn with the current prices."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Literal
from zoneinfo import ZoneInfo

from aiogram import Bot, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import Command, CommandObject, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import EditMessageText
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.errors import N_, ModeratorsOnly, UsageError
from bot.domain.models import Community, OrderStatus, ShopItem, ShopOrder, Tier, UserInfo
from bot.i18n import Translator, language_of_user, translator
from bot.parsing.shop import (
    EDIT_USAGE,
    REMOVE_USAGE,
    parse_id,
    parse_item_change,
    parse_new_item,
)
from bot.ports import UnitOfWork
from bot.services import shop
from bot.services.shop import DetailsAttached, Redemption, Settlement
from handlers.buttons import RowId
from handlers.filters.chat import InGroup, InPrivate
from handlers.filters.moderator import IsModerator
from handlers.middlewares.console import without_console_header
from handlers.render import actor_of, name, tier_name
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox

SHOP_USAGE = N_(
    "/shop | /shop add <price> <stock> <title> [tier=<tier>] [limit=<n>] [details=yes] | "
    "/shop edit <id> price|stock|title|tier|limit|details <value> | /shop remove <id>"
)
ORDERS_USAGE = N_("/orders [all] | /orders fulfil <id> | /orders reject <id> [reason]")
MANAGEMENT_WORDS = frozenset({"add", "edit", "remove"})
FULFIL_WORDS = frozenset({"fulfil", "fulfill", "done"})
BUTTONS_SHOWN = 30
ORDER_STATUS_NAMES = {
    OrderStatus.PENDING: N_("waiting"),
    OrderStatus.FULFILLED: N_("fulfilled"),
    OrderStatus.REJECTED: N_("rejected, refunded"),
}
MODERATORS_ONLY = N_("Only moderators of this group can use this command.")
LISTED_ORDER = re.compile(r"^#(\d{1,10}) ", re.MULTILINE)
DETAILS_SHOWN = 300


class OldRedeemButton(CallbackData, prefix="v1sr"):
    """A redeem button posted before buttons carried their price: pressing it charges
    nothing and redraws the shop with the current prices."""

    item_id: RowId


class RedeemButton(CallbackData, prefix="v2sr"):
    """Redeem an item at the price the button shows; the buyer is whoever pressed."""

    item_id: RowId
    price: RowId


class OrderButton(CallbackData, prefix="v1so"):
    """A moderator settles an order: "f" fulfils; "r" asks to reject (a reason may follow as
    a reply to the /orders message), "c" confirms that rejection, "k" keeps the order."""

    action: Literal["f", "r", "c", "k"]
    order_id: RowId


class RepliesToBot(Filter):
    """A text (not a command) replying to one of the bot's messages (async filter: cheap)."""

    async def __call__(self, message: Message, bot: Bot) -> bool:
        reply = message.reply_to_message
        return (
            reply is not None
            and reply.from_user is not None
            and reply.from_user.id == bot.id
            and message.text is not None
            and not message.text.startswith("/")
        )


class PlainText(Filter):
    """A text by a person that is not a command (async filter: cheap)."""

    async def __call__(self, message: Message) -> bool:
        return (
            message.from_user is not None
            and message.text is not None
            and not message.text.startswith("/")
        )


class FirstWordIn(Filter):
    """The command's first argument is one of `words` (an async filter: cheap)."""

    def __init__(self, words: frozenset[str]) -> None:
        self._words = words

    async def __call__(self, message: Message) -> bool:
        parts = (message.text or "").split(maxsplit=2)
        return len(parts) > 1 and parts[1].lower() in self._words


def item_line(_: Translator, item: ShopItem) -> str:
    line = _(
        "#{id} {title} — {price} points, {stock} left",
        id=item.id,
        title=name(item.title),
        price=item.price,
        stock=item.stock,
    )
    if item.min_tier > Tier.NEWCOMER:
        line += _(", {tier} tier and above", tier=tier_name(_, item.min_tier))
    if item.member_limit is not None:
        line += _(", at most {limit} per member", limit=item.member_limit)
    if item.asks_details:
        line += _(", asks for delivery details")
    return line


def shop_text(_: Translator, on_sale: Sequence[ShopItem]) -> str:
    if not on_sale:
        return _("🛍 The points shop is empty for now.")
    lines = [_("🛍 Points shop")]
    lines.extend(item_line(_, item) for item in on_sale)
    lines.append(_("Press a button to redeem. The price is taken from your points."))
    return "\n".join(lines)


def shop_keyboard(items: Sequence[ShopItem]) -> InlineKeyboardMarkup | None:
    rows = [
        [
            InlineKeyboardButton(
                text=f"🎁 {item.title[:40]} · {item.price}",
                callback_data=RedeemButton(item_id=item.id, price=item.price).pack(),
            )
        ]
        for item in items[:BUTTONS_SHOWN]
        if item.stock > 0
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def rejecting_here(order: ShopOrder, message_id: int | None) -> bool:
    """A rejection of the order waits for its confirmation on this /orders message."""
    return (
        order.status == OrderStatus.PENDING
        and message_id is not None
        and order.rejecting_message_id == message_id
    )


def order_line(
    _: Translator,
    community: Community,
    order: ShopOrder,
    *,
    buyer: bool,
    message_id: int | None = None,
) -> str:
    """One order; with `buyer` (a moderator's list) also its buyer and delivery details,
    and, on the /orders message `message_id`, a rejection waiting for its confirmation."""
    when = order.created_at.astimezone(ZoneInfo(community.timezone)).strftime("%m-%d %H:%M")
    line = f"#{order.id} {escape(order.title)} — " + _("{price} points", price=order.price)
    if buyer:
        line += f" — {name(order.buyer_name or str(order.user_id))}"
    line += f" — {when} — {_(ORDER_STATUS_NAMES[order.status])}"
    if order.note:
        line += f" ({escape(' '.join(order.note.split()))})"
    if buyer and order.details:
        shown = " ".join(order.details.split())[:DETAILS_SHOWN]
        line += " — " + _("details: {details}", details=escape(shown))
    elif buyer and order.details_wanted:
        line += " — " + _("delivery details awaited")
    if rejecting_here(order, message_id):
        line += "\n" + (
            _("↳ Rejecting: press Confirm to refund the points.")
            if order.note
            else _(
                "↳ Rejecting: reply to this message with a reason (optional), "
                "then press Confirm to refund the points."
            )
        )
    return line


def orders_keyboard(
    _: Translator, orders: Sequence[ShopOrder], message_id: int | None = None
) -> InlineKeyboardMarkup | None:
    rows: list[list[InlineKeyboardButton]] = []
    for order in orders:
        if order.status != OrderStatus.PENDING:
            continue
        if rejecting_here(order, message_id):
            rows.append(
                [
                    InlineKeyboardButton(
                        text=_("☑️ Confirm rejection #{id}", id=order.id),
                        callback_data=OrderButton(action="c", order_id=order.id).pack(),
                    ),
                    InlineKeyboardButton(
                        text=_("↩️ Keep #{id}", id=order.id),
                        callback_data=OrderButton(action="k", order_id=order.id).pack(),
                    ),
                ]
            )
            continue
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("✅ Fulfil #{id}", id=order.id),
                    callback_data=OrderButton(action="f", order_id=order.id).pack(),
                ),
                InlineKeyboardButton(
                    text=_("❌ Reject #{id}", id=order.id),
                    callback_data=OrderButton(action="r", order_id=order.id).pack(),
                ),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def orders_text(
    _: Translator,
    community: Community,
    title: str,
    listed: Sequence[ShopOrder],
    message_id: int | None = None,
) -> str:
    lines = [title]
    lines.extend(
        order_line(_, community, order, buyer=True, message_id=message_id) for order in listed
    )
    return "\n".join(lines)


async def redraw_orders(
    uow: UnitOfWork,
    outbox: Outbox,
    community: Community,
    message: Message,
    _: Translator,
) -> None:
    """The /orders message redrawn from what is stored now: each order it lists with its
    status, buttons only under the orders still pending. The orders are found by the ids
    at the start of its lines (the bot's own message), looked up in this group only."""
    shown = without_console_header(message.text or "")
    order_ids = [int(found) for found in LISTED_ORDER.findall(shown)]
    listed = await shop.listed_orders(uow, community, order_ids)
    if not listed:
        return
    title = escape(shown.split("\n", 1)[0])
    text = orders_text(_, community, title, listed, message.message_id)
    markup = orders_keyboard(_, listed, message.message_id)
    shown_markup = outbox.route.buttons(markup) if outbox.route is not None else markup
    if shown_markup == message.reply_markup and text == without_console_header(message.html_text):
        return  # nothing changed (a second press of the same button): no edit to refuse
    outbox.call(
        EditMessageText(
            chat_id=message.chat.id,
            message_id=message.message_id,
            text=text,
            reply_markup=markup,
        )
    )


async def redraw_shop(
    uow: UnitOfWork, outbox: Outbox, community: Community, message: Message, _: Translator
) -> None:
    """The /shop message redrawn with the items and prices on sale now."""
    on_sale = await shop.items(uow, community)
    outbox.call(
        EditMessageText(
            chat_id=message.chat.id,
            message_id=message.message_id,
            text=shop_text(_, on_sale),
            reply_markup=shop_keyboard(on_sale),
        )
    )


def ask_for_details(
    outbox: Outbox,
    community: Community,
    user: UserInfo,
    result: Redemption,
    group_chat_id: int,
    bot_username: str,
) -> None:
    """The buyer is asked privately for the order's delivery details (once per order); a
    buyer the bot may not write to is told in the group to start the bot privately."""
    if result.order_id is None or not result.asks_details:
        return
    _ = translator(language_of_user(user.language_code, community.language))
    if result.reachable:
        text = _(
            "📝 Your order #{id} in {group} ({title}) needs delivery details. "
            "Send them to me here as one message.",
            id=result.order_id,
            group=name(community.title),
            title=escape(result.item.title),
        )
        outbox.announce(user.id, text, f"shop_details:{result.order_id}", kind="shop")
        return
    _ = translator(community.language)
    text = _(
        "📝 {name}, your order #{id} ({title}) needs delivery details, and I cannot write "
        "to you yet: open a private chat with me, press Start, then send me the details "
        "there as one message.",
        name=name(user.first_name),
        id=result.order_id,
        title=escape(result.item.title),
    )
    markup = None
    if bot_username:
        button = InlineKeyboardButton(
            text=_("Open a private chat with me"), url=f"https://t.me/{bot_username}"
        )
        markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
    outbox.send(group_chat_id, text, markup)


def details_attached_text(_: Translator, attached: DetailsAttached) -> str:
    order = attached.order
    group = name(attached.community.title) if attached.community else ""
    text = _(
        "✅ Thanks! Your delivery details are attached to order #{id} ({title}) in {group}.",
        id=order.id,
        title=escape(order.title),
        group=group,
    )
    following = attached.next_order
    if following is not None:
        text += "\n" + _(
            "Order #{id} ({title}) needs delivery details too: send them as your next message.",
            id=following.id,
            title=escape(following.title),
        )
    return text


def tell_buyer(outbox: Outbox, community: Community, settlement: Settlement) -> None:
    """The buyer hears privately, through the paced queue, once per outcome; only if they
    started a chat with the bot."""
    if not settlement.reachable or settlement.buyer is None:
        return
    order = settlement.order
    _ = translator(language_of_user(settlement.buyer.language_code, community.language))
    if order.status == OrderStatus.FULFILLED:
        text = _(
            "📦 Your order #{id} in {group} ({title}) was fulfilled.",
            id=order.id,
            group=name(community.title),
            title=escape(order.title),
        )
    else:
        text = _(
            "↩️ Your order #{id} in {group} ({title}) was rejected; {price} points were refunded.",
            id=order.id,
            group=name(community.title),
            title=escape(order.title),
            price=order.price,
        )
        if order.note:
            text += "\n" + _("Reason: {reason}", reason=escape(order.note))
    outbox.announce(order.user_id, text, f"shop_order:{order.id}:{order.status}", kind="shop")


def settled_text(_: Translator, settlement: Settlement) -> str:
    order = settlement.order
    if order.status == OrderStatus.FULFILLED:
        return _("Order #{id} is fulfilled.", id=order.id)
    return _("Order #{id} is rejected; {price} points refunded.", id=order.id, price=order.price)


def setup() -> Router:
    router = Router(name="shop")
    router.include_routers(group_router(), private_router())
    return router


def private_router() -> Router:
    """The buyer's answer to the delivery details question, in the private chat."""
    router = Router(name="shop_private")
    router.message.filter(InPrivate())

    @router.message(PlainText())
    async def delivery_details(
        message: Message,
        uow: UnitOfWork,
        user: UserInfo | None,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        if user is None:
            raise SkipHandler()
        attached = await shop.attach_details(uow, user, message.text or "", now)
        if attached is None:
            raise SkipHandler()  # no order waits for details: not a message for the shop
        outbox.reply(message, details_attached_text(_, attached))

    return router


def group_router() -> Router:  # noqa: PLR0915 - one statement group per command
    router = Router(name="shop_group")
    router.message.filter(InGroup())
    router.callback_query.filter(InGroup())

    @router.message(Command("shop"), FirstWordIn(MANAGEMENT_WORDS), IsModerator())
    async def manage(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        word, *others = (command.args or "").split(maxsplit=1)
        word, rest = word.lower(), (others[0].strip() if others else "")
        actor = actor_of(message)
        if word == "add":
            item = await shop.add_item(uow, community, parse_new_item(rest), actor, now)
            outbox.reply(message, _("🛍 Added to the shop: {item}", item=item_line(_, item)))
            return
        if word == "remove":
            if len(rest.split()) != 1:
                raise UsageError(usage=REMOVE_USAGE)
            item_id = parse_id(rest, REMOVE_USAGE)
            item = await shop.remove_item(uow, community, item_id, actor, now)
            outbox.reply(
                message,
                _("Removed #{id} {title} from the shop.", id=item.id, title=name(item.title)),
            )
            return
        parts = rest.split(maxsplit=2)
        if len(parts) != 3:
            raise UsageError(usage=EDIT_USAGE)
        item_id = parse_id(parts[0], EDIT_USAGE)
        changes = parse_item_change(parts[1], parts[2])
        item = await shop.edit_item(uow, community, item_id, changes, actor, now)
        outbox.reply(message, _("Updated: {item}", item=item_line(_, item)))

    @router.message(Command("shop"), FirstWordIn(MANAGEMENT_WORDS))
    async def manage_refused(_message: Message) -> None:
        raise ModeratorsOnly()

    @router.message(Command("shop"))
    async def browse(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        if (command.args or "").strip():
            raise UsageError(usage=SHOP_USAGE)
        on_sale = await shop.items(uow, community)
        outbox.reply(message, shop_text(_, on_sale), shop_keyboard(on_sale))

    @router.callback_query(OldRedeemButton.filter())
    async def redeem_old_button(
        callback: CallbackQuery,
        uow: UnitOfWork,
        community: Community,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        if isinstance(callback.message, Message):
            await redraw_shop(uow, outbox, community, callback.message, _)
        outbox.toast(
            callback,
            _("The shop was updated: check the current prices and press again."),
            alert=True,
        )

    @router.callback_query(RedeemButton.filter())
    async def redeem(
        callback: CallbackQuery,
        callback_data: RedeemButton,
        bot: Bot,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        result = await shop.redeem(
            uow,
            community,
            user,
            callback_data.item_id,
            f"{community.id}:{callback.id}",
            now,
            seen_price=callback_data.price,
        )
        if result.price_changed:
            if isinstance(callback.message, Message):
                await redraw_shop(uow, outbox, community, callback.message, _)
            text = _(
                "The price of {title} is now {price} points (the button showed {seen}); "
                "nothing was charged. The buttons now show the current prices: press again "
                "to redeem.",
                title=result.item.title,
                price=result.item.price,
                seen=callback_data.price,
            )
            outbox.toast(callback, text[:200], alert=True)
            return
        if result.repeated:
            text = _("You just redeemed {title}; see /myorders.", title=result.item.title)
        else:
            text = _(
                "🎁 You redeemed {title} for {price} points (order #{order}). Balance: {balance}.",
                title=result.item.title,
                price=result.item.price,
                order=result.order_id,
                balance=result.balance,
            )
            if result.asks_details:
                text += " " + (
                    _("I have asked you privately for the delivery details.")
                    if result.reachable
                    else _("Please start a private chat with me for the delivery details.")
                )
            if result.asks_details:
                username = "" if result.reachable else (await bot.me()).username or ""
                ask_for_details(outbox, community, user, result, community.id, username)
        outbox.toast(callback, text[:200], alert=not result.repeated)

    @router.message(Command("myorders"))
    async def my_orders(
        message: Message,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo | None,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        if user is None or message.sender_chat is not None:
            return
        orders = await shop.orders_of(uow, community, user, now)
        if not orders:
            outbox.reply(message, _("You have no orders yet. See /shop."))
            return
        lines = [_("Your orders:")]
        lines.extend(order_line(_, community, order, buyer=False) for order in orders)
        outbox.reply(message, "\n".join(lines))

    @router.message(Command("orders"), IsModerator())
    async def orders(
        message: Message,
        command: CommandObject,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        words = (command.args or "").split(maxsplit=2)
        word = words[0].lower() if words else ""
        if word in FULFIL_WORDS or word == "reject":
            if len(words) < 2 or (word != "reject" and len(words) > 2):
                raise UsageError(usage=ORDERS_USAGE)
            order_id = parse_id(words[1], ORDERS_USAGE)
            if word == "reject":
                note = words[2].strip() if len(words) > 2 else None
                done = await shop.reject_order(
                    uow, community, order_id, actor_of(message), note, now
                )
            else:
                done = await shop.fulfil_order(uow, community, order_id, actor_of(message), now)
            tell_buyer(outbox, community, done)
            outbox.reply(message, settled_text(_, done))
            return
        if word not in ("", "all") or len(words) > 1:
            raise UsageError(usage=ORDERS_USAGE)
        listed = (
            await shop.recent_orders(uow, community)
            if word == "all"
            else await shop.pending_orders(uow, community)
        )
        if not listed:
            outbox.reply(message, _("No orders waiting.") if not word else _("No orders yet."))
            return
        title = _("🧾 Orders waiting:") if not word else _("🧾 Recent orders:")
        outbox.reply(message, orders_text(_, community, title, listed), orders_keyboard(_, listed))

    @router.message(Command("orders"))
    async def orders_refused(_message: Message) -> None:
        raise ModeratorsOnly()

    @router.message(RepliesToBot(), IsModerator())
    async def rejection_reason(
        message: Message,
        uow: UnitOfWork,
        community: Community,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        """A moderator's reply to an /orders message on which a rejection waits: its reason."""
        prompt = message.reply_to_message
        if prompt is None or message.sender_chat is not None:
            raise SkipHandler()
        order_id = await shop.give_rejection_reason(
            uow, community, prompt.message_id, message.text or ""
        )
        if order_id is None:
            raise SkipHandler()  # no rejection waits there: ordinary conversation
        await redraw_orders(uow, outbox, community, prompt, _)
        outbox.reply(
            message,
            _("Reason noted for order #{id}: press Confirm to reject it.", id=order_id),
        )

    @router.callback_query(OrderButton.filter(), IsModerator())
    async def settle_by_button(
        callback: CallbackQuery,
        callback_data: OrderButton,
        uow: UnitOfWork,
        community: Community,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        """Rights are checked at each press (IsModerator); the order id is looked up in this
        group only, and a rejection is confirmed only on the message it was asked on."""
        actor = callback.from_user.id
        message = callback.message
        if not isinstance(message, Message):
            outbox.toast(callback, _("This button is no longer valid."))
            return
        order_id, action = callback_data.order_id, callback_data.action
        if action == "r":
            await shop.start_rejection(uow, community, order_id, message.message_id)
            text = _(
                "Reject order #{id}? Reply to the orders message with a reason (optional), "
                "then press Confirm.",
                id=order_id,
            )
        elif action == "k":
            await shop.keep_order(uow, community, order_id)
            text = _("Order #{id} stays waiting.", id=order_id)
        else:
            if action == "c":
                done = await shop.confirm_rejection(
                    uow, community, order_id, message.message_id, actor, now
                )
            else:
                done = await shop.fulfil_order(uow, community, order_id, actor, now)
            tell_buyer(outbox, community, done)
            text = settled_text(_, done)
        await redraw_orders(uow, outbox, community, message, _)
        outbox.toast(callback, text[:200])

    @router.callback_query(OrderButton.filter())
    async def settle_refused(callback: CallbackQuery, outbox: Outbox, _: Translator) -> None:
        outbox.toast(callback, _(MODERATORS_ONLY))

    return router


FEATURE = Feature(
    "shop",
    setup,
    commands=(
        FeatureCommand(
            "shop",
            N_("The points shop: browse and redeem"),
            answered_privately=tuple(sorted(MANAGEMENT_WORDS)),
        ),
        FeatureCommand("myorders", N_("Your shop orders")),
        FeatureCommand(
            "orders",
            N_("Shop orders: /orders [all], /orders fulfil|reject <id>; /shop add|edit|remove"),
            moderators=True,
        ),
    ),
    data_sections=("shop_orders", "shop_items_created"),
)
