"""bot.observability.metrics over real HTTP on 127.0.0.1: the Videos API and Discord traces, the
store's totals and the encodes, each read back from /metrics as Prometheus parses it."""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from yarl import URL

from bot.domain import JobState
from bot.http.server import WebServer, make_app
from bot.observability.metrics import Metrics, is_discord_edit, provider_endpoint
from bot.service.links import LinkSigner
from bot.store import JobRecord, JobStore, open_database

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
Scrape = Callable[[Metrics], Awaitable[tuple[str, Samples]]]

WEBHOOK_TOKEN = "aW50ZXJhY3Rpb246OTk5OnNlY3JldC1mYWtlLXRva2Vu"


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def ticking() -> Callable[[], float]:
    """A clock that moves one second each time it is read: timings without wall-clock time."""
    counter = itertools.count()
    return lambda: float(next(counter))


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    servers: list[WebServer] = []

    async def serve(app: web.Application) -> str:
        server = WebServer(app)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server.url

    yield serve
    for server in reversed(servers):
        await server.stop()


@pytest.fixture
def scrape(
    serve: Callable[[web.Application], Awaitable[str]],
) -> Scrape:
    """GET /metrics from the real web server (make_app + WebServer), parsed by Prometheus."""

    async def scrape(metrics: Metrics) -> tuple[str, Samples]:
        async def health() -> dict[str, bool]:
            return {"loop": True}

        app = make_app(
            files=lambda _job_id: None,
            signer=LinkSigner(b"k" * 32),
            health=health,
            registry=metrics.registry,
            metrics_token="scrape-token",
            before_metrics=metrics.refresh,
        )
        url = await serve(app)
        headers = {"Authorization": "Bearer scrape-token"}
        async with (
            aiohttp.ClientSession() as http,
            http.get(url + "/metrics", headers=headers) as r,
        ):
            assert r.status == 200
            text = await r.text()
        samples: Samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[key(sample.name, **sample.labels)] = sample.value
        return text, samples

    return scrape


