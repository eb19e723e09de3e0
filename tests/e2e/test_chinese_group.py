"""A Chinese group sees Chinese: every message the bot sends there, on happy and refused
paths alike, is checked for English left untranslated."""

from __future__ import annotations

import re
from html import unescape

from tests.e2e.conftest import ADMIN_ID, CREATOR_ID, GROUP_ID, Harness
from tests.e2e.helpers import add_members

# What members and moderators type (command syntax, schedules, choices) stays as typed, and
# proper names stay as they are; everything else must be translated.
SYNTAX_WORDS = {
    "cron", "week", "month", "all", "zh", "en", "on", "off", "approve", "manual", "checkin",
    "leaderboard", "reminder", "expert", "star", "none", "default", "hours", "reward", "bonus",
    "cap", "button", "add", "list", "show", "pause", "resume", "delete", "grace", "test",
    "enable", "disable", "new", "set", "id", "username", "names", "group", "rules", "nps",
    "csat", "quota", "revoke", "check", "in", "ref", "inv", "Asia", "Shanghai", "America",
    "New_York", "UTC", "Area", "City", "HTML", "https", "http", "label", "text", "ID",
    "edit", "remove", "price", "stock", "title", "tier", "limit", "fulfil", "reject",
    "top", "start", "schedule", "cancel", "import", "explanation", "topic", "difficulty",
    "YAML", "JSON", "CSV", "members", "ledger", "checkins", "referrals",
    "rule", "loyal", "factor", "mingap", "history", "inactive", "churn", "wonback", "gift",
    "open", "bug", "idea", "complaint", "accept", "done", "reply", "merge", "announce", "tickets",
}  # fmt: skip
SYNTAX_WORDS |= {"close", "unschedule", "duration", "thanks", "gift", "vip", "NPS", "CSAT"}
SYNTAX_WORDS |= {"winners", "cost", "max", "days", "late", "yes", "no", "draw", "entries"}
SYNTAX_WORDS |= {"reroll", "repeat"}
SYNTAX_WORDS |= {"badge", "SHA", "preview"}
SYNTAX_WORDS |= {"details", "yes", "no", "OWNER_IDS"}  # shop options, the owners' setting
PROPER_NAMES = ("Seed Users", "User 1001", "User 1002", "Creator", "Admin", "Owner", "Hello")
ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z_]+")


def english_left_in(text: str) -> list[str]:
    text = re.sub(r"<code>.*?</code>", " ", text, flags=re.S)  # hashes, commands to copy
    text = unescape(re.sub(r"<[^>]+>", " ", text))
    text = re.sub(r"\{\w+\}", " ", text)  # template placeholders are syntax
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"&\w+;", " ", text)  # HTML entities shown as what to type
    text = re.sub(r"\b[A-Z][a-z]+/[A-Za-z_/]+", " ", text)  # time zone names
    text = re.sub(r"/[a-z_]+", " ", text)
    text = re.sub(r"@\w+", " ", text)
    for proper in PROPER_NAMES:
        text = text.replace(proper, " ")
    return [word for word in ENGLISH_WORD.findall(text) if word not in SYNTAX_WORDS]


HAN = "\u4e00-\u9fff"
ASCII_IN_CHINESE = re.compile(rf"[{HAN}）][,:] ?\S|\S[,:] [{HAN}（]")
NESTED_BRACKETS = re.compile(r"（[^（）]*（")


def punctuation_left_in(text: str) -> list[str]:
    """ASCII `: ` and `, ` touching Chinese, and brackets inside brackets."""
    text = re.sub(r"<code>.*?</code>", " ", text, flags=re.S)
    text = re.sub(r"https?://\S+", " ", text)
    text = unescape(re.sub(r"<[^>]+>", "", text))
    text = re.sub(r"\d{1,2}:\d{2}", " ", text)  # times of day
    return ASCII_IN_CHINESE.findall(text) + NESTED_BRACKETS.findall(text)


