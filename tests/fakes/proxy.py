"""A small round-robin reverse proxy for webhook workers, as a load balancer in front of them.

Each request goes to the next worker in turn. A worker that refuses the connection or dies
mid-request gets the request answered 502, as a load balancer without retries would, so
Telegram (the fake) delivers it again, and the next attempt goes to the next worker.
`mirror_every`: every n-th request is sent to every worker at once (the first answer is
returned), as when a flaky balancer or a retry lets two workers see the same update."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

FORWARDED_HEADERS = ("Content-Type", "X-Telegram-Bot-Api-Secret-Token")


@dataclass
class RoundRobinProxy:
    upstreams: list[str]  # base URLs, e.g. http://127.0.0.1:8081
    mirror_every: int = 0
    host: str = "127.0.0.1"
    answered: Counter[str] = field(default_factory=Counter)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=120)
        )
        application = web.Application(client_max_size=8 * 1024 * 1024)
        application.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        turn = next(self._turn)
        headers = {k: request.headers[k] for k in FORWARDED_HEADERS if k in request.headers}
        if self.mirror_every and turn % self.mirror_every == self.mirror_every - 1:
            targets = list(self.upstreams)
        else:
            targets = [self.upstreams[turn % len(self.upstreams)]]
        attempts = [
            asyncio.ensure_future(self._send(target, request, body, headers)) for target in targets
        ]
        results = await asyncio.gather(*attempts)
        for response in results:
            if response.status < 500:
                return response
        return results[0]

    async def _send(
        self, target: str, request: web.Request, body: bytes, headers: dict[str, str]
    ) -> web.Response:
        assert self._session is not None
        try:
            async with self._session.request(
                request.method, target + request.path_qs, data=body, headers=headers
            ) as upstream:
                payload = await upstream.read()
                self.answered[f"{target} {upstream.status}"] += 1
                return web.Response(
                    status=upstream.status,
                    body=payload,
                    content_type=upstream.content_type,
                )
        except (TimeoutError, aiohttp.ClientError) as error:
            self.answered[f"{target} {type(error).__name__}"] += 1
            return web.Response(status=502, text=f"Bad Gateway: {type(error).__name__}")