@pytest.fixture
def dead_port() -> Iterator[int]:
    """A port on 127.0.0.1 bound but not listening: connecting is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# -- the Videos API --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "endpoint"),
    [
        ("POST", "/v1/videos", "create"),
        ("post", "/openai/v1/videos/", "create"),
        ("GET", "/v1/videos", "list"),
        ("GET", "/openai/v1/videos/video_1", "status"),
        ("GET", "/v1/videos/video%3D1", "status"),
        ("GET", "/v1/videos/video_1/content", "content"),
        ("POST", "/openai/v1/videos/video_1/remix", "remix"),
        ("POST", "/v1/videos/extensions", "extensions"),
        ("GET", "/v1/videos/extensions", "status"),
        ("DELETE", "/v1/videos/video_1", "delete"),
        # A base path with a `videos` segment of its own, and a video whose id is `videos`.
        ("POST", "/videos/v1/videos", "create"),
        ("GET", "/videos/v1/videos/abc", "status"),
        ("GET", "/v1/videos/videos/content", "content"),
        ("GET", "/v1", "other"),
        ("GET", "/v1/models", "other"),
        ("PUT", "/v1/videos/video_1", "other"),
        ("GET", "/v1/videos/video_1/thumbnail", "other"),
        ("GET", "/", "other"),
    ],
)
def test_provider_endpoints_ignore_the_base_path(method: str, path: str, endpoint: str) -> None:
    assert provider_endpoint(method, path) == endpoint


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("http://h.test/v1/videos", "root"),
        ("http://H.test:80/v1/videos/vid_1", "root"),  # the host's case and default port
        ("http://h.test/openai/v1/videos", "azure"),  # the longest base URL wins
        ("http://h.test/openai/v1", "azure"),
        ("http://h.test/openai/v10/videos", "root"),  # whole segments only
        ("http://h.test/api/v1/videos/gen_1", "router"),
        ("https://h.test/v1/videos", "other"),  # another scheme is another server
        ("http://h.test:8080/v1/videos", "other"),
        ("http://elsewhere.test/v1/videos", "other"),
    ],
)
def test_a_request_belongs_to_the_provider_with_the_longest_base_url(
    url: str, provider: str
) -> None:
    metrics = Metrics()
    assert metrics.provider_of(URL(url)) == "other"
    metrics.name_providers(
        {
            "http://h.test": "root",
            "http://h.test/openai/v1/": "azure",
            "http://h.test/api/v1": "router",
        }
    )
    assert metrics.provider_of(URL(url)) == provider


class FakeVideos:
    """Just enough of /v1/videos (and /openai/v1/videos) to answer the trace's cases."""

    def __init__(self) -> None:
        self.release = asyncio.Event()  # the slow status never answers until the test ends
        self.waiting = asyncio.Event()  # set once the slow status has arrived

    def app(self) -> web.Application:
        app = web.Application()
        for prefix in ("/v1", "/openai/v1"):
            app.router.add_post(f"{prefix}/videos", self.video)
            app.router.add_get(f"{prefix}/videos", self.page)
            app.router.add_post(f"{prefix}/videos/extensions", self.video)
            app.router.add_get(prefix + "/videos/{id}", self.status)
            app.router.add_delete(prefix + "/videos/{id}", self.video)
            app.router.add_get(prefix + "/videos/{id}/content", self.content)
            app.router.add_post(prefix + "/videos/{id}/remix", self.video)
        return app

    async def video(self, _request: web.Request) -> web.Response:
        return web.json_response({"id": "vid_1", "object": "video", "status": "queued"})

    async def page(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": []})

    async def content(self, _request: web.Request) -> web.Response:
        return web.Response(body=b"\x00" * 1000, content_type="video/mp4")

    async def status(self, request: web.Request) -> web.StreamResponse:
        video_id = request.match_info["id"]
        if video_id == "broken":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if video_id == "busy":
            return web.json_response({"error": {"message": "slow down"}}, status=429)
        if video_id == "moved":
            raise web.HTTPTemporaryRedirect(str(request.url.with_path("/v1/videos/vid_1")))
        if video_id == "slow":
            self.waiting.set()
            await self.release.wait()
        return web.json_response({"id": video_id, "object": "video", "status": "in_progress"})


async def test_the_provider_trace_counts_requests_errors_status_reads_and_latency(
    serve: Callable[[web.Application], Awaitable[str]], scrape: Scrape, dead_port: int
) -> None:
    fake = FakeVideos()
    url = await serve(fake.app())
    v1, openai = f"{url}/v1", f"{url}/openai/v1"
    metrics = Metrics(clock=ticking())
    # Two providers on one host: each request is its base URL's (the dead port is no one's).
    metrics.name_providers({v1: "alpha", openai: "beta"})
    statuses: list[int] = []
    try:
        async with aiohttp.ClientSession(trace_configs=[metrics.provider_trace()]) as http:

            async def call(method: str, target: str) -> None:
                async with http.request(method, target) as resp:
                    await resp.read()
                    statuses.append(resp.status)

            await call("POST", f"{v1}/videos")
            await call("GET", f"{v1}/videos?limit=10&order=desc")
            await call("GET", f"{v1}/videos/vid_1")
            await call("GET", f"{v1}/videos/vid_1")
            await call("GET", f"{v1}/videos/broken")
            await call("GET", f"{v1}/videos/busy")
            await call("GET", f"{v1}/videos/moved")  # redirected: one request, not two
            await call("GET", f"{v1}/videos/vid_1/content")
            await call("POST", f"{v1}/videos/vid_1/remix")
            await call("POST", f"{v1}/videos/extensions")
            await call("DELETE", f"{v1}/videos/vid_1")
            await call("POST", f"{openai}/videos")
            await call("GET", f"{openai}/videos/vid_2")
            with pytest.raises(aiohttp.ClientConnectionError) as refused:
                await call("POST", f"http://127.0.0.1:{dead_port}/v1/videos")
            # Never answered: the client's deadline ends it, however fast the machine is.
            with pytest.raises(asyncio.TimeoutError) as timed_out:
                async with http.get(
                    f"{v1}/videos/slow", timeout=aiohttp.ClientTimeout(total=0.2)
                ) as resp:
                    await resp.read()
    finally:
        fake.release.set()
    assert statuses == [200, 200, 200, 200, 500, 429, 200, 200, 200, 200, 200, 200, 200]

    text, samples = await scrape(metrics)

    def requests(endpoint: str, method: str, status: str, provider: str = "alpha") -> float:
        name = "video_bot_provider_requests_total"
        labels = {"endpoint": endpoint, "method": method, "status": status}
        return samples.get(key(name, provider=provider, **labels), 0)

    assert requests("create", "POST", "200") == 1
    assert requests("create", "POST", "200", provider="beta") == 1
    assert requests("list", "GET", "200") == 1
    assert requests("status", "GET", "200") == 3  # vid_1 twice, moved
    assert requests("status", "GET", "200", provider="beta") == 1  # vid_2
    assert requests("status", "GET", "500") == 1
    assert requests("status", "GET", "429") == 1
    assert requests("content", "GET", "200") == 1
    assert requests("remix", "POST", "200") == 1
    assert requests("extensions", "POST", "200") == 1
    assert requests("delete", "DELETE", "200") == 1
    assert requests("create", "POST", "error", provider="other") == 1
    assert requests("status", "GET", "error") == 1
    total = sum(
        v for (name, _), v in samples.items() if name == "video_bot_provider_requests_total"
    )
    assert total == 15

    errors = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "video_bot_provider_errors_total"
    }
    alpha, other = ("provider", "alpha"), ("provider", "other")
    assert errors == {
        (("endpoint", "status"), ("kind", "http_5xx"), alpha): 1,
        (("endpoint", "status"), ("kind", "http_429"), alpha): 1,
        (("endpoint", "create"), ("kind", type(refused.value).__name__), other): 1,
        (("endpoint", "status"), ("kind", type(timed_out.value).__name__), alpha): 1,
    }
    # vid_1 twice, broken, busy, moved, vid_2 and slow.
    assert samples[key("video_bot_status_reads_total")] == 7

    # Answered requests only, each timed once from start to answer (the clock ticks by 1).
    def latency(endpoint: str, part: str, provider: str = "alpha") -> float:
        name = f"video_bot_provider_request_seconds_{part}"
        return samples[key(name, provider=provider, endpoint=endpoint)]

    assert latency("status", "count") == 5
    assert latency("status", "sum") == 5.0
    assert latency("status", "count", provider="beta") == 1
    assert latency("create", "count") == 1
    assert latency("create", "sum") == 1.0
    assert latency("create", "count", provider="beta") == 1
    for endpoint in ("list", "content", "remix", "extensions", "delete"):
        assert latency(endpoint, "count") == 1
    bucket = key(
        "video_bot_provider_request_seconds_bucket", provider="alpha", endpoint="status", le="1.0"
    )
    assert samples[bucket] == 5

    # No URL, host or video id in any label.
    assert "vid_1" not in text
    assert "127.0.0.1" not in text
    assert "broken" not in text


