"""The bot's first message in a group: the rights it still lacks, and the other language."""

from __future__ import annotations

from tests.e2e.conftest import CREATOR_ID, GROUP_ID, Harness
from tests.e2e.test_chinese_group import english_left_in

SECOND_GROUP = -1002223334445
THIRD_GROUP = -1003334445556
ASK_FOR_ADMIN = "make me an administrator with the right to invite users"
ASK_FOR_INVITING = "give me the right to invite users"


async def greeting_in(harness: Harness, chat_id: int, **rights: bool) -> str:
    harness.api.add_group(chat_id, f"Group {chat_id}", creator_id=CREATOR_ID)
    await harness.handled(harness.api.add_bot_to_group(chat_id, by_user_id=CREATOR_ID, **rights))
    return harness.api.messages_to(chat_id)[-1].text or ""


async def test_the_greeting_asks_only_for_the_rights_the_bot_lacks(harness: Harness) -> None:
    with_every_right = harness.api.messages_to(GROUP_ID)[0].text or ""
    assert "/checkinpost" in with_every_right
    assert ASK_FOR_ADMIN not in with_every_right and ASK_FOR_INVITING not in with_every_right

    as_member = await greeting_in(harness, SECOND_GROUP, as_admin=False)
    assert ASK_FOR_ADMIN in as_member

    without_inviting = await greeting_in(harness, THIRD_GROUP, can_invite_users=False)
    assert ASK_FOR_INVITING in without_inviting and ASK_FOR_ADMIN not in without_inviting


async def test_the_greeting_says_how_to_switch_in_the_other_language(harness: Harness) -> None:
    english = harness.api.messages_to(GROUP_ID)[0].text or ""
    assert english.splitlines()[-1] == "发送 /lang zh 切换为中文"

    await harness.say(CREATOR_ID, "/lang zh")
    await harness.handled(harness.api.remove_bot_from_group(GROUP_ID, by_user_id=CREATOR_ID))
    await harness.handled(harness.api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
    chinese = harness.api.messages_to(GROUP_ID)[-1].text or ""
    *greeting, hint = chinese.splitlines()
    assert hint == "Send /lang en to switch to English"
    assert english_left_in("\n".join(greeting).replace("seedbot", "")) == []  # its name
    assert "签到" in chinese
