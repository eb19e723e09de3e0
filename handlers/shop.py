"""The points shop: /shop (browse and redeem by button; moderators add, edit, remove),
/orders (moderators fulfil or reject) and /myorders."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Literal
from zoneinfo import ZoneInfo

from aiogram import Router
from aiogram.filters import Command, CommandObject, Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.domain.errors import N_, UsageError
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
from bot.services.shop import Settlement
from handlers.buttons import RowId
from handlers.filters.chat import InGroup
from handlers.filters.moderator import IsModerator
from handlers.render import actor_of, name, tier_name
from runtime.features import Feature, FeatureCommand
from runtime.outbox import Outbox

SHOP_USAGE = N_(
    "/shop | /shop add <price> <stock> <title> [tier=<tier>] [limit=<n>] | "
    "/shop edit <id> price|stock|title|tier|limit <value> | /shop remove <id>"
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


class RedeemButton(CallbackData, prefix="v1sr"):
    """Redeem an item; the buyer is whoever pressed."""

    item_id: RowId


class OrderButton(CallbackData, prefix="v1so"):
    """A moderator settles an order: action "f" (fulfil) or "r" (reject)."""

    action: Literal["f", "r"]
    order_id: RowId


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
    return line


def shop_keyboard(items: list[ShopItem]) -> InlineKeyboardMarkup | None:
    rows = [
        [
            InlineKeyboardButton(
                text=f"🎁 {item.title[:40]} · {item.price}",
                callback_data=RedeemButton(item_id=item.id).pack(),
            )
        ]
        for item in items[:BUTTONS_SHOWN]
        if item.stock > 0
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def order_line(_: Translator, community: Community, order: ShopOrder, *, buyer: bool) -> str:
    when = order.created_at.astimezone(ZoneInfo(community.timezone)).strftime("%m-%d %H:%M")
    line = f"#{order.id} {escape(order.title)} — " + _("{price} points", price=order.price)
    if buyer:
        line += f" — {name(order.buyer_name or str(order.user_id))}"
    line += f" — {when} — {_(ORDER_STATUS_NAMES[order.status])}"
    if order.note:
        line += f" ({escape(order.note)})"
    return line


def orders_keyboard(_: Translator, orders: list[ShopOrder]) -> InlineKeyboardMarkup | None:
    rows = [
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
        for order in orders
        if order.status == OrderStatus.PENDING
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


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


def setup() -> Router:  # noqa: PLR0915 - one statement group per command
    router = Router(name="shop")
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
    async def manage_refused(message: Message, outbox: Outbox, _: Translator) -> None:
        outbox.reply(message, _(MODERATORS_ONLY))

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
        if not on_sale:
            outbox.reply(message, _("🛍 The points shop is empty for now."))
            return
        lines = [_("🛍 Points shop")]
        lines.extend(item_line(_, item) for item in on_sale)
        lines.append(_("Press a button to redeem. The price is taken from your points."))
        outbox.reply(message, "\n".join(lines), shop_keyboard(on_sale))

    @router.callback_query(RedeemButton.filter())
    async def redeem(
        callback: CallbackQuery,
        callback_data: RedeemButton,
        uow: UnitOfWork,
        community: Community,
        user: UserInfo,
        now: datetime,
        outbox: Outbox,
        _: Translator,
    ) -> None:
        result = await shop.redeem(
            uow, community, user, callback_data.item_id, f"{community.id}:{callback.id}", now
        )
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
        lines = [title, *(order_line(_, community, order, buyer=True) for order in listed)]
        outbox.reply(message, "\n".join(lines), orders_keyboard(_, listed))

    @router.message(Command("orders"))
    async def orders_refused(message: Message, outbox: Outbox, _: Translator) -> None:
        outbox.reply(message, _(MODERATORS_ONLY))

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
        actor = callback.from_user.id
        if callback_data.action == "r":
            done = await shop.reject_order(uow, community, callback_data.order_id, actor, None, now)
        else:
            done = await shop.fulfil_order(uow, community, callback_data.order_id, actor, now)
        tell_buyer(outbox, community, done)
        outbox.toast(callback, settled_text(_, done))

    @router.callback_query(OrderButton.filter())
    async def settle_refused(callback: CallbackQuery, outbox: Outbox, _: Translator) -> None:
        outbox.toast(callback, _(MODERATORS_ONLY))

    return router


FEATURE = Feature(
    "shop",
    setup,
    commands=(
        FeatureCommand("shop", N_("The points shop: browse and redeem")),
        FeatureCommand("myorders", N_("Your shop orders")),
        FeatureCommand(
            "orders",
            N_("Shop orders: /orders [all], /orders fulfil|reject <id>; /shop add|edit|remove"),
            moderators=True,
        ),
    ),
    data_sections=("shop_orders", "shop_items_created"),
)