COMMANDS = [
    (1001, "/checkin"),
    (1001, "签到"),
    (1001, "/me"),
    (1001, "/top"),
    (1001, "/top forever"),
    (1001, "/tiers"),
    (1001, "/invites"),
    (1001, "/topinviters"),
    (1001, "/topinviters x"),
    (1001, "/award @user1002 5"),
    (1001, "/help"),
    (CREATOR_ID, "/help"),
    (CREATOR_ID, "/award"),
    (CREATOR_ID, "/award @user1002"),
    (CREATOR_ID, "/award @user1002 -3"),
    (CREATOR_ID, "/award @nobody 3"),
    (CREATOR_ID, "/award @user1002 5 很有帮助"),
    (CREATOR_ID, "/deduct"),
    (CREATOR_ID, "/deduct @user1002 500"),
    (CREATOR_ID, "/badge"),
    (CREATOR_ID, "/badge @user1002 wizard"),
    (CREATOR_ID, "/badge @user1002 expert"),
    (CREATOR_ID, "/lang"),
    (CREATOR_ID, "/export"),
    (CREATOR_ID, "/export members"),
    (CREATOR_ID, "/campaign"),
    (CREATOR_ID, "/campaign add"),
    (CREATOR_ID, "/campaign add daily 25:00 Hello"),
    (CREATOR_ID, "/campaign add daily 09:00 Hello {nope}"),
    (CREATOR_ID, "/campaign add daily 09:00 Hello"),
    (CREATOR_ID, "/campaign list"),
    (CREATOR_ID, "/campaign show 1"),
    (CREATOR_ID, "/campaign pause 1"),
    (CREATOR_ID, "/campaign list"),
    (CREATOR_ID, "/campaign grace 1 0"),
    (CREATOR_ID, "/campaign show 99"),
    (CREATOR_ID, "/campaign enable reminder"),
    (CREATOR_ID, "/campaign list"),
    (CREATOR_ID, "/timezone"),
    (CREATOR_ID, "/timezone Mars/Olympus"),
    (CREATOR_ID, "/growth"),
    (CREATOR_ID, "/churn"),
    (CREATOR_ID, "/keymembers"),
    (CREATOR_ID, "/keymembers rule x y"),
    (CREATOR_ID, "/lifecycle"),
    (CREATOR_ID, "/lifecycle churn 500"),
    (CREATOR_ID, "/lifecycle nonsense"),
    (CREATOR_ID, "/winback"),
    (CREATOR_ID, "/winback maybe"),
    (CREATOR_ID, "/winback gift 5"),
    (CREATOR_ID, "/growth hours x"),
    (CREATOR_ID, "/setwelcome"),
    (CREATOR_ID, "/setrules"),
    (CREATOR_ID, "/joinrequests"),
    (CREATOR_ID, "/referrals"),
    (CREATOR_ID, "/referrals @user1002"),
    (ADMIN_ID, "/quota"),
    (CREATOR_ID, "/revoke"),
    (CREATOR_ID, "/revoke 999999"),
    (CREATOR_ID, "/badge @user1002"),
    (CREATOR_ID, "/unbadge"),
    (CREATOR_ID, "/quota x"),
    (CREATOR_ID, "/lang xx"),
    (CREATOR_ID, "/joinrequests x"),
    (CREATOR_ID, "/campaign add daily 09:00"),
    (CREATOR_ID, "/campaign add daily 09:00 Hello\nbutton: x"),
    (CREATOR_ID, "/campaign add daily 09:00 <b>Hello"),
    (CREATOR_ID, "/campaign add daily 09:00 Hello</i>"),
    (CREATOR_ID, "/campaign add daily 09:00 Hello & bye"),
    (CREATOR_ID, "/shop add 10 5 贴纸 limit=1"),
    (CREATOR_ID, "/shop add 10 5 贴纸 tier=王者"),
    (CREATOR_ID, "/shop add x"),
    (CREATOR_ID, "/shop edit 1 price 20"),
    (CREATOR_ID, "/shop edit 1 tier 活跃"),
    (CREATOR_ID, "/shop edit 1 colour red"),
    (CREATOR_ID, "/shop add 30 5 卫衣 details=yes"),
    (CREATOR_ID, "/shop add 30 5 卫衣 details=也许"),
    (CREATOR_ID, "/shop edit 2 details no"),
    (CREATOR_ID, "/quota set 5"),
    (1001, "/shop"),
    (1001, "/shop add 1 1 贴纸"),
    (1001, "/myorders"),
    (1001, "/orders"),
    (CREATOR_ID, "/orders"),
    (CREATOR_ID, "/orders all"),
    (CREATOR_ID, "/orders fulfil 9"),
    (CREATOR_ID, "/shop remove 9"),
    (1001, "/quiz top"),
    (ADMIN_ID, "/quiz"),
    (ADMIN_ID, "/quiz list"),
    (ADMIN_ID, "/quiz start"),
    (ADMIN_ID, "/quiz add Only a question"),
    (ADMIN_ID, "/quiz add Q? | a | b"),
    (ADMIN_ID, "/quiz add Q? | *a | b"),
    (ADMIN_ID, "/quiz import"),
    (ADMIN_ID, "/quiz schedule daily 21:00 3"),
    (ADMIN_ID, "/quiz cancel 7"),
    (1001, "/forgetme"),
    (1001, "/bug 按钮没反应"),
    (1001, "/complaint 有人刷屏"),
    (1001, "/feedback 想要夜间模式"),
    (1001, "/bug"),
    (1001, "/bug " + "长" * 2001),
    (1001, "/mytickets"),
    (1001, "/tickets"),
    (ADMIN_ID, "/tickets"),
    (ADMIN_ID, "/tickets all bug"),
    (ADMIN_ID, "/tickets later"),
    (ADMIN_ID, "/ticket 1"),
    (ADMIN_ID, "/ticket 2"),
    (ADMIN_ID, "/ticket 1 accept"),
    (ADMIN_ID, "/ticket 1 accept"),
    (ADMIN_ID, "/ticket 1 reply 谢谢"),
    (ADMIN_ID, "/ticket 1 announce"),
    (ADMIN_ID, "/ticket 2 announce"),
    (ADMIN_ID, "/ticket 2 reject"),
    (ADMIN_ID, "/ticket 2 merge 1"),
    (ADMIN_ID, "/ticket 2 reward"),
    (ADMIN_ID, "/ticket 9"),
    (ADMIN_ID, "/ticket"),
    (ADMIN_ID, "/ticketrules"),
    (ADMIN_ID, "/ticketrules bug 40"),
    (ADMIN_ID, "/ticketrules bug x"),
    (ADMIN_ID, "/ticketrules bug 5000"),
    (CREATOR_ID, "/stats"),
    (CREATOR_ID, "/stats 0"),
    (ADMIN_ID, "/survey"),
    (ADMIN_ID, "/survey csat"),
    (ADMIN_ID, "/survey duration 0"),
    (ADMIN_ID, "/survey thanks 3"),
    (ADMIN_ID, "/survey thanks 1000"),
    (ADMIN_ID, "/survey close 9"),
    (ADMIN_ID, "/survey nps"),
    (ADMIN_ID, "/survey csat 活动怎么样？"),
    (ADMIN_ID, "/survey list"),
    (ADMIN_ID, "/survey schedule daily 21:00 csat 还好吗？"),
    (ADMIN_ID, "/survey close 1"),
    (ADMIN_ID, "/survey cancel 2"),
    (1001, "/survey nps"),
    (1001, "/birthday 03-03"),
    (ADMIN_ID, "/birthdays"),
    (ADMIN_ID, "/birthdays gift 30"),
    (ADMIN_ID, "/birthdays vip 50"),
    (ADMIN_ID, "/birthdays group maybe"),
    (CREATOR_ID, "/campaign add 每天 09:00 早上好"),
    (CREATOR_ID, "/campaign add 每周六 20:00 周末活动"),
    (CREATOR_ID, "/campaign add 每月1日 10:00 月初福利"),
    (CREATOR_ID, "/campaign add 每周八 10:00 不存在"),
    (CREATOR_ID, "/campaign list"),
    (ADMIN_ID, "/quiz schedule 每周日 21:00 3"),
    (ADMIN_ID, "/quiz list"),
    (ADMIN_ID, "/survey schedule 每月15号 21:00 nps"),
    (ADMIN_ID, "/survey list"),
    (CREATOR_ID, "/lottery new 抽奖 | 贴纸 | 下周"),
    (CREATOR_ID, "/lottery new 抽奖 | 贴纸 | 明天 20:00 | winners=0"),
    (CREATOR_ID, "/lottery new 抽奖 | 贴纸 | 明天 20:00 | 颜色=红"),
    (CREATOR_ID, "/lottery new 抽奖 | 贴纸 | 明天 20:00 | late=也许"),
    (CREATOR_ID, "/lottery new 抽奖 | 贴纸 | 12-24 20:00"),
    (CREATOR_ID, "/lottery repeat 1 每周六 20:00"),
    (CREATOR_ID, "/lottery show 1"),
    (CREATOR_ID, "/lottery draw 1"),
    (1001, "/birthday 12月7日"),
    (1001, "/mydata"),
    (CREATOR_ID, "/checkinpost"),
]
PRIVATE_COMMANDS = ["/start", "/start ref_nope", "/start inv_nope", "/help", "/invite", "/top"]
PRIVATE_COMMANDS += ["/forgetme"]
PRIVATE_COMMANDS += ["/idea 想要夜间模式", "/feedback 测试", "/bug", "/mytickets"]
PRIVATE_COMMANDS += ["/birthday", "/birthday 13-01", "/birthday 03-03", "/birthday off"]
PRIVATE_COMMANDS += ["/birthday 12月7日", "/birthday 12/7", "/mydata"]


