"""An asynchronous client for the OpenAI Videos API and the servers that imitate it."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import yarl
from aiohttp import hdrs
from multidict import CIMultiDictProxy
from pydantic import SecretStr, ValidationError

from bot.videos.breaker import CircuitBreaker
from bot.videos.dialects import (
    DIALECTS,
    OPENROUTER_CONTENT_PARAMS,
    ProviderDialect,
    openrouter_create_body,
    openrouter_follow_up_body,
)
from bot.videos.errors import (
    AnswerTooLargeError,
    AuthenticationError,
    BadRequestError,
    CapabilityMissingError,
    ContentError,
    ContentExpiredError,
    ContentNotReadyError,
    ContentUnavailableError,
    CreateOutcomeUnknownError,
    EndpointNotVideosError,
    InvalidAnswerError,
    JobLostError,
    NetworkError,
    ProviderUnavailableError,
    RateLimitedError,
    ServerError,
    VideosError,
)
from bot.videos.models import MAX_ID_LENGTH, JobState, Video, VideoPage, billed_cost
from bot.videos.requests import CreateRequest
from bot.videos.retry import RetryPolicy, poll_after, server_says_retry, server_wait

log = logging.getLogger(__name__)

_CHUNK = 256 * 1024
_AUTH_WORDS = ("api key", "api_key", "apikey", "unauthorized", "unauthorised", "invalid token")
# Content types a server may label an MP4 with; anything textual is an error page instead.
_VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream", "application/mp4")
_IMAGE_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")
# Status, JSON and error answers are small; a provider sending more is broken or hostile.
MAX_ANSWER_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# MP4 (ISO BMFF) has an `ftyp` box first: its type sits at offset 4. WebM starts with EBML.
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_SNIFF_BYTES = 8
_REDACTED = "[redacted]"
_BEARER = re.compile(r"(?i)\bbearer\s+\S+")
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}")
# The id the capability probes name: no server has a video by that id, so a probe of remix,
# extensions or delete can only ever be answered with "no such video" (or "no such route").
PROBE_VIDEO_ID = "video_doctor_probe"
_PROBE_PROMPT = "video-bot doctor: capability probe (this video does not exist)"
# The probes read at most this much of an answer: an error text, or a video object.
_PROBE_BYTES = 64 * 1024
# What LiteLLM's proxy says a call cost, on any answer (FIELD-NOTES section 7).
LITELLM_COST_HEADER = "x-litellm-response-cost"
# Variants that are images, not the video itself.
_IMAGE_VARIANTS = ("thumbnail", "spritesheet")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed for connecting, for one API call, and for a whole download."""

    connect: float = 10.0
    request: float = 60.0
    download: float = 900.0


@dataclass(frozen=True)
class ProbeAnswer:
    """What the server answered to one diagnostic request (`video-bot doctor`).

    `message`, `code` and `param` come from whichever error envelope the server uses (the
    message scrubbed of keys); a 2xx answer's media body is never read.
    """

    status: int
    content_type: str = ""
    message: str | None = None
    code: str | None = None
    param: str | None = None
    # A 2xx JSON answer that is a video object: the server started a job after all.
    video_id: str | None = None


@dataclass(frozen=True)
class Poll:
    """One status read, with the server's hint of when to ask again."""

    video: Video
    poll_after: float | None = None


@dataclass(frozen=True)
class _Fetch:
    """One download: where it goes and what it may be."""

    video_id: str
    partial: Path
    params: dict[str, str] | None
    accepted: tuple[str, ...]
    # True for the main video: the body must start like an MP4 or WebM container.
    container: bool
    max_bytes: int
    on_progress: Callable[[int, int | None], None] | None


@dataclass
class _Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    content_type: str = ""

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python goes
            return None


