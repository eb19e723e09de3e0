"""The reply path against the fake Bot API over HTTP, with time moved by the test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from aiogram import Bot
from aiogram.types import CallbackQuery, Message

from runtime.outbox import MAX_MESSAGE_LENGTH, CheckinLine, Outbox, merged_checkins
from runtime.replies import ReplySender
from runtime.sender import RateWindows, SendLimits
from seedbot.app import build_bot
from seedbot.config import Settings
from tests.fakes.bot_api import FakeBotAPI, SentMessage
from tests.fakes.clock import FakeClock

GROUP = -1001000000001
OTHER_GROUP = -1001000000002
CREATOR = 10
MEMBERS = list(range(1000, 1060))
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class ManualTime:
    """A sleep that returns only when the test moves the clock past its end."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._waiters: list[tuple[datetime, asyncio.Future[None]]] = []

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((self.clock.now() + timedelta(seconds=seconds), future))
        await future

    @property
    def sleeping(self) -> int:
        return len(self._waiters)

    def advance(self, seconds: float) -> None:
        now = self.clock.advance(seconds=seconds)
        due = [(end, future) for end, future in self._waiters if end <= now]
        self._waiters = [waiter for waiter in self._waiters if waiter not in due]
        for _end, future in due:
            if not future.done():
                future.set_result(None)


