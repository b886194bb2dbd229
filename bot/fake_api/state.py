"""The fake server's memory: jobs and how they progress over fake time, the request log and
the callbacks sent."""

from __future__ import annotations

import io
import itertools
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from PIL import Image

from .settings import FakeSettings

Phase = Literal["queued", "in_progress", "completed", "failed", "lost"]
"""A job's state in OpenAI's words; each dialect renames it. `lost` jobs answer 404."""

# The share of a job's duration spent queued, and the point at which a `[fail]` job fails.
QUEUED_SHARE: Final = 0.1
FAIL_AT_SHARE: Final = 0.5
# OpenAI lets a finished video be downloaded for as little as an hour: the `expires_at` shown
# when the `expire_after` setting is None (and nothing is withheld).
EXPIRY_SECONDS: Final = 3600


@dataclass(frozen=True)
class Keyword:
    """A prompt keyword that scripts what the fake does with a job."""

    name: str
    argument: str | None
    effect: str

    @property
    def usage(self) -> str:
        """How a user writes it in a prompt."""
        return f"[{self.name}={self.argument}]" if self.argument else f"[{self.name}]"


# The one table of prompt keywords: parsing below and the user-facing docs both read it.
PROMPT_KEYWORDS: Final[tuple[Keyword, ...]] = (
    Keyword("duration", "N", "generation takes N seconds of fake time (default: the setting)"),
    Keyword("fail", None, "the job fails half-way with error internal_error"),
    Keyword("refuse", None, "the job fails at once with error moderation_blocked"),
    Keyword(
        "refuse",
        "CODE",
        "the job fails at once, refused with that error code (sentinel_block, "
        "SAFETY.INPUT.NSFW, 1026, ...), as other providers word their refusals",
    ),
    Keyword("bytes", "N", "the served MP4 is padded to exactly N bytes (stays a valid MP4)"),
    Keyword("download-fail", None, "the job completes but downloading its content answers 500"),
    Keyword(
        "safety-removed",
        None,
        "the job completes but its content is withheld (404) as removed by a safety filter, "
        "as Veo behind LiteLLM does",
    ),
    Keyword("lost", None, "the job vanishes (404) once in progress, as after a server restart"),
)
_KEYWORD_NAMES: Final = frozenset(keyword.name for keyword in PROMPT_KEYWORDS)
_KEYWORD_PATTERN: Final = re.compile(r"\[([a-z-]+)(?:=([^\]\s]*))?\]")


@dataclass(frozen=True)
class JobError:
    """Why a job failed."""

    code: str
    message: str


FAILURE: Final = JobError("internal_error", "Video generation failed.")
REFUSAL: Final = JobError(
    "moderation_blocked", "Your request was blocked by our moderation system."
)
CANCELLATION: Final = JobError("cancelled", "The video generation was cancelled.")
# The phases after which a job never changes again (but for expiry), and sends its callback.
TERMINAL: Final[frozenset[Phase]] = frozenset({"completed", "failed"})


@dataclass(frozen=True)
class Scenario:
    """What the prompt's keywords ask of a job."""

    duration: float | None = None
    fail: bool = False
    refuse: bool = False
    pad_bytes: int | None = None
    download_fail: bool = False
    safety_removed: bool = False
    refuse_code: str | None = None
    lost: bool = False

    @classmethod
    def from_prompt(cls, prompt: str) -> Scenario:
        """Read the keywords out of a prompt; malformed or unknown ones are plain text."""
        flags: dict[str, Any] = {}
        for match in _KEYWORD_PATTERN.finditer(prompt):
            name, value = match.group(1), match.group(2)
            if name not in _KEYWORD_NAMES:
                continue
            if name == "duration" and value is not None:
                try:
                    flags["duration"] = max(0.0, float(value))
                except ValueError:
                    continue
            elif name == "bytes" and value is not None and value.isdigit():
                flags["pad_bytes"] = int(value)
            elif name == "refuse" and value:
                flags["refuse"] = True
                flags["refuse_code"] = value[:64]
            elif value is None and name not in {"duration", "bytes"}:
                flags[name.replace("-", "_")] = True
        return cls(**flags)