async def test_a_chinese_group_sees_no_untranslated_english(harness: Harness) -> None:
    add_members(harness, [1001, 1002])
    await harness.say(1002, "hello")
    await harness.say(CREATOR_ID, "/lang zh")
    before = len(harness.replies())
    for user_id, text in COMMANDS:
        await harness.say(user_id, text)
    sent = harness.replies()[before:]
    assert len(sent) >= len(COMMANDS) - 3
    leaks = {
        message.text: words for message in sent if (words := english_left_in(message.text or ""))
    }
    assert leaks == {}, "\n".join(f"{words}: {text!r}" for text, words in leaks.items())
    marks = {m.text: found for m in sent if (found := punctuation_left_in(m.text or ""))}
    assert marks == {}, "\n".join(f"{found}: {text!r}" for text, found in marks.items())
    # Pop-ups (callback answers) too: a check-in, a repeated one, a button from an old version.
    post = sent[-1]
    assert post.reply_markup is not None
    data = post.reply_markup["inline_keyboard"][0][0]["callback_data"]
    for presser, button_data in ((1002, data), (1002, data), (1002, "v0old:1")):
        await harness.handled(
            harness.api.press_button(GROUP_ID, post.message_id, presser, button_data)
        )
    answers = [str(call.get("text") or "") for call in harness.api.calls("answerCallbackQuery")]
    assert len(answers) == 3
    assert [english_left_in(text) for text in answers] == [[], [], []]


