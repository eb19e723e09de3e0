"""The baseline: a bare aiogram bot that does only the Telegram work of a check-in.

    BOT_TOKEN=... BOT_API_BASE_URL=http://127.0.0.1:port python -m bench.bare_bot

Default `Dispatcher.start_polling`; answers every callback query over HTTP, replies to
`/checkin` and posts the check-in button on `/checkinpost`. No database, no middlewares."""

from __future__ import annotations

import asyncio
import logging
import os

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

CHECKIN_DATA = "v1ci"


def build_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.callback_query()
    async def answer(callback: CallbackQuery) -> None:
        await callback.answer("✅ +10 points!")

    @dispatcher.message(Command("checkinpost"))
    async def post(message: Message) -> None:
        button = InlineKeyboardButton(text="✅ Check in", callback_data=CHECKIN_DATA)
        await message.answer(
            "📅 Daily check-in!", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]])
        )

    @dispatcher.message(Command("checkin"))
    async def checkin(message: Message) -> None:
        await message.reply("✅ +10 points!")

    return dispatcher


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["BOT_API_BASE_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    await build_dispatcher().start_polling(bot)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main())
