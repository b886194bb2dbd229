"""The bot's own Videos API for teams' scripts and CI: `/v1/videos` on the bot's web server.

A team points the official OpenAI SDK (or curl) at the bot with a key the bot issued
(`video-bot api-key create`); each request becomes an ordinary job of the one service (the same
validation, catalogue, guild rules, limits, queue and workflow as `/video`) whose progress card
and result are posted in one of the key's channels. Answers are the spec's `Video` objects and
errors the OpenAI error envelope, so `client.videos.create_and_poll(...)` and
`client.videos.download_content(...)` just work.

Engine side: nothing here imports discord; the front end hands in how to open a reply in a
channel.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from bot.catalogue import RequestRejected
from bot.domain import (
    ApiKey,
    JobKind,
    JobState,
    JobSummary,
    Limit,
    LimitReached,
    ModerationUnavailable,
    NotAllowed,
    PromptFlagged,
    Refusal,
    Requester,
    SourceGone,
)
from bot.http.openapi import build_openapi
from bot.http.team_requests import (
    MAX_IDEMPOTENCY_KEY,
    ApiError,
    CreateFields,
    api_errors,
    channel_id,
    form_or_json,
    json_body,
    list_page,
    parse_create,
    reference_upload,
    seconds_field,
    text_field,
    whole_number,
)
from bot.http.team_webhooks import WebhookRoutes
from bot.http.webhooks import EventKind, WebhookSender, event_payload
from bot.service import ReplyOpener, VideoService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Place:
    """A channel a key's video may be posted in, as the chat front end sees it: the channel
    and its parents (for the server's channel rules), and how to open the reply there."""

    channel_ids: frozenset[int]
    reply: ReplyOpener
    # The channel is age-restricted: a server that allows videos only there lets the key in.
    age_restricted: bool = False


# The place for a key's video in a channel: the chat front end finds it (or refuses).
ChannelOpener = Callable[[ApiKey, int], Awaitable[Place]]

VIDEO_PREFIX = "video_"
# Per key: a burst of this many requests, then this many per second.
RATE_BURST = 30
RATE_PER_SECOND = 2.0

_QUEUED = {JobState.ACCEPTED, JobState.SUBMITTING, JobState.SUBMITTED}
_COMPLETED = {JobState.DELIVERED, JobState.UNDELIVERABLE}


def public_id(job_id: str) -> str:
    return f"{VIDEO_PREFIX}{job_id}"


def job_id_of(video_id: str) -> str | None:
    if not video_id.startswith(VIDEO_PREFIX):
        return None
    job_id = video_id.removeprefix(VIDEO_PREFIX)
    return job_id if job_id.isalnum() and len(job_id) <= 32 else None


def video_object(record: JobSummary) -> dict[str, Any]:
    """A job as the spec's `Video`: status, progress, error, expiry and lineage."""
    state = record.state
    if state in _QUEUED:
        status = "queued"
    elif state in _COMPLETED:
        status = "completed"
    elif state.is_final:
        status = "failed"
    else:
        status = "in_progress"
    error = None
    if status == "failed":
        error = {"code": state.value, "message": record.last_error or f"The job ended {state}."}
    progress = 100 if status == "completed" else (record.progress or 0)
    remixed = record.source_id if record.kind == JobKind.REMIX else None
    return {
        "id": public_id(record.id),
        "object": "video",
        "created_at": int(record.created_at),
        "completed_at": int(record.finished_at)
        if status == "completed" and record.finished_at
        else None,
        "expires_at": int(record.video_expires_at) if record.video_expires_at else None,
        "status": status,
        "model": record.model,
        "progress": max(0, min(100, progress)),
        "prompt": record.prompt,
        "seconds": str(record.seconds),
        "size": record.size,
        "remixed_from_video_id": public_id(remixed) if remixed else None,
        "error": error,
    }


@dataclass
class _Bucket:
    tokens: float
    at: float


class TeamApi:
    """`/v1/videos` for scripts, with the bot's own keys."""

    def __init__(
        self,
        service: VideoService,
        open_channel: ChannelOpener,
        *,
        webhooks: WebhookSender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self._keys = service.keys
        self._open_channel = open_channel
        self._webhooks = webhooks
        self._clock = clock
        # The rate limit's clock (monotonic); a test freezes it so the bucket never refills.
        self.rate_clock: Callable[[], float] = time.monotonic
        self._buckets: dict[str, _Bucket] = {}
        service.on_finished(self._finished)

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(api_errors)
        app.router.add_post("/v1/videos", self._guarded(self._create))
        app.router.add_get("/v1/videos", self._guarded(self._list))
        app.router.add_post("/v1/videos/extensions", self._guarded(self._extend))
        app.router.add_get("/v1/videos/{video_id}", self._guarded(self._retrieve))
        app.router.add_delete("/v1/videos/{video_id}", self._guarded(self._delete))
        app.router.add_get("/v1/videos/{video_id}/content", self._guarded(self._content))
        app.router.add_post("/v1/videos/{video_id}/remix", self._guarded(self._remix))
        if self._webhooks is not None:
            routes = WebhookRoutes(self._keys.webhooks, self._webhooks)
            for method, path, handler in routes.routes():
                app.router.add_route(method, path, self._guarded(handler))
        app.router.add_get("/v1/openapi.json", self._openapi)

    async def _openapi(self, request: web.Request) -> web.StreamResponse:
        """This API's OpenAPI document (no key needed)."""
        return web.json_response(build_openapi(self._service.catalogue))

    # -- authentication, rate limits, errors --------------------------------------------------

    def _guarded(
        self, handler: Callable[[web.Request, ApiKey], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                key = await self._authenticate(request)
                self._take_token(key)
                log.info("api key %s: %s %s", key.name, request.method, request.path)
                return await handler(request, key)
            except ApiError as exc:
                return exc.response()

        return guarded

    async def _authenticate(self, request: web.Request) -> ApiKey:
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        key = await self._keys.authenticate(presented.strip()) if scheme == "Bearer" else None
        if key is None:
            raise ApiError(
                401,
                "Incorrect API key provided. Keys are issued by the bot's operator "
                "(`video-bot api-key create`).",
                code="invalid_api_key",
            )
        return key

    def _take_token(self, key: ApiKey) -> None:
        now = self.rate_clock()
        bucket = self._buckets.setdefault(key.id, _Bucket(RATE_BURST, now))
        bucket.tokens = min(RATE_BURST, bucket.tokens + (now - bucket.at) * RATE_PER_SECOND)
        bucket.at = now
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / RATE_PER_SECOND
            raise ApiError(
                429,
                f"Too many requests for key {key.name}; slow down.",
                kind="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(max(1, round(wait)))},
            )
        bucket.tokens -= 1

    async def _own(self, key: ApiKey, video_id: str) -> JobSummary:
        job_id = job_id_of(video_id)
        record = await self._service.job(job_id) if job_id else None
        if record is None or record.requester_id != key.member_id:
            raise ApiError(
                404, f"Video with id '{video_id}' not found.", code="video_not_found", param="id"
            )
        return record

    # -- create ---------------------------------------------------------------------------------

    async def _create(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        create = await parse_create(request)
        channel = _channel_for(key, create.channel)
        idem = request.headers.get("Idempotency-Key")
        if idem and len(idem) > MAX_IDEMPOTENCY_KEY:
            raise ApiError(
                400,
                f"An Idempotency-Key is at most {MAX_IDEMPOTENCY_KEY} characters.",
                param="Idempotency-Key",
            )
        if idem:
            answered = await self._replay(key, idem, create.fingerprint())
            if answered is not None:
                return answered
        try:
            record = await self._start(key, channel, create)
        except BaseException:
            if idem:
                await self._keys.release(key.id, idem)
            raise
        if idem:
            await self._keys.attach(key.id, idem, record.id)
        return web.json_response(video_object(record))

    async def _replay(self, key: ApiKey, idem: str, fingerprint: str) -> web.Response | None:
        """The first answer again for a retried request; None when this one is the first."""
        claimed = await self._keys.claim(key.id, idem, fingerprint)
        if claimed is None:
            return None
        stored, job_id = claimed
        if stored != fingerprint:
            raise ApiError(
                422,
                "This Idempotency-Key was already used for a different request.",
                code="idempotency_key_reused",
            )
        record = await self._service.job(job_id) if job_id else None
        if record is None:
            raise ApiError(
                409,
                "A request with this Idempotency-Key is still being made; retry in a moment.",
                code="idempotency_in_progress",
                headers={"Retry-After": "1"},
            )
        log.info("api key %s: Idempotency-Key replayed for job %s", key.name, record.id)
        return web.json_response(video_object(record))

    async def _place(self, key: ApiKey, channel: int) -> tuple[Requester, ReplyOpener]:
        """The key's member, asking from `channel`: the server's rules see it like any other."""
        try:
            place = await self._open_channel(key, channel)
        except RequestRejected as exc:
            raise _refused(exc) from None
        requester = Requester(
            key.member_id,
            key.guild_id,
            channel_ids=place.channel_ids,
            key=key,
            age_restricted=place.age_restricted,
        )
        return requester, place.reply

    async def _start(self, key: ApiKey, channel: int, create: CreateFields) -> JobSummary:
        seconds = seconds_field(create.seconds)
        reference = reference_upload(create)
        requester, reply = await self._place(key, channel)
        try:
            view = await self._service.submit(
                requester,
                create.prompt,
                reply=reply,
                model=create.model,
                size=create.size,
                seconds=seconds,
                reference=reference,
                metadata=json.dumps(create.metadata) if create.metadata else None,
            )
        except RequestRejected as exc:
            raise _refused(exc) from None
        return await self._job(view.ref)

    async def _job(self, job_id: str) -> JobSummary:
        record = await self._service.job(job_id)
        assert record is not None  # noqa: S101 - just stored
        return record

    # -- follow-ups -------------------------------------------------------------------------------

    async def _remix(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        source = await self._own(key, request.match_info["video_id"])
        body = await json_body(request)
        return await self._follow_up(key, "remix", source, body, None)

    async def _extend(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        body = await form_or_json(request)
        video = body.get("video")
        video_id = video.get("id") if isinstance(video, dict) else None
        if not isinstance(video_id, str):
            raise ApiError(400, "`video.id` is required.", param="video")
        source = await self._own(key, video_id)
        return await self._follow_up(
            key, "extend", source, body, seconds_field(body.get("seconds"))
        )

    async def _follow_up(
        self,
        key: ApiKey,
        kind: Literal["remix", "extend"],
        source: JobSummary,
        body: Mapping[str, Any],
        seconds: int | None,
    ) -> web.StreamResponse:
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise ApiError(400, "`prompt` is required.", param="prompt")
        channel = _channel_for(key, text_field(body.get("discord_channel_id")))
        requester, reply = await self._place(key, channel)
        try:
            view = await self._service.follow_up(
                kind, source.id, requester, reply=reply, prompt=prompt, seconds=seconds
            )
        except RequestRejected as exc:
            raise _refused(exc) from None
        return web.json_response(video_object(await self._job(view.ref)))

    # -- reads ----------------------------------------------------------------------------------

    async def _retrieve(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        return web.json_response(video_object(await self._own(key, request.match_info["video_id"])))

    async def _list(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        query = request.query
        limit = max(1, min(100, whole_number(query.get("limit", "20"), param="limit")))
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise ApiError(400, "`order` must be asc or desc.", param="order")
        after = await self._own(key, query["after"]) if query.get("after") else None
        records, more = await self._service.jobs_page(
            key.member_id,
            after=None if after is None else after.id,
            limit=limit,
            order="asc" if order == "asc" else "desc",
        )
        data = [video_object(r) for r in records]
        return list_page(data, has_more=more)

    async def _content(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        record = await self._own(key, request.match_info["video_id"])
        variant = request.query.get("variant", "video")
        if variant not in ("video", "thumbnail"):
            raise ApiError(400, "`variant` must be video or thumbnail.", param="variant")
        if record.state not in _COMPLETED or record.deleted_at is not None:
            raise ApiError(
                404 if record.deleted_at is not None else 400,
                "The video is not ready."
                if record.deleted_at is None
                else "The video was deleted.",
                code="video_not_ready" if record.deleted_at is None else "video_deleted",
            )
        service = self._service
        path = (
            service.original_file(record.id)
            if variant == "video"
            else service.thumbnail_file(record.id)
        )
        if path is None or not path.is_file():
            raise ApiError(
                404,
                "The bot no longer keeps this file (VIDEO_BOT_KEEP_DAYS / KEEP_MAX_GB).",
                code="video_expired",
            )
        content_type = "video/mp4" if variant == "video" else _image_type(path.suffix)
        return web.FileResponse(path, headers={"Content-Type": content_type})

    async def _delete(self, request: web.Request, key: ApiKey) -> web.StreamResponse:
        record = await self._own(key, request.match_info["video_id"])
        try:
            await self._service.delete(record.id, Requester(key.member_id, key.guild_id, key=key))
        except RequestRejected as exc:
            raise ApiError(400, str(exc), code="invalid_state") from None
        return web.json_response(
            {"id": public_id(record.id), "object": "video.deleted", "deleted": True}
        )

    # -- webhooks -------------------------------------------------------------------------------

    async def _finished(self, record: JobSummary) -> None:
        """A job of a key ended: tell each of the key's webhook endpoints that asked for this
        event (signed with the endpoint's secret, retried in the background)."""
        if self._webhooks is None or record.api_key_id is None:
            return
        key = await self._keys.get(record.api_key_id)
        if key is None or key.revoked:
            return
        kind: EventKind = "video.completed" if record.state in _COMPLETED else "video.failed"
        endpoints = self._keys.webhooks
        listening = await endpoints.listening(key.id, kind)
        if not listening:
            return
        event = event_payload(kind, public_id(record.id), created_at=int(self._clock()))
        now = endpoints.now()
        for endpoint in listening:
            self._webhooks.start(endpoint.url, endpoint.signing_secrets(now), event)


def _image_type(suffix: str) -> str:
    return "image/webp" if suffix == ".webp" else "image/jpeg"


def _channel_for(key: ApiKey, given: str | None) -> int:
    """The channel a key's video goes to: the one asked for (within the key's scope), else
    the key's first."""
    if given is None:
        if not key.channels:
            raise ApiError(
                400,
                "This key has no default channel: pass `discord_channel_id`.",
                param="discord_channel_id",
            )
        return key.channels[0]
    channel = channel_id(given)
    if key.channels and channel not in key.channels:
        raise ApiError(
            403,
            f"Key {key.name} may not post in channel {channel}.",
            kind="permission_error",
            code="channel_not_allowed",
            param="discord_channel_id",
        )
    return channel


_REFUSAL_CODES = {
    Refusal.OTHER_SERVER: "server_not_allowed",
    Refusal.NOT_IN_SERVER: "server_not_allowed",
    Refusal.TURNED_OFF: "bot_disabled",
    Refusal.CHANNEL: "channel_not_allowed",
    Refusal.ROLE: "role_required",
    Refusal.AGE_RESTRICTED: "age_restricted_only",
}


def _refused(error: RequestRejected) -> ApiError:
    """A refusal of the service, in the OpenAI envelope."""
    if isinstance(error, LimitReached):
        code = "budget_exceeded" if error.limit is Limit.KEY_BUDGET else "limit_reached"
        return ApiError(429, str(error), kind="insufficient_quota", code=code)
    if isinstance(error, NotAllowed):
        text = str(error)
        if error.refusal is Refusal.CHANNEL:
            allowed = ", ".join(str(c) for c in sorted(error.channels))
            text = f"{text} The server allows videos in channels {allowed}."
        elif error.refusal is Refusal.ROLE:
            text = f"{text} API keys hold no roles."
        return ApiError(403, text, kind="permission_error", code=_REFUSAL_CODES[error.refusal])
    if isinstance(error, SourceGone):
        return ApiError(400, str(error), code="video_expired")
    if isinstance(error, PromptFlagged):
        return ApiError(400, str(error), code="prompt_flagged", param="prompt")
    if isinstance(error, ModerationUnavailable):
        return ApiError(503, str(error), kind="server_error", code="moderation_unavailable")
    return ApiError(400, str(error), code="invalid_request")