async def test_a_chinese_speaker_in_a_private_chat_sees_no_english(harness: Harness) -> None:
    add_members(harness, [1001])
    harness.api.add_user(1001, "User 1001", username="user1001", language_code="zh-hans")
    await harness.say(1001, "/checkin")
    for text in PRIVATE_COMMANDS:
        await harness.say(1001, text, chat_id=1001)
    sent = harness.replies(1001)
    assert len(sent) >= len(PRIVATE_COMMANDS)
    leaks = {m.text: words for m in sent if (words := english_left_in(m.text or ""))}
    assert leaks == {}, "\n".join(f"{words}: {text!r}" for text, words in leaks.items())
    marks = {m.text: found for m in sent if (found := punctuation_left_in(m.text or ""))}
    assert marks == {}, "\n".join(f"{found}: {text!r}" for text, found in marks.items())


def test_the_detector_finds_english() -> None:
    sent_usage = (
        "用法：/award &lt;@username|id&gt; &lt;points&gt; [reason]"  # as sent: HTML-escaped
    )
    assert english_left_in(sent_usage) == ["points", "reason"]
    assert english_left_in("状态：active") == ["active"]
    assert english_left_in("<b>User 1001</b>：+5 积分 /checkin @user1001") == []
    assert punctuation_left_in("<b>小明</b>: 按钮没反应") == ["明: 按"]
    assert punctuation_left_in("调查（满意度（CSAT））") == ["（满意度（"]
    assert punctuation_left_in("已保存：每天 20:30，首次推送 2026-03-02 20:30。") == []