async def test_a_session_that_raises_for_status_still_counts_the_answer(
    serve: Callable[[web.Application], Awaitable[str]], scrape: Scrape
) -> None:
    url = await serve(FakeVideos().app())
    metrics = Metrics()
    async with aiohttp.ClientSession(
        trace_configs=[metrics.provider_trace()], raise_for_status=True
    ) as http:
        with pytest.raises(aiohttp.ClientResponseError):
            async with http.get(f"{url}/v1/videos/broken"):
                pass
    _, samples = await scrape(metrics)
    # No base URL named: every request is "other"'s.
    name = "video_bot_provider_requests_total"
    labels = {"provider": "other", "endpoint": "status"}
    assert samples[key(name, method="GET", status="500", **labels)] == 1
    assert samples[key("video_bot_provider_errors_total", kind="http_5xx", **labels)] == 1
    assert samples[key("video_bot_provider_request_seconds_count", **labels)] == 1


async def test_a_cancelled_request_is_not_an_error(
    serve: Callable[[web.Application], Awaitable[str]], scrape: Scrape
) -> None:
    fake = FakeVideos()
    url = await serve(fake.app())
    metrics = Metrics()
    try:
        async with aiohttp.ClientSession(trace_configs=[metrics.provider_trace()]) as http:

            async def fetch() -> None:
                async with http.get(f"{url}/v1/videos/slow") as resp:
                    await resp.read()

            task = asyncio.create_task(fetch())
            async with asyncio.timeout(30):  # a hang guard, not a measurement
                await fake.waiting.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        fake.release.set()
    _, samples = await scrape(metrics)
    assert samples[key("video_bot_status_reads_total")] == 1  # it was sent
    assert not [name for name, _ in samples if name == "video_bot_provider_requests_total"]
    assert not [name for name, _ in samples if name == "video_bot_provider_errors_total"]


