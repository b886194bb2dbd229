"""The fake Videos API as an aiohttp server: routes, the request pipeline, control endpoints.

The OpenAI-protocol dialects live under /v1, OpenRouter's under /api/v1 (a request under the
other prefix is a URL that server does not have); LiteLLM's /model_group/info is at the root.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import ipaddress
import json
import logging
import math
import socket
import struct
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

from aiohttp import BodyPartReader, hdrs, web
from pydantic import ValidationError

from .callbacks import CallbackSender
from .dialects import DISCOVERY, CreateRequest, Endpoint, OpenAIDialect, Problem, rules_for
from .media import CHUNK_SIZE, asset, image_response, stream_video
from .settings import FakeSettings, Fault, FaultKind
from .state import (
    PROMPT_KEYWORDS,
    FakeState,
    FileInfo,
    Job,
    RecordedRequest,
    RequestBody,
    Stats,
    Upload,
)

logger = logging.getLogger(__name__)

# (method, path under the API's base path, name): the name is the endpoint that faults and
# disabled_endpoints refer to. /videos/extensions comes before /videos/{video_id} so the
# literal path wins.
VIDEO_ROUTES: Final[tuple[tuple[str, str, Endpoint], ...]] = (
    ("POST", "/videos", "create"),
    ("GET", "/videos", "list"),
    ("POST", "/videos/extensions", "extensions"),
    ("GET", "/videos/{video_id}", "retrieve"),
    ("DELETE", "/videos/{video_id}", "delete"),
    ("GET", "/videos/{video_id}/content", "content"),
    ("POST", "/videos/{video_id}/remix", "remix"),
)
# (base path, routes): each base path is served only by the dialects whose API lives there;
# None is the root, served by every dialect that has the endpoint (LiteLLM's model groups).
API_ROUTES: Final[tuple[tuple[str | None, tuple[tuple[str, str, Endpoint], ...]], ...]] = (
    ("/v1", (("GET", "/models", "models"), *VIDEO_ROUTES)),
    ("/api/v1", (("GET", "/videos/models", "video_models"), *VIDEO_ROUTES)),
    (None, (("GET", "/model_group/info", "model_groups"),)),
)
# Reference images for 1792x1024 can be several MB; aiohttp's default cap is 1 MiB.
MAX_BODY: Final = 64 * 1024 * 1024
LIST_DEFAULT_LIMIT: Final = 20
LIST_MAX_LIMIT: Final = 100
# Applied by the create handler once the job exists; every other kind is applied up front.
AFTER_CREATE: Final[frozenset[FaultKind]] = frozenset({"create-then-reset", "create-then-hang"})
BEFORE_HANDLER: Final[frozenset[FaultKind]] = frozenset(
    {
        "404",
        "409",
        "429",
        "429-no-retry-after",
        "500",
        "502",
        "503",
        "reset",
        "slow",
        "huge-body",
        "html-as-mp4",
        "redirect",
        "redirect-link-local",
        "redirect-html",
        "redirect-loop",
    }
)
# Applied to the handler's own answer (so a create still starts its job); echo-key answers an
# error at once on any endpoint but retrieve, where it turns the job into a failed one.
MANGLERS: Final[frozenset[FaultKind]] = frozenset(
    {"absurd-numbers", "wrong-types", "no-id", "echo-key"}
)
# Where the redirect faults send a content request.
LINK_LOCAL_URL: Final = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
_HTML_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head>"
    b"<body><form action='/login'><input name='user'></form></body></html>"
)
# Year 10000 in seconds: past what datetime can represent.
_BEYOND_YEAR_9999: Final = 253_402_300_800
_FAULT_MESSAGES: Final[dict[str, str]] = {
    "404": "Video content is not ready yet.",
    "409": "Video is still being finalized.",
    "500": "The server had an error while processing your request. Sorry about that!",
    "502": "Bad gateway.",
    "503": "The engine is currently overloaded, please try again later.",
}
VideosHandler = Callable[[web.Request, RequestBody], Awaitable[web.StreamResponse]]
# A status for the access log only: the client never sees it (nginx's "closed, no response").
_DROPPED_STATUS: Final = 444


def _is_text_part(content_type: str | None) -> bool:
    """Whether a multipart part without a filename is a text field rather than a file."""
    if content_type is None:
        return True
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime == "application/json"


async def read_body(request: web.Request) -> RequestBody:
    """Parse a request body once, whatever its type; malformed bodies are noted, not raised."""
    if not request.body_exists:
        return RequestBody()
    mime = request.content_type
    if mime == "application/json":
        try:
            return RequestBody("json", json=json.loads(await request.read()))
        except ValueError:
            return RequestBody("bad-json")
    if mime == "multipart/form-data":
        try:
            return await _read_multipart(request)
        except ValueError:
            return RequestBody("other")
    if mime == "application/x-www-form-urlencoded":
        form = await request.post()
        return RequestBody("form", fields={k: v for k, v in form.items() if isinstance(v, str)})
    await request.read()
    return RequestBody("other")


async def _read_multipart(request: web.Request) -> RequestBody:
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue  # nested multipart: no Videos API request uses one
        name = part.name or ""
        data = bytes(await part.read(decode=True))
        part_type = part.headers.get(hdrs.CONTENT_TYPE)
        if part.filename is None and _is_text_part(part_type):
            fields[name] = data.decode(part.get_charset("utf-8"), errors="replace")
        else:
            files[name] = Upload(FileInfo.probe(part.filename, part_type, data), data)
    return RequestBody("multipart", fields=fields, files=files)


def _record(request: web.Request, body: RequestBody) -> RecordedRequest:
    """What arrived, minus the API key."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        if key != "authorization":
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
    resource = request.match_info.route.resource
    return RecordedRequest(
        method=request.method,
        path=request.path,
        route=resource.canonical if resource is not None else request.path,
        query=dict(request.query),
        headers=headers,
        authorized=hdrs.AUTHORIZATION in request.headers,
        content_type=request.content_type if hdrs.CONTENT_TYPE in request.headers else None,
        json_body=body.json if body.kind == "json" else None,
        form=dict(body.fields) if body.kind in {"multipart", "form"} else None,
        files={name: upload.info for name, upload in body.files.items()},
    )


