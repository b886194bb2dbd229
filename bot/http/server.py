"""The bot's small web server: signed video links, a health probe, Prometheus metrics and, with
the service, the providers' completion callbacks (bot/http/provider_webhooks.py) and the page a
link-preview client gets for a video link, to play it inline (bot/http/preview.py).

Engine side: nothing here knows about Discord. Ranges, ETags, Last-Modified and HEAD for the
videos are aiohttp's own `web.FileResponse`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import prometheus_client
from aiohttp import web

from bot.domain import ProviderHealth
from bot.http.preview import (
    IMAGE_TYPES,
    PAGE_HEADERS,
    RAW,
    Preview,
    parse_size,
    render,
    video_size,
    wants_page,
)
from bot.http.provider_webhooks import ProviderCallbacks
from bot.service.links import (
    LinkSigner,
    link_for,
    reference_path,
    thumbnail_link_for,
    thumbnail_path,
    video_path,
)

if TYPE_CHECKING:
    from bot.observability.metrics import Metrics
    from bot.service import VideoService

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 5.0

FILES: web.AppKey[Callable[[str], Path | None]] = web.AppKey("files")
SIGNER: web.AppKey[LinkSigner] = web.AppKey("signer")
HEALTH: web.AppKey[Callable[[], Awaitable[dict[str, bool]]]] = web.AppKey("health")
REGISTRY: web.AppKey[prometheus_client.CollectorRegistry] = web.AppKey("registry")
METRICS_TOKEN: web.AppKey[str | None] = web.AppKey("metrics_token")
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
REFERENCES: web.AppKey[Callable[[str], Awaitable[bytes | None]] | None] = web.AppKey("references")
BEFORE_METRICS: web.AppKey[Callable[[], Awaitable[None]] | None] = web.AppKey("before_metrics")
PROVIDERS: web.AppKey[Callable[[], list[ProviderHealth]] | None] = web.AppKey("providers")
# The preview pages' source: the public URL (their tags are absolute), thumbnails, the jobs.
SERVICE: web.AppKey[VideoService | None] = web.AppKey("service")

TAMPERED = "This link is not valid. Ask the bot for a new one.\n"
EXPIRED = "This link has expired. Ask the bot for a new one.\n"
GONE = "This video is no longer kept.\n"


async def _video(request: web.Request) -> web.StreamResponse:
    app = request.app
    job_id = request.match_info["job_id"]
    verdict = app[SIGNER].check(
        video_path(job_id), request.query.get("exp"), request.query.get("sig"), app[CLOCK]()
    )
    if verdict == "tampered":
        return web.Response(status=403, text=TAMPERED)
    if verdict == "expired":
        return web.Response(status=403, text=EXPIRED)
    path = app[FILES](job_id)
    if path is None or not path.is_file():
        return web.Response(status=410, text=GONE)
    headers = {
        "Content-Type": "video/mp4",
        "Cache-Control": "private, max-age=3600",
        "X-Content-Type-Options": "nosniff",
    }
    service = app[SERVICE]
    public_url = None if service is None else service.settings.public_url
    if service is not None and public_url is not None and RAW not in request.query:
        # One URL, two answers: a cache must not hand the page to a player, nor the reverse.
        headers["Vary"] = "Accept, User-Agent"
        if wants_page(request.headers):
            # `check` said ok: exp is the integer that was signed.
            exp = int(request.query["exp"])
            return await _preview_page(
                service, app[SIGNER], public_url=public_url, job_id=job_id, path=path, exp=exp
            )
    return web.FileResponse(path, headers=headers)


async def _preview_page(
    service: VideoService, signer: LinkSigner, *, public_url: str, job_id: str, path: Path, exp: int
) -> web.Response:
    """The small page that has Discord and other link previews play the original inline."""
    page_url = link_for(public_url, signer, job_id, exp)
    try:
        job = await service.job(job_id)
    except Exception:
        log.exception("reading job %s for its preview page failed", job_id)
        job = None
    # Unknown is hidden too: the page must not unfurl what a spoiler may cover.
    hidden = job is None or job.spoiler is not None
    size = await asyncio.to_thread(video_size, path)
    if size is None and job is not None:
        size = parse_size(job.size)
    image_url = image_type = poster = None
    thumbnail = None if hidden else service.thumbnail_file(job_id)
    if thumbnail is not None and thumbnail.suffix in IMAGE_TYPES:
        suffix = thumbnail.suffix
        image_url = thumbnail_link_for(public_url, signer, job_id, exp, suffix)
        image_type = IMAGE_TYPES[suffix]
        poster = f"../t/{job_id}{suffix}?{signer.sign(thumbnail_path(job_id), exp)}"
    preview = Preview(
        page_url=page_url,
        video_url=f"{page_url}&{RAW}=1",
        # Relative to /v/<job>.mp4: the page's own origin and prefix, whatever proxy is before.
        src=f"./{job_id}.mp4?{signer.sign(video_path(job_id), exp)}&{RAW}=1",
        image_url=image_url,
        image_type=image_type,
        poster=poster,
        size=size,
        hidden=hidden,
    )
    return web.Response(
        text=render(preview),
        content_type="text/html",
        charset="utf-8",
        headers={**PAGE_HEADERS, "Vary": "Accept, User-Agent"},
    )


async def _thumbnail(request: web.Request) -> web.StreamResponse:
    """A job's thumbnail (the poster of its preview page), signed like its video link."""
    app = request.app
    job_id = request.match_info["job_id"]
    verdict = app[SIGNER].check(
        thumbnail_path(job_id), request.query.get("exp"), request.query.get("sig"), app[CLOCK]()
    )
    if verdict != "ok":
        return web.Response(status=403, text=TAMPERED if verdict == "tampered" else EXPIRED)
    service = app[SERVICE]
    path = None if service is None else service.thumbnail_file(job_id)
    if path is None or path.suffix not in IMAGE_TYPES or not path.is_file():
        return web.Response(status=410, text=GONE)
    # The file's own type, whichever extension the URL ends in: one signature covers both.
    return web.FileResponse(
        path,
        headers={
            "Content-Type": IMAGE_TYPES[path.suffix],
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _reference(request: web.Request) -> web.Response:
    app = request.app
    job_id = request.match_info["job_id"]
    verdict = app[SIGNER].check(
        reference_path(job_id), request.query.get("exp"), request.query.get("sig"), app[CLOCK]()
    )
    if verdict != "ok":
        return web.Response(status=403, text=TAMPERED if verdict == "tampered" else EXPIRED)
    references = app[REFERENCES]
    data = await references(job_id) if references is not None else None
    if data is None:
        return web.Response(status=410, text=GONE)
    return web.Response(
        body=data,
        content_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


async def _healthz(request: web.Request) -> web.Response:
    """200 when every check passes, else 503 naming the failing parts.

    Built with the service, the answer is always JSON and lists the providers
    (`"providers": [{"name", "dialect", "calls_back", "state": "up"|"down", ...}]`, with
    `down_until` (Unix seconds) and the failures counted while a circuit breaker is open).
    Some providers down is `"status": "degraded"` with 200: the bot still makes videos (and
    falls back to the others), and a 503 would have an orchestrator restart a process that a
    restart does not help. Every provider down is a failing part, `providers`, so 503:
    nothing can be made. Base URLs are not shown: /healthz needs no token.
    """
    providers = request.app[PROVIDERS]
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            checks = await request.app[HEALTH]()
        listed = providers() if providers is not None else []
    except Exception:
        log.exception("health check failed")
        body: dict[str, Any] = {"ok": False, "failing": ["health"], "checks": {}}
        if providers is not None:
            body["status"] = "failing"
        return web.json_response(body, status=503)
    failing = sorted(name for name, ok in checks.items() if not ok)
    if providers is None:
        if not failing:
            return web.Response(text="ok")
        return web.json_response({"ok": False, "failing": failing, "checks": checks}, status=503)
    down = [p for p in listed if p.down]
    if listed and len(down) == len(listed):
        failing.append("providers")
    status = "failing" if failing else "degraded" if down else "ok"
    body = {
        "ok": not failing,
        "status": status,
        "failing": failing,
        "checks": checks,
        "providers": [_provider_health(p) for p in listed],
    }
    return web.json_response(body, status=503 if failing else 200)


def _provider_health(provider: ProviderHealth) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "name": provider.name,
        "dialect": provider.dialect,
        "calls_back": provider.calls_back,
        "state": "down" if provider.down else "up",
    }
    if provider.down:
        shown["down_until"] = provider.down_until
        shown["consecutive_failures"] = provider.consecutive_failures
    return shown


async def _metrics(request: web.Request) -> web.Response:
    token = request.app[METRICS_TOKEN]
    if token:
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, f"Bearer {token}".encode()):
            return web.Response(
                status=401, text="unauthorized\n", headers={"WWW-Authenticate": "Bearer"}
            )
    before = request.app[BEFORE_METRICS]
    if before is not None:
        try:
            await before()
        except Exception:
            # The registry still has the live figures and the last snapshot: serve those.
            log.exception("refreshing the metrics before a scrape failed")
    body = prometheus_client.generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})


