"""The points shop: moderators stock items, members redeem them with points, moderators
fulfil or reject the orders (a rejection refunds the points, once).

A redemption is one unit: the member's ledger debit, the conditional stock decrement
(`stock > 0`) and the order are written in the same transaction, so stock never goes below
zero however many members press at once, and a refused redemption leaves nothing behind."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.errors import (
    N_,
    InsufficientBalance,
    ItemSoldOut,
    MemberLimitReached,
    NotEligible,
    NotEnoughPoints,
    OrderAlreadySettled,
    RejectionNotStarted,
    TextTooLong,
    TierTooLow,
    UnknownOrder,
    UnknownShopItem,
)
from bot.domain.models import (
    Activity,
    Community,
    LedgerEntry,
    LedgerKind,
    NewItem,
    OrderStatus,
    PointsChange,
    ShopItem,
    ShopOrder,
    Tier,
    UserInfo,
)
from bot.ports import UnitOfWork
from bot.services.activity import note_activity
from bot.services.membership import ensure_member
from bot.services.points import apply_points, reverse_points

MAX_NOTE = 200
MAX_DETAILS = 1000
LISTED_ORDERS = 20
# A second press of the same item by the same member this soon after their last order is
# the same press (a double tap, a laggy client), not a second purchase.
DOUBLE_PRESS_WINDOW = timedelta(seconds=5)
TIER_MSGIDS = {
    Tier.NEWCOMER: N_("Newcomer"),
    Tier.MEMBER: N_("Member"),
    Tier.ACTIVE: N_("Active"),
    Tier.CONTRIBUTOR: N_("Contributor"),
    Tier.CORE: N_("Core"),
}


@dataclass(frozen=True)
class Redemption:
    """A redeem press: the new order, or `repeated` when the press was one already handled
    (the same callback, or a double press) and nothing changed, or `price_changed` when the
    item's price is no longer the one the member saw on the button (nothing charged).
    `asks_details`: the order waits for the buyer's delivery details, and `reachable` says
    whether the bot may ask them privately."""

    item: ShopItem
    order_id: int | None
    balance: int
    stock_left: int
    repeated: bool = False
    price_changed: bool = False
    asks_details: bool = False
    reachable: bool = False


@dataclass(frozen=True)
class DetailsAttached:
    """The buyer's delivery details kept with `order`; `next_order` still waits for some."""

    order: ShopOrder
    community: Community | None
    next_order: ShopOrder | None


@dataclass(frozen=True)
class Settlement:
    """An order fulfilled or rejected; `refund` is the rejection's refund; `buyer` and
    `reachable` say whom to tell privately, and whether the bot may."""

    order: ShopOrder
    refund: PointsChange | None
    buyer: UserInfo | None
    reachable: bool


async def add_item(
    uow: UnitOfWork, community: Community, new: NewItem, actor_id: int | None, now: datetime
) -> ShopItem:
    item = ShopItem(
        id=0,
        community_id=community.id,
        title=new.title,
        price=new.price,
        stock=new.stock,
        min_tier=new.min_tier,
        member_limit=new.member_limit,
        asks_details=new.asks_details,
    )
    item_id = await uow.shop.add_item(item, actor_id, now)
    await uow.audit.add(community.id, actor_id, "shop_add", None, f"#{item_id} {new}", now)
    stored = await uow.shop.item(community.id, item_id)
    assert stored is not None
    return stored


async def edit_item(
    uow: UnitOfWork,
    community: Community,
    item_id: int,
    changes: Mapping[str, object],
    actor_id: int | None,
    now: datetime,
) -> ShopItem:
    """Changes fields of an item on sale (see bot.parsing.shop.parse_item_change)."""
    if not await uow.shop.update_item(community.id, item_id, **dict(changes)):
        raise UnknownShopItem(item_id=item_id)
    await uow.audit.add(community.id, actor_id, "shop_edit", None, f"#{item_id} {changes}", now)
    item = await uow.shop.item(community.id, item_id)
    assert item is not None
    return item


async def remove_item(
    uow: UnitOfWork, community: Community, item_id: int, actor_id: int | None, now: datetime
) -> ShopItem:
    """Takes the item off sale; its orders stay, and its old buttons stop working."""
    item = await uow.shop.item(community.id, item_id)
    if (
        item is None
        or not item.active
        or not await uow.shop.update_item(community.id, item_id, active=False)
    ):
        raise UnknownShopItem(item_id=item_id)
    await uow.audit.add(community.id, actor_id, "shop_remove", None, f"#{item_id}", now)
    return item


async def items(uow: UnitOfWork, community: Community) -> list[ShopItem]:
    return list(await uow.shop.items(community.id))


