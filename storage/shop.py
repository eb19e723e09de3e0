"""SQL implementation of the shop repository Protocol in bot.ports. It never commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.models import OrderStatus, ShopItem, ShopOrder, Tier
from storage.models import ShopItemRow, ShopOrderRow, UserRow
from storage.sql import _dialect_insert

EDITABLE = frozenset({"title", "price", "stock", "min_tier", "member_limit", "asks_details"})


def _item(row: ShopItemRow) -> ShopItem:
    return ShopItem(
        id=row.id,
        community_id=row.community_id,
        title=row.title,
        price=row.price,
        stock=row.stock,
        min_tier=Tier(row.min_tier),
        member_limit=row.member_limit,
        active=row.active,
        asks_details=row.asks_details,
    )


def _order(row: ShopOrderRow, buyer_name: str = "") -> ShopOrder:
    return ShopOrder(
        id=row.id,
        community_id=row.community_id,
        item_id=row.item_id,
        user_id=row.user_id,
        title=row.title,
        price=row.price,
        status=OrderStatus(row.status),
        created_at=row.created_at,
        buyer_name=buyer_name,
        ledger_entry_id=row.ledger_entry_id,
        settled_at=row.settled_at,
        settled_by=row.settled_by,
        note=row.note,
        details=row.details,
        details_wanted=row.details_wanted,
        rejecting_message_id=row.rejecting_message_id,
    )


class SqlShopRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_item(self, item: ShopItem, actor_id: int | None, now: datetime) -> int:
        row = ShopItemRow(
            community_id=item.community_id,
            title=item.title,
            price=item.price,
            stock=item.stock,
            min_tier=int(item.min_tier),
            member_limit=item.member_limit,
            asks_details=item.asks_details,
            active=True,
            created_by=actor_id,
            created_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def item(self, community_id: int, item_id: int) -> ShopItem | None:
        row = await self._session.scalar(
            select(ShopItemRow)
            .where(ShopItemRow.community_id == community_id, ShopItemRow.id == item_id)
            .execution_options(populate_existing=True)
        )
        return _item(row) if row is not None else None

    async def items(self, community_id: int) -> Sequence[ShopItem]:
        rows = await self._session.scalars(
            select(ShopItemRow)
            .where(ShopItemRow.community_id == community_id, ShopItemRow.active.is_(True))
            .order_by(ShopItemRow.id)
            .execution_options(populate_existing=True)
        )
        return [_item(row) for row in rows]

    async def update_item(self, community_id: int, item_id: int, **values: Any) -> bool:
        unknown = set(values) - EDITABLE - {"active"}
        if unknown:
            raise ValueError(f"not editable: {sorted(unknown)}")
        result = await self._session.execute(
            update(ShopItemRow)
            .where(
                ShopItemRow.community_id == community_id,
                ShopItemRow.id == item_id,
                ShopItemRow.active.is_(True),
            )
            .values(**values)
            .returning(ShopItemRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def take_one(self, community_id: int, item_id: int) -> int | None:
        result = await self._session.execute(
            update(ShopItemRow)
            .where(
                ShopItemRow.community_id == community_id,
                ShopItemRow.id == item_id,
                ShopItemRow.active.is_(True),
                ShopItemRow.stock > 0,
            )
            .values(stock=ShopItemRow.stock - 1)
            .returning(ShopItemRow.stock)
            .execution_options(synchronize_session=False)
        )
        left = result.first()
        return int(left[0]) if left is not None else None

    async def put_back(self, community_id: int, item_id: int) -> None:
        await self._session.execute(
            update(ShopItemRow)
            .where(ShopItemRow.community_id == community_id, ShopItemRow.id == item_id)
            .values(stock=ShopItemRow.stock + 1)
            .execution_options(synchronize_session=False)
        )

    async def add_order(self, order: ShopOrder, request_key: str) -> int | None:
        statement = (
            _dialect_insert(self._session, ShopOrderRow)
            .values(
                community_id=order.community_id,
                item_id=order.item_id,
                user_id=order.user_id,
                title=order.title,
                price=order.price,
                status=str(order.status),
                request_key=request_key,
                ledger_entry_id=order.ledger_entry_id,
                created_at=order.created_at,
                details_wanted=order.details_wanted,
            )
            .on_conflict_do_nothing()
            .returning(ShopOrderRow.id)
        )
        added = (await self._session.execute(statement)).first()
        return int(added[0]) if added is not None else None

    async def order(self, community_id: int, order_id: int) -> ShopOrder | None:
        found = (
            await self._session.execute(
                select(ShopOrderRow, UserRow.first_name)
                .outerjoin(UserRow, UserRow.id == ShopOrderRow.user_id)
                .where(ShopOrderRow.community_id == community_id, ShopOrderRow.id == order_id)
                .execution_options(populate_existing=True)
            )
        ).first()
        return _order(found[0], found[1] or "") if found is not None else None

    async def order_by_key(self, request_key: str) -> ShopOrder | None:
        row = await self._session.scalar(
            select(ShopOrderRow)
            .where(ShopOrderRow.request_key == request_key)
            .execution_options(populate_existing=True)
        )
        return _order(row) if row is not None else None

    async def orders_of_item(self, community_id: int, item_id: int, user_id: int) -> int:
        count = await self._session.scalar(
            select(func.count())
            .select_from(ShopOrderRow)
            .where(
                ShopOrderRow.community_id == community_id,
                ShopOrderRow.user_id == user_id,
                ShopOrderRow.item_id == item_id,
                ShopOrderRow.status != str(OrderStatus.REJECTED),
            )
        )
        return int(count or 0)

    async def last_order_at(self, community_id: int, item_id: int, user_id: int) -> datetime | None:
        return await self._session.scalar(
            select(func.max(ShopOrderRow.created_at)).where(
                ShopOrderRow.community_id == community_id,
                ShopOrderRow.user_id == user_id,
                ShopOrderRow.item_id == item_id,
            )
        )

    async def settle_order(
        self,
        community_id: int,
        order_id: int,
        status: OrderStatus,
        actor_id: int | None,
        note: str | None,
        now: datetime,
    ) -> bool:
        result = await self._session.execute(
            update(ShopOrderRow)
            .where(
                ShopOrderRow.community_id == community_id,
                ShopOrderRow.id == order_id,
                ShopOrderRow.status == str(OrderStatus.PENDING),
            )
            .values(
                status=str(status),
                settled_by=actor_id,
                note=note,
                settled_at=now,
                rejecting_message_id=None,
            )
            .returning(ShopOrderRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def orders(
        self,
        community_id: int,
        limit: int,
        *,
        user_id: int | None = None,
        status: OrderStatus | None = None,
    ) -> Sequence[ShopOrder]:
        query = (
            select(ShopOrderRow, UserRow.first_name)
            .outerjoin(UserRow, UserRow.id == ShopOrderRow.user_id)
            .where(ShopOrderRow.community_id == community_id)
        )
        if user_id is not None:
            query = query.where(ShopOrderRow.user_id == user_id)
        if status is not None:
            query = query.where(ShopOrderRow.status == str(status))
        rows = await self._session.execute(
            query.order_by(ShopOrderRow.id.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return [_order(row, name or "") for row, name in rows]

    async def orders_by_ids(
        self, community_id: int, order_ids: Sequence[int]
    ) -> Sequence[ShopOrder]:
        if not order_ids:
            return []
        rows = await self._session.execute(
            select(ShopOrderRow, UserRow.first_name)
            .outerjoin(UserRow, UserRow.id == ShopOrderRow.user_id)
            .where(ShopOrderRow.community_id == community_id, ShopOrderRow.id.in_(order_ids))
            .execution_options(populate_existing=True)
        )
        found = {row.id: _order(row, name or "") for row, name in rows}
        return [found[order_id] for order_id in order_ids if order_id in found]

    async def start_rejection(self, community_id: int, order_id: int, message_id: int) -> bool:
        pending = ShopOrderRow.status == str(OrderStatus.PENDING)
        await self._session.execute(
            update(ShopOrderRow)
            .where(
                ShopOrderRow.community_id == community_id,
                ShopOrderRow.rejecting_message_id == message_id,
                ShopOrderRow.id != order_id,
                pending,
            )
            .values(rejecting_message_id=None, note=None)
            .execution_options(synchronize_session=False)
        )
        result = await self._session.execute(
            update(ShopOrderRow)
            .where(ShopOrderRow.community_id == community_id, ShopOrderRow.id == order_id, pending)
            .values(rejecting_message_id=message_id, note=None)
            .returning(ShopOrderRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def keep_order(self, community_id: int, order_id: int) -> bool:
        result = await self._session.execute(
            update(ShopOrderRow)
            .where(
                ShopOrderRow.community_id == community_id,
                ShopOrderRow.id == order_id,
                ShopOrderRow.status == str(OrderStatus.PENDING),
            )
            .values(rejecting_message_id=None, note=None)
            .returning(ShopOrderRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None

    async def set_rejection_reason(
        self, community_id: int, message_id: int, note: str
    ) -> int | None:
        result = await self._session.execute(
            update(ShopOrderRow)
            .where(
                ShopOrderRow.community_id == community_id,
                ShopOrderRow.rejecting_message_id == message_id,
                ShopOrderRow.status == str(OrderStatus.PENDING),
            )
            .values(note=note)
            .returning(ShopOrderRow.id)
            .execution_options(synchronize_session=False)
        )
        found = result.first()
        return int(found[0]) if found is not None else None

    async def awaiting_details(self, user_id: int) -> Sequence[ShopOrder]:
        rows = await self._session.scalars(
            select(ShopOrderRow)
            .where(
                ShopOrderRow.user_id == user_id,
                ShopOrderRow.details_wanted.is_(True),
                ShopOrderRow.status != str(OrderStatus.REJECTED),
            )
            .order_by(ShopOrderRow.id)
            .execution_options(populate_existing=True)
        )
        return [_order(row) for row in rows]

    async def attach_details(self, order_id: int, details: str) -> bool:
        result = await self._session.execute(
            update(ShopOrderRow)
            .where(ShopOrderRow.id == order_id, ShopOrderRow.details_wanted.is_(True))
            .values(details=details, details_wanted=False)
            .returning(ShopOrderRow.id)
            .execution_options(synchronize_session=False)
        )
        return result.first() is not None
