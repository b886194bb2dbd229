"""Small HTTP servers on 127.0.0.1 for the client's wire tests: one records and scripts any
answer, one speaks OpenRouter's video API (FIELD-NOTES section 7)."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# The smallest body the client takes for a video: an ISO BMFF `ftyp` box first.
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(512)


@dataclass(frozen=True)
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: bytes
    headers: dict[str, str]

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Handler = Callable[[web.Request, Seen], Awaitable[web.StreamResponse]]


@dataclass
class Server:
    """A running server: what it saw, where it is, and how many requests it holds at once."""

    port: int
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    # Set whenever a request arrives: a test waits on it instead of polling.
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, prefix: str = "/v1") -> str:
        return f"http://127.0.0.1:{self.port}{prefix}"


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[Server]:
    """Serve `handler` for every path and method, recording each request first."""
    server = Server(port=0)

    async def answer(request: web.Request) -> web.StreamResponse:
        seen = Seen(
            request.method,
            request.path,
            dict(request.query),
            request.content_type,
            await request.read(),
            dict(request.headers),
        )
        server.seen.append(seen)
        server.in_flight += 1
        server.most_in_flight = max(server.most_in_flight, server.in_flight)
        server.arrived.set()
        try:
            return await handler(request, seen)
        finally:
            server.in_flight -= 1

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        await runner.cleanup()


def reply(status: int = 200, body: Any = None, **headers: str) -> web.Response:
    text = "" if body is None else json.dumps(body)
    return web.Response(status=status, text=text, content_type="application/json", headers=headers)


class MiniOpenRouter:
    """OpenRouter's video API, as much of it as the client uses: JSON-only creates answered 202
    with `{id, polling_url, status: "pending"}`, status reads, content by `?index=0`, and 404
    for anything else (no list, no DELETE, no remix route)."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    async def __call__(self, request: web.Request, seen: Seen) -> web.StreamResponse:
        parts = seen.path.removeprefix("/api/v1").strip("/").split("/")
        if parts[0] != "videos":
            return reply(404, {"error": {"code": 404, "message": "Not Found"}})
        if seen.method == "POST" and len(parts) == 1:
            return self._create(seen)
        if seen.method == "GET" and len(parts) == 2 and parts[1] in self.jobs:
            return reply(200, self.jobs[parts[1]])
        if seen.method == "GET" and len(parts) == 3 and parts[2] == "content":
            if seen.query != {"index": "0"}:
                return reply(400, {"error": {"code": 400, "message": "bad query"}})
            return web.Response(body=MP4, content_type="video/mp4")
        return reply(404, {"error": {"code": 404, "message": "Not Found"}})

    def _create(self, seen: Seen) -> web.Response:
        if seen.content_type != "application/json":
            return reply(400, {"error": {"code": 400, "message": "JSON only"}})
        job_id = f"job-{next(self._ids)}"
        self.jobs[job_id] = {"id": job_id, "status": "pending"}
        answer = {"id": job_id, "polling_url": f"/api/v1/videos/{job_id}", "status": "pending"}
        return reply(202, answer)


class Gate:
    """Holds requests at the server until opened: concurrency without timing."""

    def __init__(self) -> None:
        self.open = asyncio.Event()

    async def __call__(self, request: web.Request, seen: Seen) -> web.StreamResponse:
        await self.open.wait()
        if seen.path.endswith("/content"):
            return web.Response(body=MP4, content_type="video/mp4")
        return reply(200, {"id": "video_1", "status": "in_progress"})