async def test_schedules_are_typed_and_echoed_in_the_groups_language(harness: Harness) -> None:
    add_members(harness, [1001])
    await harness.say(CREATOR_ID, "/lang zh")
    for typed, echoed in (
        ("每天 20:30", "每天 20:30"),
        ("每周六 20:00", "每周六 20:00"),
        ("星期一 08:00", "每周一 08:00"),
        ("每月1日 10:00", "每月1日 10:00"),
        ("daily 07:15", "每天 07:15"),
    ):
        await harness.say(CREATOR_ID, f"/campaign add {typed} 你好")
        reply = harness.last_reply()
        assert f"已保存：{echoed}，" in reply, reply
    await harness.say(CREATOR_ID, "/campaign list")
    listed = harness.last_reply()
    assert "每周六 20:00" in listed and "weekly" not in listed and "daily" not in listed
    await harness.say(ADMIN_ID, "/survey schedule 每周五 21:00 nps")
    assert "每周五 21:00" in harness.last_reply()
    await harness.say(ADMIN_ID, "/quiz schedule 每月15号 21:00 3")
    assert "每月15日 21:00" in harness.last_reply()
    await harness.say(CREATOR_ID, "/lottery new 抽奖 | 贴纸 | 明天 20:00")
    await harness.say(CREATOR_ID, "/lottery repeat 1 周六 20:00")
    assert "每周六 20:00" in harness.last_reply()
    await harness.say(CREATOR_ID, "/lottery draw 1")
    assert "正在开奖" in harness.last_reply()

    await harness.say(CREATOR_ID, "/lang en")  # an English group keeps the English forms
    await harness.say(CREATOR_ID, "/campaign add 每周六 20:00 Hello")
    assert "saved: weekly sat 20:00," in harness.last_reply()