async def redeem(
    uow: UnitOfWork,
    community: Community,
    user: UserInfo,
    item_id: int,
    request_key: str,
    now: datetime,
    seen_price: int | None = None,
) -> Redemption:
    """The member `user` redeems the item: the price is debited (ledger key
    `shop:<request_key>`), one unit of stock is taken by a conditional UPDATE and the order
    is recorded, all in this transaction. `request_key` names the press (the callback query
    id), so a redelivered press finds its order and changes nothing; a second press within
    DOUBLE_PRESS_WINDOW of the member's last order of this item is taken as the same press.
    `seen_price` is the price the member saw on the button: when the item costs something
    else now, nothing is charged and the result says `price_changed`.
    Refusals (unknown item, tier, per-member limit, points, sold out) raise DomainErrors."""
    item = await uow.shop.item(community.id, item_id)
    if item is None or not item.active:
        raise UnknownShopItem(item_id=item_id)
    member = await ensure_member(uow, community, user, now)
    if member is None:
        raise NotEligible()
    if await uow.shop.order_by_key(request_key) is not None:
        return Redemption(item, None, member.balance, item.stock, repeated=True)
    if seen_price is not None and seen_price != item.price:
        return Redemption(item, None, member.balance, item.stock, price_changed=True)
    if member.tier < item.min_tier:
        raise TierTooLow(title=item.title, tier=TIER_MSGIDS[item.min_tier])
    await uow.members.lock(community.id, user.id)  # one redemption of a member at a time
    last = await uow.shop.last_order_at(community.id, item.id, user.id)
    if last is not None and now - last < DOUBLE_PRESS_WINDOW:
        return Redemption(item, None, member.balance, item.stock, repeated=True)
    limit = item.member_limit
    if limit is not None and await uow.shop.orders_of_item(community.id, item.id, user.id) >= limit:
        raise MemberLimitReached(title=item.title, limit=limit)
    if member.balance < item.price:
        raise NotEnoughPoints(title=item.title, price=item.price, balance=member.balance)
    stock_left = await uow.shop.take_one(community.id, item.id)
    if stock_left is None:
        raise ItemSoldOut(title=item.title)
    try:
        change = await apply_points(
            uow,
            community,
            LedgerEntry(
                community_id=community.id,
                user_id=user.id,
                amount=-item.price,
                kind=LedgerKind.SHOP,
                idempotency_key=f"{LedgerKind.SHOP}:{request_key}",
                created_at=now,
                reason=f"shop item #{item.id}: {item.title}"[:200],
            ),
            member,
        )
    except InsufficientBalance as refused:
        balance = refused.params.get("balance", member.balance)
        raise NotEnoughPoints(title=item.title, price=item.price, balance=balance) from None
    if change is None:
        raise RuntimeError(f"the ledger key of request {request_key} has no order")
    order_id = await uow.shop.add_order(
        ShopOrder(
            id=0,
            community_id=community.id,
            item_id=item.id,
            user_id=user.id,
            title=item.title,
            price=item.price,
            status=OrderStatus.PENDING,
            created_at=now,
            ledger_entry_id=change.entry_id,
            details_wanted=item.asks_details,
        ),
        request_key,
    )
    if order_id is None:
        raise RuntimeError(f"request {request_key} already has an order")
    await note_activity(uow, community, user.id, now, Activity.ORDER)
    reachable = item.asks_details and await uow.users.can_message(user.id)
    return Redemption(
        item,
        order_id,
        change.balance,
        stock_left,
        asks_details=item.asks_details,
        reachable=reachable,
    )


async def _settle(
    uow: UnitOfWork,
    community: Community,
    order_id: int,
    status: OrderStatus,
    actor_id: int | None,
    note: str | None,
    now: datetime,
) -> ShopOrder:
    order = await uow.shop.order(community.id, order_id)
    if order is None:
        raise UnknownOrder(order_id=order_id)
    if not await uow.shop.settle_order(community.id, order_id, status, actor_id, note, now):
        raise OrderAlreadySettled(order_id=order_id)
    await uow.audit.add(
        community.id, actor_id, f"shop_{status}", order.user_id, f"#{order_id}", now
    )
    settled = await uow.shop.order(community.id, order_id)
    assert settled is not None
    return settled


async def _settlement(uow: UnitOfWork, order: ShopOrder, refund: PointsChange | None) -> Settlement:
    buyer = await uow.users.get(order.user_id)
    reachable = buyer is not None and await uow.users.can_message(order.user_id)
    return Settlement(order, refund, buyer, reachable)


async def fulfil_order(
    uow: UnitOfWork, community: Community, order_id: int, actor_id: int | None, now: datetime
) -> Settlement:
    """A pending order becomes fulfilled (once: a settled order is refused)."""
    order = await _settle(uow, community, order_id, OrderStatus.FULFILLED, actor_id, None, now)
    return await _settlement(uow, order, None)


