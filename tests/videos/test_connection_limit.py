"""max_connections: however many calls a provider's client makes at once, the server never
holds more than that many (status reads, downloads and probes alike)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from bot.videos import RetryPolicy, VideosClient
from tests.videos.wire import Gate, Server, serve

CALLS = 8


async def until(server: Server, condition: Callable[[], bool]) -> None:
    """Wait for arrivals until `condition` holds (bounded: a hang fails the test, not the run)."""
    async with asyncio.timeout(10):
        while True:
            server.arrived.clear()
            if condition():
                return
            await server.arrived.wait()


async def settle() -> None:
    """Give every task that could still reach the server many turns to do so."""
    for _ in range(50):
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)


async def held_at(
    server: Server, gate: Gate, calls: list[Callable[[], Awaitable[object]]], limit: int
) -> int:
    """Start all `calls` at once, wait for `limit` of them to reach the gate, and return how
    many reached it once everything else had its chance; then let them all finish."""
    tasks = [asyncio.create_task(call()) for call in calls]
    await until(server, lambda: server.in_flight >= limit)
    await settle()
    held = server.in_flight
    gate.open.set()
    await asyncio.gather(*tasks)
    return held


def client_for(session: aiohttp.ClientSession, url: str, limit: int | None) -> VideosClient:
    return VideosClient(
        session, url, retry=RetryPolicy(max_retries=0), provider="slow", max_connections=limit
    )


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_status_reads_never_exceed_the_limit(
    session: aiohttp.ClientSession, limit: int
) -> None:
    gate = Gate()
    async with serve(gate) as server:
        client = client_for(session, server.url(), limit)
        calls = [lambda: client.retrieve("video_1") for _ in range(CALLS)]
        assert await held_at(server, gate, calls, limit) == limit
    assert server.most_in_flight == limit
    assert len(server.seen) == CALLS  # every call went out, in turn


async def test_downloads_and_probes_share_the_limit(
    session: aiohttp.ClientSession, tmp_path
) -> None:
    gate = Gate()
    async with serve(gate) as server:
        client = client_for(session, server.url(), 2)
        calls: list[Callable[[], Awaitable[object]]] = [
            *(lambda n=n: client.download("video_1", tmp_path / f"{n}.mp4") for n in range(3)),
            *(lambda: client.probe_content("video_1") for _ in range(3)),
            *(lambda: client.retrieve("video_1") for _ in range(2)),
        ]
        assert await held_at(server, gate, calls, 2) == 2
    assert server.most_in_flight == 2
    assert len(server.seen) == CALLS


async def test_without_a_limit_all_calls_are_held_at_once(
    session: aiohttp.ClientSession,
) -> None:
    # The control: the gate really does hold concurrent calls, so the limit above is the client's.
    gate = Gate()
    async with serve(gate) as server:
        client = client_for(session, server.url(), None)
        calls = [lambda: client.retrieve("video_1") for _ in range(CALLS)]
        assert await held_at(server, gate, calls, CALLS) == CALLS


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        VideosClient(None, "http://x", max_connections=0)  # type: ignore[arg-type]