def make_app(
    *,
    files: Callable[[str], Path | None],
    signer: LinkSigner,
    health: Callable[[], Awaitable[dict[str, bool]]],
    registry: prometheus_client.CollectorRegistry,
    metrics_token: str | None,
    clock: Callable[[], float] = time.time,
    before_metrics: Callable[[], Awaitable[None]] | None = None,
    references: Callable[[str], Awaitable[bytes | None]] | None = None,
    service: VideoService | None = None,
    metrics: Metrics | None = None,
) -> web.Application:
    """The application: GET|HEAD /v/{job_id}.mp4, GET /r/{job_id}.jpg (fitted reference
    images, for servers that take `input_reference` as a URL), GET /t/{job_id}.webp|.jpg
    (thumbnails), GET /healthz, GET /metrics.

    `before_metrics`, when given, is awaited before each authorised /metrics scrape (to read
    the figures that live in the store, e.g. `Metrics.refresh`). With `service`, also
    POST /provider-webhooks/{provider} (counted in `metrics` when given) and the providers'
    state in /healthz; `clock` is the callbacks' too (their timestamps' tolerance); and, when
    its settings have a public URL, a video link answers a link-preview client with a page
    that plays it inline (bot/http/preview.py), its poster the job's thumbnail.
    """
    # Room for a 20 MiB reference image (and its base64 in JSON) in the bot's own API.
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[FILES] = files
    app[SIGNER] = signer
    app[HEALTH] = health
    app[REGISTRY] = registry
    app[METRICS_TOKEN] = metrics_token
    app[CLOCK] = clock
    app[BEFORE_METRICS] = before_metrics
    app[REFERENCES] = references
    app[PROVIDERS] = None if service is None else service.provider_health
    app[SERVICE] = service
    app.router.add_get("/v/{job_id:[^/]+}.mp4", _video)  # add_get also answers HEAD
    app.router.add_get("/r/{job_id:[^/]+}.jpg", _reference)
    app.router.add_get("/t/{job_id:[^/]+}.{ext:webp|jpg}", _thumbnail)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    if service is not None:
        observe = None if metrics is None else metrics.provider_callback
        ProviderCallbacks(service, clock=clock, observe=observe).add_routes(app)
    return app


class WebServer:
    """Runs an application on one host and port; port 0 picks a free one (see `url`)."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    async def start(self, host: str, port: int) -> None:
        if self._runner is not None:
            raise RuntimeError("the web server is already running")
        runner = web.AppRunner(self._app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self._url = f"http://{shown}:{bound_port}"

    async def stop(self) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    @property
    def url(self) -> str:
        """The base URL the server listens on, e.g. http://127.0.0.1:8080."""
        if self._url is None:
            raise RuntimeError("the web server is not running")
        return self._url
