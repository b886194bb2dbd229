"""`video-bot doctor`: check the configuration and what each provider's Videos endpoint can do.

One section per provider some model of the catalogue uses: reachability, the key, and the
optional operations its models rely on. A provider that fails does not stop the others' checks.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import aiohttp
import yarl

from bot.catalogue import DEFAULT_PROVIDER, Catalogue, ModelSpec
from bot.config import OPENAI_RETIRED_HOST, Provider, Settings
from bot.observability.redaction import default_redactor, redact, strip_url_credentials
from bot.service.wiring import make_client, open_session
from bot.terminal.invite import application_id_from_token, invite_url, user_install_url
from bot.terminal.unreachable import why_unreachable
from bot.videos import (
    PROBE_VIDEO_ID,
    AuthenticationError,
    CapabilityMissingError,
    EndpointNotVideosError,
    JobLostError,
    JobState,
    NetworkError,
    ProbeAnswer,
    Video,
    VideosClient,
    VideosError,
)

RETIREMENT_NOTE = (
    "OpenAI retired its Videos API (/v1/videos) and the sora-2 models on 2026-09-24. "
    "Point OPENAI_BASE_URL at a server that speaks the same protocol "
    "(a LiteLLM proxy, SGLang, vLLM-Omni, ...) or try `video-bot fake-api` for a dry run."
)
_PROBE_ID = PROBE_VIDEO_ID

Support = Literal["yes", "no", "unknown"]
# The optional operations a catalogue model declares, in the order the doctor reports them.
Capability = Literal["thumbnail", "remix", "extensions", "delete"]
CAPABILITIES: tuple[Capability, ...] = ("thumbnail", "remix", "extensions", "delete")
# How many recent jobs the doctor looks through for a finished video to try `variant` on.
_RECENT_JOBS = 100
# Error codes that say "no such video" (so the route exists and looked the id up).
_NO_SUCH_VIDEO_CODES = frozenset({"video_not_found", "not_found", "resource_not_found"})
_VIDEO_PARAMS = frozenset({"video_id", "video", "video.id", "id"})
# What web frameworks answer for a path they have no route for.
_NO_SUCH_ROUTE_TEXTS = frozenset(
    {"not found", "404 page not found", "404: not found", "404 not found"}
)
_UNSUPPORTED_WORDS = ("not supported", "unsupported", "not implemented")
# OpenRouter's model listing is a few kilobytes per model; anything far larger is not it.
_LISTING_BYTES = 4 * 1024 * 1024
# The routes OpenRouter's video API does not have, and what the bot does without each one.
_NOT_ON_OPENROUTER: tuple[tuple[str, str], ...] = (
    ("list", "a create whose answer is lost cannot be reconciled automatically"),
    (
        "remix",
        "a model continues a video by a create naming previous_job_id, where the "
        "catalogue says `remix = true`",
    ),
    (
        "extensions",
        "likewise a create naming previous_job_id, where the catalogue says `extensions = true`",
    ),
    ("delete", "finished videos stay until OpenRouter lets them expire"),
    ("thumbnail", "the bot takes a frame of the video with ffmpeg"),
)


@dataclass
class Report:
    """Lines to print and whether everything needed works; secrets in them are redacted."""

    lines: list[str] = field(default_factory=list)
    ok: bool = True

    def good(self, text: str) -> None:
        self.lines.append(redact(f"ok    {text}"))

    def bad(self, text: str) -> None:
        self.lines.append(redact(f"FAIL  {text}"))
        self.ok = False

    def warn(self, text: str) -> None:
        """Worth acting on, but nothing fails because of it."""
        self.lines.append(redact(f"WARN  {text}"))

    def note(self, text: str) -> None:
        self.lines.append(redact(f"      {text}"))

    def heading(self, text: str) -> None:
        self.lines.extend(["", redact(text)])

    def include(self, other: Report) -> None:
        self.lines.extend(other.lines)
        self.ok = self.ok and other.ok


def describe_configuration(
    settings: Settings, report: Report, catalogue: Catalogue | None = None
) -> None:
    """Where each provider's address and secrets come from (never their values)."""
    catalogue = catalogue or settings.catalogue()
    used = catalogue.provider_names()
    if DEFAULT_PROVIDER in used:
        key = "set" if settings.openai_api_key else "not set (no Authorization header)"
        shown = strip_url_credentials(settings.openai_base_url)
        report.good(f"configuration: OPENAI_BASE_URL={shown}, OPENAI_API_KEY {key}")
    for name in used:
        spec = catalogue.provider(name)
        if spec is None:
            continue
        key = (
            f"key from {spec.api_key_env}"
            if spec.api_key_env
            else "no key (no Authorization header)"
        )
        calls = (
            f", callbacks signed with {spec.webhook_secret_env}" if spec.webhook_secret_env else ""
        )
        report.good(f"configuration: providers.{name} ({spec.dialect}), {key}{calls}")
    report.good(
        f"catalogue: {len(catalogue.models)} model(s) on {len(used)} provider(s) "
        f"({', '.join(used)}), default {catalogue.default.name} "
        f"({catalogue.default.size_default}, {catalogue.default.seconds_default} s)"
    )


