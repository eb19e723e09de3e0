"""The words of `/campaign add`: a schedule, the post's text and its optional button."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain.errors import N_, InvalidSchedule, TextTooLong, UsageError
from bot.domain.markup import check_html, check_template
from bot.domain.models import CHECKIN_BUTTON, CampaignButton, CampaignKind
from bot.domain.schedules import Schedule, parse_schedule

PLACEHOLDERS = ("community", "date", "top_member", "member_count")
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_BUTTON_LABEL = 64
BUTTON_PREFIX = "button:"
TIME_ALONE = re.compile(r"[0-9]{1,2}[:：][0-9]{2}")

BUILTIN_SCHEDULES = {
    CampaignKind.CHECKIN_POST: "daily 09:00",
    CampaignKind.WEEKLY_LEADERBOARD: "weekly mon 10:00",
    CampaignKind.STREAK_REMINDER: "daily 20:00",
}


@dataclass(frozen=True)
class CampaignDraft:
    schedule: Schedule
    text: str
    photo: str | None = None
    button: CampaignButton | None = None


def parse_draft(text: str, photo: str | None) -> CampaignDraft:
    """`<schedule> <text>`, where the text's last line may be `button: <label> | <url>` or
    `button: checkin`."""
    schedule, body = parse_schedule(text)
    lines = body.rstrip().splitlines()
    button = None
    if lines and lines[-1].strip().lower().startswith(BUTTON_PREFIX):
        button = _parse_button(lines.pop().strip()[len(BUTTON_PREFIX) :].strip())
    body = "\n".join(lines).strip()
    if not body and photo is None:
        raise UsageError(usage=N_("/campaign add daily 09:00 <text>"))
    check_html(body)
    check_template(body, PLACEHOLDERS, MAX_CAPTION if photo else MAX_TEXT)
    return CampaignDraft(schedule=schedule, text=body, photo=photo, button=button)


def _parse_button(spec: str) -> CampaignButton:
    if spec.lower() == CHECKIN_BUTTON:
        return CampaignButton(text="", action=CHECKIN_BUTTON)
    label, _, url = (part.strip() for part in spec.partition("|"))
    if not label or not url.startswith(("https://", "http://", "tg://")):
        raise UsageError(usage=N_("button: <label> | https://… — or — button: checkin"))
    if len(label) > MAX_BUTTON_LABEL:
        raise TextTooLong(maximum=MAX_BUTTON_LABEL)
    return CampaignButton(text=label, url=url)


def parse_builtin_schedule(kind: CampaignKind, text: str | None) -> Schedule:
    """`/campaign enable <built-in> [schedule]`: a recurring schedule, the built-in's own
    without one; a time alone (`20:00`) keeps the built-in's day."""
    default = BUILTIN_SCHEDULES[kind]
    if text and TIME_ALONE.fullmatch(text.strip()):
        text = default.rsplit(" ", 1)[0] + " " + text.strip()
    schedule, rest = parse_schedule(text or default)
    if rest or not schedule.recurring:
        raise InvalidSchedule()
    return schedule