def drop_connection(request: web.Request) -> web.StreamResponse:
    """Reset the TCP connection without answering (the client sees a disconnect)."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0 turns close() into an RST: a real "connection reset by peer".
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=_DROPPED_STATUS)


def _redirect_target(request: web.Request, fault: Fault) -> str:
    video_id = quote(request.match_info.get("video_id", ""), safe="")
    if fault.kind == "redirect-link-local":
        return LINK_LOCAL_URL
    if fault.kind == "redirect-html":
        return "/_fake/page"
    if fault.kind == "redirect-loop":
        return "/_fake/loop"
    if fault.location is not None:
        return fault.location.replace("{video_id}", video_id)
    return f"/_fake/blob/{video_id}"


def _echo_key_message(request: web.Request) -> str:
    """An error text that repeats the caller's key, whole and cut short, as careless servers do."""
    sent = request.headers.get(hdrs.AUTHORIZATION, "")
    token = sent.removeprefix("Bearer ")
    return f"Incorrect API key provided: {token}. Header received: {sent[:24]}..."


async def _huge_body(request: web.Request, size: int) -> web.StreamResponse:
    """A 200 video object padded to `size` bytes, streamed so the fake never holds it."""
    head = b'{"id": "video_huge", "object": "video", "status": "queued", "padding": "'
    tail = b'"}'
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = max(size, len(head) + len(tail))
    await response.prepare(request)
    filler = memoryview(b"a" * CHUNK_SIZE)
    try:
        await response.write(head)
        remaining = response.content_length - len(head) - len(tail)
        while remaining > 0:
            step = min(remaining, CHUNK_SIZE)
            await response.write(filler[:step])
            remaining -= step
        await response.write(tail)
        await response.write_eof()
    except ConnectionError:
        pass  # the client stopped reading, as it should
    return response


