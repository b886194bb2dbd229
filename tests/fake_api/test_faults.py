"""Injected faults: each kind, how it is consumed, and the ambiguous creates."""

from __future__ import annotations

import time

import aiohttp
import pytest

from bot.fake_api import Fault

from ._client import create, get_json, multipart, retrieve

DISCONNECTS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


async def test_429_carries_retry_after_and_is_consumed(fake, http):
    fake.settings.faults.append(Fault(endpoint="create", kind="429", retry_after=1.5, count=2))
    for remaining in (1, 0):
        async with http.post(f"{fake.base_url}/videos", data=multipart(prompt="x")) as r:
            assert r.status == 429
            assert r.headers["Retry-After"] == "2"
            assert r.headers["retry-after-ms"] == "1500"
            body = await r.json()
        assert body["error"]["code"] == "rate_limit_exceeded"
        assert len(fake.settings.faults) == remaining
    status, _ = await create(http, fake)
    assert status == 200
    assert fake.stats.creates == 1


async def test_429_without_retry_after_reads_as_quota(fake, http):
    fake.settings.faults = [Fault(endpoint="any", kind="429-no-retry-after")]
    async with http.get(f"{fake.base_url}/videos") as r:
        assert r.status == 429
        assert "Retry-After" not in r.headers
        assert "retry-after-ms" not in r.headers
        assert (await r.json())["error"]["code"] == "insufficient_quota"


@pytest.mark.parametrize("kind", ["500", "502", "503"])
async def test_server_errors(fake, http, kind):
    _, video = await create(http, fake)
    fake.settings.faults = [Fault(endpoint="retrieve", kind=kind)]
    status, body = await retrieve(http, fake, video["id"])
    assert status == int(kind)
    assert body["error"]["type"] == "server_error"
    status, _ = await retrieve(http, fake, video["id"])
    assert status == 200


async def test_faults_hit_only_their_endpoint(fake, http):
    fake.settings.faults = [Fault(endpoint="content", kind="500")]
    _, video = await create(http, fake)
    status, _ = await retrieve(http, fake, video["id"])
    assert status == 200
    assert len(fake.settings.faults) == 1


async def test_reset_is_a_disconnect_for_the_client(fake, http):
    # aiohttp retries an idempotent request once after a disconnect, so a GET needs two.
    fake.settings.faults = [Fault(endpoint="list", kind="reset", count=2)]
    with pytest.raises(DISCONNECTS):
        await get_json(http, f"{fake.base_url}/videos")
    assert fake.stats.count("GET /v1/videos") == 2
    assert [r.status for r in fake.stats.requests] == [None, None]
    status, _ = await get_json(http, f"{fake.base_url}/videos")
    assert status == 200


async def test_reset_of_a_create_is_not_retried_by_aiohttp(fake, http):
    fake.settings.faults = [Fault(endpoint="create", kind="reset")]
    with pytest.raises(DISCONNECTS):
        await create(http, fake)
    assert fake.stats.count("POST /v1/videos") == 1
    assert fake.stats.creates == 0


async def test_slow_delays_the_answer(fake, http):
    fake.settings.faults = [Fault(endpoint="create", kind="slow", delay=0.3)]
    started = time.monotonic()
    status, _ = await create(http, fake)
    assert status == 200
    assert time.monotonic() - started >= 0.3


async def test_create_then_reset_bills_a_job_that_list_finds(fake, http):
    fake.settings.faults = [Fault(endpoint="create", kind="create-then-reset")]
    with pytest.raises(DISCONNECTS):
        await create(http, fake, "the one and only")
    assert fake.stats.creates == 1
    assert fake.stats.requests[-1].status is None
    _, listing = await get_json(http, f"{fake.base_url}/videos")
    assert [v["prompt"] for v in listing["data"]] == ["the one and only"]


async def test_create_then_hang_bills_a_job_and_times_the_client_out(fake, http):
    fake.settings.faults = [Fault(endpoint="create", kind="create-then-hang", delay=30)]
    timeout = aiohttp.ClientTimeout(total=0.3)
    with pytest.raises(TimeoutError):
        async with http.post(
            f"{fake.base_url}/videos", data=multipart(prompt="slow one"), timeout=timeout
        ) as r:
            await r.read()
    assert fake.stats.creates == 1
    _, listing = await get_json(http, f"{fake.base_url}/videos")
    assert [v["prompt"] for v in listing["data"]] == ["slow one"]


async def test_create_then_faults_ignore_rejected_creates(fake, http):
    fake.settings.faults = [Fault(endpoint="any", kind="create-then-reset")]
    status, _ = await get_json(http, f"{fake.base_url}/videos")
    assert status == 200  # not a create
    async with http.post(f"{fake.base_url}/videos", json={"prompt": ""}) as r:
        assert r.status == 400  # no job, so nothing to reset after
    assert len(fake.settings.faults) == 1
    with pytest.raises(DISCONNECTS):
        await create(http, fake)
    assert fake.settings.faults == []
