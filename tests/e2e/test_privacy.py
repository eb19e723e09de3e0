"""Data and privacy: /mydata sends the member a JSON file of what is stored about them."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select

from bot.services import privacy
from storage.models import UserRow
from storage.uow import unit_of_work
from tests.e2e.conftest import ADMIN_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members, stored

MEMBER = 1001
OTHER = 1002


def documents_to(harness: Harness, chat_id: int) -> list[dict[str, Any]]:
    return [
        json.loads(content.decode("utf-8"))
        for chat, _name, content in harness.api.sent_documents
        if chat == chat_id
    ]


async def test_mydata_sends_a_json_file_of_the_members_data(harness: Harness) -> None:
    add_members(harness, [MEMBER, OTHER])
    await harness.say(MEMBER, "/checkin")
    await harness.say(OTHER, "/checkin")
    await harness.say(MEMBER, "/start", chat_id=MEMBER)
    await harness.say(MEMBER, "/mydata", chat_id=MEMBER)

    [document] = documents_to(harness, MEMBER)
    assert harness.api.sent_documents[-1][1] == f"mydata-{MEMBER}.json"
    assert [m.method for m in harness.replies(MEMBER)][-1] == "sendDocument"
    sections = document["sections"]
    assert document["user_id"] == MEMBER
    assert [row["id"] for row in sections["user"]] == [MEMBER]
    assert [(row["community_id"], row["user_id"]) for row in sections["memberships"]] == [
        (GROUP_ID, MEMBER)
    ]
    assert [row["user_id"] for row in sections["checkins"]] == [MEMBER]
    assert sections["ledger"] and all(row["user_id"] == MEMBER for row in sections["ledger"])
    # nothing about the other member
    assert OTHER not in {row.get("user_id") for rows in sections.values() for row in rows}


async def test_mydata_of_an_unknown_member_is_nearly_empty_and_only_private(
    harness: Harness,
) -> None:
    harness.api.add_user(OTHER, "Other")
    await harness.say(OTHER, "/mydata", chat_id=OTHER)
    [document] = documents_to(harness, OTHER)
    filled = {name for name, rows in document["sections"].items() if rows}
    assert filled <= {"user"}
    async with stored(harness) as session:
        assert (await session.scalar(select(UserRow.id).where(UserRow.id == OTHER))) == OTHER

    add_members(harness, [MEMBER])
    await harness.say(MEMBER, "/mydata")  # in the group: no file there
    assert not documents_to(harness, GROUP_ID)
    assert not documents_to(harness, MEMBER)


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf"), "no byte order mark"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


async def test_export_sends_csv_files_privately_to_the_moderator(harness: Harness) -> None:
    add_members(harness, [OTHER])
    harness.api.add_user(MEMBER, "小明", username="xiaoming")
    harness.api.add_member(GROUP_ID, MEMBER)
    await harness.say(MEMBER, "/checkin")
    await harness.say(OTHER, "/checkin")
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)

    await harness.say(ADMIN_ID, "/export members")
    assert "privately" in harness.last_reply()
    chat, file_name, content = harness.api.sent_documents[-1]
    assert chat == ADMIN_ID and file_name.startswith("members-") and file_name.endswith(".csv")
    rows = csv_rows(content)
    header = rows[0]
    names = {row[header.index("first_name")] for row in rows[1:]}
    assert "小明" in names
    assert {row[header.index("user_id")] for row in rows[1:]} >= {str(MEMBER), str(OTHER)}

    await harness.say(MEMBER, "/bug The export button is missing")
    await harness.say(ADMIN_ID, "/export tickets")
    chat, file_name, content = harness.api.sent_documents[-1]
    assert chat == ADMIN_ID and file_name.startswith("tickets-")
    tickets = csv_rows(content)
    assert tickets[1][tickets[0].index("text")] == "The export button is missing"
    assert tickets[1][tickets[0].index("kind")] == "bug"

    for kind in ("ledger", "checkins", "referrals"):
        await harness.say(ADMIN_ID, f"/export {kind}")
        chat, file_name, content = harness.api.sent_documents[-1]
        assert chat == ADMIN_ID and file_name.startswith(f"{kind}-")
        rows = csv_rows(content)
        assert "community_id" in rows[0]
    checkins = csv_rows(harness.api.sent_documents[-2][2])
    assert len(checkins) == 3  # header and two check-ins


async def test_export_refusals(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    await harness.say(ADMIN_ID, "/export members")  # never started the bot privately
    assert "private chat" in harness.last_reply()
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    await harness.say(ADMIN_ID, "/export passwords")
    assert "/export members|ledger|checkins|referrals|tickets" in harness.last_reply()
    await harness.say(MEMBER, "/start", chat_id=MEMBER)
    await harness.say(MEMBER, "/export members")  # not a moderator
    assert harness.api.sent_documents == []


async def test_a_large_export_is_cut_at_the_limit_and_says_so(harness: Harness) -> None:
    add_members(harness, [MEMBER, OTHER])
    await harness.say(MEMBER, "/checkin")
    await harness.say(OTHER, "/checkin")
    async with unit_of_work(harness.app.session_factory) as uow:
        made = await privacy.export_csv(uow, GROUP_ID, "checkins", harness.clock.now(), limit=1)
    assert made.truncated and made.rows == 1
    assert len(csv_rows(made.content)) == 2
    async with unit_of_work(harness.app.session_factory) as uow:
        whole = await privacy.export_csv(uow, GROUP_ID, "checkins", harness.clock.now(), limit=2)
    assert not whole.truncated and whole.rows == 2
