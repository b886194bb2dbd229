"""What `/metrics` reports: the engine's live figures, the job store's totals, the Videos API
and Discord as the bot's HTTP sessions saw them, and the fitting of videos to upload limits.

One `Metrics` per bot process, each with its own registry: nothing here is module-global, so
many bots in one test process never clash. Engine side: the live figures come in as callables,
and nothing here imports the service or Discord.

No label ever holds a URL, an id or a token: Discord's webhook paths carry interaction tokens,
which are secrets, so its requests are labelled by method and status only. A provider label is a
catalogue provider's name (registered by the operator's configuration, never taken from a
request), "other" or "unknown".
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from yarl import URL

from bot.domain import Billing, JobState, billing

log = logging.getLogger(__name__)

Totals = Callable[[], Awaitable[dict[JobState, tuple[int, Decimal]]]]
# (estimates, bills) of the jobs whose provider reported what it billed.
Settled = Callable[[], Awaitable[tuple[Decimal, Decimal]]]

# How long a scrape waits for the store's totals before it serves the last ones.
REFRESH_TIMEOUT = 5.0

# Time to a Videos API answer's headers: a fast status read up to a slow create or upload.
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# One ffmpeg encode: from a second up to the fitter's 15-minute limit.
ENCODE_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0)

PROVIDER_ENDPOINTS = (
    "create",
    "list",
    "status",
    "content",
    "remix",
    "extensions",
    "delete",
    "other",
)

# What a provider's completion callback came to (bot/http/provider_webhooks.py).
CALLBACK_OUTCOMES = (
    "moved",  # verified; the job's owner was woken to read the status now
    "ended",  # verified; the job had already ended
    "unknown_job",  # verified; no job of this provider has that video
    "duplicate",  # verified; the event was received before (a replay or a retry)
    "ignored",  # verified; an event type the bot does not act on
    "unsigned",  # no signature
    "bad_signature",  # a signature that does not match (or cannot be read)
    "stale",  # a timestamp more than the tolerance away from now
    "malformed",  # verified, but not the JSON event the dialect sends
    "not_found",  # no such provider, or one without a webhook secret (404)
    "too_large",  # a body over the cap (413), not read
)
# The provider label of a request to no registered base URL, or of a callback for a provider
# that does not exist.
OTHER_PROVIDER = "other"
UNKNOWN_PROVIDER = "unknown"

# A PATCH of one message: a channel message, or a webhook's (an interaction's reply included).
_DISCORD_EDIT = re.compile(
    r"/channels/[^/]+/messages/[^/]+/?$|/webhooks/[^/]+/[^/]+/messages/[^/]+/?$"
)
# Set on aiohttp's per-request trace context (each TraceConfig gets its own).
_CTX_ATTR = "video_bot_request"


def provider_endpoint(method: str, path: str) -> str:
    """Which Videos API operation a request is, whatever the base path (/v1, /openai/v1 ...).

    The first `videos` segment whose tail fits an operation wins, so a base path that itself
    holds a `videos` segment, or a video whose id is `videos`, is still read right.
    """
    segments = [segment for segment in path.split("/") if segment]
    verb = method.upper()
    for index, segment in enumerate(segments):
        if segment == "videos":
            found = _operation(verb, segments[index + 1 :])
            if found is not None:
                return found
    return "other"


def _operation(verb: str, tail: list[str]) -> str | None:
    if not tail:
        return {"POST": "create", "GET": "list"}.get(verb)
    if len(tail) == 1:
        if tail[0] == "extensions" and verb == "POST":
            return "extensions"
        return {"GET": "status", "DELETE": "delete"}.get(verb)
    if len(tail) == 2:
        if tail[1] == "content" and verb in ("GET", "HEAD"):
            return "content"
        if tail[1] == "remix" and verb == "POST":
            return "remix"
    return None


def is_discord_edit(method: str, path: str) -> bool:
    """Whether a Discord API request edits a message (PATCH of a channel or webhook message)."""
    return method.upper() == "PATCH" and _DISCORD_EDIT.search(path) is not None


def _error_kind(status: int) -> str | None:
    if status == 429:
        return "http_429"
    if 400 <= status < 500:
        return "http_4xx"
    if status >= 500:
        return "http_5xx"
    return None


@dataclass(slots=True)
class _Started:
    """One request in flight, kept on aiohttp's trace context from start to end."""

    provider: str
    endpoint: str
    method: str
    at: float


