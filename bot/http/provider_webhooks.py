"""Providers' completion callbacks: `POST /provider-webhooks/{provider}` on the bot's web server.

A provider with a webhook secret tells the bot when a video moved on instead of waiting to be
polled. An event is believed only once its signature over the raw body bytes checks out with
that provider's secret, in its dialect:

- openrouter: `X-OpenRouter-Signature: t=<unix ts>,v1=<hex>` (several `v1=` while a secret is
  rotated), HMAC-SHA256 of "<ts>,<raw body>" keyed with the secret's UTF-8 bytes; the event id
  is `X-OpenRouter-Idempotency-Key` (else "<data.id>-<data.status>"); the body
  `{"type": "video.generation.<status>", "created_at", "data": {"id", "status", ...}}`.
- openai: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`, a
  `whsec_...` secret); the event id is `webhook-id`; the body
  `{"type": "video.completed" | "video.failed", "data": {"id": <video id>}}`.

A timestamp more than five minutes from now is refused as stale, and an event id seen before
(by any process: the store records it) is answered as a duplicate and does nothing. A verified
event only wakes the job's owner to read the status now: the provider's word is never taken
for the job's outcome, so a forged or reordered event could at worst cause one early read.

Answers: 404 for a provider that does not exist or has no secret (nothing more is said); 413
over 64 KiB; 401 unsigned, badly signed or stale; 400 a verified body that is not the event;
200 otherwise (`{"status": ...}`: moved, ended, unknown_job, duplicate, ignored), so the
provider stops retrying. Neither the secret, the signature nor the body is ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from standardwebhooks.webhooks import (
    EmptyWebhookSecretError,
    Webhook,
    WebhookVerificationError,
)

from bot.service import VideoService

log = logging.getLogger(__name__)

ROUTE = "/provider-webhooks/{provider}"
MAX_BODY = 64 * 1024
# How far a signed timestamp may be from now, either way (seconds).
TOLERANCE = 5 * 60

OPENROUTER_SIGNATURE = "X-OpenRouter-Signature"
OPENROUTER_IDEMPOTENCY_KEY = "X-OpenRouter-Idempotency-Key"
_OPENROUTER_TYPE = "video.generation."
_OPENAI_TYPES = frozenset({"video.completed", "video.failed"})
_STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
# A Unix timestamp in seconds: ten digits until 2286, a few more allowed.
_MAX_TIMESTAMP_DIGITS = 12
UNKNOWN_PROVIDER = "unknown"
# Refusals that point at a wrong secret, a skewed clock or a changed provider: warnings. The
# others (no signature, too large) are what any stranger on the internet sends: info.
_LOUD = {
    "bad_signature": logging.WARNING,
    "stale": logging.WARNING,
    "malformed": logging.WARNING,
}

# One observation per callback: (provider label, outcome); see Metrics.provider_callback.
Observe = Callable[[str, str], None]


class _RefusedError(Exception):
    """The callback is answered without being acted on: `outcome` is what is counted."""

    def __init__(self, outcome: str, status: int, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class _Event:
    """A verified event: its id (for replays) and the provider's video it is about; no video
    for a type the bot does not act on."""

    event_id: str
    video_id: str | None


def _check_time(timestamp: str, now: float) -> None:
    """_RefusedError unless the signed timestamp is a whole Unix time within TOLERANCE of now."""
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise _RefusedError("bad_signature", 401, "the timestamp is not a Unix time")
    value = int(timestamp)
    if abs(now - value) > TOLERANCE:
        raise _RefusedError("stale", 401, f"the timestamp is {value - now:+.0f}s from now")


def openrouter_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The hex `v1=` value OpenRouter sends for `body` signed at `timestamp`."""
    message = f"{timestamp},".encode() + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _verify_openrouter(
    secret: SecretStr, headers: Mapping[str, str], body: bytes, now: float
) -> None:
    header = headers.get(OPENROUTER_SIGNATURE)
    if not header:
        raise _RefusedError("unsigned", 401, f"no {OPENROUTER_SIGNATURE} header")
    timestamp = ""
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            timestamp = value.strip()
        elif name == "v1":
            candidates.append(value.strip().lower())
    if not timestamp or not candidates:
        raise _RefusedError(
            "bad_signature", 401, f"the {OPENROUTER_SIGNATURE} header is not t=,v1="
        )
    _check_time(timestamp, now)
    expected = openrouter_signature(secret.get_secret_value(), timestamp, body).encode()
    matched = False
    for candidate in candidates:  # every one compared: the time says nothing of which matched
        matched |= hmac.compare_digest(expected, candidate.encode("ascii", "replace"))
    if not matched:
        raise _RefusedError("bad_signature", 401, "no signature matches")