def describe_retirements(catalogue: Catalogue, today: date, report: Report) -> None:
    """A warning per model within RETIREMENT_WARNING of its `retires_on`, or past it."""
    for spec, days in catalogue.retiring(today):
        note = spec.retirement_note(today)
        if note is None:
            continue
        if days == 0:
            note += "; requests for it are refused"
        report.warn(note)


class _Wire:
    """Why each server could not be connected to, as the HTTP session saw it (aiohttp's
    tracing): the client's NetworkError says only that it could not."""

    def __init__(self) -> None:
        self._failures: dict[tuple[str | None, int | None], aiohttp.ClientConnectorError] = {}

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()
        config.on_request_exception.append(self._failed)
        return config

    async def _failed(
        self, _s: aiohttp.ClientSession, _c: object, params: aiohttp.TraceRequestExceptionParams
    ) -> None:
        if isinstance(params.exception, aiohttp.ClientConnectorError):
            self._failures[params.url.host, params.url.port] = params.exception

    def cannot_reach(self, base_url: str, error: NetworkError) -> str:
        """`cannot reach URL (127.0.0.1:9: connection refused)`, or the client's reason."""
        url = yarl.URL(base_url)
        found = self._failures.get((url.host, url.port))
        why = why_unreachable(found) if found is not None else str(error)
        return f"cannot reach {strip_url_credentials(base_url)} ({why})"


@dataclass(frozen=True)
class _Context:
    """One provider's check: how the doctor names its settings in advice, and the wire."""

    provider: str
    key: str | None  # the variable the key is read from; None: no key is configured
    base_url: str  # the setting that holds its address
    wire: _Wire

    @classmethod
    def of(cls, provider: Provider, catalogue: Catalogue, wire: _Wire) -> _Context:
        spec = catalogue.provider(provider.name)
        if spec is None:
            return cls(provider.name, "OPENAI_API_KEY", "OPENAI_BASE_URL", wire)
        return cls(provider.name, spec.api_key_env, f"providers.{provider.name}.base_url", wire)

    def rejected(self) -> str:
        if self.key is None:
            return (
                "the server wants a key, and none is configured: name its variable in "
                f"api_key_env under [providers.{self.provider}]"
            )
        return f"the server rejected {self.key}"


async def check_provider(
    session: aiohttp.ClientSession,
    settings: Settings,
    catalogue: Catalogue,
    provider: Provider,
    wire: _Wire,
) -> Report:
    """One provider's section: its endpoint, its key, and what its models can do there."""
    section = Report()
    shown = strip_url_credentials(provider.base_url)
    section.heading(f"provider {provider.name} ({provider.dialect} dialect, {shown})")
    context = _Context.of(provider, catalogue, wire)
    models = [spec for spec in catalogue.models if spec.provider == provider.name]
    if OPENAI_RETIRED_HOST in provider.base_url:
        note = RETIREMENT_NOTE
        if context.base_url != "OPENAI_BASE_URL":
            note = note.replace("OPENAI_BASE_URL", context.base_url)
        section.bad(f"endpoint: {note}")
        return section
    client = make_client(session, settings, provider)
    if provider.dialect == "openrouter":
        listing = functools.partial(_openrouter_models, session, settings, provider)
        await _check_openrouter(client, models, context, section, listing=listing)
    else:
        await _check_openai(client, models, context, section)
    return section


