from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain.errors import InvalidSchedule, InvalidTemplate, PastSchedule
from bot.domain.markup import check_template
from bot.domain.schedules import next_fire, parse_schedule, require_future


def local_fires(spec: str, start: datetime, count: int, timezone: str) -> list[str]:
    schedule, _ = parse_schedule(spec)
    zone = ZoneInfo(timezone)
    moments, moment = [], start
    for _ in range(count):
        fire = next_fire(schedule, moment, timezone)
        assert fire is not None
        moments.append(fire.astimezone(zone).strftime("%a %m-%d %H:%M"))
        moment = fire
    return moments


def test_parsing_keeps_the_text_and_normalises_the_schedule() -> None:
    schedule, text = parse_schedule("weekly Monday 9:05 Hello\nsecond line")
    assert schedule.spec == "weekly mon 09:05" and text == "Hello\nsecond line"
    schedule, text = parse_schedule("at 2026-12-24 20:00")
    assert schedule.kind == "once" and text == ""


@pytest.mark.parametrize(
    "spec",
    [
        "hourly 09:00",
        "daily 24:00",
        "daily 9",
        "weekly someday 10:00",
        "monthly 32 10:00",
        "at 2026-02-30 10:00",
        "at 9999-12-31 23:59",
        "cron 0 9 * *",
        "cron 0 9 * * 8",
        "cron 0 9 1 * 1",  # a day of the month and a weekday together
    ],
)
def test_invalid_schedules(spec: str) -> None:
    with pytest.raises(InvalidSchedule):
        parse_schedule(spec)


def test_monthly_falls_on_the_last_day_of_short_months_once() -> None:
    fires = local_fires("monthly 30 10:00", datetime(2026, 1, 1, tzinfo=UTC), 4, "Asia/Shanghai")
    assert fires == ["Fri 01-30 10:00", "Sat 02-28 10:00", "Mon 03-30 10:00", "Thu 04-30 10:00"]


def test_cron_weekdays_count_from_sunday() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)  # a Sunday
    weekdays = local_fires("cron 0 9 * * 1-5", start, 6, "Asia/Shanghai")
    assert [fire[:3] for fire in weekdays] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]
    assert local_fires("cron 0 9 * * 0", start, 1, "Asia/Shanghai")[0].startswith("Sun")
    assert local_fires("cron 0 9 * * 7", start, 1, "Asia/Shanghai")[0].startswith("Sun")


def test_daylight_saving_keeps_local_time_and_never_repeats_a_day() -> None:
    autumn = local_fires("daily 02:30", datetime(2026, 10, 23, tzinfo=UTC), 4, "Europe/Berlin")
    assert autumn == ["Fri 10-23 02:30", "Sat 10-24 02:30", "Sun 10-25 02:30", "Mon 10-26 02:30"]
    spring = local_fires("daily 09:00", datetime(2026, 3, 27, tzinfo=UTC), 3, "Europe/Berlin")
    assert spring == ["Fri 03-27 09:00", "Sat 03-28 09:00", "Sun 03-29 09:00"]


def test_past_and_never_firing_schedules_are_refused() -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(PastSchedule):
        require_future(parse_schedule("at 2026-03-01 10:00")[0], now, "Asia/Shanghai")
    with pytest.raises(InvalidSchedule):
        require_future(parse_schedule("cron 0 9 31 2 *")[0], now, "Asia/Shanghai")


@pytest.mark.parametrize("text", ["{date:%d.%m}", "{community!r}", "{name}", "{", "{0}"])
def test_templates_allow_only_bare_known_placeholders(text: str) -> None:
    with pytest.raises(InvalidTemplate):
        check_template(text, ("community", "date"), 100)
    check_template("{community} on {date}, {{literal}}", ("community", "date"), 100)