@dataclass
class _Call:
    """One logical operation, and how its failures are to be read."""

    name: str
    method: str
    path: str
    idempotent: bool
    # A create, remix or extension: refused without sending while the breaker is open.
    starts_job: bool = False
    params: dict[str, str] | None = None
    json: Any = None
    form: Callable[[], aiohttp.FormData] | None = None
    # Some servers answer a failed job's status with an HTTP error whose body is the job.
    video_in_error_body: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class VideosClient:
    """Talks to one Videos API base URL; owns no session (the caller's is shared).

    `dialect` is the protocol the provider speaks (bot/videos/dialects.py); `provider` names
    it in logs and on the errors raised. `max_connections` caps the HTTP exchanges in flight
    at once (requests, downloads, probes), so one slow provider cannot hold the whole shared
    session's pool. `breaker`, when given, records every exchange and refuses creates while
    it is open (ProviderUnavailableError, nothing sent).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: SecretStr | None = None,
        *,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        dialect: ProviderDialect = "openai",
        provider: str = "default",
        max_connections: int | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown provider dialect {dialect!r}")
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._session = session
        self.base_url = base_url.rstrip("/")
        self._key = api_key.get_secret_value() if api_key else ""
        self.timeouts = timeouts or Timeouts()
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.dialect: ProviderDialect = dialect
        self.provider = provider
        self.max_connections = max_connections
        self.breaker = breaker
        self._connections = (
            asyncio.Semaphore(max_connections) if max_connections is not None else None
        )

    @property
    def is_openai(self) -> bool:
        return (urlsplit(self.base_url).hostname or "").endswith("api.openai.com")

    @property
    def is_openrouter(self) -> bool:
        return self.dialect == "openrouter"

    @contextlib.contextmanager
    def _operation(self, name: str) -> Iterator[None]:
        """Stamp the errors raised by one public operation with what failed, and where."""
        try:
            yield
        except VideosError as exc:
            if exc.operation is None:
                exc.operation = name
            exc.dialect = self.dialect
            exc.provider = self.provider
            raise

    def _missing(self, capability: str) -> CapabilityMissingError:
        log.info("%s: %s is not served by the %s dialect", self.provider, capability, self.dialect)
        return CapabilityMissingError(capability)

    # -- operations -------------------------------------------------------------------------

    async def create(self, request: CreateRequest) -> Video:
        """Start a job. Never retried once it may have reached the server."""
        with self._operation("create"):
            if self.is_openrouter:
                body = openrouter_create_body(request)
                call = _Call("create", "POST", "/videos", idempotent=False, json=body)
            elif request.is_json:
                body = request.json_body()
                call = _Call("create", "POST", "/videos", idempotent=False, json=body)
            else:
                call = _Call("create", "POST", "/videos", idempotent=False, form=request.form)
            call.starts_job = True
            answer = await self._send(call)
            return self._video(answer, "create", creates=True)

    async def poll(self, video_id: str) -> Poll:
        """Read a job's status, with the server's poll-after hint."""
        with self._operation("retrieve"):
            answer = await self._send(
                _Call(
                    "retrieve",
                    "GET",
                    f"/videos/{_quote(video_id)}",
                    idempotent=True,
                    video_in_error_body=True,
                    extra={"video_id": video_id},
                )
            )
            video = self._video(answer, "retrieve", creates=False)
            return Poll(video, poll_after(answer.headers))

    async def retrieve(self, video_id: str) -> Video:
        return (await self.poll(video_id)).video

    async def list(
        self, *, limit: int = 100, after: str | None = None, order: str = "desc"
    ) -> VideoPage:
        """One page of the server's recent jobs (optional capability; not in openrouter)."""
        with self._operation("list"):
            if self.is_openrouter:
                raise self._missing("list")
            params = {"limit": str(max(0, min(100, limit))), "order": order}
            if after:
                params["after"] = after
            call = _Call("list", "GET", "/videos", idempotent=True, params=params)
            answer = await self._send(call)
            data = answer.json()
            try:
                page = VideoPage.model_validate(data)
            except ValidationError:
                raise EndpointNotVideosError(self.base_url, retired_openai=self.is_openai) from None
            return page.model_copy(update={"data": [self._scrub_video(v) for v in page.data]})

    async def delete(self, video_id: str) -> None:
        """Delete a finished job's assets (optional capability; not in openrouter)."""
        with self._operation("delete"):
            if self.is_openrouter:
                raise self._missing("delete")
            path = f"/videos/{_quote(video_id)}"
            await self._send(_Call("delete", "DELETE", path, idempotent=True))

    async def remix(self, video_id: str, prompt: str, *, model: str | None = None) -> Video:
        """Start a new job from a finished one (optional, billed like a create).

        OpenRouter continues a job with a create naming it as `previous_job_id` (and `model`);
        the openai dialect posts to /videos/{id}/remix and ignores `model`.
        """
        with self._operation("remix"):
            if self.is_openrouter:
                body = openrouter_follow_up_body(video_id, prompt, model=model)
                call = _Call("remix", "POST", "/videos", idempotent=False, json=body)
            else:
                path = f"/videos/{_quote(video_id)}/remix"
                call = _Call("remix", "POST", path, idempotent=False, json={"prompt": prompt})
            call.starts_job = True
            answer = await self._send(call)
            return self._video(answer, "remix", creates=True)

    async def extend(
        self, video_id: str, prompt: str, seconds: str, *, model: str | None = None
    ) -> Video:
        """Continue a finished video (optional, billed like a create).

        OpenRouter: a create with `previous_job_id`, `model` and `duration` (whole seconds);
        the openai dialect posts to /videos/extensions and ignores `model`.
        """
        with self._operation("extensions"):
            if self.is_openrouter:
                body = openrouter_follow_up_body(video_id, prompt, model=model, seconds=seconds)
                call = _Call("extensions", "POST", "/videos", idempotent=False, json=body)
            else:
                body = {"video": {"id": video_id}, "prompt": prompt, "seconds": seconds}
                call = _Call(
                    "extensions", "POST", "/videos/extensions", idempotent=False, json=body
                )
            call.starts_job = True
            answer = await self._send(call)
            return self._video(answer, "extensions", creates=True)

    # -- capability probes (video-bot doctor) ------------------------------------------------
    # Each sends one request, never retried, that costs nothing: remix, extensions and delete
    # name PROBE_VIDEO_ID, which does not exist, so the answer is either "no such video" (the
    # operation is served) or "no such route" (it is not). They never name a real video.
    # In the openrouter dialect there is no such route to ask about (a remix or an extension is
    # a create, which would start and bill a job): the probes answer 501 without sending,
    # which the doctor reads as "not served".

    async def probe_remix(self) -> ProbeAnswer:
        """POST /videos/{PROBE_VIDEO_ID}/remix with a valid body."""
        if self.is_openrouter:
            return _not_probed("remix is a create with previous_job_id; it cannot be probed free")
        path = f"/videos/{_quote(PROBE_VIDEO_ID)}/remix"
        return await self._probe("POST", path, body={"prompt": _PROBE_PROMPT})

    async def probe_extensions(self) -> ProbeAnswer:
        """POST /videos/extensions naming PROBE_VIDEO_ID, with a valid body."""
        if self.is_openrouter:
            return _not_probed(
                "an extension is a create with previous_job_id; it cannot be probed free"
            )
        body = {"video": {"id": PROBE_VIDEO_ID}, "prompt": _PROBE_PROMPT, "seconds": "4"}
        return await self._probe("POST", "/videos/extensions", body=body)

    async def probe_delete(self) -> ProbeAnswer:
        """DELETE /videos/{PROBE_VIDEO_ID}."""
        if self.is_openrouter:
            return _not_probed("OpenRouter has no DELETE for videos")
        return await self._probe("DELETE", f"/videos/{_quote(PROBE_VIDEO_ID)}")

    async def probe_content(self, video_id: str, variant: str | None = None) -> ProbeAnswer:
        """GET /videos/{id}/content[?variant=...]: status and type only, the media is not read.

        OpenRouter asks by `?index=0`; a `variant` there is answered 400 without sending (the
        doctor reads a 400 naming `variant` as "no thumbnail").
        """
        params: dict[str, str] | None
        if self.is_openrouter:
            if variant not in (None, "video"):
                return ProbeAnswer(
                    400,
                    message=f"OpenRouter serves no variant={variant}: not sent",
                    param="variant",
                )
            params = dict(OPENROUTER_CONTENT_PARAMS)
        else:
            params = {"variant": variant} if variant else None
        path = f"/videos/{_quote(video_id)}/content"
        return await self._probe("GET", path, params=params, media=True)

    async def _probe(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        media: bool = False,
    ) -> ProbeAnswer:
        timeout = aiohttp.ClientTimeout(
            total=self.timeouts.request, sock_connect=self.timeouts.connect
        )
        headers = self._headers()
        if media:
            headers.update({"Accept": "*/*", "Accept-Encoding": "identity"})
        try:
            async with (
                self._slot(),
                self._session.request(
                    method,
                    self._url(path),
                    params=params,
                    json=body,
                    headers=headers,
                    timeout=timeout,
                    allow_redirects=False,
                ) as resp,
            ):
                content_type = resp.content_type.lower()
                textual = content_type.startswith(("application/json", "text/"))
                data = b""
                if textual or not 200 <= resp.status < 300:
                    data = await _read_bounded(resp, _PROBE_BYTES) or b""
                answer = _Answer(resp.status, resp.headers, data, content_type)
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._record(None, "probe")
            raise NetworkError(_describe(exc)) from None
        self._record(answer.status, "probe")
        if 200 <= answer.status < 300:
            data = answer.json()
            video_id = data.get("id") if _looks_like_video(data) else None
            return ProbeAnswer(
                answer.status,
                content_type,
                video_id=video_id if isinstance(video_id, str) else None,
            )
        message, param, code = _error_fields(answer)
        return ProbeAnswer(answer.status, content_type, self._scrub(message), code, param)

    async def download(
        self,
        video_id: str,
        dest: Path,
        *,
        variant: str | None = None,
        max_bytes: int = 1024 * 1024 * 1024,
        on_progress: Callable[[int, int | None], None] | None = None,
        retries: int | None = None,
    ) -> int:
        """Stream the content to `dest` (via a temporary file) and return its size in bytes.

        The main video is asked for without `variant`: some servers read it as an index.
        OpenRouter's is asked for by `?index=0`, and it has no other variant: asking for one
        raises CapabilityMissingError without sending.
        `retries` overrides the client's retry policy (0: one attempt, for a nicety).
        """
        with self._operation("download"):
            return await self._download(
                video_id,
                dest,
                variant=variant,
                max_bytes=max_bytes,
                on_progress=on_progress,
                retries=retries,
            )

    async def _download(
        self,
        video_id: str,
        dest: Path,
        *,
        variant: str | None,
        max_bytes: int,
        on_progress: Callable[[int, int | None], None] | None,
        retries: int | None,
    ) -> int:
        params: dict[str, str] | None
        if self.is_openrouter:
            if variant not in (None, "video"):
                raise self._missing(variant or "")
            params = dict(OPENROUTER_CONTENT_PARAMS)
        else:
            params = {"variant": variant} if variant else None
        image = variant in _IMAGE_VARIANTS
        fetch = _Fetch(
            video_id,
            dest.with_name(dest.name + ".part"),
            params,
            _IMAGE_TYPES if image else _VIDEO_TYPES,
            not image,
            max_bytes,
            on_progress,
        )
        try:
            return await self._download_with_retries(fetch, dest, retries)
        finally:
            # Whatever happened (an error, a cancel during a back-off), no half file remains.
            fetch.partial.unlink(missing_ok=True)

    async def _download_with_retries(
        self, fetch: _Fetch, dest: Path, retries: int | None = None
    ) -> int:
        attempt = 0
        max_retries = self.retry.max_retries if retries is None else retries
        while True:
            try:
                size = await self._stream_once(fetch)
            except _Retryable as exc:
                if attempt >= max_retries:
                    raise exc.error from None
                wait = exc.wait if exc.wait is not None else self.retry.backoff(attempt)
            else:
                fetch.partial.replace(dest)
                return size
            await self._sleep(wait)
            attempt += 1

    # -- transport --------------------------------------------------------------------------

    def _url(self, path: str) -> yarl.URL:
        # encoded=True: ids may carry '=' and ':' that must stay percent-encoded as quoted.
        return yarl.URL(self.base_url + path, encoded=True)

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "video-bot/0.1", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    def _slot(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """One of this provider's connections (max_connections), held for one exchange."""
        if self._connections is None:
            return contextlib.nullcontext()
        return self._connections

    def _record(self, status: int | None, name: str) -> None:
        """Tell the breaker how one exchange went: None for a transport error or a timeout."""
        breaker = self.breaker
        if breaker is None:
            return
        if status is not None and status < 500 and status != 429:
            breaker.record_success()
            return
        if breaker.record_failure():
            log.warning(
                "%s: %d failures in a row (last: %s, %s); creates refused for %.0f s",
                self.provider,
                breaker.consecutive_failures,
                name,
                "no answer" if status is None else f"HTTP {status}",
                breaker.cooldown,
            )

    def _admit(self, call: _Call) -> None:
        """Refuse a job-starting call while the provider's breaker is open (nothing is sent)."""
        breaker = self.breaker
        if breaker is None or not call.starts_job or breaker.allow():
            return
        log.info("%s: %s refused, the circuit is open", self.provider, call.name)
        raise ProviderUnavailableError(
            f"{self.provider}: circuit open after {breaker.consecutive_failures} failures",
            opened_until=breaker.opened_until,
        )

    async def _send(self, call: _Call) -> _Answer:
        attempt = 0
        while True:
            self._admit(call)
            try:
                answer = await self._once(call)
            except _NotSent as exc:
                error: VideosError = exc.error
                wait = None
            except _MaybeSent as exc:
                if not call.idempotent:
                    log.warning(
                        "%s: %s: no answer after sending (%s); not retrying",
                        self.provider,
                        call.name,
                        exc,
                    )
                    raise CreateOutcomeUnknownError(str(exc)) from None
                error, wait = exc.error, None
            else:
                verdict = self._judge(call, answer)
                if verdict is None:
                    return answer
                error, wait, retry_allowed = verdict
                if not retry_allowed:
                    raise error
            if attempt >= self.retry.max_retries:
                raise error
            delay = wait if wait is not None else self.retry.backoff(attempt)
            log.info(
                "%s: %s: %s; retry %d in %.1fs", self.provider, call.name, error, attempt + 1, delay
            )
            await self._sleep(delay)
            attempt += 1

    async def _once(self, call: _Call) -> _Answer:
        timeout = aiohttp.ClientTimeout(
            total=self.timeouts.request, sock_connect=self.timeouts.connect
        )
        status: int | None = None
        try:
            async with (
                self._slot(),
                self._session.request(
                    call.method,
                    self._url(call.path),
                    params=call.params,
                    json=call.json,
                    data=call.form() if call.form else None,
                    headers=self._headers(),
                    timeout=timeout,
                ) as resp,
            ):
                status = resp.status
                body = await _read_bounded(resp)
                if body is None:
                    body = self._too_large(call, resp.status)
                answer = _Answer(resp.status, resp.headers, body, resp.content_type)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # The request never left: safe to retry even a create.
            self._record(None, call.name)
            raise _NotSent(NetworkError(_describe(exc))) from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._record(None, call.name)
            raise _MaybeSent(NetworkError(_describe(exc))) from None
        except VideosError:  # an answer too large to read: the provider did answer
            self._record(status, call.name)
            raise
        self._record(answer.status, call.name)
        return answer

    def _too_large(self, call: _Call, status: int) -> bytes:
        """An answer over the cap: a usable one is an error, an error is judged by its status."""
        log.warning(
            "%s: %s: HTTP %d answer over %d bytes; not read",
            self.provider,
            call.name,
            status,
            MAX_ANSWER_BYTES,
        )
        if not 200 <= status < 300:
            return b""
        if not call.idempotent:
            # The job may well exist (and be billed); its id is lost in the flood.
            raise CreateOutcomeUnknownError(f"{call.name}: {status} answer too large to read")
        raise AnswerTooLargeError(
            f"{call.name}: answer over {MAX_ANSWER_BYTES} bytes", status=status
        )

    def _judge(self, call: _Call, answer: _Answer) -> tuple[VideosError, float | None, bool] | None:
        """None when the answer is usable; else (error, server wait, may retry)."""
        status = answer.status
        if 200 <= status < 300:
            return None
        if call.video_in_error_body and _looks_like_video(answer.json()):
            return None
        message, param, code = _error_fields(answer)
        message = self._scrub(message)
        should_retry = server_says_retry(answer.headers)
        if status == 403 and self.is_openrouter and _flagged(message):
            # OpenRouter: "Your chosen model requires moderation and your input was flagged".
            return BadRequestError(message, param=param, status=status, code=code), None, False
        if status in (401, 403) or (status in (400, 500) and _mentions_key(message, code)):
            return AuthenticationError(f"{status}: {message}"), None, False
        if status == 402:
            # Payment required: credits or quota used up. No job; waiting will not fix it.
            return RateLimitedError(f"402: {message}"), None, False
        if status == 429:
            wait = server_wait(answer.headers)
            error = RateLimitedError(f"429: {message}", retry_after=wait)
            if wait is not None and wait > self.retry.max_server_wait:
                return error, None, False
            # Without Retry-After a 429 may be an exhausted quota: only reads try again.
            return error, wait, (call.idempotent or wait is not None) and should_retry is not False
        if status in (404, 405):
            return self._not_found(call, status, message), None, False
        if status >= 500 or status == 408:
            if not call.idempotent:
                return CreateOutcomeUnknownError(f"{status}: {message}"), None, False
            retry = should_retry is not False
            return ServerError(f"{status}: {message}", status=status), None, retry
        if status in (400, 409, 413, 415, 422):
            refused = BadRequestError(message, param=param, status=status, code=code)
            return refused, None, bool(should_retry)
        return ServerError(f"{status}: {message}", status=status), None, bool(should_retry)

    def _not_found(self, call: _Call, status: int, message: str) -> VideosError:
        if call.name == "create":
            return EndpointNotVideosError(self.base_url, retired_openai=self.is_openai)
        if call.name == "retrieve" and status == 404:
            return JobLostError(str(call.extra.get("video_id", "")))
        if call.name in ("list", "delete", "remix", "extensions"):
            return CapabilityMissingError(call.name)
        return ServerError(f"{status}: {message}", status=status)

    def _video(self, answer: _Answer, operation: str, *, creates: bool) -> Video:
        data = answer.json()
        if creates:
            video = self._created(data, answer.status, operation)
        else:
            try:
                video = Video.model_validate(data)
            except ValidationError:
                raise InvalidAnswerError(
                    f"{operation}: the answer is not a video object", status=answer.status
                ) from None
        return self._billed(self._scrub_video(video), answer.headers)

    @staticmethod
    def _billed(video: Video, headers: CIMultiDictProxy[str]) -> Video:
        """The body's `usage.cost` first; else what LiteLLM's header says the call cost."""
        if video.billed_cost is not None:
            return video
        cost = billed_cost(headers.get(LITELLM_COST_HEADER))
        return video if cost is None else video.model_copy(update={"billed_cost": cost})

    def _created(self, data: Any, status: int, operation: str) -> Video:
        """A create's answer: the job id first, since the provider has (and bills) that job."""
        if not isinstance(data, dict):
            # Not JSON at all (an HTML page): not a Videos server, so no job was started.
            raise EndpointNotVideosError(self.base_url, retired_openai=self.is_openai)
        job_id = data.get("id")
        if isinstance(job_id, int) and not isinstance(job_id, bool):
            job_id = str(job_id)
        if not isinstance(job_id, str) or not job_id.strip() or len(job_id) > MAX_ID_LENGTH:
            log.warning(
                "%s: %s: HTTP %d answer without a usable job id", self.provider, operation, status
            )
            raise CreateOutcomeUnknownError(f"{operation}: {status} answer without a job id")
        raw_status = data.get("status")
        if not isinstance(raw_status, str) or not raw_status.strip():
            log.warning(
                "%s: %s: job %s answered without a status; taken as queued",
                self.provider,
                operation,
                job_id,
            )
            raw_status = JobState.QUEUED.value
        try:
            return Video.model_validate({**data, "id": job_id, "status": raw_status})
        except ValidationError:
            log.warning(
                "%s: %s: job %s answered with a malformed object", self.provider, operation, job_id
            )
            return Video(id=job_id, status=JobState.QUEUED.value)

    def _scrub_video(self, video: Video) -> Video:
        """A failed job's message is shown to users: servers have echoed keys into it."""
        error = video.error
        if error is None or error.message is None:
            return video
        message = self._scrub(error.message)
        if message == error.message:
            return video
        return video.model_copy(update={"error": error.model_copy(update={"message": message})})

    async def _stream_once(self, fetch: _Fetch) -> int:
        timeout = aiohttp.ClientTimeout(
            total=self.timeouts.download,
            sock_connect=self.timeouts.connect,
            sock_read=self.timeouts.request,
        )
        url = self._url(f"/videos/{_quote(fetch.video_id)}/content")
        if fetch.params:
            url = url.update_query(fetch.params)
        home = url.origin()
        # identity: a compressed body would not match Content-Length once aiohttp inflates it.
        api_headers = {**self._headers(), "Accept": "*/*", "Accept-Encoding": "identity"}
        elsewhere = {k: v for k, v in api_headers.items() if k != "Authorization"}
        base_private: bool | None = None
        # What the provider itself answered (not a storage host it redirects to), for the breaker.
        home_status: int | None = None
        broke = False
        try:
            async with self._slot():
                # Redirects are followed by hand, each target checked before any connection.
                for _hop in range(MAX_REDIRECTS + 1):
                    at_home = url.origin() == home
                    headers = api_headers if at_home else elsewhere
                    async with self._session.get(
                        url, headers=headers, timeout=timeout, allow_redirects=False
                    ) as resp:
                        if at_home:
                            home_status = resp.status
                        if resp.status not in _REDIRECT_STATUSES:
                            return await self._receive(resp, fetch)
                        target = _redirect_target(url, resp.headers.get(hdrs.LOCATION))
                    if base_private is None:
                        base_private = await self._base_is_private()
                    await self._check_redirect(target, base_private)
                    url = target
                raise ContentError(f"download: more than {MAX_REDIRECTS} redirects")
        except (aiohttp.ClientError, TimeoutError) as exc:
            broke = True
            raise _Retryable(NetworkError(f"download: {_describe(exc)}"), None) from None
        finally:
            if broke or home_status is not None:
                self._record(None if broke else home_status, "download")

    async def _receive(self, resp: aiohttp.ClientResponse, fetch: _Fetch) -> int:
        self._check_content_answer(resp, fetch.accepted, fetch.max_bytes)
        if resp.status >= 300:
            body = await _read_bounded(resp)
            self._raise_content_error(resp.status, resp.headers, body or b"", resp.content_type)
        expected = resp.content_length
        written = 0
        head = b""
        with fetch.partial.open("wb") as out:
            async for chunk in resp.content.iter_chunked(_CHUNK):
                written += len(chunk)
                if written > fetch.max_bytes:
                    raise ContentError(f"content exceeds {fetch.max_bytes} bytes")
                if fetch.container and len(head) < _SNIFF_BYTES:
                    head = (head + chunk)[:_SNIFF_BYTES]
                    if len(head) == _SNIFF_BYTES:
                        _check_container(head)
                out.write(chunk)
                if fetch.on_progress is not None:
                    fetch.on_progress(written, expected)
        if expected is not None and written != expected:
            raise _Retryable(ContentError("download ended early"), None)
        if fetch.container and len(head) < _SNIFF_BYTES:
            _check_container(head)
        return written

    async def _base_is_private(self) -> bool:
        """Whether the configured server itself is on a loopback or private address."""
        url = self._url("")
        try:
            addresses = await _resolve(url.raw_host or "", url.port)
        except (OSError, TimeoutError):
            return False
        return any(_is_internal(address) for address in addresses)

    async def _check_redirect(self, target: yarl.URL, base_private: bool) -> None:
        """Refuse a redirect to anything but http(s) on an address the rules allow."""
        if target.scheme not in ("http", "https"):
            raise ContentError(f"download: refused a redirect to a {target.scheme!r} URL")
        host = target.raw_host
        if not host:
            raise ContentError("download: refused a redirect without a host")
        try:
            async with asyncio.timeout(self.timeouts.connect):
                addresses = await _resolve(host, target.port)
        except (OSError, TimeoutError):
            error = NetworkError("download: the redirect's host does not resolve")
            raise _Retryable(error, None) from None
        if not addresses:
            raise ContentError("download: refused a redirect to a host without addresses")
        for address in addresses:
            why = redirect_refusal(address, base_private=base_private)
            if why is not None:
                log.warning(
                    "%s: download: refused a redirect to %s (%s)", self.provider, host, address
                )
                raise ContentError(f"download: refused a redirect to {why} address {address}")

    def _check_content_answer(
        self, resp: aiohttp.ClientResponse, accepted: tuple[str, ...], max_bytes: int
    ) -> None:
        if resp.status >= 300:
            return
        content_type = resp.content_type.lower()
        if not content_type.startswith(accepted):
            raise ContentError(f"server answered {content_type!r} instead of the media")
        if resp.content_length is not None and resp.content_length > max_bytes:
            raise ContentError(f"content is {resp.content_length} bytes, over {max_bytes}")

    def _raise_content_error(
        self, status: int, headers: CIMultiDictProxy[str], body: bytes, content_type: str
    ) -> None:
        answer = _Answer(status, headers, body, content_type)
        message = self._scrub(_error_fields(answer)[0])
        if status in (401, 403):
            raise AuthenticationError(f"{status}: {message}")
        if status == 410:
            raise ContentExpiredError(f"{status}: {message}")
        if status in (400, 404, 409):
            raise ContentNotReadyError(f"{status}: {message}")
        if status == 429 or status >= 500:
            wait = server_wait(headers) if status == 429 else None
            raise _Retryable(ContentUnavailableError(f"{status}: {message}"), wait)
        raise ContentError(f"{status}: {message}")

    def _scrub(self, text: str) -> str:
        """Servers echo keys back in error text, whole or cut short; never let one through."""
        key = self._key
        if key and len(key) >= 4:
            text = text.replace(key, _REDACTED)
            if len(key) >= 12:
                # A truncated echo ("Bearer sk-proj-abc...") still gives most of the key away.
                text = re.sub(re.escape(key[:8]) + r"\S*", _REDACTED, text)
        text = _BEARER.sub(f"Bearer {_REDACTED}", text)
        text = _KEY_LIKE.sub(_REDACTED, text)
        return text[:500]


def redirect_refusal(address: str, *, base_private: bool) -> str | None:
    """Why a download may not be redirected to `address` (None: it may).

    Link-local (cloud metadata lives there) and reserved addresses never; loopback and private
    ones only when the configured server is itself on such an address.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "an unreadable"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return "a link-local"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "a reserved"
    if _is_internal(str(ip)) and not base_private:
        return "a private"
    return None


def _is_internal(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_private or not ip.is_global


async def _resolve(host: str, port: int | None) -> list[str]:
    """The addresses a host name stands for (an address literal stands for itself)."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _redirect_target(current: yarl.URL, location: str | None) -> yarl.URL:
    if not location:
        raise ContentError("download: a redirect without a Location")
    try:
        return current.join(yarl.URL(location))
    except ValueError:
        raise ContentError("download: a redirect to an unreadable location") from None


def _check_container(head: bytes) -> None:
    """The main video must be an MP4 (`ftyp` box first) or a WebM (EBML header)."""
    if head[4:8] == b"ftyp" or head.startswith(_EBML_MAGIC):
        return
    raise ContentError("download: the content is not a video (neither MP4 nor WebM)")


async def _read_bounded(
    resp: aiohttp.ClientResponse, limit: int = MAX_ANSWER_BYTES
) -> bytes | None:
    """The body, or None as soon as it proves larger than `limit` (the rest is never read)."""
    if resp.content_length is not None and resp.content_length > limit:
        return None
    data = bytearray()
    while chunk := await resp.content.read(limit + 1 - len(data)):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


class _NotSent(Exception):  # noqa: N818 - internal signal
    def __init__(self, error: VideosError) -> None:
        self.error = error


class _MaybeSent(Exception):  # noqa: N818 - internal signal
    def __init__(self, error: VideosError) -> None:
        super().__init__(str(error))
        self.error = error


class _Retryable(Exception):  # noqa: N818 - internal signal
    def __init__(self, error: VideosError, wait: float | None) -> None:
        self.error = error
        self.wait = wait


def _not_probed(why: str) -> ProbeAnswer:
    """A probe answered without sending: 501, which the doctor reads as "not served"."""
    return ProbeAnswer(501, "text/plain", message=f"not served by the openrouter dialect: {why}")


def _quote(video_id: str) -> str:
    return quote(video_id, safe="")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return type(exc).__name__


def _looks_like_video(data: Any) -> bool:
    return isinstance(data, dict) and "id" in data and isinstance(data.get("status"), str)


def _flagged(message: str) -> bool:
    """OpenRouter's 403 for a prompt its moderation flagged (as opposed to a key refused)."""
    text = message.lower()
    return "flagged" in text or "moderation" in text


def _mentions_key(message: str, code: str | None) -> bool:
    text = f"{message} {code or ''}".lower()
    return any(word in text for word in _AUTH_WORDS)


def _error_fields(answer: _Answer) -> tuple[str, str | None, str | None]:
    """(message, param, code) from any of the envelopes servers use, or the plain text."""
    data = answer.json()
    message: Any = None
    param: Any = None
    code: Any = None
    if isinstance(data, dict):
        inner = data.get("error", data.get("detail", data.get("message")))
        if isinstance(inner, dict):
            message, param, code = inner.get("message"), inner.get("param"), inner.get("code")
        elif isinstance(inner, list) and inner and isinstance(inner[0], dict):
            first = inner[0]
            loc = first.get("loc")
            param = loc[-1] if isinstance(loc, list) and loc else None
            message = first.get("msg")
        elif inner is not None:
            message = inner
        elif "status" in data and isinstance(data.get("error"), str):
            message = data["error"]
    if message is None:
        with contextlib.suppress(UnicodeDecodeError):
            text = answer.body.decode("utf-8").strip()
            if text and not text.lstrip().startswith("<"):
                message = text
    if message is None:
        message = f"HTTP {answer.status}"
    return (
        str(message)[:500],
        None if param is None else str(param),
        None if code is None else str(code),
    )
