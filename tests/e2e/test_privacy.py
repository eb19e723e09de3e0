"""Data and privacy: /mydata sends the member a JSON file of what is stored about them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from storage.models import UserRow
from tests.e2e.conftest import GROUP_ID, Harness
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