async def test_exports_and_mydata_read_in_the_groups_language_and_time(
    harness: Harness,
) -> None:
    import csv
    import io

    add_members(harness, [1001])
    await harness.say(CREATOR_ID, "/lang zh")
    await harness.say(1001, "/checkin")
    await harness.say(CREATOR_ID, "/start", chat_id=CREATOR_ID)
    await harness.say(CREATOR_ID, "/export members")
    chat, _name, content = harness.api.sent_documents[-1]
    assert chat == CREATOR_ID
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    header = rows[0]
    assert {"用户编号", "是否在群", "入群时间", "等级", "名字"} <= set(header)
    assert not [column for column in header if english_left_in(column)], header
    member = next(row for row in rows[1:] if row[header.index("用户编号")] == "1001")
    assert member[header.index("是否在群")] == "是"
    assert member[header.index("等级")] == "新人"
    assert member[header.index("最近活跃时间")].endswith("+08:00")  # Asia/Shanghai
    await harness.say(CREATOR_ID, "/export ledger")
    ledger = list(csv.reader(io.StringIO(harness.api.sent_documents[-1][2].decode("utf-8-sig"))))
    assert ledger[1][ledger[0].index("创建时间")].endswith("+08:00")

    harness.api.add_user(1001, "User 1001", username="user1001", language_code="zh-hans")
    await harness.say(1001, "/mydata", chat_id=1001)
    caption = next(
        str(call.get("caption"))
        for call in reversed(harness.api.calls("sendDocument"))
        if int(call.get("chat_id") or 0) == 1001
    )
    assert "UTC+08:00" in caption and " UTC，" not in caption
    assert english_left_in(caption) == []


async def test_names_keep_no_stray_spaces(harness: Harness) -> None:
    harness.api.add_user(1003, "  小明 ", username="xiaoming")
    harness.api.add_member(GROUP_ID, 1003)
    await harness.say(CREATOR_ID, "/lang zh")
    await harness.say(1003, "/checkin")
    reply = harness.last_reply()
    assert "<b>小明</b>" in reply and "<b> " not in reply, reply


CONSOLE_COMMANDS = [
    "/settings",
    "/shop add 100 10 贴纸",
    "/campaign add 每天 20:00 今晚活动",
    "/campaign preview 1",
    "/campaign show 9",
    "/quiz import",
    "/lottery new",
    "/orders",
    "/stats 7",
    "/checkinpost",
]


async def test_the_private_console_of_a_chinese_group_speaks_chinese(harness: Harness) -> None:
    """A Chinese-speaking moderator manages a Chinese group from the private chat, and sets
    it up from the group, where the group's one line is Chinese too."""
    add_members(harness, [1001])
    harness.api.add_user(ADMIN_ID, "Admin", username="admin", language_code="zh-hans")
    await harness.say(CREATOR_ID, "/lang zh")
    await harness.say(ADMIN_ID, "你好")
    harness.api.open_private_chat(ADMIN_ID)
    await harness.say(ADMIN_ID, "/campaign list", chat_id=ADMIN_ID)  # no group chosen yet
    await harness.say(ADMIN_ID, "/manage", chat_id=ADMIN_ID)
    listing = harness.replies(ADMIN_ID)[-1]
    assert listing.reply_markup is not None
    data = listing.reply_markup["inline_keyboard"][0][0]["callback_data"]
    await harness.handled(harness.api.press_button(ADMIN_ID, listing.message_id, ADMIN_ID, data))
    for text in CONSOLE_COMMANDS:
        await harness.say(ADMIN_ID, text, chat_id=ADMIN_ID)
    in_group_before = len(harness.replies(GROUP_ID))
    await harness.say(ADMIN_ID, "/setrules https://example.org/rules")
    await harness.say(1001, "/stats")
    sent = [
        *harness.api.messages_to(ADMIN_ID, include_edits=True),
        *harness.replies(GROUP_ID)[in_group_before:],
    ]
    assert len(sent) >= len(CONSOLE_COMMANDS) + 3
    assert sum((m.text or "").startswith("📍") for m in sent) >= len(CONSOLE_COMMANDS)
    assert any("已在与机器人的私聊中回复你" in (m.text or "") for m in sent)
    assert any("只有本群管理员" in (m.text or "") for m in sent)
    leaks = {m.text: words for m in sent if (words := english_left_in(m.text or ""))}
    assert leaks == {}, "\n".join(f"{words}: {text!r}" for text, words in leaks.items())
    marks = {m.text: found for m in sent if (found := punctuation_left_in(m.text or ""))}
    assert marks == {}, "\n".join(f"{found}: {text!r}" for text, found in marks.items())
