"""Fuzzing the client over HTTP: whatever JSON a server answers with, only VideosErrors escape."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import aiohttp
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.videos import CreateRequest, VideosClient, VideosError
from bot.videos.retry import RetryPolicy

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
video_like = st.dictionaries(
    st.sampled_from(
        ["id", "status", "progress", "error", "expires_at", "seconds", "object", "usage"]
    ),
    values,
    max_size=7,
)
answers = st.tuples(
    st.sampled_from([200, 201, 202, 400, 404, 409, 422, 500]),
    video_like | values | st.just("Infinity") | st.just("NaN"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(answers, min_size=1, max_size=6))
def test_any_answer_is_a_video_or_a_videos_error(script: list[tuple[int, Any]]) -> None:
    asyncio.run(_run(script))


async def _run(script: list[tuple[int, Any]]) -> None:
    pending = list(script)

    async def answer(request: web.Request) -> web.Response:
        status, body = pending.pop(0) if pending else (500, {})
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            retry = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.001)
            url = f"http://127.0.0.1:{port}/v1"
            openai = VideosClient(session, url, retry=retry)
            openrouter = VideosClient(session, url, retry=retry, dialect="openrouter")
            for call in (
                lambda: openai.create(CreateRequest(prompt="x")),
                lambda: openai.retrieve("v1"),
                lambda: openai.list(limit=5),
                lambda: openrouter.create(CreateRequest(prompt="x", seconds="4")),
                lambda: openrouter.retrieve("v1"),
            ):
                with contextlib.suppress(VideosError):
                    await call()
    finally:
        await runner.cleanup()