# -- Discord ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "edit"),
    [
        ("PATCH", "/api/v10/channels/1/messages/2", True),
        ("patch", "/api/v10/webhooks/3/tok-en/messages/@original", True),
        ("PATCH", "/api/v10/webhooks/3/tok-en/messages/4", True),
        ("POST", "/api/v10/channels/1/messages", False),
        ("GET", "/api/v10/channels/1/messages/2", False),
        ("PATCH", "/api/v10/channels/1", False),
        ("POST", "/api/v10/webhooks/3/tok-en", False),
        ("PATCH", "/api/v10/applications/3/commands/5", False),
    ],
)
def test_discord_edits_are_patches_of_one_message(method: str, path: str, edit: bool) -> None:
    assert is_discord_edit(method, path) is edit


async def test_the_discord_trace_counts_edits_and_rate_limits_and_never_shows_a_token(
    serve: Callable[[web.Application], Awaitable[str]], scrape: Scrape, dead_port: int
) -> None:
    edits = 0

    async def edit_message(_request: web.Request) -> web.Response:
        nonlocal edits
        edits += 1
        if edits == 2:
            return web.json_response(
                {"message": "You are being rate limited.", "retry_after": 0.1, "global": False},
                status=429,
                headers={"Retry-After": "1", "X-RateLimit-Scope": "user"},
            )
        return web.json_response({"id": "2", "channel_id": "1"})

    async def webhook(_request: web.Request) -> web.Response:
        return web.json_response({"id": "5"})

    async def gateway(_request: web.Request) -> web.Response:
        return web.json_response({"url": "wss://gateway.invalid"})

    app = web.Application()
    app.router.add_patch("/api/v10/channels/1/messages/2", edit_message)
    app.router.add_patch(f"/api/v10/webhooks/42/{WEBHOOK_TOKEN}/messages/@original", webhook)
    app.router.add_post(f"/api/v10/webhooks/42/{WEBHOOK_TOKEN}", webhook)
    app.router.add_get("/api/v10/gateway", gateway)
    api = await serve(app) + "/api/v10"

    metrics = Metrics()
    async with aiohttp.ClientSession(trace_configs=[metrics.discord_trace()]) as http:
        for _ in range(3):
            async with http.patch(f"{api}/channels/1/messages/2", json={"content": "hi"}) as r:
                await r.read()
        async with http.patch(
            f"{api}/webhooks/42/{WEBHOOK_TOKEN}/messages/@original", json={"content": "x"}
        ) as r:
            assert r.status == 200
        async with http.post(f"{api}/webhooks/42/{WEBHOOK_TOKEN}", json={"content": "x"}) as r:
            assert r.status == 200
        async with http.get(f"{api}/gateway") as r:
            assert r.status == 200
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"http://127.0.0.1:{dead_port}/api/v10/webhooks/42/{WEBHOOK_TOKEN}")
    assert edits == 3

    text, samples = await scrape(metrics)
    requests = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "video_bot_discord_requests_total"
    }
    assert requests == {
        (("method", "PATCH"), ("status", "200")): 3,
        (("method", "PATCH"), ("status", "429")): 1,
        (("method", "POST"), ("status", "200")): 1,
        (("method", "GET"), ("status", "200")): 1,
        (("method", "GET"), ("status", "error")): 1,
    }
    assert samples[key("video_bot_discord_edits_total")] == 4
    assert samples[key("video_bot_discord_rate_limited_total")] == 1
    assert WEBHOOK_TOKEN not in text
    assert "/api/" not in text
    assert "@original" not in text


