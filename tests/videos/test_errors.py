"""Each failure reaches the caller as its own error type, with the right number of attempts."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from bot.fake_api import FakeVideosServer, Fault
from bot.videos import (
    AuthenticationError,
    BadRequestError,
    CapabilityMissingError,
    CreateOutcomeUnknownError,
    CreateRequest,
    EndpointNotVideosError,
    JobLostError,
    NetworkError,
    RateLimitedError,
    ServerError,
    VideosClient,
)
from tests.videos.conftest import KEY, make_client

CREATE = "POST /v1/videos"
RETRIEVE = "GET /v1/videos/{video_id}"


def creates(fake: FakeVideosServer) -> int:
    return fake.stats.count(CREATE)


async def test_wrong_key_is_an_authentication_error_and_the_key_stays_secret(
    session: aiohttp.ClientSession, fake: FakeVideosServer
) -> None:
    client = make_client(session, fake.base_url, key="sk-wrong-key-abcdef")
    with pytest.raises(AuthenticationError) as caught:
        await client.create(CreateRequest(prompt="hello"))
    assert "sk-wrong-key-abcdef" not in str(caught.value)
    assert "sk-wrong-key-abcdef" not in caught.value.user_message
    assert fake.state.jobs == {} or len(fake.state.jobs) == 0


async def test_bad_request_names_the_parameter(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.create(CreateRequest(prompt="x", model="sora-2", size="1792x1024"))
    assert caught.value.param == "size"
    assert creates(fake) == 1  # 4xx is definite: not retried


async def test_reads_wait_out_429_and_honour_retry_after(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.settings.faults = [Fault(endpoint="retrieve", kind="429", count=2, retry_after=0.5)]
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    client._sleep = record
    assert (await client.retrieve(video.id)).id == video.id
    assert fake.stats.count(RETRIEVE) == 3
    assert waits == [0.5, 0.5]


async def test_a_create_is_retried_after_429_with_retry_after(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.faults = [Fault(endpoint="create", kind="429", count=1, retry_after=1)]
    await client.create(CreateRequest(prompt="x"))
    assert creates(fake) == 2
    assert len(fake.state.jobs) == 1


async def test_a_create_is_not_retried_after_429_without_retry_after(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.faults = [Fault(endpoint="create", kind="429-no-retry-after", count=5)]
    with pytest.raises(RateLimitedError) as caught:
        await client.create(CreateRequest(prompt="x"))
    assert caught.value.retry_after is None
    assert "quota" in caught.value.user_message
    assert creates(fake) == 1


@pytest.mark.parametrize("kind", ["500", "503", "create-then-reset"])
async def test_an_ambiguous_create_is_sent_exactly_once(
    client: VideosClient, fake: FakeVideosServer, kind: str
) -> None:
    fake.settings.faults = [Fault(endpoint="create", kind=kind, count=5)]
    with pytest.raises(CreateOutcomeUnknownError):
        await client.create(CreateRequest(prompt="was I billed?"))
    assert creates(fake) == 1


async def test_a_create_that_times_out_after_sending_is_not_retried(
    session: aiohttp.ClientSession, fake: FakeVideosServer
) -> None:
    client = make_client(session, fake.base_url, timeout=0.5)
    fake.settings.faults = [Fault(endpoint="create", kind="create-then-hang", count=1, delay=5)]
    with pytest.raises(CreateOutcomeUnknownError):
        await client.create(CreateRequest(prompt="slow"))
    assert creates(fake) == 1
    # The job exists on the server: a later reconciliation can find it through list.
    page = await client.list()
    assert [v.prompt for v in page.data] == ["slow"]


async def test_reads_retry_through_a_burst_of_5xx_and_resets(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.settings.faults = [
        Fault(endpoint="retrieve", kind="502", count=1),
        Fault(endpoint="retrieve", kind="reset", count=1),
    ]
    assert (await client.retrieve(video.id)).id == video.id
    assert fake.stats.count(RETRIEVE) == 3


async def test_reads_give_up_after_the_retry_budget(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.settings.faults = [Fault(endpoint="retrieve", kind="500", count=50)]
    with pytest.raises(ServerError):
        await client.retrieve(video.id)
    assert fake.stats.count(RETRIEVE) == 4  # first try + 3 retries


async def test_a_lost_job_is_reported_as_lost(client: VideosClient, fake: FakeVideosServer) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.restart()
    with pytest.raises(JobLostError) as caught:
        await client.retrieve(video.id)
    assert caught.value.video_id == video.id


async def test_a_dead_endpoint_is_a_network_error_after_retries(
    session: aiohttp.ClientSession, unused_tcp_port: int
) -> None:
    client = make_client(session, f"http://127.0.0.1:{unused_tcp_port}/v1")
    with pytest.raises(NetworkError):
        await client.create(CreateRequest(prompt="x"))


async def test_a_server_that_is_not_a_videos_api_is_named_as_such(
    session: aiohttp.ClientSession,
) -> None:
    app = web.Application()

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<html>Welcome to nginx</html>", content_type="text/html")

    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        client = make_client(session, f"http://127.0.0.1:{port}/v1", key=KEY)
        with pytest.raises(EndpointNotVideosError) as caught:
            await client.create(CreateRequest(prompt="x"))
        assert "does not serve the OpenAI Videos API" in caught.value.hint
    finally:
        await runner.cleanup()


def test_openais_own_url_gets_the_retirement_hint() -> None:
    error = EndpointNotVideosError("https://api.openai.com/v1", retired_openai=True)
    assert "2026-09-24" in error.hint
    assert "OPENAI_BASE_URL" in error.hint


@pytest.mark.parametrize(("dialect", "capability"), [("newapi", "list"), ("trtllm", "delete")])
async def test_missing_optional_capabilities_are_detected(
    client: VideosClient, fake: FakeVideosServer, dialect: str, capability: str
) -> None:
    fake.settings.dialect = dialect
    fake.settings.api_key = None
    call = client.list() if capability == "list" else client.delete("video_anything")
    with pytest.raises(CapabilityMissingError) as caught:
        await call
    assert caught.value.capability == capability