_Origin = tuple[str, str, int | None]


def _split(url: URL) -> tuple[_Origin, tuple[str, ...]]:
    """(scheme, host, port) and the path's segments, for matching a URL to a base URL."""
    origin = (url.scheme.lower(), (url.host or "").lower(), url.port)
    return origin, tuple(segment for segment in url.raw_path.split("/") if segment)


class Metrics:
    """The bot's metrics, in `registry`: serve it on /metrics and call `refresh()` before."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.perf_counter,
        refresh_timeout: float = REFRESH_TIMEOUT,
    ) -> None:
        self.registry = CollectorRegistry()
        self._clock = clock
        self._refresh_timeout = refresh_timeout
        self._totals: Totals | None = None
        # (origin, base path segments, provider name), the longest base path first.
        self._providers: list[tuple[_Origin, tuple[str, ...], str]] = []
        self._live: tuple[Gauge, Gauge, Gauge] | None = None
        self._failing = False
        registry = self.registry

        # The store's jobs: a snapshot made by refresh(); no samples before the first one.
        self._jobs = Gauge(
            "video_bot_jobs",
            "Jobs in the store by state (as of the last refresh)",
            ["state"],
            registry=registry,
        )
        self._spend = Gauge(
            "video_bot_estimated_spend_usd",
            "Cost of every job in the store (the provider's bill where it reported one, else "
            "the estimate), split the way billing() splits it",
            ["billing"],
            registry=registry,
        )
        self._settled: Settled | None = None
        # The jobs whose provider reported its bill: what they were estimated at, and billed.
        self._settled_estimate = Gauge(
            "video_bot_settled_estimate_usd",
            "Estimated cost of the jobs whose provider reported what it billed (not refunded)",
            registry=registry,
        )
        self._settled_bill = Gauge(
            "video_bot_billed_usd",
            "What the providers reported billing for those jobs (est. → billed)",
            registry=registry,
        )

        # The Videos API, as the provider session's trace saw it.
        self._provider_requests = Counter(
            "video_bot_provider_requests",
            "Requests to the Videos API by provider, endpoint, method and HTTP status ('error': "
            "no answer)",
            ["provider", "endpoint", "method", "status"],
            registry=registry,
        )
        self._provider_seconds = Histogram(
            "video_bot_provider_request_seconds",
            "Time from sending a Videos API request to its answer's headers (answered ones only)",
            ["provider", "endpoint"],
            buckets=PROVIDER_BUCKETS,
            registry=registry,
        )
        self._provider_errors = Counter(
            "video_bot_provider_errors",
            "Failed Videos API requests: http_4xx, http_429, http_5xx or the exception's class",
            ["provider", "endpoint", "kind"],
            registry=registry,
        )
        self._status_reads = Counter(
            "video_bot_status_reads",
            "Reads of one video's status from the Videos API (the polling)",
            registry=registry,
        )
        self._callbacks = Counter(
            "video_bot_provider_callbacks",
            "Completion callbacks received from providers, by provider and outcome",
            ["provider", "outcome"],
            registry=registry,
        )

        # Discord's REST API, as discord.py's session trace saw it.
        self._discord_requests = Counter(
            "video_bot_discord_requests",
            "Requests to Discord by method and HTTP status ('error': no answer)",
            ["method", "status"],
            registry=registry,
        )
        self._discord_edits = Counter(
            "video_bot_discord_edits",
            "Message edits sent to Discord (PATCH of a channel or webhook message; retries too)",
            registry=registry,
        )
        self._discord_rate_limited = Counter(
            "video_bot_discord_rate_limited",
            "Discord answers with status 429",
            registry=registry,
        )

        # Fitting videos to upload limits.
        self._fitted = Counter(
            "video_bot_videos_fitted",
            "Videos re-encoded to fit an upload limit, by outcome",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "failed"):
            self._fitted.labels(outcome=outcome)
        self._encode_seconds = Histogram(
            "video_bot_encode_seconds",
            "Time one encode took (successful or not)",
            buckets=ENCODE_BUCKETS,
            registry=registry,
        )

    # -- the engine's figures ------------------------------------------------------------------

    def watch(
        self,
        *,
        waiting: Callable[[], int],
        running: Callable[[], int],
        slots: Callable[[], int],
        totals: Totals,
        settled: Settled | None = None,
    ) -> None:
        """Read the live figures at each scrape, and the store's totals at each `refresh()`.

        Watching again replaces the callables.
        """
        if self._live is None:
            self._live = (
                Gauge(
                    "video_bot_queue_waiting",
                    "Jobs waiting in the bot's own queue for a slot at the provider",
                    registry=self.registry,
                ),
                Gauge(
                    "video_bot_jobs_running",
                    "Jobs past the queue: at the provider, downloading or being delivered",
                    registry=self.registry,
                ),
                Gauge(
                    "video_bot_slots",
                    "Jobs the operator allows at the provider at once",
                    registry=self.registry,
                ),
            )
        for gauge, read in zip(self._live, (waiting, running, slots), strict=True):
            gauge.set_function(read)
        self._totals = totals
        self._settled = settled

    async def refresh(self) -> None:
        """Read the store's totals into the jobs and spend gauges (call it before a scrape).

        When the store does not answer in time or fails, the last snapshot stays and one
        warning is logged (once per run of failures; recovery is logged at info).
        """
        totals = self._totals
        if totals is None:
            return
        try:
            async with asyncio.timeout(self._refresh_timeout):
                snapshot = await totals()
                settled = await self._settled() if self._settled is not None else None
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last snapshot
            if not self._failing:
                log.warning(
                    "job totals for /metrics unavailable (%s); serving the last ones",
                    _describe(exc),
                )
            self._failing = True
            return
        if self._failing:
            log.info("job totals for /metrics available again")
            self._failing = False
        self._apply(snapshot)
        if settled is not None:
            self._settled_estimate.set(float(settled[0]))
            self._settled_bill.set(float(settled[1]))

    def _apply(self, snapshot: dict[JobState, tuple[int, Decimal]]) -> None:
        spend = dict.fromkeys(Billing, Decimal(0))
        for state in JobState:
            count, cost = snapshot.get(state, (0, Decimal(0)))
            self._jobs.labels(state=state.value).set(count)
            # The totals are per state, without provider ids: billing() with some id counts
            # every ABANDONED job as charged (it says "unknown" only for one abandoned before
            # the provider gave an id, which a per-state total cannot tell apart).
            spend[billing(state, "x")] += cost
        for kind, amount in spend.items():
            self._spend.labels(billing=kind.value).set(float(amount))

    # -- the Videos API --------------------------------------------------------------------------

    def name_providers(self, base_urls: Mapping[str, str]) -> None:
        """Label requests by provider: `{base_url: provider name}`, replacing earlier names.

        A request belongs to the provider whose base URL is its longest prefix (whole path
        segments: a base of /v1 does not own /v10), else to "other".
        """
        found = []
        for base_url, name in base_urls.items():
            origin, segments = _split(URL(base_url))
            found.append((origin, segments, name))
        found.sort(key=lambda entry: len(entry[1]), reverse=True)
        self._providers = found

    def provider_of(self, url: URL) -> str:
        """The provider name a request to `url` is counted under ("other": none)."""
        origin, segments = _split(url)
        for base_origin, base, name in self._providers:
            if base_origin == origin and segments[: len(base)] == base:
                return name
        return OTHER_PROVIDER

    def provider_callback(self, provider: str, outcome: str) -> None:
        """One callback received (bot/http/provider_webhooks.py): `provider` is a catalogue
        name or "unknown", never a value taken from the request."""
        if outcome not in CALLBACK_OUTCOMES:
            raise ValueError(f"unknown callback outcome {outcome!r}")
        self._callbacks.labels(provider=provider, outcome=outcome).inc()

    def provider_trace(self) -> aiohttp.TraceConfig:
        """A trace for the session that talks to the Videos API (`trace_configs=[...]`).

        A request is counted once, under the endpoint it was sent to: the hops of a redirect
        are not requests of their own. Latency is to the answer's headers (a download's body
        is not included). A request cancelled by its caller is not counted.
        """
        trace = aiohttp.TraceConfig()

        async def on_start(
            _session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            method = _method(params.method)
            endpoint = provider_endpoint(method, params.url.raw_path)
            provider = self.provider_of(params.url)
            setattr(ctx, _CTX_ATTR, _Started(provider, endpoint, method, self._clock()))
            if endpoint == "status":
                self._status_reads.inc()

        async def on_end(
            _session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self._provider_answered(
                self._started(ctx, params.method, params.url), params.response.status
            )

        async def on_exception(
            _session: aiohttp.ClientSession,
            ctx: SimpleNamespace,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            exc = params.exception
            if not isinstance(exc, Exception):  # cancelled (shutdown, a caller's deadline)
                return
            started = self._started(ctx, params.method, params.url)
            if isinstance(exc, aiohttp.ClientResponseError) and exc.status >= 100:
                # raise_for_status on the session: the server did answer.
                self._provider_answered(started, exc.status)
                return
            self._provider_requests.labels(
                provider=started.provider,
                endpoint=started.endpoint,
                method=started.method,
                status="error",
            ).inc()
            self._provider_errors.labels(
                provider=started.provider, endpoint=started.endpoint, kind=type(exc).__name__
            ).inc()

        trace.on_request_start.append(on_start)
        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_exception)
        return trace

    def _started(self, ctx: SimpleNamespace, method: str, url: URL) -> _Started:
        """The request's start as recorded, or (a trace added mid-request) one without a time."""
        started = getattr(ctx, _CTX_ATTR, None)
        if isinstance(started, _Started):
            return started
        verb = _method(method)
        return _Started(self.provider_of(url), provider_endpoint(verb, url.raw_path), verb, -1.0)

    def _provider_answered(self, started: _Started, status: int) -> None:
        provider, endpoint = started.provider, started.endpoint
        self._provider_requests.labels(
            provider=provider, endpoint=endpoint, method=started.method, status=str(status)
        ).inc()
        if started.at >= 0:
            self._provider_seconds.labels(provider=provider, endpoint=endpoint).observe(
                max(0.0, self._clock() - started.at)
            )
        kind = _error_kind(status)
        if kind is not None:
            self._provider_errors.labels(provider=provider, endpoint=endpoint, kind=kind).inc()

    # -- Discord ---------------------------------------------------------------------------------

    def discord_trace(self) -> aiohttp.TraceConfig:
        """A trace for discord.py's HTTP session (`Client(http_trace=...)`).

        Labelled by method and status only: Discord's paths hold ids and webhook tokens.
        """
        trace = aiohttp.TraceConfig()

        async def on_start(
            _session: aiohttp.ClientSession,
            _ctx: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            if is_discord_edit(params.method, params.url.raw_path):
                self._discord_edits.inc()

        async def on_end(
            _session: aiohttp.ClientSession,
            _ctx: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self._discord_answered(params.method, params.response.status)

        async def on_exception(
            _session: aiohttp.ClientSession,
            _ctx: SimpleNamespace,
            params: aiohttp.TraceRequestExceptionParams,
        ) -> None:
            exc = params.exception
            if not isinstance(exc, Exception):
                return
            if isinstance(exc, aiohttp.ClientResponseError) and exc.status >= 100:
                self._discord_answered(params.method, exc.status)
                return
            self._discord_requests.labels(method=_method(params.method), status="error").inc()

        trace.on_request_start.append(on_start)
        trace.on_request_end.append(on_end)
        trace.on_request_exception.append(on_exception)
        return trace

    def _discord_answered(self, method: str, status: int) -> None:
        self._discord_requests.labels(method=_method(method), status=str(status)).inc()
        if status == 429:
            self._discord_rate_limited.inc()

    # -- fitting -----------------------------------------------------------------------------------

    def video_fitted(self, seconds: float, ok: bool) -> None:
        """One encode ended (VideoFitter's `observe`)."""
        self._fitted.labels(outcome="ok" if ok else "failed").inc()
        self._encode_seconds.observe(max(0.0, seconds))


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(method: str) -> str:
    verb = method.upper()
    return verb if verb in _METHODS else "other"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    name = type(exc).__name__
    return f"{name}: {text[0]}" if text else name