def test_discord_py_takes_the_trace() -> None:
    import discord

    client = discord.Client(intents=discord.Intents.none(), http_trace=Metrics().discord_trace())
    assert client.http.http_trace is not None


# -- the store's totals ------------------------------------------------------------------------


def job(job_id: str, state: JobState, cost: str) -> JobRecord:
    return JobRecord(
        id=job_id,
        state=state,
        prompt="a fox",
        model="sora-2",
        size="720x1280",
        seconds=4,
        cost=cost,
        requester_id=1,
        created_at=1.0,
        updated_at=1.0,
        provider_video_id="video_1" if state.is_final else None,
    )


async def test_a_scrape_refreshes_jobs_by_state_and_spend_by_billing(
    tmp_path: Path, scrape: Scrape
) -> None:
    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    store = JobStore(database)
    waiting, running, slots = 7, 3, 50
    metrics = Metrics()
    metrics.watch(
        waiting=lambda: waiting,
        running=lambda: running,
        slots=lambda: slots,
        totals=store.totals_by_state,
    )
    try:
        _, before = await scrape(metrics)
        assert before[key("video_bot_jobs", state="delivered")] == 0
        await store.add_many(
            [
                job("d1", JobState.DELIVERED, "0.10"),
                job("d2", JobState.DELIVERED, "0.10"),
                job("a1", JobState.ABANDONED, "0.30"),  # counted as charged (see Metrics)
                job("r1", JobState.RUNNING, "1.00"),
                job("q1", JobState.ACCEPTED, "0.50"),
                job("u1", JobState.UNKNOWN, "0.25"),
                job("c1", JobState.CANCELLED, "0.40"),
                job("f1", JobState.FAILED, "0.60"),
            ]
        )
        waiting, running = 2, 1
        _, samples = await scrape(metrics)
    finally:
        await database.close()

    jobs = {
        dict(labels)["state"]: value
        for (name, labels), value in samples.items()
        if name == "video_bot_jobs"
    }
    assert set(jobs) == {state.value for state in JobState}
    expected = {"delivered": 2, "abandoned": 1, "running": 1, "accepted": 1, "unknown": 1}
    expected |= {"cancelled": 1, "failed": 1}
    assert jobs == {state.value: expected.get(state.value, 0) for state in JobState}

    spend = {
        dict(labels)["billing"]: value
        for (name, labels), value in samples.items()
        if name == "video_bot_estimated_spend_usd"
    }
    assert spend == pytest.approx(
        {"charged": 0.50, "reserved": 1.50, "unknown": 0.25, "refunded": 1.00}
    )
    assert samples[key("video_bot_queue_waiting")] == 2
    assert samples[key("video_bot_jobs_running")] == 1
    assert samples[key("video_bot_slots")] == 50