async def check_providers(settings: Settings, catalogue: Catalogue, report: Report) -> None:
    """Every provider some model uses, checked at once, a section each in the catalogue's
    order; a provider whose key variable is unset raises ConfigError (one line)."""
    providers = settings.providers(catalogue)
    for provider in providers.values():
        # Their keys are shown nowhere: hidden even where a server echoes one back.
        default_redactor.register(provider.api_key.get_secret_value() if provider.api_key else None)
    wire = _Wire()
    async with open_session([wire.trace()]) as session:
        sections = await asyncio.gather(
            *(check_provider(session, settings, catalogue, p, wire) for p in providers.values())
        )
    for section in sections:
        report.include(section)


async def _check_openai(
    client: VideosClient, models: Sequence[ModelSpec], context: _Context, report: Report
) -> None:
    """Reach the endpoint with calls that cost nothing (a list, or a status read), then probe
    the optional operations its models rely on."""
    started = time.monotonic()
    lists = False
    try:
        await client.list(limit=1)
    except CapabilityMissingError:
        reachable = await _check_without_list(client, context, report)
    except AuthenticationError:
        report.bad(f"endpoint: {context.rejected()}")
        reachable = False
    except EndpointNotVideosError as exc:
        report.bad(f"endpoint: {exc.hint}")
        reachable = False
    except NetworkError as exc:
        report.bad(f"endpoint: {context.wire.cannot_reach(client.base_url, exc)}")
        reachable = False
    except VideosError as exc:
        report.bad(f"endpoint: unexpected answer: {exc}")
        reachable = False
    else:
        took = (time.monotonic() - started) * 1000
        report.good(f"endpoint: GET /videos answered in {took:.0f} ms (Videos API)")
        report.good("capability: list (lets the bot reconcile a create with no answer)")
        reachable = lists = True
    if reachable:
        await check_capabilities(client, models, report, lists=lists)


async def _check_without_list(client: VideosClient, context: _Context, report: Report) -> bool:
    try:
        await client.retrieve(_PROBE_ID)
    except JobLostError:
        report.good("endpoint: GET /videos/{id} answers like a Videos API server")
        report.note(
            "capability: list is not served; a create whose answer is lost cannot be "
            "reconciled automatically"
        )
    except AuthenticationError:
        report.bad(f"endpoint: {context.rejected()}")
        return False
    except NetworkError as exc:
        report.bad(f"endpoint: {context.wire.cannot_reach(client.base_url, exc)}")
        return False
    except VideosError as exc:
        report.bad(f"endpoint: does not look like a Videos API server ({exc})")
        return False
    else:
        report.good("endpoint: GET /videos/{id} answered")
    return True


# -- OpenRouter ---------------------------------------------------------------------------------


class _NoListing(Exception):  # noqa: N818 - a reason to report, not a crash
    """GET /videos/models gave no usable list of model ids."""


async def _check_openrouter(
    client: VideosClient,
    models: Sequence[ModelSpec],
    context: _Context,
    report: Report,
    *,
    listing: Callable[[], Awaitable[set[str]]],
) -> None:
    """A status read of a job that does not exist (reaches it, checks the key: the model
    listing is public), then its video models against the catalogue's. Nothing is probed that
    OpenRouter has no route for: a remix or an extension there is a create, which would bill."""
    started = time.monotonic()
    try:
        await client.retrieve(_PROBE_ID)
    except JobLostError:
        took = (time.monotonic() - started) * 1000
        report.good(f"endpoint: GET /videos/{{id}} answered in {took:.0f} ms (key accepted)")
    except AuthenticationError:
        report.bad(f"endpoint: {context.rejected()}")
    except NetworkError as exc:
        report.bad(f"endpoint: {context.wire.cannot_reach(client.base_url, exc)}")
        return
    except VideosError as exc:
        report.bad(f"endpoint: does not look like OpenRouter's video API ({exc})")
    try:
        listed = await listing()
    except _NoListing as exc:
        report.bad(f"models: {exc}")
    else:
        report.good(f"models: GET /videos/models lists {len(listed)} video model(s)")
        for spec in models:
            wanted = spec.api_model or spec.name
            if wanted in listed:
                report.good(f"model {spec.name}: listed as {wanted}")
            else:
                known = ", ".join(sorted(listed)[:8]) + (", ..." if len(listed) > 8 else "")
                report.bad(
                    f"model {spec.name}: OpenRouter lists no video model {wanted} "
                    f"(it lists {known or 'none'}); correct its api_model in the catalogue"
                )
    for capability, without in _NOT_ON_OPENROUTER:
        report.note(f"capability: {capability} not offered by OpenRouter ({without})")
    for spec in models:
        for capability in ("delete", "thumbnail"):
            if getattr(spec, capability):
                report.note(
                    f"hint: OpenRouter has no {capability} for model {spec.name}: put "
                    f"`{capability} = false` under it in the catalogue"
                )


