"""The circuit breaker: it opens after N failures in a row, refuses creates without sending
while open, lets one trial through once cooled down, and closes on any real answer."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.videos import (
    CircuitBreaker,
    CreateOutcomeUnknownError,
    CreateRequest,
    FailureKind,
    NetworkError,
    ProviderUnavailableError,
    RetryPolicy,
    ServerError,
    Timeouts,
    VideosClient,
    VideosError,
    failure_kind,
)
from tests.videos.conftest import KEY
from tests.videos.wire import MP4, Seen, Server, reply, serve


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _no_sleep(_: float) -> None:
    """Retries are counted, not waited for."""


class Script:
    """Answers each request with the next status of a script (then the last one forever)."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)

    def set(self, *statuses: int) -> None:
        self.statuses = list(statuses)

    async def __call__(self, request: web.Request, seen: Seen) -> web.StreamResponse:
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if seen.path.endswith("/content") and status == 200:
            return web.Response(body=MP4, content_type="video/mp4")
        if status >= 300:
            return reply(status, {"error": {"message": f"HTTP {status}"}}, **{"Retry-After": "1"})
        return reply(status, {"id": "video_1", "status": "queued"})


def client_for(
    session: aiohttp.ClientSession, url: str, breaker: CircuitBreaker, retries: int = 0
) -> VideosClient:
    return VideosClient(
        session,
        url,
        SecretStr(KEY),
        timeouts=Timeouts(connect=2.0, request=5.0, download=30.0),
        retry=RetryPolicy(max_retries=retries),
        sleep=_no_sleep,
        provider="veo",
        breaker=breaker,
    )


async def fail_creates(client: VideosClient, times: int) -> None:
    for _ in range(times):
        with pytest.raises(CreateOutcomeUnknownError):
            await client.create(CreateRequest(prompt="x"))


def creates(server: Server) -> int:
    return sum(1 for s in server.seen if (s.method, s.path) == ("POST", "/v1/videos"))


# -- on the wire -----------------------------------------------------------------------------------


async def test_it_opens_after_n_failures_and_refuses_creates_without_sending(
    session: aiohttp.ClientSession,
) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown=60, clock=clock)
    async with serve(Script(503)) as server:
        client = client_for(session, server.url(), breaker)
        await fail_creates(client, 2)
        assert not breaker.is_open
        assert breaker.consecutive_failures == 2
        await fail_creates(client, 1)
        assert breaker.is_open
        assert breaker.opened_until == clock.now + 60
        for follow_up in (
            lambda: client.create(CreateRequest(prompt="x")),
            lambda: client.remix("video_1", "again"),
            lambda: client.extend("video_1", "more", "4"),
        ):
            with pytest.raises(ProviderUnavailableError) as caught:
                await follow_up()
            assert failure_kind(caught.value) is FailureKind.NEVER_STARTED
            assert caught.value.user_message == (
                "The video service is unavailable right now; try again in a minute."
            )
        assert len(server.seen) == 3  # nothing more reached the server


async def test_status_reads_and_downloads_still_go_out_while_open(
    session: aiohttp.ClientSession, tmp_path
) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, cooldown=60, clock=clock)
    script = Script(500)
    async with serve(script) as server:
        client = client_for(session, server.url(), breaker)
        await fail_creates(client, 2)
        assert breaker.is_open
        with pytest.raises(ServerError):
            await client.retrieve("video_1")
        assert server.seen[-1].path == "/v1/videos/video_1"
        assert breaker.is_open  # a failing read keeps it open
        script.set(200)
        assert await client.download("video_1", tmp_path / "v.mp4") == len(MP4)
        assert server.seen[-1].path == "/v1/videos/video_1/content"
        # The provider answered: it is up again.
        assert not breaker.is_open
        assert breaker.consecutive_failures == 0


