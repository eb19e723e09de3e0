"""Command line: `seedbot run` starts the bot (after migrating), `seedbot migrate` only migrates,
`seedbot deadletters` lists the updates set aside after a bug (`seedbot deadletters discard`
drops those that can never succeed), `seedbot replay <id>` runs one again, `seedbot
verify-draw` recomputes a lottery's winners from its revealed seed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from itertools import islice

from aiogram.exceptions import TelegramBadRequest, TelegramUnauthorizedError
from aiogram.types import WebhookInfo
from aiogram.utils.token import extract_bot_id
from pydantic import ValidationError

from bot.domain.lotteries import commitment_of, entries_hash, parse_entries, picks
from runtime.retry import is_transient
from seedbot.config import DatabaseSettings, Settings, proxy_credentials
from storage.dead_letters import DeadLetter
from storage.engine import build_engine, build_session_factory
from storage.migrate import (
    database_revision,
    head_revision,
    migrate_with_summary,
    upgrade_to_head_with_backup,
)
from storage.single_process import AnotherProcessRunning, single_process

BAD_TOKEN = (
    "Telegram rejected BOT_TOKEN: check the token from BotFather in .env (see .env.example)."
)
MISSING_TOKEN = (
    "BOT_TOKEN is not set: copy .env.example to .env and put your bot's token from BotFather there."
)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        if any(err["loc"] == ("bot_token",) and err["type"] == "missing" for err in error.errors()):
            print(MISSING_TOKEN, file=sys.stderr)
        else:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in err['loc']).upper()}: {err['msg']}"
                for err in error.errors()
            )
            print(f"Invalid settings ({problems}); see .env.example.", file=sys.stderr)
        raise SystemExit(2) from None


class RedactSecret(logging.Filter):
    """Replaces a secret wherever it would appear in a log line (URLs in errors, say)."""

    def __init__(self, secret: str, label: str = "<BOT_TOKEN>") -> None:
        super().__init__()
        self._secret = secret
        self._label = label

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg = message.replace(self._secret, self._label)
            record.args = None
        return True


def redact_secret_in_logs(secret: str, label: str = "<BOT_TOKEN>") -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecret(secret, label))


def quiet_scheduler_logs(log_level: str) -> None:
    """APScheduler logs two INFO lines at every run of the due-work job (every 15 s), most of
    the log: they are kept at WARNING unless LOG_LEVEL=DEBUG."""
    level = logging.DEBUG if log_level == "DEBUG" else logging.WARNING
    logging.getLogger("apscheduler").setLevel(level)


def redact_secrets_in_logs(settings: Settings) -> None:
    redact_secret_in_logs(settings.bot_token.get_secret_value())
    if settings.webhook_secret is not None:
        redact_secret_in_logs(settings.webhook_secret.get_secret_value(), "<WEBHOOK_SECRET>")
    if settings.telegram_proxy is not None:
        for secret in proxy_credentials(settings.telegram_proxy.get_secret_value()):
            redact_secret_in_logs(secret, "<PROXY_CREDENTIALS>")
    if settings.redis_url is not None:
        for secret in proxy_credentials(settings.redis_url.get_secret_value()):
            redact_secret_in_logs(secret, "<REDIS_CREDENTIALS>")


async def _run(settings: Settings, *, webhook: bool = False) -> None:
    from seedbot.app import MissingWebhookSecret, WebhookIsSet, build_app

    app = build_app(settings)
    app.freeze_gc_after_start = True
    try:
        if webhook:
            await app.serve_webhook()
        else:
            await app.start_polling()
    except TelegramUnauthorizedError:
        print(BAD_TOKEN, file=sys.stderr)
        raise SystemExit(2) from None
    except (WebhookIsSet, MissingWebhookSecret) as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        await app.close()


def describe_webhook(info: WebhookInfo) -> str:
    """What `seedbot webhook info` prints."""
    if not info.url:
        return "No webhook is set: the bot receives updates by polling (`seedbot run`)."
    lines = [
        f"url: {info.url}",
        f"pending updates: {info.pending_update_count}",
        f"max connections: {info.max_connections}",
        f"allowed updates: {', '.join(info.allowed_updates or []) or 'Telegram default'}",
    ]
    if info.last_error_date is not None:
        lines.append(
            f"last error: {info.last_error_date:%Y-%m-%d %H:%M:%S} UTC  {info.last_error_message}"
        )
    else:
        lines.append("last error: none")
    if info.last_synchronization_error_date is not None:
        lines.append(
            f"last synchronization error: {info.last_synchronization_error_date:%Y-%m-%d %H:%M} UTC"
        )
    return "\n".join(lines)


async def _webhook(settings: Settings, action: str, drop_pending: bool) -> int:
    """`seedbot webhook set|info|delete`: done once by the operator or the deploy step,
    never by the workers themselves (with several replicas that would race into 429s)."""
    from handlers import FEATURES
    from handlers.help import register_command_menus
    from runtime.features import allowed_updates_of
    from seedbot.app import ALLOWED_UPDATES, build_bot

    bot = build_bot(settings)
    try:
        if action == "set":
            if not settings.webhook_url or settings.webhook_secret is None:
                print(
                    "`seedbot webhook set` needs WEBHOOK_URL (the public https:// address of "
                    "the workers) and WEBHOOK_SECRET in the environment or .env.",
                    file=sys.stderr,
                )
                return 2
            await bot.set_webhook(
                url=settings.webhook_url,
                secret_token=settings.webhook_secret.get_secret_value(),
                allowed_updates=allowed_updates_of(ALLOWED_UPDATES, FEATURES),
                max_connections=settings.webhook_max_connections,
                drop_pending_updates=drop_pending,
            )
            await register_command_menus(bot, settings.default_language, FEATURES)
            print(f"Webhook set: Telegram now posts updates to {settings.webhook_url}.")
        elif action == "delete":
            await bot.delete_webhook(drop_pending_updates=drop_pending)
            dropped = " and the pending updates dropped" if drop_pending else ""
            print(f"Webhook removed{dropped}: `seedbot run` can poll again.")
        print(describe_webhook(await bot.get_webhook_info()))
        return 0
    except TelegramUnauthorizedError:
        print(BAD_TOKEN, file=sys.stderr)
        return 2
    except TelegramBadRequest as error:
        print(f"Telegram refused it: {error.message}", file=sys.stderr)
        return 2
    finally:
        await bot.session.close()


def format_dead_letters(letters: Sequence[DeadLetter]) -> str:
    if not letters:
        return "No dead letters."
    lines = [
        f"update {letter.update_id}  {letter.failed_at:%Y-%m-%d %H:%M:%S} UTC  {letter.kind}  "
        f"{(letter.error.splitlines() or [''])[0]}"
        for letter in letters
    ]
    lines.append(
        f"{len(letters)} dead letter(s); after a fix, run `seedbot replay <update id>` for each."
    )
    return "\n".join(lines)


async def _list_dead_letters(settings: Settings) -> None:
    from storage.uow import unit_of_work

    engine = build_engine(settings.database_url)
    try:
        async with unit_of_work(build_session_factory(engine)) as uow:
            letters = await uow.dead_letters.pending(
                extract_bot_id(settings.bot_token.get_secret_value())
            )
    finally:
        await engine.dispose()
    print(format_dead_letters(letters))


def parse_cutoff(text: str) -> datetime:
    """`--all-before`: a date (midnight UTC) or an ISO date and time (UTC unless it says)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date: write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _discard_dead_letters(
    settings: Settings, update_id: int | None, cutoff: datetime | None
) -> int:
    """0 when something was discarded (or nothing was before the cutoff), 2 when there is no
    dead letter for that update."""
    from storage.uow import unit_of_work

    bot_id = extract_bot_id(settings.bot_token.get_secret_value())
    engine = build_engine(settings.database_url)
    try:
        async with unit_of_work(build_session_factory(engine)) as uow:
            if update_id is not None:
                found = await uow.dead_letters.discard(bot_id, update_id)
            else:
                assert cutoff is not None
                count = await uow.dead_letters.discard_before(bot_id, cutoff)
    finally:
        await engine.dispose()
    if update_id is not None:
        if not found:
            print(
                f"No dead letter for update {update_id}; `seedbot deadletters` lists them.",
                file=sys.stderr,
            )
            return 2
        print(f"Dead letter of update {update_id} discarded.")
        return 0
    assert cutoff is not None
    print(f"{count} dead letter(s) from before {cutoff:%Y-%m-%d %H:%M} UTC discarded.")
    return 0


