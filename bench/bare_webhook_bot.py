"""The webhook baseline: the bare aiogram bot of bench/bare_bot.py, fed by webhook.

    BOT_TOKEN=... BOT_API_BASE_URL=http://127.0.0.1:port WEBHOOK_PORT=8081 \\
        [WEBHOOK_HOST=127.0.0.1] [WEBHOOK_PATH=/telegram/webhook] [WEBHOOK_SECRET=...] \\
        python -m bench.bare_webhook_bot

aiogram's default webhook set-up (`SimpleRequestHandler`, answering each request at once
and handling the update in the background, and `setup_application`) on aiohttp; the same
handlers as the polling baseline (every callback query answered over HTTP). It does not call
setWebhook: whoever runs it points the webhook at it. No database, no middlewares."""

from __future__ import annotations

import logging
import os

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from bench.bare_bot import build_dispatcher

DEFAULT_PATH = "/telegram/webhook"


def build_application(bot: Bot, path: str, secret_token: str | None) -> web.Application:
    dispatcher = build_dispatcher()
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=secret_token).register(app, path=path)
    setup_application(app, dispatcher, bot=bot)
    return app


def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["BOT_API_BASE_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    app = build_application(
        bot, os.environ.get("WEBHOOK_PATH", DEFAULT_PATH), os.environ.get("WEBHOOK_SECRET")
    )
    web.run_app(
        app,
        host=os.environ.get("WEBHOOK_HOST", "127.0.0.1"),
        port=int(os.environ["WEBHOOK_PORT"]),
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
