"""/settings: every setting in one message, and its buttons changing a setting once, for
moderators only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.services import settings_view
from handlers.settings import SettingButton
from storage.models import AuditRow, CommunityRow
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members, stored
from tests.e2e.test_chinese_group import english_left_in
from tests.fakes.bot_api import SentMessage

HEADINGS = (
    "Language and time",
    "Check-in",
    "Referrals",
    "Ticket rewards",
    "Lifecycle",
    "Win-back",
    "Birthdays",
    "Surveys",
    "Award quota",
)


async def show_settings(harness: Harness, user_id: int = CREATOR_ID) -> SentMessage:
    await harness.say(user_id, "/settings")
    said = harness.last_said[GROUP_ID]
    return [m for m in harness.replies() if m.reply_to_message_id == said][-1]


def button_data(message: SentMessage, text: str) -> str:
    assert message.reply_markup is not None
    for row in message.reply_markup["inline_keyboard"]:
        for button in row:
            if button["text"].removeprefix("✅ ") == text:
                return str(button["callback_data"])
    raise AssertionError(f"no button {text!r}")


async def press(harness: Harness, message: SentMessage, user_id: int, data: str) -> None:
    await harness.handled(harness.api.press_button(GROUP_ID, message.message_id, user_id, data))


def last_toast(harness: Harness) -> str:
    return str(harness.api.callback_answers[-1].get("text") or "")


def edits_of(harness: Harness, message: SentMessage) -> list[SentMessage]:
    return [
        m
        for m in harness.api.messages_to(GROUP_ID, include_edits=True)
        if m.kind == "edit" and m.message_id == message.message_id
    ]


async def stored_settings(harness: Harness) -> tuple[str, dict[str, Any]]:
    async with stored(harness) as session:
        row = await session.get(CommunityRow, GROUP_ID)
        assert row is not None
        return row.language, dict(row.settings or {})


async def audit_actions(harness: Harness) -> list[tuple[str, str]]:
    async with stored(harness) as session:
        rows = (await session.execute(select(AuditRow.action, AuditRow.detail))).all()
    return [(action, detail) for action, detail in rows]


async def test_settings_show_every_group_with_current_values(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/ticketrules bug 40")
    await harness.say(CREATOR_ID, "/growth hours 48")
    await harness.say(CREATOR_ID, "/lifecycle churn 45")
    await harness.say(CREATOR_ID, "/birthdays gift 15")
    await harness.say(CREATOR_ID, "/survey duration 5")
    await harness.say(CREATOR_ID, "/timezone Europe/Berlin")
    shown = await show_settings(harness)
    text = shown.text or ""
    for heading in HEADINGS:
        assert heading in text, heading
    assert "Language: English" in text
    assert "Timezone: Europe/Berlin" in text
    assert "Points: 10 a day" in text
    assert "after 48 hours" in text
    assert "Accepted bug 40 points, accepted idea 20 points" in text
    assert "churned after 45 days" in text
    assert "Win-back message: off; gift 0 points" in text
    assert "Congratulations in the group: off; gift 15 points." in text
    assert "New surveys stay open 5 days" in text
    assert "2000 points per moderator a month" in text
    assert "/ticketrules bug|idea &lt;points&gt;" in text  # the commands for the rest
    assert "/winback" in text and "/lifecycle" in text and "/quota set" in text
    # The existing commands are unchanged.
    await harness.say(CREATOR_ID, "/winback on")
    assert "Win-back message: on" in harness.last_reply()


async def test_group_name_is_escaped(harness: Harness) -> None:
    other = -1009999999999
    harness.api.add_group(other, "Seed <Users> & Co", creator_id=CREATOR_ID)
    await harness.handled(harness.api.add_bot_to_group(other, by_user_id=CREATOR_ID))
    await harness.say(CREATOR_ID, "/settings", chat_id=other)
    assert "Seed &lt;Users&gt; &amp; Co" in harness.last_reply(other)


async def test_a_press_changes_the_setting_once_and_edits_the_message(harness: Harness) -> None:
    shown = await show_settings(harness)
    on = button_data(shown, "Win-back: on")
    assert on.startswith("v1set:") and len(on.encode()) <= 64
    await press(harness, shown, ADMIN_ID, on)
    assert last_toast(harness) == "✅ Saved."
    _, settings = await stored_settings(harness)
    assert settings["lifecycle"]["winback"] is True
    edits = edits_of(harness, shown)
    assert len(edits) == 1
    assert "Win-back message: on" in (edits[0].text or "")
    marked = [
        button["text"]
        for row in edits[0].reply_markup["inline_keyboard"]  # type: ignore[index]
        for button in row
        if button["text"].startswith("✅ Win-back")
    ]
    assert marked == ["✅ Win-back: on"]
    # The same press again: already set, nothing audited twice, no edit.
    await press(harness, shown, ADMIN_ID, on)
    assert last_toast(harness) == "Already set."
    assert len(edits_of(harness, shown)) == 1
    assert [a for a in await audit_actions(harness) if a[0] == "lifecycle_rule"] == [
        ("lifecycle_rule", "winback on")
    ]
    # Off again through the other button; a survey preset goes through the survey rules.
    await press(harness, shown, ADMIN_ID, button_data(shown, "Win-back: off"))
    await press(harness, shown, CREATOR_ID, button_data(shown, "Survey thanks: 10"))
    _, settings = await stored_settings(harness)
    assert settings["lifecycle"]["winback"] is False
    assert settings["care"]["survey_thanks"] == 10
    assert ("reward_setting", "survey thanks: 5 -> 10") in await audit_actions(harness)


async def test_a_double_press_in_one_page_changes_once(harness: Harness) -> None:
    shown = await show_settings(harness)
    data = button_data(shown, "Birthdays in the group: on")
    first = harness.api.press_button(GROUP_ID, shown.message_id, CREATOR_ID, data)
    second = harness.api.press_button(GROUP_ID, shown.message_id, CREATOR_ID, data)
    await harness.handled(first)
    await harness.handled(second)
    _, settings = await stored_settings(harness)
    assert settings["care"]["birthday_group"] is True
    assert [a for a in await audit_actions(harness) if a[0] == "birthday_group"] == [
        ("birthday_group", "on")
    ]
    toasts = sorted(str(a.get("text")) for a in harness.api.callback_answers[-2:])
    assert toasts == ["Already set.", "✅ Saved."]
    assert len(edits_of(harness, shown)) == 1


async def test_the_language_button_switches_the_view(harness: Harness) -> None:
    shown = await show_settings(harness)
    await press(harness, shown, CREATOR_ID, button_data(shown, "中文"))
    language, _ = await stored_settings(harness)
    assert language == "zh"
    edited = edits_of(harness, shown)[-1].text or ""
    assert english_left_in(edited) == [], edited
    assert english_left_in(last_toast(harness)) == []


async def test_a_non_moderator_press_changes_nothing(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(1001, "/settings")
    assert "Only moderators" in harness.last_reply()
    shown = await show_settings(harness)
    before = await stored_settings(harness)
    audit_before = await audit_actions(harness)
    await press(harness, shown, 1001, button_data(shown, "中文"))
    await press(harness, shown, 1001, button_data(shown, "Win-back: on"))
    assert "Only moderators" in last_toast(harness)
    assert await stored_settings(harness) == before
    assert await audit_actions(harness) == audit_before
    assert edits_of(harness, shown) == []


async def test_a_forged_press_is_refused_and_changes_nothing(harness: Harness) -> None:
    shown = await show_settings(harness)
    before = await stored_settings(harness)
    audit_before = await audit_actions(harness)
    forged = (
        "v1set:svthanks:1000",  # within no preset (and over the moderators' bound)
        "v1set:svdays:0",
        "v1set:quota:1",  # an unknown key
        "v1set:lang:fr",
        "v1set:winback",  # malformed
    )
    for data in forged:
        await press(harness, shown, CREATOR_ID, data)
    answers = [str(a.get("text") or "") for a in harness.api.callback_answers[-len(forged) :]]
    assert answers[:4] == ["This button does not set anything I know; nothing was changed."] * 4
    assert answers[4] == "This button is no longer valid."
    assert await stored_settings(harness) == before
    assert await audit_actions(harness) == audit_before
    assert edits_of(harness, shown) == []


async def test_a_chinese_group_settings_have_no_english(harness: Harness) -> None:
    await harness.say(CREATOR_ID, "/lang zh")
    await harness.say(CREATOR_ID, "/campaign enable checkin")
    await harness.say(CREATOR_ID, "/birthdays vip 50")
    await harness.say(CREATOR_ID, "/winback text 回来看看吧")
    shown = await show_settings(harness)
    text = shown.text or ""
    assert english_left_in(text) == [], text
    assert "设置" in text
    await press(harness, shown, CREATOR_ID, button_data(shown, "需要签到：关"))
    assert english_left_in(last_toast(harness)) == []
    edited = edits_of(harness, shown)[-1].text or ""
    assert english_left_in(edited) == [], edited
    _, settings = await stored_settings(harness)
    assert settings["growth"]["requires_checkin"] is False
    await press(harness, shown, CREATOR_ID, "v1set:nothing:1")
    assert english_left_in(last_toast(harness)) == []


def test_every_button_fits_telegram_and_carries_its_value() -> None:
    for key, values in settings_view.CHOICES.items():
        for value in values:
            data = SettingButton(key=key, value=value).pack()
            assert data.startswith("v1set:") and len(data.encode()) <= 64
            assert SettingButton.unpack(data) == SettingButton(key=key, value=value)