def _verify_standard(
    secret: SecretStr, headers: Mapping[str, str], body: bytes, now: float
) -> None:
    given = {name: headers.get(name, "") for name in _STANDARD_HEADERS}
    if not given["webhook-signature"]:
        raise _RefusedError("unsigned", 401, "no webhook-signature header")
    if not given["webhook-id"] or not given["webhook-timestamp"]:
        raise _RefusedError("bad_signature", 401, "no webhook-id or webhook-timestamp header")
    # Checked here with the server's clock; the package checks it again with its own.
    _check_time(given["webhook-timestamp"], now)
    try:
        verifier = Webhook(secret.get_secret_value())
    except (ValueError, EmptyWebhookSecretError):
        # Bad base64, or empty. No traceback: the error could quote the secret.
        message = "the provider's webhook secret is not a Standard Webhooks (whsec_) secret"
        log.error(message)  # noqa: TRY400 - on purpose, see above
        raise _RefusedError("bad_signature", 500, "the secret is unusable") from None
    try:
        verifier.verify(body, given, json_parse=False)
    except WebhookVerificationError as exc:
        if "timestamp too" in str(exc):
            raise _RefusedError("stale", 401, "the timestamp is too far from now") from None
        raise _RefusedError("bad_signature", 401, "no signature matches") from None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise _RefusedError("malformed", 400, "the body is not JSON") from None
    if not isinstance(data, dict):
        raise _RefusedError("malformed", 400, "the body is not a JSON object")
    return data


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise _RefusedError("malformed", 400, f"no {what}")
    return value


def _openrouter_event(headers: Mapping[str, str], body: bytes) -> _Event:
    data = _json_object(body)
    kind = _text(data.get("type"), "type")
    if not kind.startswith(_OPENROUTER_TYPE):
        return _Event("", None)
    video = data.get("data")
    if not isinstance(video, dict):
        raise _RefusedError("malformed", 400, "no data object")
    video_id = _text(video.get("id"), "data.id")
    key = headers.get(OPENROUTER_IDEMPOTENCY_KEY)
    if not key:
        status = video.get("status") or kind.removeprefix(_OPENROUTER_TYPE)
        key = f"{video_id}-{_text(status, 'data.status')}"
    return _Event(key, video_id)


def _openai_event(headers: Mapping[str, str], body: bytes) -> _Event:
    data = _json_object(body)
    kind = _text(data.get("type"), "type")
    if kind not in _OPENAI_TYPES:
        return _Event("", None)
    video = data.get("data")
    if not isinstance(video, dict):
        raise _RefusedError("malformed", 400, "no data object")
    return _Event(str(headers["webhook-id"]), _text(video.get("id"), "data.id"))


class ProviderCallbacks:
    """Receives the callbacks of the service's providers (see the module's docstring)."""

    def __init__(
        self,
        service: VideoService,
        *,
        clock: Callable[[], float] = time.time,
        observe: Observe | None = None,
    ) -> None:
        self._service = service
        self._clock = clock
        self._observe = observe

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(ROUTE, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One callback: verified, deduplicated, then the job's owner woken."""
        provider = request.match_info["provider"]
        service = self._service
        found = service.callback_secret(provider)
        if found is None:
            label = self._label(provider)
            log.info("callback for provider %s refused: unknown or without a secret", label)
            self._count(label, "not_found")
            raise web.HTTPNotFound
        dialect, secret = found
        try:
            body = await _read_capped(request)
            now = self._clock()
            if dialect == "openrouter":
                _verify_openrouter(secret, request.headers, body, now)
                event = _openrouter_event(request.headers, body)
            else:
                _verify_standard(secret, request.headers, body, now)
                event = _openai_event(request.headers, body)
        except _RefusedError as refused:
            level = _LOUD.get(refused.outcome, logging.INFO)
            log.log(level, "callback for provider %s refused: %s", provider, refused.detail)
            self._count(provider, refused.outcome)
            return web.json_response({"error": refused.outcome}, status=refused.status)

        if event.video_id is None:
            self._count(provider, "ignored")
            return web.json_response({"status": "ignored"})
        try:
            first = await service.first_time_event(provider, event.event_id)
        except Exception:
            # Not recorded: the provider's retry will be acted on.
            log.exception("callback for provider %s: recording the event failed", provider)
            return web.json_response({"error": "unavailable"}, status=503)
        if not first:
            log.info("callback for provider %s: event already received", provider)
            self._count(provider, "duplicate")
            return web.json_response({"status": "duplicate"})
        try:
            outcome = (await service.provider_event(provider, event.video_id)).value
        except Exception:
            # Recorded, so a retry is a duplicate: the job's polling (slowed, not stopped, for
            # providers that call back) still finds the change.
            log.exception("callback for provider %s: waking the job failed", provider)
            return web.json_response({"error": "unavailable"}, status=500)
        if outcome == "unknown_job":
            log.info("callback for provider %s: no job has that video", provider)
        self._count(provider, outcome)
        return web.json_response({"status": outcome})

    def _label(self, provider: str) -> str:
        """The route's provider when it exists, else "unknown": callers mint no label values."""
        known = {health.name for health in self._service.provider_health()}
        return provider if provider in known else UNKNOWN_PROVIDER

    def _count(self, provider: str, outcome: str) -> None:
        if self._observe is not None:
            self._observe(provider, outcome)


async def _read_capped(request: web.Request) -> bytes:
    """The raw body, exactly as sent; _RefusedError (413) beyond MAX_BODY, which is not read."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _RefusedError("too_large", 413, f"a body of {request.content_length} bytes")
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY:
            raise _RefusedError("too_large", 413, f"a body over {MAX_BODY} bytes")
    return bytes(body)