@pytest.mark.parametrize(
    ("typed", "spec", "rest"),
    [
        ("每天 09:00 早上好", "daily 09:00", "早上好"),
        ("每日 9：30", "daily 09:30", ""),
        ("每周六 20:00 周末活动\n第二行", "weekly sat 20:00", "周末活动\n第二行"),
        ("周六 20:00", "weekly sat 20:00", ""),
        ("星期六 20:00", "weekly sat 20:00", ""),
        ("每星期一 08:00", "weekly mon 08:00", ""),
        ("每周日 21:00", "weekly sun 21:00", ""),
        ("每周天 21:00", "weekly sun 21:00", ""),
        ("每月1日 10:00 月初", "monthly 1 10:00", "月初"),
        ("每月15号 10:00", "monthly 15 10:00", ""),
        ("2026-12-24 20:00 平安夜", "at 2026-12-24 20:00", "平安夜"),
    ],
)
def test_chinese_schedules_read_as_the_english_forms(typed: str, spec: str, rest: str) -> None:
    schedule, text = parse_schedule(typed)
    assert schedule.spec == spec and text == rest


@pytest.mark.parametrize("typed", ["每周八 20:00", "每月32日 10:00", "每天 25:00", "每天"])
def test_bad_chinese_schedules_are_refused(typed: str) -> None:
    with pytest.raises(InvalidSchedule):
        parse_schedule(typed)


def test_lottery_draw_times_take_dates_days_and_words() -> None:
    from bot.parsing.lotteries import InvalidDrawTime, InvalidOption, parse_new

    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    shanghai = ZoneInfo("Asia/Shanghai")

    def drawn_at(when: str) -> str:
        draft = parse_new(f"T | P | {when}", now, "Asia/Shanghai")
        return draft.draw_at.astimezone(shanghai).strftime("%Y-%m-%d %H:%M")

    assert drawn_at("2026-12-24 20:00") == "2026-12-24 20:00"
    assert drawn_at("12-24 20:00") == "2026-12-24 20:00"
    assert drawn_at("12-01 20:00") == "2027-12-01 20:00"  # passed this year: the next
    assert drawn_at("tomorrow 20:00") == "2026-12-08 20:00"
    assert drawn_at("明天 20:00") == "2026-12-08 20:00"
    assert drawn_at("今天 21:30") == "2026-12-07 21:30"
    for bad in ("soon", "Friday 20:00", "2026-13-01 20:00", "tomorrow", "12-24 25:00"):
        with pytest.raises(InvalidDrawTime):
            parse_new(f"T | P | {bad}", now, "Asia/Shanghai")
    with pytest.raises(PastSchedule):
        parse_new("T | P | 今天 19:00", now, "Asia/Shanghai")
    with pytest.raises(InvalidOption) as refused:
        parse_new("T | P | 明天 20:00 | winners=0", now, "Asia/Shanghai")
    params = refused.value.params
    assert (params["option"], params["value"], params["lowest"], params["highest"]) == (
        "winners",
        "0",
        1,
        100,
    )


def test_birthdays_take_chinese_and_slash_dates() -> None:
    from bot.domain.care import InvalidBirthday
    from bot.parsing.birthdays import parse_birthday

    assert parse_birthday("12月7日") == (12, 7)
    assert parse_birthday("12月7号") == (12, 7)
    assert parse_birthday("12/7") == (12, 7)
    assert parse_birthday("12-07") == (12, 7)
    for bad in ("13/1", "2月30日", "12/7/2000"):
        with pytest.raises(InvalidBirthday):
            parse_birthday(bad)


def test_built_in_campaigns_take_chinese_schedules_and_a_chinese_colon() -> None:
    from bot.domain.models import CampaignKind
    from bot.parsing.campaigns import parse_builtin_schedule

    reminder, leaderboard = CampaignKind.STREAK_REMINDER, CampaignKind.WEEKLY_LEADERBOARD
    assert parse_builtin_schedule(reminder, "每天 21:30").spec == "daily 21:30"
    assert parse_builtin_schedule(reminder, "21：30").spec == "daily 21:30"
    assert parse_builtin_schedule(leaderboard, "周五 18:00").spec == "weekly fri 18:00"
    assert parse_schedule("daily 9：05 x")[0].spec == "daily 09:05"