async def _replay(settings: Settings, update_id: int) -> int:
    """Runs a dead letter again through the real dispatcher; 0 when it worked, 1 when it
    failed again (the dead letter stays), 2 when there is no such dead letter."""
    from runtime.savepoints import describe_error
    from seedbot.app import build_app
    from storage.uow import unit_of_work

    app = build_app(settings)
    try:
        async with unit_of_work(app.session_factory) as uow:
            letter = await uow.dead_letters.get(app.bot.id, update_id)
        if letter is None:
            print(
                f"No dead letter for update {update_id}; `seedbot deadletters` lists them.",
                file=sys.stderr,
            )
            return 2
        if letter.replayed_at is not None:
            when = f"{letter.replayed_at:%Y-%m-%d %H:%M} UTC"
            print(f"Update {update_id} was already replayed at {when}.")
            return 0
        try:
            outcome = await app.replay(letter.payload)
        except Exception as error:
            text = describe_error(error, app.bot.token)
            if not is_transient(error):
                async with unit_of_work(app.session_factory) as uow:
                    await uow.dead_letters.add(
                        app.bot.id, update_id, letter.payload, text, app.clock.now()
                    )
            print(
                f"Update {update_id} failed again ({text.splitlines()[0]}); "
                "it stays in the dead letters.",
                file=sys.stderr,
            )
            return 1
        async with unit_of_work(app.session_factory) as uow:
            await uow.dead_letters.mark_replayed(app.bot.id, update_id, app.clock.now())
        if outcome.already_handled:
            print(f"Update {update_id} had already been handled; nothing was done again.")
        elif outcome.refused:
            print(f"Update {update_id} replayed: the bot refused it and told the user why.")
        else:
            print(f"Update {update_id} replayed.")
        return 0
    finally:
        await app.close()