async def until(condition: Callable[[], bool], what: str) -> None:
    """Waits for the HTTP round trips under way (never for time to pass: time is the test's)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def time(clock: FakeClock) -> ManualTime:
    return ManualTime(clock)


@pytest.fixture
async def api(clock: FakeClock) -> AsyncIterator[FakeBotAPI]:
    fake = FakeBotAPI(
        wall_clock=clock.now,
        time_source=lambda: clock.now().timestamp(),
        enforce_rate_limits=True,
    )
    await fake.start()
    fake.add_user(CREATOR, "Creator")
    for user_id in MEMBERS:
        fake.add_user(user_id, "<Ann & Co>" if user_id == MEMBERS[0] else f"Member {user_id}")
    for group in (GROUP, OTHER_GROUP):
        fake.add_group(group, "Seed", creator_id=CREATOR)
        fake.add_bot_to_group(group, by_user_id=CREATOR)
        for user_id in MEMBERS:
            fake.add_member(group, user_id)
    yield fake
    await fake.stop()


@pytest.fixture
async def bot(api: FakeBotAPI, time: ManualTime) -> AsyncIterator[Bot]:
    settings = Settings(bot_token=api.token, bot_api_base_url=api.base_url, database_url="")
    bot = build_bot(settings, time.sleep)  # with the RetryAfterMiddleware, as the app has it
    yield bot
    await bot.session.close()


@pytest.fixture
async def replies(
    bot: Bot, clock: FakeClock, time: ManualTime
) -> AsyncIterator[tuple[ReplySender, RateWindows]]:
    windows = RateWindows(SendLimits())
    sender = ReplySender(bot, windows, clock, time.sleep)
    yield sender, windows
    await sender.close()


def checkin_outbox(api: FakeBotAPI, chat_id: int, user_id: int, points: int = 10) -> Outbox:
    """What /checkin by that member plans: its reply, marked as a check-in."""
    message = api.update_of(api.send_message(chat_id, user_id, "/checkin")).message
    assert isinstance(message, Message) and message.from_user is not None
    name = message.from_user.full_name
    outbox = Outbox()
    outbox.reply(
        message,
        f"✅ {name.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')} checked in",
        merge=CheckinLine(name, points, 2, "en"),
    )
    return outbox


def at_most_per_minute(messages: list[SentMessage], limit: int) -> bool:
    dates = sorted(m.date for m in messages)
    return all(
        sum(1 for other in dates if first <= other < first + timedelta(minutes=1)) <= limit
        for first in dates
    )


async def test_a_group_over_its_budget_gets_one_merged_reply_instead_of_many(
    api: FakeBotAPI, time: ManualTime, replies: tuple[ReplySender, RateWindows]
) -> None:
    sender, _windows = replies
    for user_id in MEMBERS[:20]:  # the group's budget for this minute, one reply each
        sender.submit(checkin_outbox(api, GROUP, user_id))
        await sender.idle()
    assert len(api.messages_to(GROUP)) == 20

    for user_id in MEMBERS[20:]:  # 40 more within the same minute, as one batch hands them over
        sender.submit(checkin_outbox(api, GROUP, user_id, points=12))
    plain = Outbox()
    plain.send(GROUP, "a reply that waits its turn")
    sender.submit(plain)
    await until(lambda: time.sleeping == 1, "the group to wait for its budget")
    assert len(api.messages_to(GROUP)) == 20

    time.advance(60)
    await sender.idle()

    sent = api.messages_to(GROUP)
    assert len(sent) == 22
    merged = sent[20].text or ""
    assert merged.startswith("✅ 40 members checked in: Member 1020 +12 (streak 2), ")
    for user_id in MEMBERS[20:]:
        assert f"Member {user_id} +12" in merged
    assert sent[21].text == "a reply that waits its turn"
    assert at_most_per_minute(sent, 20)
    assert api.rate_limit_violations == 0


async def test_names_in_a_merged_reply_are_escaped(
    api: FakeBotAPI, time: ManualTime, replies: tuple[ReplySender, RateWindows], clock: FakeClock
) -> None:
    sender, windows = replies
    for _ in range(20):
        windows.record(GROUP, clock.now())  # the group's budget is spent
    for user_id in MEMBERS[:3]:
        sender.submit(checkin_outbox(api, GROUP, user_id))
    await until(lambda: time.sleeping == 1, "the group to wait for its budget")
    time.advance(60)
    await sender.idle()

    [merged] = api.messages_to(GROUP)
    assert merged.text == (
        "✅ 3 members checked in: &lt;Ann &amp; Co&gt; +10 (streak 2), "
        "Member 1001 +10 (streak 2), Member 1002 +10 (streak 2)"
    )


def test_a_merged_reply_too_long_for_one_message_is_split() -> None:
    lines = [CheckinLine(f"Member with a long name {n}", 10, 1, "en") for n in range(500)]
    texts = merged_checkins(lines)
    assert len(texts) > 1
    assert all(len(text) <= MAX_MESSAGE_LENGTH for text in texts)
    assert sum(text.count("+10 (streak 1)") for text in texts) == 500
    assert merged_checkins([CheckinLine("Ann", 10, 1, "zh")])[0].startswith("✅ 1 ")


def test_a_merged_reply_names_each_member_once() -> None:
    lines = [
        CheckinLine("Member0", 10, 1, "en", user_id=1),
        CheckinLine("Member0", 10, 1, "en", user_id=1),  # pressed again, or redelivered
        CheckinLine("Member0", 10, 1, "en", checked_in=False, user_id=1),
        CheckinLine("Member0", 10, 1, "en", user_id=2),  # another member, the same name
        CheckinLine("Bea", 10, 3, "en", checked_in=False, user_id=3),
        CheckinLine("Bea", 10, 3, "en", checked_in=False, user_id=3),
    ]
    assert merged_checkins(lines) == [
        "✅ 2 members checked in: Member0 +10 (streak 1), Member0 +10 (streak 1)\n"
        "Already checked in today: Bea"
    ]


async def test_button_presses_are_answered_at_once_while_the_group_is_over_budget(
    api: FakeBotAPI, time: ManualTime, replies: tuple[ReplySender, RateWindows], clock: FakeClock
) -> None:
    sender, windows = replies
    post = Outbox()
    post.send(GROUP, "Press to check in")
    sender.submit(post)
    await sender.idle()
    [posted] = api.messages_to(GROUP)
    for _ in range(19):
        windows.record(GROUP, clock.now())  # with the post, the group's budget is spent
    for user_id in MEMBERS[:5]:
        sender.submit(checkin_outbox(api, GROUP, user_id))
    await until(lambda: time.sleeping == 1, "the group to wait for its budget")

    for user_id in MEMBERS[5:15]:
        update = api.update_of(api.press_button(GROUP, posted.message_id, user_id, "v1ci"))
        assert isinstance(update.callback_query, CallbackQuery)
        toast = Outbox()
        toast.toast(update.callback_query, f"✅ +10 points for {user_id}")
        sender.submit(toast)
    await until(lambda: len(api.callback_answers) == 10, "the toasts")

    assert [answer["text"] for answer in api.callback_answers] == [
        f"✅ +10 points for {user_id}" for user_id in MEMBERS[5:15]
    ]
    assert len(api.messages_to(GROUP)) == 1  # the group's replies still wait for its budget
    time.advance(60)
    await sender.idle()
    assert len(api.messages_to(GROUP)) == 2


async def test_a_429_for_one_chat_does_not_delay_another_chats_replies(
    api: FakeBotAPI, time: ManualTime, replies: tuple[ReplySender, RateWindows]
) -> None:
    sender, _windows = replies
    api.fail_next_send_to(GROUP, retry_after=30)
    sender.submit(checkin_outbox(api, GROUP, MEMBERS[0]))
    await until(lambda: time.sleeping == 1, "the limited chat to wait")

    for user_id in MEMBERS[1:4]:
        sender.submit(checkin_outbox(api, OTHER_GROUP, user_id))
    await until(lambda: len(api.messages_to(OTHER_GROUP)) == 3, "the other chat's replies")
    assert api.messages_to(GROUP) == []

    time.advance(30)
    await sender.idle()
    assert len(api.messages_to(GROUP)) == 1
    assert len(api.calls("sendMessage")) == 5  # the refused one once more, nothing else twice


async def test_a_chat_that_refuses_messages_is_dropped_and_the_others_go_on(
    api: FakeBotAPI, replies: tuple[ReplySender, RateWindows]
) -> None:
    sender, _windows = replies
    outbox = checkin_outbox(api, GROUP, MEMBERS[0])
    api.remove_bot_from_group(GROUP, by_user_id=CREATOR)
    sender.submit(outbox)
    sender.submit(checkin_outbox(api, OTHER_GROUP, MEMBERS[1]))
    await sender.idle()
    assert api.messages_to(GROUP) == []
    assert len(api.messages_to(OTHER_GROUP)) == 1


async def test_a_reply_that_may_have_reached_telegram_is_not_sent_again(
    api: FakeBotAPI, replies: tuple[ReplySender, RateWindows]
) -> None:
    sender, _windows = replies
    api.drop_answer("sendMessage")
    sender.submit(checkin_outbox(api, GROUP, MEMBERS[0]))
    await sender.idle()
    assert len(api.messages_to(GROUP)) == 1
    assert len(api.calls("sendMessage")) == 1


async def test_a_batch_is_delivered_only_once_its_toasts_were_answered(
    api: FakeBotAPI, bot: Bot, clock: FakeClock, time: ManualTime
) -> None:
    """The intake confirms a batch when `deliver` returns: by then every press is answered."""
    sender = ReplySender(bot, RateWindows(SendLimits()), clock, time.sleep, answer_workers=2)
    post = Outbox()
    post.send(GROUP, "Press to check in")
    sender.submit(post)
    await sender.idle()
    [posted] = api.messages_to(GROUP)
    toasts = []
    for user_id in MEMBERS[:10]:
        update = api.update_of(api.press_button(GROUP, posted.message_id, user_id, "v1ci"))
        assert isinstance(update.callback_query, CallbackQuery)
        toast = Outbox()
        toast.toast(update.callback_query, f"✅ {user_id}")
        toast.send(GROUP, f"checked in {user_id}")
        toasts.append(toast)

    delivering = asyncio.create_task(sender.deliver(toasts))
    await asyncio.sleep(0)
    assert not delivering.done()
    await delivering
    assert len(api.callback_answers) == 10
    await sender.idle()
    assert len(api.messages_to(GROUP)) == 11
    await sender.close()