def _mangle(response: web.StreamResponse, kind: FaultKind, echoed: str) -> web.StreamResponse:
    """Break a JSON video object in the way `kind` names."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return response
    try:
        data: Any = json.loads(response.body)
    except ValueError:
        return response
    if not isinstance(data, dict):
        return response
    if kind == "no-id":
        data.pop("id", None)
    elif kind == "absurd-numbers":
        data.update(
            progress=math.inf,
            created_at=10**400,  # an integer no float can hold
            completed_at=math.nan,
            expires_at=_BEYOND_YEAR_9999 * 1000,
            seconds=-math.inf,
        )
    elif kind == "wrong-types":
        data.update(
            status={"state": "queued"},
            progress={"percent": 5},
            created_at="yesterday",
            completed_at=[1],
            expires_at=True,
            model={"name": "sora-2"},
            prompt=["a", "b"],
            size=1280,
            seconds={"value": 4},
            error=42,
            remixed_from_video_id=False,
        )
    elif kind == "echo-key":
        data.update(status="failed", error={"code": "invalid_api_key", "message": echoed})
    response.body = json.dumps(data).encode()
    return response


class FakeVideosApp:
    """Builds the aiohttp application over one settings object and one state."""

    def __init__(
        self, settings: FakeSettings, state: FakeState, callbacks: CallbackSender | None = None
    ) -> None:
        self.settings = settings
        self.state = state
        self.callbacks = callbacks

    @property
    def dialect(self) -> OpenAIDialect:
        """The current dialect's rules (settings can change between requests)."""
        return rules_for(self.settings.dialect)

    def build(self) -> web.Application:
        """The application: the API routes behind the pipeline, plus /_fake control."""
        app = web.Application(client_max_size=MAX_BODY)
        handlers: dict[Endpoint, VideosHandler] = {
            "create": self.create,
            "list": self.list_videos,
            "extensions": self.extend,
            "retrieve": self.retrieve,
            "delete": self.delete,
            "content": self.content,
            "remix": self.remix,
            "models": self.models,
            "model_groups": self.model_groups,
            "video_models": self.video_models,
        }
        for base, routes in API_ROUTES:
            for method, path, endpoint in routes:
                handler = self._pipeline(endpoint, handlers[endpoint], base)
                app.router.add_route(method, f"{base or ''}{path}", handler)
            # Anything else under a base path is recorded too and answered as this server
            # answers unknown URLs, so a client calling an endpoint the fake lacks shows up.
            if base is not None:
                app.router.add_route("*", f"{base}/{{tail:.*}}", self._pipeline(None, self.unknown))
        app.router.add_get("/_fake/stats", self.control_stats)
        app.router.add_get("/_fake/callbacks", self.control_callbacks)
        app.router.add_post("/_fake/cancel/{video_id}", self.control_cancel)
        app.router.add_get("/_fake/jobs", self.control_jobs)
        app.router.add_get("/_fake/requests", self.control_requests)
        app.router.add_get("/_fake/settings", self.control_settings)
        app.router.add_patch("/_fake/settings", self.control_patch_settings)
        app.router.add_post("/_fake/advance", self.control_advance)
        app.router.add_post("/_fake/restart", self.control_restart)
        # Targets of the redirect faults (not part of the protocol, not recorded).
        app.router.add_get("/_fake/blob/{video_id}", self.control_blob)
        app.router.add_get("/_fake/page", self.control_page)
        app.router.add_get("/_fake/loop", self.control_loop)
        return app

    # --- the pipeline every API request goes through --------------------------------------
    def _pipeline(
        self, endpoint: Endpoint | None, handler: VideosHandler, base: str | None = None
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap a handler: record, then faults, auth and availability, then the handler."""

        async def handle(request: web.Request) -> web.StreamResponse:
            body = await read_body(request)
            record = _record(request, body)
            self.state.stats.record(record)
            dialect = self.dialect
            if endpoint is not None and (
                (base is not None and base != dialect.base_path)
                or (endpoint in DISCOVERY and endpoint not in dialect.discovery)
            ):
                # Not an endpoint of the server imitated now.
                response: web.StreamResponse = dialect.route_missing(request.method, request.path)
            else:
                response = await self._gate(request, endpoint, body, handler)
            record.status = None if response.status == _DROPPED_STATUS else response.status
            return response

        return handle

    async def _gate(
        self,
        request: web.Request,
        endpoint: Endpoint | None,
        body: RequestBody,
        handler: VideosHandler,
    ) -> web.StreamResponse:
        if endpoint is None:
            return await handler(request, body)
        discovery = endpoint in DISCOVERY
        # Discovery endpoints fault only when a fault is aimed at "models" itself.
        fault_endpoint = "models" if discovery else endpoint
        fault = self.settings.take_fault(fault_endpoint, BEFORE_HANDLER, include_any=not discovery)
        if fault is not None:
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "huge-body":
                return await _huge_body(request, fault.size)
            else:
                return self._fault_response(request, fault)
        dialect = self.dialect
        key = self.settings.api_key
        if dialect.authenticates and key is not None and endpoint not in dialect.public:
            sent = request.headers.get(hdrs.AUTHORIZATION, "")
            if not hmac.compare_digest(sent.encode(), f"Bearer {key}".encode()):
                return dialect.unauthorized()
        if endpoint in self.settings.disabled_endpoints:
            return dialect.route_missing(request.method, request.path)
        if endpoint in dialect.unsupported:
            return dialect.unsupported_response(endpoint, request.method, request.path)
        if discovery:
            return await handler(request, body)
        mangler = self.settings.take_fault(endpoint, MANGLERS)
        if mangler is None:
            return await handler(request, body)
        echoed = _echo_key_message(request)
        if mangler.kind == "echo-key" and endpoint != "retrieve":
            return dialect.error(401, echoed, code="invalid_api_key")
        return _mangle(await handler(request, body), mangler.kind, echoed)

    def _fault_response(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        dialect = self.dialect
        if fault.kind == "reset":
            return drop_connection(request)
        if fault.kind == "html-as-mp4":
            return web.Response(body=_HTML_PAGE, content_type="video/mp4")
        if fault.kind.startswith("redirect"):
            return web.Response(
                status=302, headers={hdrs.LOCATION: _redirect_target(request, fault)}
            )
        if fault.kind == "429":
            response = dialect.error(
                429,
                f"Rate limit reached for requests. Please try again in {fault.retry_after:g}s.",
                code="rate_limit_exceeded",
                type_="requests",
            )
            response.headers[hdrs.RETRY_AFTER] = str(math.ceil(fault.retry_after))
            response.headers["retry-after-ms"] = str(round(fault.retry_after * 1000))
            return response
        if fault.kind == "429-no-retry-after":
            # Without Retry-After this reads as an exhausted quota: waiting will not help.
            return dialect.error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                code="insufficient_quota",
                type_="insufficient_quota",
            )
        return dialect.error(int(fault.kind), _FAULT_MESSAGES[fault.kind])

    # --- the Videos endpoints --------------------------------------------------------------
    async def create(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """POST /videos; a continuation (OpenRouter's `previous_job_id`) needs its source
        completed and of the same model."""
        dialect = self.dialect
        parsed = dialect.parse_create(body, self.settings)
        if isinstance(parsed, Problem):
            return dialect.reject(parsed)
        if parsed.continues is not None:
            source = self.state.find(parsed.continues)
            refused = dialect.continuation_refused(source, parsed)
            if refused is not None:
                return refused
        return await self._start(request, parsed, faultable=True)

    async def _start(
        self,
        request: web.Request,
        parsed: CreateRequest,
        *,
        remixed_from: str | None = None,
        extended_from: str | None = None,
        faultable: bool = False,
    ) -> web.StreamResponse:
        """Register a job (it is billed from here on), then answer unless a fault says not."""
        dialect = self.dialect
        job = self.state.add_job(
            dialect.new_id(),
            model=parsed.model,
            prompt=parsed.prompt,
            size=parsed.size,
            seconds=parsed.seconds,
            default_duration=self.settings.default_duration,
            remixed_from=remixed_from,
            reference=parsed.reference,
            reference_url=parsed.reference_url,
            extended_from=extended_from,
            continued_from=parsed.continues,
            cost=parsed.cost,
            callback_url=parsed.callback_url,
            images=parsed.images,
            options=dict(parsed.options),
            origin=str(request.url.origin()),
        )
        if faultable:
            fault = self.settings.take_fault("create", AFTER_CREATE)
            if fault is not None and fault.kind == "create-then-reset":
                return drop_connection(request)
            if fault is not None:
                # The client should time out first; its disconnect cancels this sleep.
                await asyncio.sleep(fault.delay)
        # The answer shows the job as it was created, whatever the clock did meanwhile.
        return dialect.created(job.at(job.started))

    async def list_videos(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """GET /v1/videos?limit&order&after."""
        dialect = self.dialect
        raw_limit = request.query.get("limit", str(LIST_DEFAULT_LIMIT))
        if not raw_limit.isdigit() or int(raw_limit) > LIST_MAX_LIMIT:
            return dialect.reject(
                Problem(
                    "limit", f"Invalid 'limit': expected an integer between 0 and {LIST_MAX_LIMIT}."
                )
            )
        limit = int(raw_limit)
        order = request.query.get("order", "desc")
        if order not in {"asc", "desc"}:
            return dialect.reject(
                Problem(
                    "order", f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'."
                )
            )
        views = self.state.visible()
        if order == "desc":
            views.reverse()
        start = 0
        after = request.query.get("after")
        if after is not None:
            ids = [view.job.id for view in views]
            if after not in ids:
                return dialect.reject(Problem("after", f"No video found with id '{after}'."))
            start = ids.index(after) + 1
        page = views[start : start + limit]
        return web.json_response(
            {
                "object": "list",
                "data": [dialect.render(view) for view in page],
                "first_id": page[0].job.id if page else None,
                "last_id": page[-1].job.id if page else None,
                "has_more": start + limit < len(views),
            }
        )

    async def retrieve(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """GET /v1/videos/{video_id}."""
        video_id = request.match_info["video_id"]
        view = self.state.find(video_id)
        if view is None:
            return self.dialect.not_found(video_id)
        response = self.dialect.retrieve(view)
        if self.settings.poll_after_ms is not None:
            response.headers["openai-poll-after-ms"] = str(self.settings.poll_after_ms)
        return response

    async def delete(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """DELETE /v1/videos/{video_id}: finished videos only."""
        video_id = request.match_info["video_id"]
        view = self.state.find(video_id)
        if view is None:
            return self.dialect.not_found(video_id)
        if view.phase not in {"completed", "failed"}:
            return self.dialect.error(
                400,
                "Only completed or failed videos can be deleted; "
                "this one is still being generated.",
                code="invalid_state",
            )
        if self.callbacks is not None:
            self.callbacks.scan()  # a job that ended unseen still gets its callback
        self.state.forget(video_id)
        return web.json_response({"id": video_id, "object": "video.deleted", "deleted": True})

    async def content(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """GET /v1/videos/{video_id}/content?variant=..."""
        dialect = self.dialect
        video_id = request.match_info["video_id"]
        variant = dialect.pick_variant(request.query)
        if isinstance(variant, web.StreamResponse) and dialect.variant_checked_first:
            return variant
        view = self.state.find(video_id)
        if view is None:
            return dialect.not_found(video_id)
        if isinstance(variant, web.StreamResponse):
            return variant
        if view.phase != "completed":
            return dialect.content_unavailable(view)
        if view.expired:
            return dialect.content_expired(view)
        scenario = view.job.scenario
        if scenario.download_fail:
            return dialect.error(500, "Failed to fetch the video content.")
        if scenario.safety_removed:
            return dialect.error(
                404, "The generated video was removed by the provider's safety filter."
            )
        if variant != "video":
            return image_response(variant)
        size = scenario.pad_bytes if scenario.pad_bytes is not None else self.settings.video_bytes
        return await stream_video(request, size)

    async def remix(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """POST /v1/videos/{video_id}/remix {prompt}: a new job based on a completed one.

        An unknown source is 404, one not completed (or expired) 400; the new job records its
        source as `remixed_from` (`remixed_from_video_id` in the video object).
        """
        dialect = self.dialect
        video_id = request.match_info["video_id"]
        source = self.state.find(video_id)
        if source is None:
            return dialect.not_found(video_id)
        prompt = dialect.parse_remix(body)
        if isinstance(prompt, Problem):
            return dialect.reject(prompt)
        if source.phase != "completed" or source.expired:
            return dialect.source_unusable(source, "remixed")
        job = source.job
        parsed = CreateRequest(job.model, prompt, job.size, job.seconds)
        return await self._start(request, parsed, remixed_from=job.id)

    async def extend(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """POST /v1/videos/extensions {video: {id}, prompt, seconds}: seconds add up.

        `seconds` is one of the spec's values; an unknown source is 404, one not completed (or
        expired) 400; the new job records its source as `extended_from`.
        """
        dialect = self.dialect
        parsed = dialect.parse_extension(body)
        if isinstance(parsed, Problem):
            return dialect.reject(parsed)
        source = self.state.find(parsed.source_id)
        if source is None:
            return dialect.not_found(parsed.source_id)
        if source.phase != "completed" or source.expired:
            return dialect.source_unusable(source, "extended")
        job = source.job
        total = job.seconds + parsed.seconds
        extension = CreateRequest(job.model, parsed.prompt, job.size, total)
        return await self._start(request, extension, extended_from=job.id)

    async def models(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """GET /v1/models."""
        return self.dialect.models(self.settings, request.query)

    async def model_groups(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """GET /model_group/info (LiteLLM)."""
        return self.dialect.model_groups(self.settings)

    async def video_models(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """GET /api/v1/videos/models (OpenRouter)."""
        return self.dialect.video_models(self.settings)

    async def unknown(self, request: web.Request, body: RequestBody) -> web.StreamResponse:
        """Any other URL under a base path."""
        return self.dialect.route_missing(request.method, request.path)

    # --- control (outside /v1, no auth, not recorded) ---------------------------------------
    async def control_stats(self, request: web.Request) -> web.StreamResponse:
        """GET /_fake/stats."""
        stats = self.state.stats
        return web.json_response(
            {
                "counts": dict(stats.counts),
                "creates": stats.creates,
                "jobs": len(self.state.jobs),
                "image_urls": list(stats.image_urls),
                "callbacks": [
                    {"video_id": c.video_id, "event": c.event, "outcome": c.outcome}
                    for c in stats.callbacks
                ],
            }
        )

    async def control_callbacks(self, request: web.Request) -> web.StreamResponse:
        """GET /_fake/callbacks: every callback with its exact headers and body (as text)."""
        return web.json_response([c.summary() for c in self.state.stats.callbacks])

    async def control_cancel(self, request: web.Request) -> web.StreamResponse:
        """POST /_fake/cancel/{video_id}: the provider cancels a running job."""
        video_id = request.match_info["video_id"]
        if not self.state.cancel(video_id):
            return web.json_response({"detail": "no such running job"}, status=404)
        return web.json_response({"cancelled": video_id})

    async def control_jobs(self, request: web.Request) -> web.StreamResponse:
        """GET /_fake/jobs: every job the fake knows, with what it was made from."""
        return web.json_response(
            [
                {
                    "id": job.id,
                    "model": job.model,
                    "prompt": job.prompt,
                    "size": job.size,
                    "seconds": job.seconds,
                    "reference_url": job.reference_url,
                    "remixed_from": job.remixed_from,
                    "extended_from": job.extended_from,
                    "continued_from": job.continued_from,
                    "cost": job.cost,
                    "callback_url": job.callback_url,
                    "options": job.options,
                    "images": [dataclasses.asdict(image) for image in job.images],
                }
                for job in self.state.jobs.values()
            ]
        )

    async def control_requests(self, request: web.Request) -> web.StreamResponse:
        """GET /_fake/requests: the request log."""
        return web.json_response([dataclasses.asdict(r) for r in self.state.stats.requests])

    async def control_settings(self, request: web.Request) -> web.StreamResponse:
        """GET /_fake/settings."""
        return web.json_response(self.settings.model_dump(mode="json"))

    async def control_patch_settings(self, request: web.Request) -> web.StreamResponse:
        """PATCH /_fake/settings: a JSON merge patch; the faults list is replaced whole."""
        try:
            patch = await request.json()
        except ValueError:
            return web.json_response({"detail": "body must be JSON"}, status=400)
        if not isinstance(patch, dict):
            return web.json_response({"detail": "body must be a JSON object"}, status=400)
        try:
            self.settings.merge(patch)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            return web.json_response({"detail": errors}, status=400)
        return web.json_response(self.settings.model_dump(mode="json"))

    async def control_advance(self, request: web.Request) -> web.StreamResponse:
        """POST /_fake/advance {"seconds": x}: move the fake clock."""
        try:
            payload = await request.json()
            seconds = float(payload["seconds"])
            self.state.advance(seconds)
        except (ValueError, TypeError, KeyError):
            return web.json_response({"detail": 'expected {"seconds": <number >= 0>}'}, status=400)
        return web.json_response({"offset": self.state.offset})

    async def control_blob(self, request: web.Request) -> web.StreamResponse:
        """GET /_fake/blob/{video_id}: a finished video, as a storage bucket would serve it."""
        view = self.state.find(request.match_info["video_id"])
        if view is None or view.phase != "completed":
            return web.Response(status=404, text="NoSuchKey")
        scenario = view.job.scenario
        size = scenario.pad_bytes if scenario.pad_bytes is not None else self.settings.video_bytes
        return await stream_video(request, size)

    async def control_page(self, request: web.Request) -> web.StreamResponse:
        """GET /_fake/page: a captive portal's HTML that claims to be a video."""
        return web.Response(body=_HTML_PAGE, content_type="video/mp4")

    async def control_loop(self, request: web.Request) -> web.StreamResponse:
        """GET /_fake/loop: redirects to itself forever."""
        return web.Response(status=302, headers={hdrs.LOCATION: "/_fake/loop"})

    async def control_restart(self, request: web.Request) -> web.StreamResponse:
        """POST /_fake/restart: forget every job."""
        self.state.restart()
        return web.json_response({"jobs": 0})


class FakeVideosServer:
    """A running fake Videos API on a real socket: `async with FakeVideosServer(...) as fake`."""

    def __init__(
        self,
        settings: FakeSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
        shutdown_timeout: float = 1.0,
    ) -> None:
        self.settings = settings if settings is not None else FakeSettings()
        self.state = FakeState(self.settings)
        self.host = host
        self.port = port
        self._access_log = access_log
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self.callbacks = CallbackSender(self.settings, self.state)

    @property
    def stats(self) -> Stats:
        """Requests per route, the request log and the number of jobs started."""
        return self.state.stats

    @property
    def root_url(self) -> str:
        """`http://host:port`, where the /_fake control endpoints live."""
        host = self.host
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            pass  # a host name
        else:
            if address.is_unspecified:
                host = "127.0.0.1" if address.version == 4 else "::1"
            if address.version == 6:
                host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL a Videos API client is configured with (it appends /videos...):
        `root_url` + /v1, or + /api/v1 in the openrouter dialect (it follows the setting)."""
        return f"{self.root_url}{rules_for(self.settings.dialect).base_path}"

    def advance(self, seconds: float) -> None:
        """Move the fake clock forward; jobs progress by fake time."""
        self.state.advance(seconds)

    def restart(self) -> None:
        """Forget all jobs, as a restarted server would: known ids now answer 404."""
        self.state.restart()

    def cancel(self, video_id: str) -> bool:
        """The provider cancels a running job (OpenRouter shows `cancelled`, the others a failed
        job with error code `cancelled`); False if it is unknown or has already ended."""
        return self.state.cancel(video_id)

    async def flush_callbacks(self) -> None:
        """Send the callbacks of every job that has ended by now and wait until each one is
        delivered or given up; then `stats.callbacks` is complete."""
        await self.callbacks.flush()

    def job(self, video_id: str) -> Job | None:
        """A job as the fake keeps it (`reference_url`, `remixed_from`, `extended_from`...)."""
        return self.state.jobs.get(video_id)

    def asset_bytes(self) -> bytes:
        """The MP4 the server serves, before any padding."""
        return asset("video")

    async def start(self) -> None:
        """Bind the socket and start serving."""
        app = FakeVideosApp(self.settings, self.state, self.callbacks).build()
        # handler_cancellation: a client that gives up (timeout, reset) cancels its handler,
        # so a hanging create or a 200 MB stream does not outlive it.
        runner = web.AppRunner(
            app,
            handler_cancellation=True,
            shutdown_timeout=self._shutdown_timeout,
            access_log=logging.getLogger("aiohttp.access") if self._access_log else None,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:  # the port is taken, or not ours to bind: serve nothing, leave nothing
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        await self.callbacks.start()

    async def close(self) -> None:
        """Stop serving (callbacks still in flight are abandoned)."""
        if self._runner is not None:
            await self.callbacks.close()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def serve_forever(
    host: str = "127.0.0.1", port: int = 8000, settings: FakeSettings | None = None
) -> None:
    """Run a fake server until cancelled (the `video-bot fake-api` command)."""
    async with FakeVideosServer(settings, host=host, port=port, access_log=True) as fake:
        logger.info(
            "Fake Videos API (%s dialect) serving at %s; control endpoints under %s/_fake/",
            fake.settings.dialect,
            fake.base_url,
            fake.root_url,
        )
        logger.info(
            "Prompt keywords: %s", "; ".join(f"{k.usage} {k.effect}" for k in PROMPT_KEYWORDS)
        )
        await asyncio.Event().wait()