async def test_after_the_cooldown_one_trial_create_goes_out(
    session: aiohttp.ClientSession,
) -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=2, cooldown=30, clock=clock)
    script = Script(502)
    async with serve(script) as server:
        client = client_for(session, server.url(), breaker)
        await fail_creates(client, 2)
        clock.now += 29.9
        with pytest.raises(ProviderUnavailableError):
            await client.create(CreateRequest(prompt="x"))
        assert creates(server) == 2
        # Half-open: the trial goes out and fails, which opens it for another cooldown.
        clock.now += 0.1
        assert breaker.state == "half_open"
        await fail_creates(client, 1)
        assert creates(server) == 3
        assert breaker.is_open
        assert breaker.opened_until == clock.now + 30
        with pytest.raises(ProviderUnavailableError):
            await client.create(CreateRequest(prompt="x"))
        assert creates(server) == 3
        # Half-open again: this trial succeeds and closes it.
        clock.now += 30
        script.set(202)
        video = await client.create(CreateRequest(prompt="x"))
        assert video.id == "video_1"
        assert breaker.state == "closed"
        assert (breaker.consecutive_failures, breaker.opened_until) == (0, None)
        await client.create(CreateRequest(prompt="x"))
        assert creates(server) == 5


async def test_each_retry_attempt_counts_and_connection_errors_are_failures(
    session: aiohttp.ClientSession, unused_tcp_port: int
) -> None:
    breaker = CircuitBreaker(failures=3, cooldown=60, clock=Clock())
    client = client_for(session, f"http://127.0.0.1:{unused_tcp_port}/v1", breaker, retries=5)
    with pytest.raises(ProviderUnavailableError):
        # Three refused connections open it; the fourth attempt is refused without a try.
        await client.create(CreateRequest(prompt="x"))
    assert breaker.consecutive_failures == 3
    assert breaker.is_open
    with pytest.raises(NetworkError):
        await client.retrieve("video_1")  # reads still try (and fail): 6 more attempts
    assert breaker.consecutive_failures == 9


@pytest.mark.parametrize(("status", "failure"), [(429, True), (500, True), (400, False)])
async def test_what_counts_as_a_failure(
    session: aiohttp.ClientSession, status: int, failure: bool
) -> None:
    breaker = CircuitBreaker(failures=5, clock=Clock())
    async with serve(Script(500, status)) as server:
        client = client_for(session, server.url(), breaker)
        for _ in range(2):
            with contextlib.suppress(VideosError):  # only the count matters here
                await client.retrieve("video_1")
    assert breaker.consecutive_failures == (2 if failure else 0)


async def test_a_success_resets_the_count(session: aiohttp.ClientSession) -> None:
    breaker = CircuitBreaker(failures=3, clock=Clock())
    async with serve(Script(503, 503, 202, 503, 503)) as server:
        client = client_for(session, server.url(), breaker)
        await fail_creates(client, 2)
        await client.create(CreateRequest(prompt="x"))
        assert breaker.consecutive_failures == 0
        await fail_creates(client, 2)
        assert not breaker.is_open
        assert creates(server) == 5


async def test_without_a_breaker_nothing_is_refused(session: aiohttp.ClientSession) -> None:
    async with serve(Script(503)) as server:
        client = VideosClient(session, server.url(), retry=RetryPolicy(max_retries=0))
        assert client.breaker is None
        for _ in range(8):
            with pytest.raises(CreateOutcomeUnknownError):
                await client.create(CreateRequest(prompt="x"))
        assert creates(server) == 8


# -- the breaker alone -----------------------------------------------------------------------------


def test_half_open_lets_exactly_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, cooldown=10, clock=clock)
    assert breaker.allow()
    assert breaker.record_failure() is True  # this one opened it
    assert not breaker.allow()
    clock.now += 10
    assert breaker.state == "half_open"
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # everyone else waits for it
    assert breaker.is_open
    # A trial that never reports (cancelled) leads to the next half-open, not a stuck breaker.
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.allow()
    assert breaker.state == "closed"


def test_only_the_opening_failure_says_so() -> None:
    breaker = CircuitBreaker(failures=2, clock=Clock())
    assert breaker.record_failure() is False
    assert breaker.record_failure() is True
    assert breaker.record_failure() is False  # already open: only extended


@pytest.mark.parametrize("arguments", [{"failures": 0}, {"cooldown": -1.0}])
def test_nonsense_settings_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="breaker"):
        CircuitBreaker(**arguments)
