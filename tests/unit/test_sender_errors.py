"""Which network failures may hide a message Telegram accepted (never resent) and which
surely never reached it (safe to retry)."""

from __future__ import annotations

import aiohttp
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import SendMessage

from runtime.sender import never_reached_telegram

METHOD = SendMessage(chat_id=1, text="hi")


def wrapped(cause: BaseException) -> TelegramNetworkError:
    """As aiogram's AiohttpSession raises it: `raise TelegramNetworkError(...) from cause`."""
    error = TelegramNetworkError(method=METHOD, message=f"{type(cause).__name__}: {cause}")
    error.__cause__ = cause
    return error


def test_only_a_connection_never_opened_is_safe_to_retry() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("h", 443, True, True, None, None, None, None),
        ConnectionRefusedError(111, "refused"),
    )
    assert never_reached_telegram(wrapped(refused))
    assert never_reached_telegram(wrapped(aiohttp.ConnectionTimeoutError()))
    assert not never_reached_telegram(wrapped(TimeoutError()))
    assert not never_reached_telegram(wrapped(aiohttp.ServerDisconnectedError()))
    assert not never_reached_telegram(wrapped(aiohttp.ClientOSError(104, "reset by peer")))
    assert not never_reached_telegram(TelegramNetworkError(method=METHOD, message="timeout"))
