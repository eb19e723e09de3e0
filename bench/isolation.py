"""No work of one group holds up another: other groups' answer times while one large group
runs its heavy work, against the same load with nothing heavy running, in the same run.

    .venv/bin/python -m bench.isolation [--members 100000] [--days 90] [--groups 20]
        [--rate 5] [--baseline-seconds 20]

Generates one community of --members members and --days days of history (bench.history,
into a fresh SQLite file built by the real migrations), starts the bot (`python -m bot run`,
its own process, timed work every second) against the fake Bot API, and lets --groups other
groups send check-ins and /me at a steady --rate (messages per second, all groups together).
First --baseline-seconds with nothing heavy running; then, under the same load, the large
group's moderator sends /stats, /export members and a 1 MB quiz file with /quiz import, and
the daily lifecycle job is made due again (its claims removed) for the large group. Reports
the other groups' p50/p99 answer time (update queued → reply sent) in both phases and their
ratio, /stats' own time (command → summary), the export's, the quiz import's and the
lifecycle job's (its start claim → its done claim, as seen in the database)."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench import history
from bench.harness import (
    BenchError,
    BotProcess,
    connect,
    percentile,
    start_seedbot,
    wait_until,
)
from tests.fakes.bot_api import FakeBotAPI

MODERATOR_ID = 1  # the large group's creator
FIRST_OTHER_GROUP = -1002000000001
FIRST_OTHER_MEMBER = 900_000_000
MEMBERS_PER_GROUP = 200
P99_TARGET_MS = 100.0
STATS_TARGET_SECONDS = 1.0
LIFECYCLE_TARGET_SECONDS = 10.0
QUIZ_FILE_BYTES = 1024 * 1024
HEAVY = frozenset({"stats", "export", "lifecycle", "quiz"})


@dataclass(frozen=True)
class Options:
    members: int
    days: int
    groups: int
    rate: float
    baseline_seconds: float
    heavy: frozenset[str] = HEAVY


@dataclass
class Load:
    """Messages the other groups sent: (update id, chat id, message id)."""

    sent: list[tuple[int, int, int]] = field(default_factory=list)

    def answer_ms(self, api: FakeBotAPI) -> tuple[list[float], int]:
        """Answer times in ms of the answered ones, and how many went unanswered."""
        replies: dict[tuple[int, int], float] = {}
        for chat_id in {chat for _u, chat, _m in self.sent}:
            for message in api.messages_to(chat_id):
                if message.reply_to_message_id is not None:
                    key = (chat_id, message.reply_to_message_id)
                    replies.setdefault(key, message.sent_at)
        times, missing = [], 0
        for update_id, chat_id, message_id in self.sent:
            answered = replies.get((chat_id, message_id))
            if answered is None:
                missing += 1
            else:
                times.append((answered - api.update_queued_at[update_id]) * 1000)
        return times, missing


def parse(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.isolation", description=__doc__)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument(
        "--rate",
        type=float,
        default=5.0,
        help="messages per second (under each group's 20 a minute)",
    )
    parser.add_argument("--baseline-seconds", type=float, default=20.0)
    parser.add_argument(
        "--heavy",
        default=",".join(sorted(HEAVY)),
        help="which heavy work runs (comma-separated, of: export, lifecycle, quiz, stats)",
    )
    args = parser.parse_args(argv)
    heavy = frozenset(args.heavy.split(",")) & HEAVY
    return Options(args.members, args.days, args.groups, args.rate, args.baseline_seconds, heavy)


def other_groups(options: Options) -> list[int]:
    return [FIRST_OTHER_GROUP - index for index in range(options.groups)]


def build_world(options: Options) -> FakeBotAPI:
    api = FakeBotAPI(enforce_rate_limits=False)
    api.add_user(MODERATOR_ID, "Moderator")
    api.add_group(history.COMMUNITY_ID, "Large group", creator_id=MODERATOR_ID)
    for index, chat_id in enumerate(other_groups(options)):
        api.add_group(chat_id, f"Group {index}", creator_id=MODERATOR_ID)
        for user_id in members_of(index):
            api.add_user(user_id, f"Member {user_id}")
            api.add_member(chat_id, user_id)
    return api


def members_of(group_index: int) -> range:
    first = FIRST_OTHER_MEMBER + group_index * MEMBERS_PER_GROUP
    return range(first, first + MEMBERS_PER_GROUP)


async def steady_load(api: FakeBotAPI, options: Options, seconds: float, load: Load) -> None:
    """Check-ins and /me, round robin over the groups and their members, at the rate."""
    groups = other_groups(options)
    interval = 1 / options.rate
    started = time.perf_counter()
    count = 0
    while time.perf_counter() - started < seconds:
        group_index = count % len(groups)
        turn = count // len(groups)
        user_id = members_of(group_index)[(turn // 2) % MEMBERS_PER_GROUP]
        text = "/checkin" if turn % 2 == 0 else "/me"
        chat_id = groups[group_index]
        update_id = api.send_message(chat_id, user_id, text)
        load.sent.append((update_id, chat_id, api.message_id_of(update_id)))
        count += 1
        await asyncio.sleep(max(0.0, started + count * interval - time.perf_counter()))


def claims(database: Path) -> set[str]:
    with closing(connect(database)) as connection:
        rows = connection.execute(
            "SELECT kind FROM lifecycle_claims WHERE community_id = ?", (history.COMMUNITY_ID,)
        ).fetchall()
    return {str(kind) for (kind,) in rows}


def quiz_file() -> bytes:
    """About 1 MB of YAML: the slowest format to read."""
    entries = []
    for number in range(1000):
        options = "\n".join(
            f"      - Option {k} of question {number} " + "x" * 60 for k in range(4)
        )
        entries.append(
            f"  - question: Question {number} " + "q" * 250 + "\n"
            f"    options:\n{options}\n"
            f"    correct: 1\n"
            f"    explanation: Because {number} " + "e" * 180 + "\n"
            f"    topic: topic {number % 10}\n"
            f"    difficulty: easy\n"
        )
    text = "questions:\n" + "".join(entries)
    return text.encode()[:QUIZ_FILE_BYTES] if len(text) > QUIZ_FILE_BYTES else text.encode()


async def heavy_work(
    api: FakeBotAPI,
    bot: BotProcess,
    database: Path,
    figures: dict[str, float],
    heavy: frozenset[str],
) -> None:
    group = history.COMMUNITY_ID

    def reply_to(update_id: int, chat_id: int, contains: str) -> float | None:
        message_id = api.message_id_of(update_id)
        for message in api.messages_to(chat_id):
            if message.reply_to_message_id == message_id and contains in (message.text or ""):
                return message.sent_at
        return None

    async def timed(name: str, update_id: int, answered: object) -> None:
        got: list[float] = []

        def done() -> bool:
            at = answered() if callable(answered) else None
            if at is not None:
                got.append(at)
            return bool(got)

        await wait_until(done, bot, f"waiting for {name}", 600)
        figures[name] = got[0] - api.update_queued_at[update_id]

    async def lifecycle() -> None:
        with closing(connect(database)) as connection:
            connection.execute(
                "DELETE FROM lifecycle_claims WHERE community_id = ? AND kind IN "
                "('daily', 'judged')",
                (group,),
            )
        await wait_until(lambda: "daily" in claims(database), bot, "the lifecycle start", 60)
        started = time.perf_counter()
        await wait_until(lambda: "judged" in claims(database), bot, "the lifecycle job", 600)
        figures["lifecycle"] = time.perf_counter() - started

    work = []
    if "quiz" in heavy:
        document = api.send_document(group, MODERATOR_ID, quiz_file(), "bank.yaml")
        await wait_until(lambda: api.is_handled(document), bot, "the quiz file")
        quiz = api.send_message(
            group, MODERATOR_ID, "/quiz import", reply_to_message_id=api.message_id_of(document)
        )

        def imported() -> float | None:
            for message in api.messages_to(group)[-20:]:
                if "Imported" in (message.text or ""):
                    return message.sent_at
            return None

        work.append(timed("quiz import", quiz, imported))
    if "stats" in heavy:
        stats = api.send_message(group, MODERATOR_ID, "/stats")
        work.append(timed("stats", stats, lambda: reply_to(stats, group, "Members now")))
    if "export" in heavy:
        exported_before = len(api.sent_documents)
        export = api.send_message(group, MODERATOR_ID, "/export members")

        def exported() -> float | None:
            return time.perf_counter() if len(api.sent_documents) > exported_before else None

        work.append(timed("export", export, exported))
    if "lifecycle" in heavy:
        work.append(lifecycle())
    await asyncio.gather(*work)


async def run(options: Options, folder: Path) -> int:
    from storage.migrate import upgrade_to_head

    database = folder / "isolation.db"
    url = f"sqlite+aiosqlite:///{database}"
    await asyncio.to_thread(upgrade_to_head, url)
    started = time.perf_counter()
    made = await history.generate(url, options.members, options.days)
    print(
        f"history: {made.members:,} members, {options.days} days, "
        f"{made.activity_days:,} activity days, {made.ledger_rows:,} ledger rows "
        f"({time.perf_counter() - started:.1f} s to generate)"
    )
    api = build_world(options)
    await api.start()
    bot = await start_seedbot(api, database, folder, due_work_seconds=1)
    try:
        for chat_id in [history.COMMUNITY_ID, *other_groups(options)]:
            added = api.add_bot_to_group(chat_id, by_user_id=MODERATOR_ID)
            await wait_until(partial(api.is_handled, added), bot, "joining the groups")
        private = api.send_message(MODERATOR_ID, MODERATOR_ID, "/start")
        await wait_until(lambda: api.is_handled(private), bot, "the moderator's /start")
        await wait_until(lambda: "judged" in claims(database), bot, "the first lifecycle", 600)

        baseline = Load()
        await steady_load(api, options, options.baseline_seconds, baseline)
        await asyncio.sleep(2)  # the last answers
        figures: dict[str, float] = {}
        heavy = Load()
        work = asyncio.ensure_future(heavy_work(api, bot, database, figures, options.heavy))
        while not work.done():
            await steady_load(api, options, 1.0, heavy)
        work.result()
        await asyncio.sleep(2)
        return report(api, options, baseline, heavy, figures)
    finally:
        await bot.stop()
        await api.stop()


def report(
    api: FakeBotAPI, options: Options, baseline: Load, heavy: Load, figures: dict[str, float]
) -> int:
    quiet, quiet_missing = baseline.answer_ms(api)
    busy, busy_missing = heavy.answer_ms(api)
    quiet_p50, quiet_p99 = percentile(quiet, 0.5), percentile(quiet, 0.99)
    busy_p50, busy_p99 = percentile(busy, 0.5), percentile(busy, 0.99)
    print(
        f"other groups, nothing heavy: {len(quiet)} answers, p50 {quiet_p50:.1f} ms, "
        f"p99 {quiet_p99:.1f} ms ({quiet_missing} unanswered)"
    )
    print(
        f"other groups, heavy work running: {len(busy)} answers, p50 {busy_p50:.1f} ms, "
        f"p99 {busy_p99:.1f} ms, max {max(busy, default=0):.1f} ms ({busy_missing} unanswered)"
    )
    print(
        f"ratio heavy/quiet: p50 {busy_p50 / quiet_p50:.2f}x, p99 {busy_p99 / quiet_p99:.2f}x; "
        f"target p99 under {P99_TARGET_MS:.0f} ms"
    )
    names = {"stats": "/stats", "export": "/export members", "quiz import": "1 MB quiz import"}
    names["lifecycle"] = "daily lifecycle job"
    targets = {"stats": STATS_TARGET_SECONDS, "lifecycle": LIFECYCLE_TARGET_SECONDS}
    for name, seconds in figures.items():
        target = f" (target under {targets[name]:.0f} s)" if name in targets else ""
        print(f"{names[name]} at {options.members:,} members: {seconds:.2f} s{target}")
    return 1 if quiet_missing or busy_missing else 0


async def main(options: Options) -> int:
    with tempfile.TemporaryDirectory(prefix="seedbot-isolation-") as folder:
        try:
            return await run(options, Path(folder))
        except (BenchError, sqlite3.Error) as error:
            print(f"error: {error}")
            return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
