"""Forged button presses: every callback prefix, pressed with data no button of the bot carries,
is answered as a stale button, changes nothing and leaves no dead letter."""

from __future__ import annotations

import typing

from aiogram.filters.callback_data import CallbackData
from sqlalchemy import func, select

from handlers import setup_routers
from storage.models import Base, DeadLetterRow, ShopOrderRow
from tests.e2e.conftest import ADMIN_ID, GROUP_ID, OWNER_ID, Harness
from tests.e2e.helpers import add_members, stored

MEMBER = 1001
STALE = "This button is no longer valid."
CHAT_ID_FIELDS = frozenset({"community_id"})  # a group's id is negative
ALWAYS_WRONG = ("", "x", "1.5", "0x10", str(2**63), str(-(2**63) - 1), "9" * 40)
WRONG_FOR_ROW_IDS = ("-1", str(2**31))


def button_classes() -> list[type[CallbackData]]:
    setup_routers()
    found: list[type[CallbackData]] = []
    pending = list(CallbackData.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("handlers"):
            found.append(cls)
    return sorted(found, key=lambda cls: cls.__prefix__)


def valid_value(name: str, annotation: object) -> str:
    if name in CHAT_ID_FIELDS:
        return str(GROUP_ID)
    if typing.get_origin(annotation) is typing.Literal:
        return str(typing.get_args(annotation)[0])
    return "1" if annotation is int else "a"


def forged_data(cls: type[CallbackData]) -> list[str]:
    """For each number field (and each field of a few fixed letters), the other fields valid
    and that one wrong; and data with a part too many or too few."""
    fields = cls.model_fields
    valid = {name: valid_value(name, field.annotation) for name, field in fields.items()}
    sep = cls.__separator__
    forged = [sep.join([cls.__prefix__, *valid.values(), "1"])]
    if fields:
        forged.append(cls.__prefix__)
    for name, field in fields.items():
        if typing.get_origin(field.annotation) is typing.Literal:
            forged.append(sep.join([cls.__prefix__, *{**valid, name: "zz"}.values()]))
        if field.annotation is not int:
            continue
        wrong = ALWAYS_WRONG if name in CHAT_ID_FIELDS else ALWAYS_WRONG + WRONG_FOR_ROW_IDS
        for value in wrong:
            forged.append(sep.join([cls.__prefix__, *{**valid, name: value}.values()]))
    return forged


async def row_counts(harness: Harness) -> dict[str, int]:
    async with stored(harness) as session:
        return {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in Base.metadata.sorted_tables
            if table.name != "processed_updates"
        }


async def press_all(harness: Harness, chat_id: int, message_id: int, data: list[str]) -> None:
    update_ids = [harness.api.press_button(chat_id, message_id, MEMBER, d) for d in data]
    for update_id in update_ids:
        await harness.handled(update_id)
    answers = {a["callback_query_id"]: a["text"] for a in harness.api.callback_answers}
    for update_id, pressed in zip(update_ids, data, strict=True):
        query_id = harness.api.callback_query_id(update_id)
        assert answers.get(query_id) == STALE, (pressed, answers.get(query_id))


def test_the_sweep_finds_every_button() -> None:
    prefixes = {cls.__prefix__ for cls in button_classes()}
    assert prefixes >= {"v1ci", "v1fm", "v1lt", "v1sr", "v1so", "v1st", "v1sv", "v1tf", "v1tt"}


async def test_forged_presses_of_every_prefix_are_answered_and_change_nothing(
    harness: Harness,
) -> None:
    add_members(harness, [MEMBER])
    await harness.say(MEMBER, "/me")
    group_message = harness.replies()[-1].message_id
    await harness.say(MEMBER, "/start", chat_id=MEMBER)
    private_message = harness.replies(MEMBER)[-1].message_id
    data = [d for cls in button_classes() for d in forged_data(cls)]
    data += ["", "v9zz:1", ":", "v1lt:1:2:3", "garbage"]
    before = await row_counts(harness)

    await press_all(harness, GROUP_ID, group_message, data)
    await press_all(harness, MEMBER, private_message, data)

    assert await row_counts(harness) == before
    async with stored(harness) as session:
        assert await session.scalar(select(func.count()).select_from(DeadLetterRow)) == 0


async def test_a_moderator_pressing_an_order_button_with_a_forged_action_settles_nothing(
    harness: Harness,
) -> None:
    add_members(harness, [MEMBER])
    await harness.say(MEMBER, "/myorders")  # registers the member
    await harness.say(OWNER_ID, f"/award {MEMBER} 100 seed points")
    await harness.say(ADMIN_ID, "/shop add 10 5 Mug")
    await harness.say(MEMBER, "/shop")
    shop = harness.replies()[-1]
    assert shop.reply_markup is not None
    redeem = shop.reply_markup["inline_keyboard"][0][0]["callback_data"]
    await harness.handled(harness.api.press_button(GROUP_ID, shop.message_id, MEMBER, redeem))
    await harness.say(ADMIN_ID, "/orders")
    orders = harness.replies()[-1]
    assert orders.reply_markup is not None
    fulfil = str(orders.reply_markup["inline_keyboard"][0][0]["callback_data"])
    assert fulfil.startswith("v1so:f:")

    forged = fulfil.replace(":f:", ":x:")
    update_id = harness.api.press_button(GROUP_ID, orders.message_id, ADMIN_ID, forged)
    await harness.handled(update_id)

    assert harness.api.callback_answers[-1]["text"] == STALE
    async with stored(harness) as session:
        assert await session.scalar(select(ShopOrderRow.status)) == "pending"