@dataclass(frozen=True)
class FileInfo:
    """An uploaded file part as received; width/height/image_format when Pillow can read it."""

    filename: str | None
    content_type: str | None
    size: int
    width: int | None = None
    height: int | None = None
    image_format: str | None = None

    @classmethod
    def probe(cls, filename: str | None, content_type: str | None, data: bytes) -> FileInfo:
        """Describe an upload, decoding just its header to learn whether it is an image."""
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                image_format = image.format
        except (OSError, ValueError, Image.DecompressionBombError):
            return cls(filename, content_type, len(data))
        return cls(filename, content_type, len(data), width, height, image_format)


@dataclass(frozen=True)
class Upload:
    """A file part: what the log shows about it, and its bytes for the handlers."""

    info: FileInfo
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ImageInput:
    """An image a create named by URL (OpenRouter's `frame_images` and `input_references`).

    `role` is the frame type ("first_frame", "last_frame") or "reference"; `url` is kept for
    http(s) URLs (recorded, never fetched), `info` describes a decoded `data:` URL.
    """

    role: str
    url: str | None = None
    info: FileInfo | None = None


BodyKind = Literal["none", "json", "bad-json", "multipart", "form", "other"]


@dataclass
class RequestBody:
    """A request body parsed once, for the log and for the handlers alike."""

    kind: BodyKind = "none"
    json: Any = None
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        """The body's named values: a JSON object's members, or form fields and file parts."""
        if self.kind == "json":
            return dict(self.json) if isinstance(self.json, dict) else {}
        return {**self.fields, **self.files}


@dataclass
class RecordedRequest:
    """One request to /v1 as it arrived (the API key itself is never kept)."""

    method: str
    path: str
    route: str
    query: dict[str, str]
    headers: dict[str, str]
    authorized: bool
    content_type: str | None
    json_body: Any | None
    form: dict[str, str] | None
    files: dict[str, FileInfo]
    # The answer's status once sent; None while in flight or when the connection was dropped.
    status: int | None = None


CallbackOutcome = Literal["pending", "delivered", "failed", "dropped"]
"""A callback being sent, answered 2xx, given up after its tries, or never sent (dropped)."""


