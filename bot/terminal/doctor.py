"""`video-bot doctor`: check the configuration and what the Videos endpoint can do."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from bot.catalogue import Catalogue, ModelSpec
from bot.config import Settings
from bot.observability.redaction import redact, strip_url_credentials
from bot.service.wiring import make_client, open_session
from bot.terminal.invite import application_id_from_token, invite_url
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

    def note(self, text: str) -> None:
        self.lines.append(redact(f"      {text}"))


def describe_configuration(settings: Settings, report: Report) -> None:
    catalogue = settings.catalogue()
    key = "set" if settings.openai_api_key else "not set (no Authorization header)"
    shown = strip_url_credentials(settings.openai_base_url)
    report.good(f"configuration: OPENAI_BASE_URL={shown}, OPENAI_API_KEY {key}")
    report.good(
        f"catalogue: {len(catalogue.models)} model(s), default {catalogue.default.name} "
        f"({catalogue.default.size_default}, {catalogue.default.seconds_default} s)"
    )


async def check_endpoint(settings: Settings, report: Report) -> None:
    """Reach the endpoint with calls that cost nothing (a list, or a status read), then probe
    the optional operations the catalogue relies on."""
    if settings.base_url_is_openai:
        report.bad(f"endpoint: {RETIREMENT_NOTE}")
        return
    async with open_session() as session:
        client = make_client(session, settings)
        started = time.monotonic()
        lists = False
        try:
            await client.list(limit=1)
        except CapabilityMissingError:
            reachable = await _check_without_list(client, report)
        except AuthenticationError:
            report.bad("endpoint: the server rejected OPENAI_API_KEY")
            reachable = False
        except EndpointNotVideosError as exc:
            report.bad(f"endpoint: {exc.hint}")
            reachable = False
        except NetworkError as exc:
            shown = strip_url_credentials(settings.openai_base_url)
            report.bad(f"endpoint: cannot reach {shown} ({exc})")
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
            await check_capabilities(client, settings.catalogue(), report, lists=lists)


async def _check_without_list(client: VideosClient, report: Report) -> bool:
    try:
        await client.retrieve(_PROBE_ID)
    except JobLostError:
        report.good("endpoint: GET /videos/{id} answers like a Videos API server")
        report.note(
            "capability: list is not served; a create whose answer is lost cannot be "
            "reconciled automatically"
        )
    except AuthenticationError:
        report.bad("endpoint: the server rejected OPENAI_API_KEY")
        return False
    except NetworkError as exc:
        report.bad(f"endpoint: cannot reach the server ({exc})")
        return False
    except VideosError as exc:
        report.bad(f"endpoint: does not look like a Videos API server ({exc})")
        return False
    else:
        report.good("endpoint: GET /videos/{id} answered")
    return True


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
    client: VideosClient, catalogue: Catalogue, report: Report, *, lists: bool
) -> dict[str, dict[Capability, Finding]]:
    """Probe thumbnail, remix, extensions and delete without starting any job, report what the
    server answers per model, and hint where the catalogue says otherwise."""
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
    per_model = {spec.name: await thumbnails.finding(spec) for spec in catalogue.models}
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
    for spec in catalogue.models:
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
    if any(spec.reference == "image_url" for spec in catalogue.models):
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


async def run_doctor(settings: Settings) -> Report:
    report = Report()
    describe_configuration(settings, report)
    describe_discord(settings, report)
    await check_endpoint(settings, report)
    return report
