"""The web server over real HTTP on 127.0.0.1: signed video links, /healthz and /metrics."""

from __future__ import annotations

import asyncio
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from bot.http.server import WebServer, make_app
from bot.service.links import LinkSigner, link_for, load_or_create_secret

NOW = 1_700_000_000
VIDEO = bytes(range(256)) * 40
SIGNER = LinkSigner(b"k" * 32)

Start = Callable[..., Awaitable[WebServer]]


@pytest.fixture
def videos(tmp_path: Path) -> dict[str, Path]:
    path = tmp_path / "job-1.mp4"
    path.write_bytes(VIDEO)
    return {"job-1": path, "deleted": tmp_path / "deleted.mp4"}


@pytest.fixture
async def start(videos: dict[str, Path]) -> AsyncIterator[Start]:
    servers: list[WebServer] = []

    async def start(
        *,
        checks: dict[str, bool] | None = None,
        registry: CollectorRegistry | None = None,
        metrics_token: str | None = None,
        before_metrics: Callable[[], Awaitable[None]] | None = None,
    ) -> WebServer:
        async def health() -> dict[str, bool]:
            return checks if checks is not None else {"loop": True, "store": True}

        app = make_app(
            files=videos.get,
            signer=SIGNER,
            health=health,
            registry=registry or CollectorRegistry(),
            metrics_token=metrics_token,
            clock=lambda: NOW,
            before_metrics=before_metrics,
        )
        server = WebServer(app)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_valid_link_serves_the_exact_bytes_as_mp4(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    url = link_for(server.url + "/", SIGNER, "job-1", NOW + 60)
    assert url.startswith(f"{server.url}/v/job-1.mp4?exp={NOW + 60}&sig=")
    async with http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "video/mp4"
        assert await resp.read() == VIDEO


async def test_a_range_request_gets_206_with_exactly_those_bytes(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    url = link_for(server.url, SIGNER, "job-1", NOW + 60)
    async with http.get(url, headers={"Range": "bytes=10-99"}) as resp:
        assert resp.status == 206
        assert resp.headers["Content-Range"] == f"bytes 10-99/{len(VIDEO)}"
        assert await resp.read() == VIDEO[10:100]


async def test_head_gives_the_headers_without_a_body(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    async with http.head(link_for(server.url, SIGNER, "job-1", NOW + 60)) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Length"] == str(len(VIDEO))
        assert resp.headers["Content-Type"] == "video/mp4"
        assert await resp.read() == b""


async def test_etag_and_last_modified_are_sent_and_if_none_match_gives_304(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    url = link_for(server.url, SIGNER, "job-1", NOW + 60)
    async with http.get(url) as resp:
        etag = resp.headers["ETag"]
        assert resp.headers["Last-Modified"]
    async with http.get(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304
        assert await resp.read() == b""


async def test_a_tampered_signature_is_refused(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start()
    url = link_for(server.url, SIGNER, "job-1", NOW + 60)
    flipped = url[:-1] + ("A" if url[-1] != "A" else "B")
    async with http.get(flipped) as resp:
        assert resp.status == 403
        assert "not valid" in await resp.text()


async def test_a_signature_for_another_path_or_expiry_is_refused(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    query = SIGNER.sign("/v/other.mp4", NOW + 60)
    async with http.get(f"{server.url}/v/job-1.mp4?{query}") as resp:
        assert resp.status == 403
    sig = parse_qs(urlsplit(link_for(server.url, SIGNER, "job-1", NOW + 60)).query)["sig"][0]
    async with http.get(f"{server.url}/v/job-1.mp4?exp={NOW + 999}&sig={sig}") as resp:
        assert resp.status == 403
        assert "expired" not in await resp.text()
    async with http.get(f"{server.url}/v/job-1.mp4") as resp:
        assert resp.status == 403


async def test_an_expired_link_is_refused_saying_so(
    start: Start, http: aiohttp.ClientSession
) -> None:
    server = await start()
    async with http.get(link_for(server.url, SIGNER, "job-1", NOW - 1)) as resp:
        assert resp.status == 403
        assert "expired" in await resp.text()


@pytest.mark.parametrize("job_id", ["deleted", "unknown"])
async def test_a_video_no_longer_kept_is_gone(
    start: Start, http: aiohttp.ClientSession, job_id: str
) -> None:
    server = await start()
    async with http.get(link_for(server.url, SIGNER, job_id, NOW + 60)) as resp:
        assert resp.status == 410
        assert "no longer kept" in await resp.text()


async def test_healthz_is_ok_when_every_part_is(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(checks={"loop": True, "store": True, "gateway": True})
    async with http.get(server.url + "/healthz") as resp:
        assert resp.status == 200
        assert await resp.text() == "ok"


async def test_healthz_names_the_failing_parts(start: Start, http: aiohttp.ClientSession) -> None:
    server = await start(checks={"loop": True, "store": True, "gateway": False})
    async with http.get(server.url + "/healthz") as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["failing"] == ["gateway"]
    assert body["checks"] == {"loop": True, "store": True, "gateway": False}


async def test_metrics_exposes_the_registry(start: Start, http: aiohttp.ClientSession) -> None:
    registry = CollectorRegistry()
    Counter("videos_delivered", "Videos delivered.", registry=registry).inc(3)
    server = await start(registry=registry)
    async with http.get(server.url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["videos_delivered"].type == "counter"
    samples = {s.name: s.value for s in families["videos_delivered"].samples}
    assert samples["videos_delivered_total"] == 3


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "s3cret"}, 401),
        ({"Authorization": "Bearer s3cret"}, 200),
    ],
)
async def test_metrics_with_a_token_needs_the_bearer(
    start: Start, http: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    server = await start(metrics_token="s3cret")
    async with http.get(server.url + "/metrics", headers=headers) as resp:
        assert resp.status == status


async def test_before_metrics_is_awaited_before_each_scrape(
    start: Start, http: aiohttp.ClientSession
) -> None:
    registry = CollectorRegistry()
    refreshed = Gauge("refreshes", "Times before_metrics ran.", registry=registry)
    calls = 0

    async def before() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)  # really awaited, not just called
        refreshed.set(calls)

    server = await start(registry=registry, metrics_token="s3cret", before_metrics=before)
    headers = {"Authorization": "Bearer s3cret"}
    for expected in (1, 2):
        async with http.get(server.url + "/metrics", headers=headers) as resp:
            assert resp.status == 200
            text = await resp.text()
        (family,) = [f for f in text_string_to_metric_families(text) if f.name == "refreshes"]
        assert family.samples[0].value == expected  # what it set is in the same scrape
    # Refused scrapes and the other routes do not run it.
    async with http.get(server.url + "/metrics") as resp:
        assert resp.status == 401
    async with http.get(server.url + "/healthz") as resp:
        assert resp.status == 200
    assert calls == 2


async def test_a_failing_before_metrics_still_serves_the_registry(
    start: Start, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    registry = CollectorRegistry()
    Counter("videos_delivered", "Videos delivered.", registry=registry).inc(2)

    async def before() -> None:
        raise RuntimeError("the store is gone")

    server = await start(registry=registry, before_metrics=before)
    async with http.get(server.url + "/metrics") as resp:
        assert resp.status == 200
        text = await resp.text()
    assert "videos_delivered_total 2.0" in text
    assert "refreshing the metrics" in caplog.text


async def test_healthz_answers_503_when_the_check_itself_fails(
    http: aiohttp.ClientSession, videos: dict[str, Path]
) -> None:
    async def health() -> dict[str, bool]:
        raise RuntimeError("the check broke")

    app = make_app(
        files=videos.get,
        signer=SIGNER,
        health=health,
        registry=CollectorRegistry(),
        metrics_token=None,
    )
    server = WebServer(app)
    await server.start("127.0.0.1", 0)
    try:
        async with http.get(server.url + "/healthz") as resp:
            assert resp.status == 503
            assert (await resp.json())["failing"] == ["health"]
    finally:
        await server.stop()


async def test_the_server_stops_and_reports_no_url(start: Start) -> None:
    server = await start()
    assert server.url.startswith("http://127.0.0.1:")
    await server.stop()
    with pytest.raises(RuntimeError):
        _ = server.url


def test_signer_verdicts() -> None:
    query = parse_qs(SIGNER.sign("/v/a.mp4", 100))
    exp, sig = query["exp"][0], query["sig"][0]
    assert "=" not in sig
    assert SIGNER.check("/v/a.mp4", exp, sig, now=99) == "ok"
    assert SIGNER.check("/v/a.mp4", exp, sig, now=100) == "expired"
    assert SIGNER.check("/v/b.mp4", exp, sig, now=99) == "tampered"
    assert SIGNER.check("/v/a.mp4", "0100", sig, now=99) == "tampered"
    assert SIGNER.check("/v/a.mp4", "soon", sig, now=99) == "tampered"
    assert SIGNER.check("/v/a.mp4", exp, "é", now=99) == "tampered"
    assert SIGNER.check("/v/a.mp4", None, sig, now=99) == "tampered"
    assert LinkSigner(b"other").check("/v/a.mp4", exp, sig, now=99) == "tampered"


def test_the_secret_file_is_created_0600_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = load_or_create_secret(data_dir, None)
    path = data_dir / "link-secret"
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(data_dir, None) == first
    assert load_or_create_secret(data_dir, "") == first


def test_a_configured_secret_wins_and_writes_nothing(tmp_path: Path) -> None:
    assert load_or_create_secret(tmp_path, "configured") == b"configured"
    assert not (tmp_path / "link-secret").exists()


def test_a_truncated_secret_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "link-secret").write_bytes(b"x")
    with pytest.raises(ValueError, match="too few"):
        load_or_create_secret(tmp_path, None)
