"""The points shop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from bot.domain.models import OrderStatus, ShopItem, ShopOrder


class ShopRepository(Protocol):
    """The points shop's items and orders."""

    async def add_item(self, item: ShopItem, actor_id: int | None, now: datetime) -> int: ...
    async def item(self, community_id: int, item_id: int) -> ShopItem | None: ...
    async def items(self, community_id: int) -> Sequence[ShopItem]:
        """The items on sale (not removed), oldest first."""
        ...

    async def update_item(self, community_id: int, item_id: int, **values: Any) -> bool:
        """Changes the given columns of an item on sale; False when there is none."""
        ...

    async def take_one(self, community_id: int, item_id: int) -> int | None:
        """Stock minus one, only while it is above 0 and the item is on sale (one conditional
        UPDATE); the stock left, or None when there was none."""
        ...

    async def put_back(self, community_id: int, item_id: int) -> None: ...
    async def add_order(self, order: ShopOrder, request_key: str) -> int | None:
        """The new order's id; None when an order with that request key exists."""
        ...

    async def order(self, community_id: int, order_id: int) -> ShopOrder | None: ...
    async def order_by_key(self, request_key: str) -> ShopOrder | None: ...
    async def orders_of_item(self, community_id: int, item_id: int, user_id: int) -> int:
        """How many orders, not rejected, the member placed for the item."""
        ...

    async def last_order_at(
        self, community_id: int, item_id: int, user_id: int
    ) -> datetime | None: ...
    async def settle_order(
        self,
        community_id: int,
        order_id: int,
        status: OrderStatus,
        actor_id: int | None,
        note: str | None,
        now: datetime,
    ) -> bool:
        """Pending -> `status` (a conditional UPDATE); False when it was not pending."""
        ...

    async def orders(
        self,
        community_id: int,
        limit: int,
        *,
        user_id: int | None = None,
        status: OrderStatus | None = None,
    ) -> Sequence[ShopOrder]:
        """Orders, newest first, with the buyer's name."""
        ...

    async def orders_by_ids(
        self, community_id: int, order_ids: Sequence[int]
    ) -> Sequence[ShopOrder]:
        """The community's orders among `order_ids`, in that order, with the buyer's name."""
        ...

    async def start_rejection(self, community_id: int, order_id: int, message_id: int) -> bool:
        """A pending order awaits a confirmed rejection on the /orders message `message_id`
        (its draft reason cleared; another order drafted on that message goes back to
        pending as it was); False when the order is not pending."""
        ...

    async def keep_order(self, community_id: int, order_id: int) -> bool:
        """A drafted rejection is dropped; False when the order is not pending."""
        ...

    async def set_rejection_reason(
        self, community_id: int, message_id: int, note: str
    ) -> int | None:
        """The reason of the rejection drafted on that /orders message; the order's id, or
        None when none is drafted there."""
        ...

    async def awaiting_details(self, user_id: int) -> Sequence[ShopOrder]:
        """The buyer's orders (any community, not rejected) still waiting for delivery
        details, oldest first."""
        ...

    async def attach_details(self, order_id: int, details: str) -> bool:
        """The buyer's answer kept with the order; False when none was awaited."""
        ...


class ShopPart(Protocol):
    """The repositories this feature brings to the unit of work (bot.ports.core.UnitOfWork)."""

    @property
    def shop(self) -> ShopRepository: ...
