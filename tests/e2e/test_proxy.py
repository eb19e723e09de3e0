"""TELEGRAM_PROXY: every Bot API request goes through an HTTP (CONNECT) or SOCKS5 proxy."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from seedbot.app import build_app, build_bot
from seedbot.config import Settings
from tests.e2e.conftest import CREATOR_ID, GROUP_ID, make_settings
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.clock import FakeClock

USER = "seed"
PASSWORD = "p@ss:w0rd"
# Only the proxy knows this name: a request that bypassed the proxy could not reach the API.
HIDDEN_HOST = "telegram-api.invalid"


class TunnelProxy:
    """A tiny proxy on 127.0.0.1 (HTTP CONNECT or SOCKS5) that wants a user and password and
    resolves HIDDEN_HOST to 127.0.0.1."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = 0
        self.tunnels: list[tuple[str, int]] = []
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()

    def url(self, password: str = PASSWORD) -> str:
        return f"{self.kind}://{USER}:{quote(password, safe='')}@127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            open_tunnel = self._http_connect if self.kind == "http" else self._socks5_connect
            target = await open_tunnel(reader, writer)
            if target is None:
                self.refused += 1
                return
            host, port = target
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1" if host == HIDDEN_HOST else host, port
            )
            self._writers.add(upstream_writer)
            self.tunnels.append(target)
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _http_connect(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int] | None:
        method, target, _ = (await reader.readline()).decode().split()
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if method != "CONNECT" or headers.get("proxy-authorization") != expected:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return None
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        host, port = target.rsplit(":", 1)
        return host, int(port)

    @staticmethod
    async def _socks5_connect(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[str, int] | None:
        _version, count = await reader.readexactly(2)
        if 2 not in await reader.readexactly(count):  # username/password (RFC 1929)
            writer.write(b"\x05\xff")
            return None
        writer.write(b"\x05\x02")
        _version, length = await reader.readexactly(2)
        user = await reader.readexactly(length)
        password = await reader.readexactly((await reader.readexactly(1))[0])
        if (user.decode(), password.decode()) != (USER, PASSWORD):
            writer.write(b"\x01\x01")
            return None
        writer.write(b"\x01\x00")
        _version, _command, _reserved, address_type = await reader.readexactly(4)
        if address_type == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif address_type == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        port = int.from_bytes(await reader.readexactly(2), "big")
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        return host, port


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            target.write(data)
            await target.drain()
    except ConnectionError:
        pass
    finally:
        target.close()


def proxied_settings(api: FakeBotAPI, database_url: str, proxy_url: str) -> Settings:
    port = api.base_url.rsplit(":", 1)[1]
    return make_settings(api, database_url).model_copy(
        update={
            "bot_api_base_url": f"http://{HIDDEN_HOST}:{port}",
            "telegram_proxy": SecretStr(proxy_url),
        }
    )


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_every_bot_api_request_goes_through_the_proxy(
    api: FakeBotAPI,
    sqlite_url: str,
    clock: FakeClock,
    kind: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    api.add_user(CREATOR_ID, "Creator", username="creator")
    api.add_group(GROUP_ID, "Seed Users", creator_id=CREATOR_ID)
    api.add_user(1001, "Mia", username="mia")
    api.add_member(GROUP_ID, 1001)
    proxy = TunnelProxy(kind)
    await proxy.start()
    app = build_app(proxied_settings(api, sqlite_url, proxy.url()), clock=clock)
    task = asyncio.create_task(app.start_polling(handle_signals=False))
    try:
        await api.wait_until_handled(api.add_bot_to_group(GROUP_ID, by_user_id=CREATOR_ID))
        update = api.send_message(GROUP_ID, 1001, "/checkin", date=clock.now())
        await api.wait_until_handled(update)
    finally:
        await app.stop_polling()
        await asyncio.wait_for(task, timeout=10)
        await app.close()
        await proxy.stop()
    replies = [m for m in api.messages_to(GROUP_ID) if m.text and "+10 points" in m.text]
    assert [m.reply_to_message_id for m in replies] == [api.message_id_of(update)]
    assert proxy.tunnels and proxy.refused == 0
    assert {host for host, _ in proxy.tunnels} == {HIDDEN_HOST}
    assert f"{kind}://{USER}:***@127.0.0.1:{proxy.port}" in caplog.text
    assert quote(PASSWORD, safe="") not in caplog.text and PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("url", "proxy"),
    [
        ("http://u:secret@10.0.0.1:3128", "http://u:secret@10.0.0.1:3128"),
        ("socks5://127.0.0.1:1080", "socks5://127.0.0.1:1080"),
        ("https://u:secret@proxy.example:443", "http://u:secret@proxy.example:443"),
    ],
)
def test_the_proxy_setting_reaches_the_http_session(url: str, proxy: str) -> None:
    settings = Settings(bot_token="123456:TEST-token", telegram_proxy=url)
    session = build_bot(settings).session
    assert session.proxy == proxy  # type: ignore[attr-defined]
    over_tls = session._connector_init.get("proxy_ssl") is not None  # type: ignore[attr-defined]
    assert over_tls == url.startswith("https://")


def test_no_proxy_by_default() -> None:
    assert build_bot(Settings(bot_token="123456:TEST-token")).session.proxy is None  # type: ignore[attr-defined]