async def test_failing_totals_keep_the_last_snapshot_and_warn_once(
    scrape: Scrape, caplog: pytest.LogCaptureFixture
) -> None:
    answers: list[dict[JobState, tuple[int, Decimal]] | Exception] = [
        {JobState.DELIVERED: (4, Decimal("1.60"))},
        RuntimeError("database is locked"),
        OSError("connection reset"),
        {JobState.DELIVERED: (5, Decimal("2.00"))},
    ]

    async def totals() -> dict[JobState, tuple[int, Decimal]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    metrics = Metrics()
    metrics.watch(waiting=lambda: 0, running=lambda: 0, slots=lambda: 1, totals=totals)
    delivered = key("video_bot_jobs", state="delivered")
    charged = key("video_bot_estimated_spend_usd", billing="charged")

    caplog.set_level(logging.INFO, logger="bot.observability.metrics")
    _, samples = await scrape(metrics)
    assert (samples[delivered], samples[charged]) == (4, pytest.approx(1.60))
    for _ in range(2):
        _, samples = await scrape(metrics)
        assert (samples[delivered], samples[charged]) == (4, pytest.approx(1.60))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "database is locked" in warnings[0].getMessage()
    assert warnings[0].exc_info is None  # one line, no traceback

    _, samples = await scrape(metrics)
    assert (samples[delivered], samples[charged]) == (5, pytest.approx(2.00))
    assert any("available again" in r.getMessage() for r in caplog.records)


async def test_totals_that_never_answer_time_out_and_keep_the_snapshot(scrape: Scrape) -> None:
    never = asyncio.Event()
    calls = 0

    async def totals() -> dict[JobState, tuple[int, Decimal]]:
        nonlocal calls
        calls += 1
        if calls > 1:
            await never.wait()
        return {JobState.RUNNING: (2, Decimal("0.80"))}

    metrics = Metrics(refresh_timeout=0.05)
    metrics.watch(waiting=lambda: 0, running=lambda: 0, slots=lambda: 1, totals=totals)
    await scrape(metrics)
    _, samples = await scrape(metrics)
    assert calls == 2
    assert samples[key("video_bot_jobs", state="running")] == 2
    assert samples[key("video_bot_estimated_spend_usd", billing="reserved")] == pytest.approx(0.8)


async def test_before_any_refresh_the_store_gauges_have_no_samples(scrape: Scrape) -> None:
    metrics = Metrics()  # nothing watched: refresh() has nothing to read
    text, samples = await scrape(metrics)
    assert "# TYPE video_bot_jobs gauge" in text
    assert not [name for name, _ in samples if name in ("video_bot_jobs", "video_bot_slots")]


def test_two_bots_in_one_process_do_not_clash() -> None:
    first, second = Metrics(), Metrics()
    for metrics in (first, second):
        metrics.watch(waiting=lambda: 0, running=lambda: 0, slots=lambda: 1, totals=_no_totals)
        metrics.watch(waiting=lambda: 1, running=lambda: 0, slots=lambda: 1, totals=_no_totals)
        metrics.provider_trace()
        metrics.discord_trace()
    first.video_fitted(1.0, True)
    assert first.registry.get_sample_value("video_bot_videos_fitted_total", {"outcome": "ok"}) == 1
    assert second.registry.get_sample_value("video_bot_videos_fitted_total", {"outcome": "ok"}) == 0
    assert first.registry.get_sample_value("video_bot_queue_waiting") == 1


async def _no_totals() -> dict[JobState, tuple[int, Decimal]]:
    return {}


# -- fitting -------------------------------------------------------------------------------------


async def test_video_fitted_counts_outcomes_and_encode_seconds(scrape: Scrape) -> None:
    metrics = Metrics()
    _, samples = await scrape(metrics)
    assert samples[key("video_bot_videos_fitted_total", outcome="ok")] == 0
    assert samples[key("video_bot_videos_fitted_total", outcome="failed")] == 0

    metrics.video_fitted(3.0, True)
    metrics.video_fitted(0.5, True)
    metrics.video_fitted(120.0, False)
    metrics.video_fitted(901.0, False)
    _, samples = await scrape(metrics)
    assert samples[key("video_bot_videos_fitted_total", outcome="ok")] == 2
    assert samples[key("video_bot_videos_fitted_total", outcome="failed")] == 2
    assert samples[key("video_bot_encode_seconds_count")] == 4
    assert samples[key("video_bot_encode_seconds_sum")] == 1024.5
    assert samples[key("video_bot_encode_seconds_bucket", le="1.0")] == 1
    assert samples[key("video_bot_encode_seconds_bucket", le="5.0")] == 2
    assert samples[key("video_bot_encode_seconds_bucket", le="120.0")] == 3
    assert samples[key("video_bot_encode_seconds_bucket", le="900.0")] == 3
    assert samples[key("video_bot_encode_seconds_bucket", le="+Inf")] == 4
