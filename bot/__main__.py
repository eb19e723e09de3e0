"""Command line: `seedbot run` starts the bot (after migrating), `seedbot migrate` only migrates."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from contextlib import suppress

from aiogram.exceptions import TelegramUnauthorizedError
from pydantic import ValidationError

from bot.config import DatabaseSettings, Settings
from storage.migrate import upgrade_to_head

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
    """Replaces the token wherever it would appear in a log line (URLs in errors, say)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg = message.replace(self._secret, "<BOT_TOKEN>")
            record.args = None
        return True


def redact_secret_in_logs(secret: str) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecret(secret))


async def _run(settings: Settings) -> None:
    from bot.app import build_app

    app = build_app(settings)
    try:
        await app.start_polling()
    except TelegramUnauthorizedError:
        print(BAD_TOKEN, file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        await app.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="seedbot", description="seedbot: community operations bot"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="apply migrations, then poll Telegram for updates")
    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    arguments = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if arguments.command == "migrate":
        upgrade_to_head(DatabaseSettings().database_url)
        return
    settings = load_settings()
    logging.getLogger().setLevel(settings.log_level)
    redact_secret_in_logs(settings.bot_token.get_secret_value())
    upgrade_to_head(settings.database_url)
    if arguments.command == "run":
        with suppress(KeyboardInterrupt):
            asyncio.run(_run(settings))


if __name__ == "__main__":
    main()