def verify_draw(seed: str, winners: int, entries: str, picks_shown: int | None = None) -> str:
    """What `seedbot verify-draw` prints: the entry list's count and hash (compare them with
    the result post), the seed's commitment (compare it with the announcement) and the
    winners, recomputed by the documented procedure (bot/domain/lotteries.py)."""
    tickets = parse_entries(entries)
    sequence = list(islice(picks(seed, tickets), picks_shown or winners))
    lines = [
        f"commitment (SHA-256 of the seed): {commitment_of(seed)}",
        f"entries: {len(tickets)}",
        f"SHA-256 of the entry list: {entries_hash(tickets)}",
    ]
    for index, ticket in enumerate(sequence, start=1):
        role = "winner" if index <= winners else "next pick (reroll)"
        lines.append(f"{index}. user {ticket.user_id} (entry {ticket.number}) - {role}")
    return "\n".join(lines)


def _verify_draw_command(arguments: argparse.Namespace) -> None:
    if arguments.entries_file is not None:
        with open(arguments.entries_file, encoding="utf-8") as file:
            entries = file.read()
    else:
        entries = arguments.entries or ""
    try:
        print(verify_draw(arguments.seed, arguments.winners, entries, arguments.picks))
    except ValueError as error:
        print(f"Cannot read the entry list: {error}", file=sys.stderr)
        raise SystemExit(2) from None