async def reject_order(
    uow: UnitOfWork,
    community: Community,
    order_id: int,
    actor_id: int | None,
    note: str | None,
    now: datetime,
) -> Settlement:
    """A pending order becomes rejected: the price goes back to the buyer exactly once
    (ledger key `shop_refund:<order id>`, without counting toward lifetime points) and the
    unit goes back into stock."""
    if note is not None and len(note) > MAX_NOTE:
        raise TextTooLong(maximum=MAX_NOTE)
    order = await _settle(uow, community, order_id, OrderStatus.REJECTED, actor_id, note, now)
    purchase = await uow.ledger.get(order.ledger_entry_id) if order.ledger_entry_id else None
    refund_entry = LedgerEntry(
        community_id=community.id,
        user_id=order.user_id,
        amount=order.price,
        kind=LedgerKind.SHOP_REFUND,
        idempotency_key=f"{LedgerKind.SHOP_REFUND}:{order.id}",
        created_at=now,
        reason=f"order #{order.id} rejected",
        actor_id=actor_id,
    )
    if purchase is None:
        raise RuntimeError(f"order #{order.id} has no ledger entry")
    refund = await reverse_points(uow, community, purchase, refund_entry)
    await uow.shop.put_back(community.id, order.item_id)
    return await _settlement(uow, order, refund)


async def _pending(uow: UnitOfWork, community: Community, order_id: int) -> ShopOrder:
    order = await uow.shop.order(community.id, order_id)
    if order is None:
        raise UnknownOrder(order_id=order_id)
    if order.status != OrderStatus.PENDING:
        raise OrderAlreadySettled(order_id=order_id)
    return order


async def start_rejection(
    uow: UnitOfWork, community: Community, order_id: int, message_id: int
) -> None:
    """A moderator pressed Reject under the /orders message `message_id`: the order waits
    there for a reason (optional) and a confirmation; nothing is refunded yet."""
    await _pending(uow, community, order_id)
    if not await uow.shop.start_rejection(community.id, order_id, message_id):
        raise OrderAlreadySettled(order_id=order_id)


async def keep_order(uow: UnitOfWork, community: Community, order_id: int) -> None:
    """A drafted rejection is dropped; the order stays pending."""
    await _pending(uow, community, order_id)
    if not await uow.shop.keep_order(community.id, order_id):
        raise OrderAlreadySettled(order_id=order_id)


async def give_rejection_reason(
    uow: UnitOfWork, community: Community, message_id: int, reason: str
) -> int | None:
    """The reason for the rejection drafted on the /orders message `message_id`; the
    order's id, or None when no rejection is drafted there."""
    reason = " ".join(reason.split())
    if not reason:
        return None
    if len(reason) > MAX_NOTE:
        raise TextTooLong(maximum=MAX_NOTE)
    return await uow.shop.set_rejection_reason(community.id, message_id, reason)


async def confirm_rejection(
    uow: UnitOfWork,
    community: Community,
    order_id: int,
    message_id: int,
    actor_id: int | None,
    now: datetime,
) -> Settlement:
    """The confirmation of a rejection drafted on the /orders message `message_id`: the
    refund happens here, once (see reject_order), with the drafted reason."""
    order = await _pending(uow, community, order_id)
    if order.rejecting_message_id != message_id:
        raise RejectionNotStarted(order_id=order_id)
    return await reject_order(uow, community, order_id, actor_id, order.note, now)


async def listed_orders(
    uow: UnitOfWork, community: Community, order_ids: list[int]
) -> list[ShopOrder]:
    """The community's orders among `order_ids` (the ones an /orders message lists)."""
    return list(await uow.shop.orders_by_ids(community.id, order_ids[:LISTED_ORDERS]))


async def attach_details(
    uow: UnitOfWork, user: UserInfo, text: str, now: datetime
) -> DetailsAttached | None:
    """The buyer's private message is the delivery details of their oldest order waiting for
    them; None when no order waits (the message is not for the shop)."""
    waiting = await uow.shop.awaiting_details(user.id)
    if not waiting:
        return None
    details = text.strip()
    if len(details) > MAX_DETAILS:
        raise TextTooLong(maximum=MAX_DETAILS)
    order = waiting[0]
    if not details or not await uow.shop.attach_details(order.id, details):
        return None
    await uow.audit.add(order.community_id, user.id, "shop_details", None, f"#{order.id}", now)
    community = await uow.communities.get(order.community_id)
    return DetailsAttached(order, community, waiting[1] if len(waiting) > 1 else None)


async def pending_orders(uow: UnitOfWork, community: Community) -> list[ShopOrder]:
    return list(await uow.shop.orders(community.id, LISTED_ORDERS, status=OrderStatus.PENDING))


async def recent_orders(uow: UnitOfWork, community: Community) -> list[ShopOrder]:
    return list(await uow.shop.orders(community.id, LISTED_ORDERS))


async def orders_of(
    uow: UnitOfWork, community: Community, user: UserInfo, now: datetime
) -> list[ShopOrder]:
    await ensure_member(uow, community, user, now)
    return list(await uow.shop.orders(community.id, LISTED_ORDERS, user_id=user.id))