async def _openrouter_models(
    session: aiohttp.ClientSession, settings: Settings, provider: Provider
) -> set[str]:
    """The ids `GET {base_url}/videos/models` lists."""
    headers = {"Accept": "application/json"}
    if provider.api_key is not None:
        headers["Authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    timeout = aiohttp.ClientTimeout(
        total=settings.request_timeout, sock_connect=settings.connect_timeout
    )
    try:
        async with session.get(
            f"{provider.base_url}/videos/models",
            headers=headers,
            timeout=timeout,
            allow_redirects=False,
        ) as resp:
            if resp.status != 200:
                raise _NoListing(f"GET /videos/models answered HTTP {resp.status}")
            body = await _read_at_most(resp, _LISTING_BYTES)
    except (TimeoutError, aiohttp.ClientError) as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        raise _NoListing(f"GET /videos/models got no answer ({why})") from None
    if body is None:
        raise _NoListing(f"GET /videos/models answered more than {_LISTING_BYTES} bytes")
    return _model_ids(body)


async def _read_at_most(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    data = bytearray()
    while chunk := await resp.content.read(limit + 1 - len(data)):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def _model_ids(body: bytes) -> set[str]:
    """`{"data": [{"id": ...}, ...]}`; anything else is not OpenRouter's listing."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        raise _NoListing("GET /videos/models did not answer JSON") from None
    items = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(items, list):
        raise _NoListing("GET /videos/models answered JSON without a `data` list")
    return {
        item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)
    }


# -- optional capabilities ----------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What the server's answer to a probe says about one capability, and why."""

    support: Support
    why: str


def judge_probe(answer: ProbeAnswer, probe_id: str = _PROBE_ID) -> Finding:
    """Read the answer to a request about a video that does not exist.

    "No such video" means the route exists and looked the id up: the operation is served.
    "No such route" (a framework's bare 404, OpenAI's "Invalid URL"), 405 and 501 mean it is not.
    Anything else (auth, rate limits, 5xx, a 404 in words the doctor does not know) is unknown.
    """
    status = answer.status
    message = (answer.message or "").strip()
    lowered = message.lower()
    said = f"HTTP {status}" + (f' "{_short(message)}"' if message else "")
    if 200 <= status < 300:
        started = f" and started job {answer.video_id}" if answer.video_id else ""
        return Finding("yes", f"HTTP {status}: accepted a video that does not exist{started}")
    if status in (405, 501):
        return Finding("no", f"{said}: no such operation")
    if status == 404:
        if answer.code in _NO_SUCH_VIDEO_CODES:
            return Finding("yes", f"{said}: the route exists")
        if (
            lowered.startswith("invalid url")
            or lowered in _NO_SUCH_ROUTE_TEXTS
            or answer.content_type == "text/html"
        ):
            return Finding("no", f"{said}: no such route")
        if answer.param in _VIDEO_PARAMS or probe_id in message:
            return Finding("yes", f"{said}: the route exists")
        return Finding("unknown", f"{said}: cannot tell a missing video from a missing route")
    if status in (400, 409, 422):
        if any(word in lowered for word in _UNSUPPORTED_WORDS):
            return Finding("no", said)
        if probe_id in message:
            return Finding("yes", f"{said}: the route exists")
        return Finding("unknown", said)
    if status in (401, 403):
        return Finding("unknown", f"HTTP {status}: the key was refused for this operation")
    return Finding("unknown", said)


def judge_thumbnail(main: ProbeAnswer, thumbnail: ProbeAnswer) -> Finding:
    """A finished video's content, asked for plainly and as `variant=thumbnail`."""
    if not 200 <= main.status < 300:
        return Finding("unknown", f"the finished video's content answers HTTP {main.status}")
    status, kind = thumbnail.status, thumbnail.content_type
    if 200 <= status < 300:
        if kind.startswith("image/"):
            return Finding("yes", f"variant=thumbnail answers {kind}")
        if kind.startswith("video/") or kind == "application/mp4":
            return Finding("no", f"variant=thumbnail answers {kind}: `variant` is ignored")
        return Finding("unknown", f"variant=thumbnail answers {kind or 'no content type'}")
    if status in (400, 404, 405, 422, 501):
        return Finding("no", f"variant=thumbnail answers HTTP {status}")
    return Finding("unknown", f"variant=thumbnail answers HTTP {status}")


def judge_thumbnail_without_video(answer: ProbeAnswer) -> Finding:
    """variant=thumbnail for a video that does not exist: only a refused `variant` tells."""
    mentions_variant = answer.param == "variant" or "variant" in (answer.message or "").lower()
    if answer.status in (400, 422) and mentions_variant:
        return Finding("no", f"HTTP {answer.status}: `variant=thumbnail` is refused")
    return Finding("unknown", "no finished video to try `variant=thumbnail` on")


async def _probe(call: Callable[[], Awaitable[ProbeAnswer]]) -> Finding:
    try:
        return judge_probe(await call())
    except VideosError as exc:
        return Finding("unknown", f"no answer ({exc})")


async def _finished_videos(client: VideosClient, lists: bool) -> list[Video]:
    """Recent completed videos whose download has not expired (none without list)."""
    if not lists:
        return []
    try:
        page = await client.list(limit=_RECENT_JOBS)
    except VideosError:
        return []
    now = time.time()
    return [
        video
        for video in page.data
        if video.state is JobState.COMPLETED
        and (video.expires_at is None or video.expires_at > now)
    ]


async def _thumbnail_on(client: VideosClient, video: Video) -> Finding:
    try:
        main = await client.probe_content(video.id)
        thumbnail = await client.probe_content(video.id, "thumbnail")
    except VideosError as exc:
        return Finding("unknown", f"no answer ({exc})")
    found = judge_thumbnail(main, thumbnail)
    return Finding(found.support, f"{found.why} (video {_short(video.id, 24)})")


class _Thumbnails:
    """The thumbnail finding per model: from a finished video of that model when there is
    one, else of any model, else from a probe of a video that does not exist."""

    def __init__(self, client: VideosClient, finished: list[Video]) -> None:
        self._client = client
        self._finished = finished
        self._by_video: dict[str, Finding] = {}
        self._without: Finding | None = None

    async def finding(self, spec: ModelSpec) -> Finding:
        names = {spec.name, spec.wire_model}
        mine = [v for v in self._finished if v.model in names]
        candidates = mine or self._finished
        if candidates:
            video = candidates[0]
            if video.id not in self._by_video:
                self._by_video[video.id] = await _thumbnail_on(self._client, video)
            return self._by_video[video.id]
        if self._without is None:
            try:
                answer = await self._client.probe_content(_PROBE_ID, "thumbnail")
            except VideosError as exc:
                self._without = Finding("unknown", f"no answer ({exc})")
            else:
                self._without = judge_thumbnail_without_video(answer)
        return self._without


_ROUTES: dict[Capability, str] = {
    "remix": "POST /videos/{id}/remix",
    "extensions": "POST /videos/extensions",
    "delete": "DELETE /videos/{id}",
}
_WORDS = {"yes": "served", "no": "not served", "unknown": "unknown"}


async def check_capabilities(
    client: VideosClient, models: Sequence[ModelSpec], report: Report, *, lists: bool
) -> dict[str, dict[Capability, Finding]]:
    """Probe thumbnail, remix, extensions and delete without starting any job, report what the
    server answers for each of its models, and hint where the catalogue says otherwise."""
    server: dict[Capability, Finding] = {
        "remix": await _probe(client.probe_remix),
        "extensions": await _probe(client.probe_extensions),
        "delete": await _probe(client.probe_delete),
    }
    for capability, finding in server.items():
        line = f"capability: {capability} {_WORDS[finding.support]} ({_ROUTES[capability]}: "
        line += f"{finding.why})"
        if finding.support == "yes":
            report.good(line)
        else:
            report.note(line)
    thumbnails = _Thumbnails(client, await _finished_videos(client, lists))
    per_model = {spec.name: await thumbnails.finding(spec) for spec in models}
    shared = set(per_model.values())
    if len(shared) == 1:
        (thumbnail,) = shared
        line = f"capability: thumbnail {_WORDS[thumbnail.support]} "
        line += f"(GET /videos/{{id}}/content?variant=thumbnail: {thumbnail.why})"
        if thumbnail.support == "yes":
            report.good(line)
        else:
            report.note(line)
    results: dict[str, dict[Capability, Finding]] = {}
    for spec in models:
        found: dict[Capability, Finding] = {"thumbnail": per_model[spec.name], **server}
        results[spec.name] = found
        summary = ", ".join(f"{c} {found[c].support}" for c in CAPABILITIES)
        if len(shared) > 1:
            summary += f" (thumbnail: {found['thumbnail'].why})"
        report.note(f"model {spec.name}: {summary}")
        for capability in CAPABILITIES:
            hint = _disagreement(spec, capability, found[capability])
            if hint is not None:
                report.note(f"hint: {hint}")
    if any(spec.reference == "image_url" for spec in models):
        report.note(
            'reference = "image_url" cannot be checked without starting a job; LiteLLM, '
            "vLLM-Omni and New API take reference images only as file uploads"
        )
    report.note(f"no job was started: the probes name a video that does not exist ({_PROBE_ID})")
    return results


def _disagreement(spec: ModelSpec, capability: Capability, finding: Finding) -> str | None:
    declared: bool = getattr(spec, capability)
    if finding.support == "no" and declared:
        return (
            f"the server does not serve {capability} for model {spec.name}: put "
            f"`{capability} = false` under it in the catalogue"
        )
    if finding.support == "yes" and not declared:
        return (
            f"the server serves {capability}, but the catalogue has `{capability} = false` for "
            f"model {spec.name}: `{capability} = true` would offer it"
        )
    return None


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_discord(settings: Settings, report: Report) -> None:
    if settings.discord_token is None:
        report.note("DISCORD_TOKEN is not set: `video-bot run` needs it (see the README)")
        return
    application_id = application_id_from_token(settings.discord_token.get_secret_value())
    if application_id is None:
        report.bad("DISCORD_TOKEN does not look like a bot token")
        return
    report.good(f"Discord application {application_id}; invite the bot with:")
    report.note(invite_url(application_id))
    if settings.user_installs:
        # The Developer Portal must allow it too (Installation → User Install).
        report.good("members can add it to their own account (User Install on in the portal):")
        report.note(user_install_url(application_id))


async def check_prompt_helper(settings: Settings, report: Report) -> None:
    """`/video improve`'s chat server: reachable, the key accepted, the model served. Asks its
    free `GET /models`; no rewrite is made (that would be billed)."""
    if not settings.improves_prompts or settings.prompt_url is None:
        return
    report.heading(f"Prompt helper ({strip_url_credentials(settings.prompt_url)})")
    headers = {"Accept": "application/json"}
    if settings.prompt_key is not None:
        headers["Authorization"] = f"Bearer {settings.prompt_key.get_secret_value()}"
    timeout = aiohttp.ClientTimeout(
        total=settings.request_timeout, sock_connect=settings.connect_timeout
    )
    url = f"{settings.prompt_url}/models"
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers=headers, timeout=timeout, allow_redirects=False) as resp,
        ):
            status = resp.status
            body = await _read_at_most(resp, _LISTING_BYTES) if status == 200 else None
    except aiohttp.ClientConnectorError as exc:
        report.bad(f"the chat server cannot be reached: {why_unreachable(exc)}")
        report.note("`/video improve` will answer that the prompt helper is unavailable")
        return
    except (TimeoutError, aiohttp.ClientError) as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        report.bad(f"the chat server gave no answer ({why})")
        return
    if status in (401, 403):
        report.bad(f"the chat server refused VIDEO_BOT_PROMPT_KEY (HTTP {status})")
        return
    if status != 200 or body is None:
        report.warn(f"GET /models answered HTTP {status}: the model could not be checked")
        return
    served = _model_ids(body)
    if served and settings.prompt_model not in served:
        report.bad(
            f"the chat server does not serve VIDEO_BOT_PROMPT_MODEL={settings.prompt_model}"
            f" (it lists {_short(', '.join(sorted(served)))})"
        )
        return
    report.good(f"the chat server answers and serves {settings.prompt_model}")


async def run_doctor(settings: Settings, *, today: date | None = None) -> Report:
    report = Report()
    catalogue = settings.catalogue()
    describe_configuration(settings, report, catalogue)
    describe_retirements(catalogue, today or datetime.now(UTC).date(), report)
    describe_discord(settings, report)
    await check_providers(settings, catalogue, report)
    await check_prompt_helper(settings, report)
    return report