@contextmanager
def refused_beside_another_process(database_url: str, doing: str) -> Iterator[None]:
    """On SQLite, the block runs only while no other seedbot process runs on the file (see
    storage/single_process.py); otherwise the one sentence that says so, and exit 2."""
    try:
        with single_process(database_url, doing):
            yield
    except AnotherProcessRunning as error:
        print(error, file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="seedbot", description="seedbot: community operations bot"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="apply migrations, then poll Telegram for updates")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="serve Telegram's webhook requests instead of polling (see `seedbot webhook set`)",
    )
    webhook = commands.add_parser(
        "webhook", help="set, show or remove the webhook Telegram posts updates to"
    )
    webhook.add_argument("action", choices=["set", "info", "delete"])
    webhook.add_argument(
        "--drop-pending-updates",
        action="store_true",
        help="with set or delete: drop the updates Telegram still holds",
    )
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    dead_letters = commands.add_parser(
        "deadletters", help="list the updates set aside after a failure (a bug)"
    )
    dead_letter_actions = dead_letters.add_subparsers(dest="action")
    discard = dead_letter_actions.add_parser(
        "discard", help="drop dead letters that can never succeed"
    )
    which = discard.add_mutually_exclusive_group(required=True)
    which.add_argument("update_id", nargs="?", type=int, help="the update id of one")
    which.add_argument(
        "--all-before",
        type=parse_cutoff,
        metavar="DATE",
        help="every one that failed before this date (YYYY-MM-DD, UTC)",
    )
    replay = commands.add_parser("replay", help="run a dead letter again, after a fix")
    replay.add_argument("update_id", type=int)
    verify = commands.add_parser(
        "verify-draw", help="recompute a lottery's winners from its revealed seed and entry list"
    )
    verify.add_argument("--seed", required=True, help="the seed revealed in the result post")
    verify.add_argument("--winners", required=True, type=int, help="the number of winners")
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("--entries-file", help="the entry list: one <user id>:<entry> a line")
    source.add_argument("--entries", help="the entry list, comma-separated <user id>:<entry>")
    verify.add_argument("--picks", type=int, help="show this many picks (rerolls included)")
    arguments = parser.parse_args(argv)
    if arguments.command == "verify-draw":
        _verify_draw_command(arguments)
        return

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if arguments.command == "migrate":
        database_url = DatabaseSettings().database_url
        with refused_beside_another_process(database_url, "migrating while it runs"):
            print(migrate_with_summary(database_url, report=print))
        return
    settings = load_settings()
    logging.getLogger().setLevel(settings.log_level)
    quiet_scheduler_logs(settings.log_level)
    redact_secrets_in_logs(settings)
    if arguments.command == "deadletters":
        if arguments.action == "discard":
            raise SystemExit(
                asyncio.run(
                    _discard_dead_letters(settings, arguments.update_id, arguments.all_before)
                )
            )
        asyncio.run(_list_dead_letters(settings))
        return
    if arguments.command == "replay":
        raise SystemExit(asyncio.run(_replay(settings, arguments.update_id)))
    if arguments.command == "webhook":
        raise SystemExit(
            asyncio.run(_webhook(settings, arguments.action, arguments.drop_pending_updates))
        )
    if arguments.command == "run" and arguments.webhook:
        run_webhook_workers(settings)
        return
    with refused_beside_another_process(settings.database_url, "a second bot"):
        upgrade_to_head_with_backup(settings.database_url, report=print)
        if arguments.command == "run":
            with suppress(KeyboardInterrupt):
                asyncio.run(_run(settings))


def run_webhook_workers(settings: Settings) -> None:
    """A webhook worker: migrations are the deploy step's (`seedbot migrate`, once before the
    workers start), so a worker only checks the schema is at head and refuses otherwise."""
    if settings.webhook_secret is None:
        from seedbot.app import MissingWebhookSecret

        print(MissingWebhookSecret(), file=sys.stderr)
        raise SystemExit(2)
    current, head = database_revision(settings.database_url), head_revision()
    if current != head:
        print(
            f"The database is at revision {current or 'none'}, not at {head}: run "
            "`seedbot migrate` once before starting the webhook workers.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    with (
        refused_beside_another_process(settings.database_url, "a second bot"),
        suppress(KeyboardInterrupt),
    ):
        asyncio.run(_run(settings, webhook=True))


if __name__ == "__main__":
    main()
