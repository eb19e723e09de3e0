"""/stats: the summary and its album of charts, for moderators only, in the group or in a
private chat; the charts are drawn off the event loop, after the commit."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Sequence
from typing import Any

from bot.domain.insights import InsightsReport
from handlers.insights import StatsContext
from runtime.charts import ChartLabels, ChartRenderer, render_all
from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members

MEMBER = 1001
OTHER = 1002
OTHER_GROUP = -1009876543210
OTHER_ADMIN = 601
PNG = b"\x89PNG\r\n\x1a\n"


def albums_to(harness: Harness, chat_id: int) -> list[list[bytes]]:
    return [photos for chat, photos in harness.api.sent_albums if chat == chat_id]


async def test_a_moderator_gets_the_summary_then_an_album_of_four_charts(
    harness: Harness,
) -> None:
    add_members(harness, [MEMBER, OTHER])
    await harness.say(MEMBER, "/checkin")
    await harness.say(OTHER, "hello everyone")
    await harness.say(ADMIN_ID, "/stats 7")

    text = harness.last_reply()
    assert "the last 7 days" in text
    assert "Members now:" in text and "Check-in rate:" in text
    assert "Active members: today 2" in text
    assert "Points issued:" in text and "check-ins" in text
    [album] = albums_to(harness, GROUP_ID)
    assert len(album) == 4 and all(photo.startswith(PNG) for photo in album)
    methods = [m.method for m in harness.replies()][-5:]
    assert methods == ["sendMessage"] + ["sendMediaGroup"] * 4


async def test_members_and_bad_periods_get_no_stats(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    await harness.say(MEMBER, "/stats")
    assert "Members now:" not in harness.last_message()
    await harness.say(ADMIN_ID, "/stats 400")
    assert "/stats [1-365]" in harness.last_reply()
    await harness.say(ADMIN_ID, "/stats week")
    assert "/stats [1-365]" in harness.last_reply()
    await harness.say(ADMIN_ID, "/stats ²")  # a digit to str.isdigit, not to int()
    assert "/stats [1-365]" in harness.last_reply()
    assert not harness.api.sent_albums


async def test_a_failed_drawing_sends_the_summary_alone_with_a_note(harness: Harness) -> None:
    def broken(report: InsightsReport, labels: ChartLabels) -> Sequence[bytes]:
        raise RuntimeError("no fonts today")

    harness.app.dispatcher["stats"] = StatsContext(harness.app.open_uow, ChartRenderer(broken))
    add_members(harness, [MEMBER])
    await harness.say(MEMBER, "/checkin")
    await harness.say(ADMIN_ID, "/stats")
    text = harness.last_reply()
    assert "Members now:" in text and "could not be drawn" in text
    assert not harness.api.sent_albums


async def test_the_bot_keeps_answering_while_charts_are_drawn(harness: Harness) -> None:
    started = threading.Event()
    release = threading.Event()

    def slow(report: InsightsReport, labels: ChartLabels) -> Sequence[bytes]:
        started.set()
        assert release.wait(10), "never released"
        return render_all(report, labels)

    harness.app.dispatcher["stats"] = StatsContext(harness.app.open_uow, ChartRenderer(slow))
    add_members(harness, [MEMBER])
    stats = harness.api.send_message(GROUP_ID, ADMIN_ID, "/stats", date=harness.clock.now())
    await harness.api.wait_until_handled(stats)
    assert await asyncio.to_thread(started.wait, 10)

    checkin = harness.api.send_message(GROUP_ID, MEMBER, "/checkin", date=harness.clock.now())
    checkin_id = harness.api.message_id_of(checkin)
    answered = await harness.api.wait_for_message(
        lambda m: m.reply_to_message_id == checkin_id, timeout=10
    )
    assert "checked in" in (answered.text or "").lower()
    assert not harness.api.sent_albums  # still drawing

    release.set()
    await harness.handled(stats)
    [album] = albums_to(harness, GROUP_ID)
    assert len(album) == 4


async def test_in_private_a_moderator_of_one_group_gets_its_stats(harness: Harness) -> None:
    add_members(harness, [MEMBER])
    await harness.say(ADMIN_ID, "/checkin")  # the admin is a member the bot knows
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    await harness.say(ADMIN_ID, "/stats", chat_id=ADMIN_ID)
    assert "Seed Users" in harness.last_reply(ADMIN_ID)
    assert len(albums_to(harness, ADMIN_ID)) == 1

    await harness.say(MEMBER, "/stats", chat_id=MEMBER)
    assert "moderate none" in harness.last_reply(MEMBER)


async def test_with_several_groups_buttons_choose_and_rights_are_checked_when_pressed(
    harness: Harness,
) -> None:
    api = harness.api
    api.add_user(OTHER_ADMIN, "Other admin")
    api.add_group(OTHER_GROUP, "Other Group", creator_id=CREATOR_ID, admins=[OTHER_ADMIN])
    await harness.handled(api.add_bot_to_group(OTHER_GROUP, by_user_id=CREATOR_ID))
    api.add_member(OTHER_GROUP, ADMIN_ID)
    api.add_member(GROUP_ID, OTHER_ADMIN)
    # ADMIN moderates GROUP and is a member of OTHER_GROUP; OTHER_ADMIN the other way round.
    await harness.say(ADMIN_ID, "/checkin")
    await harness.say(ADMIN_ID, "/checkin", chat_id=OTHER_GROUP)
    await harness.say(OTHER_ADMIN, "/checkin")
    await harness.say(OTHER_ADMIN, "/checkin", chat_id=OTHER_GROUP)
    await harness.say(CREATOR_ID, "/checkin")
    await harness.say(CREATOR_ID, "/checkin", chat_id=OTHER_GROUP)

    await harness.say(ADMIN_ID, "/stats", chat_id=ADMIN_ID)
    assert "Seed Users" in harness.last_reply(ADMIN_ID)  # only the group ADMIN moderates

    await harness.say(CREATOR_ID, "/stats 14", chat_id=CREATOR_ID)
    question = api.messages_to(CREATOR_ID)[-1]
    assert question.reply_markup is not None
    buttons = [b for row in question.reply_markup["inline_keyboard"] for b in row]
    assert [b["text"] for b in buttons] == ["Other Group", "Seed Users"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)

    pressed = api.press_button(
        CREATOR_ID, question.message_id, CREATOR_ID, buttons[0]["callback_data"]
    )
    await harness.handled(pressed)
    texts = [m.text or "" for m in api.messages_to(CREATOR_ID) if m.method == "sendMessage"]
    assert "Other Group" in texts[-1] and "the last 14 days" in texts[-1]
    assert len(albums_to(harness, CREATOR_ID)) == 1

    # The same button data pressed by ADMIN (who does not moderate OTHER_GROUP) in their chat.
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    own = api.messages_to(ADMIN_ID)[-1]
    forged = api.press_button(ADMIN_ID, own.message_id, ADMIN_ID, buttons[0]["callback_data"])
    await harness.handled(forged)
    query_id = api.callback_query_id(forged)
    [answer] = [a for a in api.callback_answers if a["callback_query_id"] == query_id]
    assert "moderate none" in str(answer.get("text"))
    assert not any("Other Group" in (m.text or "") for m in api.messages_to(ADMIN_ID))
    assert len(albums_to(harness, ADMIN_ID)) == 1  # from the earlier /stats only


async def test_a_failed_count_sends_an_apology_and_the_bot_goes_on(harness: Harness) -> None:
    def broken_uow(**options: object) -> Any:
        raise ConnectionError("the database is away")

    harness.app.dispatcher["stats"] = StatsContext(broken_uow, ChartRenderer())
    add_members(harness, [MEMBER])
    await harness.say(ADMIN_ID, "/stats")
    assert "could not be counted" in harness.last_reply()
    await harness.say(MEMBER, "/checkin")
    assert "checked in" in harness.last_reply().lower()
    assert not harness.api.sent_albums


async def test_in_private_unknown_rights_are_fetched_before_answering(harness: Harness) -> None:
    """After a restart no administrator list is cached, and a private chat names no group:
    the groups whose rights were needed are fetched before the update is tried again."""
    add_members(harness, [MEMBER])
    await harness.say(ADMIN_ID, "/checkin")
    await harness.say(ADMIN_ID, "/start", chat_id=ADMIN_ID)
    moderators = harness.app.dispatcher["moderators"]
    moderators._admins.clear()
    fetched = len(harness.api.calls("getChatAdministrators"))

    await harness.say(ADMIN_ID, "/stats", chat_id=ADMIN_ID)

    assert "Seed Users" in harness.last_reply(ADMIN_ID)
    assert len(harness.api.calls("getChatAdministrators")) > fetched


async def test_a_chinese_group_gets_chinese_labels_drawn_in_the_shipped_font(
    harness: Harness,
) -> None:
    from matplotlib import font_manager
    from noto_cjk_sans_otc import FONT_PATH

    from runtime.charts import usable_labels

    drawn: list[tuple[ChartLabels, list[str]]] = []

    def recording(report: InsightsReport, labels: ChartLabels) -> Sequence[bytes]:
        drawn.append(usable_labels(labels))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a glyph missing from the fonts is a warning
            return render_all(report, labels)

    harness.app.dispatcher["stats"] = StatsContext(harness.app.open_uow, ChartRenderer(recording))
    add_members(harness, [MEMBER])
    await harness.say(CREATOR_ID, "/lang zh")
    await harness.say(MEMBER, "/checkin")
    await harness.say(ADMIN_ID, "/stats")
    [album] = albums_to(harness, GROUP_ID)
    assert len(album) == 4
    [(labels, fonts)] = drawn
    assert labels.members_title == "成员与活跃成员" and labels.tier_names[0] == "新人"
    assert labels.spent != ChartLabels().spent
    # the labels are drawn in the font the dependencies ship, whatever the system has
    chinese = font_manager.FontProperties(family=fonts)
    assert font_manager.findfont(chinese, fallback_to_default=False) == str(FONT_PATH)
    import matplotlib

    assert matplotlib.rcParams["axes.unicode_minus"] is False
