"""A callback receiver on 127.0.0.1 for the fake server's webhooks: it keeps what arrives."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from aiohttp import web

# Real seconds a test waits for callbacks that should arrive at once.
WAIT = 3.0


@dataclass(frozen=True)
class Received:
    """One POST as it arrived: the raw body bytes, not re-serialised JSON."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """`async with Receiver() as rx`: POSTs to `rx.url` are kept in `rx.received`.

    `statuses` scripts the answers, one per request (then 200); `hang` makes it never answer.
    """

    def __init__(self, statuses: tuple[int, ...] = (), *, hang: bool = False) -> None:
        self.received: list[Received] = []
        self._statuses = list(statuses)
        self._hang = hang
        self._arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path, dict(request.headers), await request.read()))
        self._arrived.set()
        if self._hang:
            await asyncio.Event().wait()
        return web.Response(status=self._statuses.pop(0) if self._statuses else 200)

    async def wait_for(self, count: int) -> list[Received]:
        """The requests once `count` have arrived (within WAIT seconds)."""
        async with asyncio.timeout(WAIT):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
