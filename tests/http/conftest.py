"""The team API's test fixture: the real bot between the fakes, its web server on a free port,
and one key for the guild's channel."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from bot.domain import ApiKey
from tests.discord_adapter.harness import Harness, running_harness


@dataclass
class Team:
    h: Harness
    key: ApiKey
    secret: str
    base_url: str

    def client(self, key: str | None = None, **options: Any) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=key or self.secret,
            base_url=f"{self.base_url}/v1",
            max_retries=options.pop("max_retries", 0),
            **options,
        )

    async def new_key(self, **changes: Any) -> tuple[ApiKey, str]:
        values: dict[str, Any] = {
            "name": "release-bot",
            "guild_id": self.h.guild.id,
            "channels": [self.h.channel.id],
        }
        values.update(changes)
        return await self.h.bot.service.keys.create(**values)

    async def webhook_secret(self, key: ApiKey) -> str:
        """The secret of the endpoint a key was made with (`webhook_url=`)."""
        (endpoint,) = await self.h.bot.service.keys.webhooks.list(key.id)
        return endpoint.secret


@pytest.fixture
async def team(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[Team]:
    async with running_harness(tmp_path, web_port=unused_tcp_port, webhook_allow_private=True) as h:
        key, secret = await h.bot.service.keys.create(
            name="release-bot", guild_id=h.guild.id, channels=[h.channel.id]
        )
        yield Team(h, key, secret, f"http://127.0.0.1:{unused_tcp_port}")


@dataclass
class Receiver:
    """A team's webhook endpoint on 127.0.0.1: what it received, body and headers."""

    url: str = ""
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    fail_first: int = 0  # answer 503 this many times first (the receiver is down)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        if self.fail_first:
            self.fail_first -= 1
            return web.Response(status=503)
        self.received.append((await request.read(), dict(request.headers)))
        self._arrived.set()
        return web.Response(status=204)

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()


@contextlib.asynccontextmanager
async def webhook_receiver(*, fail_first: int = 0) -> AsyncIterator[Receiver]:
    receiver = Receiver(fail_first=fail_first)
    app = web.Application()
    app.router.add_post("/hooks/video", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks/video"
    try:
        yield receiver
    finally:
        await runner.cleanup()