@dataclass
class Callback:
    """One callback (webhook) for a job that ended: exactly what was, or would have been, sent.

    `headers` and `body` are the bytes on the wire (signed as they are), so a test can verify
    them or post them again itself.
    """

    video_id: str
    # The event type: video.generation.completed (OpenRouter), video.completed (OpenAI)...
    event: str
    url: str
    headers: dict[str, str]
    body: bytes = field(repr=False)
    outcome: CallbackOutcome = "pending"
    attempts: int = 0
    # Per try: the receiver's HTTP status, or None when it could not be reached.
    statuses: list[int | None] = field(default_factory=list)
    error: str | None = None

    def payload(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready description (the body as text)."""
        return {
            "video_id": self.video_id,
            "event": self.event,
            "url": self.url,
            "headers": dict(self.headers),
            "body": self.body.decode(errors="replace"),
            "outcome": self.outcome,
            "attempts": self.attempts,
            "statuses": list(self.statuses),
            "error": self.error,
        }


@dataclass
class Stats:
    """Requests seen, per route and in order, how many jobs were started, callbacks sent."""

    requests: list[RecordedRequest] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    creates: int = 0
    # Every image URL a started job was given, in order: `input_reference: {"image_url": ...}`
    # and OpenRouter's http(s) `frame_images` / `input_references` (the fake fetches none).
    image_urls: list[str] = field(default_factory=list)
    # Every callback, in the order the jobs ended, whatever became of it.
    callbacks: list[Callback] = field(default_factory=list)

    def callbacks_for(self, video_id: str) -> list[Callback]:
        """The callbacks of one job."""
        return [callback for callback in self.callbacks if callback.video_id == video_id]

    def count(self, key: str) -> int:
        """Requests so far for a key like "GET /v1/videos/{video_id}/content"."""
        return self.counts[key]

    def record(self, request: RecordedRequest) -> None:
        """Log a request and count it under its route template."""
        self.requests.append(request)
        self.counts[f"{request.method} {request.route}"] += 1


@dataclass
class Job:
    """A video generation job; its state is a function of fake time, computed on demand."""

    id: str
    model: str
    prompt: str
    size: str
    seconds: float
    duration: float
    scenario: Scenario
    started: float
    created_at: int
    seq: int
    remixed_from: str | None = None
    reference: FileInfo | None = None
    # The URL of an `input_reference: {"image_url": ...}` (recorded, never fetched).
    reference_url: str | None = None
    # The video an extension continues (`remixed_from` is a remix's source).
    extended_from: str | None = None
    # OpenRouter's `previous_job_id`: the job this one continues.
    continued_from: str | None = None
    # Dollars the job is billed (OpenRouter's `usage.cost`, LiteLLM's response-cost header).
    cost: float | None = None
    # Where OpenRouter sends this job's callback (else the `webhook_url` setting).
    callback_url: str | None = None
    # Images named by URL (OpenRouter), and the other create options as sent.
    images: tuple[ImageInput, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    # The scheme://host:port the create came to: the base of the URLs the job's answers show.
    origin: str = ""
    # Fake monotonic time when the provider cancelled it (FakeVideosServer.cancel).
    cancelled_at: float | None = None

    def settles_at(self) -> float:
        """The fake time from which `at` shows the job's last phase (but for expiry): when it
        ends, or is lost. Cheap, for the callback loop's frequent looks."""
        span = self.duration
        if self.scenario.lost:
            natural = self.started + QUEUED_SHARE * span
        elif self.scenario.refuse:
            natural = self.started
        elif self.scenario.fail:
            natural = self.started + FAIL_AT_SHARE * span
        else:
            natural = self.started + span
        return natural if self.cancelled_at is None else min(natural, self.cancelled_at)

    def at(self, now: float, expire_after: float | None = None) -> JobView:
        """The job as it looks at fake monotonic time `now`.

        `expire_after`: seconds after completion when the content goes; None keeps it forever
        (while `expires_at` still shows OpenAI's one hour).
        """
        elapsed = max(0.0, now - self.started)
        span = self.duration
        if self.cancelled_at is not None and now >= self.cancelled_at:
            stopped = max(0.0, self.cancelled_at - self.started)
            progress = 100 * stopped / span if span else 0.0
            return JobView(self, "failed", progress, self.created_at + round(stopped), CANCELLATION)
        if self.scenario.lost and elapsed >= QUEUED_SHARE * span:
            return JobView(self, "lost", 0.0)
        if self.scenario.refuse:
            code = self.scenario.refuse_code
            refusal = REFUSAL if code is None else JobError(code, "The request was refused.")
            return JobView(self, "failed", 0.0, self.created_at, refusal)
        if self.scenario.fail and elapsed >= FAIL_AT_SHARE * span:
            failed_at = self.created_at + round(FAIL_AT_SHARE * span)
            return JobView(self, "failed", 100 * FAIL_AT_SHARE, failed_at, FAILURE)
        if elapsed >= span:
            finished_at = self.created_at + round(span)
            if expire_after is None:
                return JobView(self, "completed", 100.0, finished_at)
            expired = elapsed >= span + expire_after
            return JobView(self, "completed", 100.0, finished_at, None, expire_after, expired)
        if elapsed < QUEUED_SHARE * span:
            return JobView(self, "queued", 0.0)
        return JobView(self, "in_progress", 100 * elapsed / span)


@dataclass(frozen=True)
class JobView:
    """A job frozen at one instant: phase, progress (0..100) and outcome."""

    job: Job
    phase: Phase
    progress: float
    finished_at: int | None = None
    error: JobError | None = None
    # Seconds the content is kept after completion, and whether that time is up.
    lifetime: float = EXPIRY_SECONDS
    expired: bool = False

    @property
    def expires_at(self) -> int | None:
        """When the download expires; only completed videos have one."""
        if self.phase != "completed" or self.finished_at is None:
            return None
        return self.finished_at + math.ceil(self.lifetime)


class FakeState:
    """Jobs, the fake clock and the request statistics of one fake server."""

    def __init__(self, settings: FakeSettings | None = None) -> None:
        # The live settings whose `expire_after` decides when finished videos expire.
        self.settings = settings
        self.jobs: dict[str, Job] = {}
        self.stats = Stats()
        # Fake time = real monotonic time + offset, so jobs also progress while a user waits.
        self.offset = 0.0
        self._seq = itertools.count()
        # Jobs that have not ended yet as far as callbacks know, and who to nudge when that may
        # have changed (the clock moved, a job started or was cancelled).
        self.unsettled: dict[str, None] = {}
        self.listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        """Fake monotonic time, which drives job progress."""
        return time.monotonic() + self.offset

    def wall(self) -> int:
        """Fake Unix time, for the timestamps in video objects."""
        return int(time.time() + self.offset)

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def advance(self, seconds: float) -> None:
        """Move the fake clock forward."""
        if seconds < 0:
            raise ValueError("the fake clock only moves forward")
        self.offset += seconds
        self._changed()

    def restart(self) -> None:
        """Forget every job, as a server that keeps jobs in memory does when it restarts."""
        self.jobs.clear()
        self.unsettled.clear()

    def cancel(self, job_id: str) -> bool:
        """End a running job as cancelled by the provider; False if it is unknown or has ended."""
        job = self.jobs.get(job_id)
        if job is None:
            return False
        now = self.now()
        if job.at(now).phase in TERMINAL:
            return False
        job.cancelled_at = now
        self._changed()
        return True

    def forget(self, job_id: str) -> None:
        """Drop a job (a DELETE)."""
        self.jobs.pop(job_id, None)
        self.unsettled.pop(job_id, None)

    def add_job(
        self,
        job_id: str,
        *,
        model: str,
        prompt: str,
        size: str,
        seconds: float,
        default_duration: float,
        remixed_from: str | None = None,
        reference: FileInfo | None = None,
        reference_url: str | None = None,
        extended_from: str | None = None,
        continued_from: str | None = None,
        cost: float | None = None,
        callback_url: str | None = None,
        images: tuple[ImageInput, ...] = (),
        options: dict[str, Any] | None = None,
        origin: str = "",
    ) -> Job:
        """Register (and bill) a new job."""
        scenario = Scenario.from_prompt(prompt)
        duration = default_duration if scenario.duration is None else scenario.duration
        job = Job(
            id=job_id,
            model=model,
            prompt=prompt,
            size=size,
            seconds=seconds,
            duration=duration,
            scenario=scenario,
            started=self.now(),
            created_at=self.wall(),
            seq=next(self._seq),
            remixed_from=remixed_from,
            reference=reference,
            reference_url=reference_url,
            extended_from=extended_from,
            continued_from=continued_from,
            cost=cost,
            callback_url=callback_url,
            images=images,
            options=dict(options or {}),
            origin=origin,
        )
        self.jobs[job_id] = job
        self.unsettled[job_id] = None
        self._changed()
        self.stats.creates += 1
        if reference_url is not None:
            self.stats.image_urls.append(reference_url)
        self.stats.image_urls.extend(image.url for image in images if image.url is not None)
        return job

    @property
    def expire_after(self) -> float | None:
        """Seconds a finished video's content is kept (None: forever)."""
        return None if self.settings is None else self.settings.expire_after

    def find(self, job_id: str) -> JobView | None:
        """The job now, or None if it never existed, was deleted, or is lost."""
        job = self.jobs.get(job_id)
        if job is None:
            return None
        view = job.at(self.now(), self.expire_after)
        return None if view.phase == "lost" else view

    def visible(self) -> list[JobView]:
        """Every job a list call can see, oldest first."""
        now = self.now()
        expire_after = self.expire_after
        views = (job.at(now, expire_after) for job in self.jobs.values())
        return sorted((v for v in views if v.phase != "lost"), key=lambda v: v.job.seq)
