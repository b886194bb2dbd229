"""How each real server speaks the Videos protocol: OpenAI as the baseline, one subclass per peer.

Each subclass holds everything its server does differently (FIELD-NOTES sections 2, 6 and 7), so
"what does vLLM-Omni do on X" is answered by reading one class: its create rules, its video
object, its errors, its discovery endpoints (GET /v1/models, LiteLLM's /model_group/info,
OpenRouter's /api/v1/videos/models) and the callbacks it sends when a job ends. OpenRouter, the
one peer that does not speak the OpenAI protocol, is the last class. The handlers in app.py stay
generic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal
from urllib.parse import quote, urlsplit

from aiohttp import web
from standardwebhooks import Webhook

from .media import Variant
from .settings import Dialect, FakeSettings, OpenRouterModel
from .state import (
    BodyKind,
    FileInfo,
    ImageInput,
    JobError,
    JobView,
    Phase,
    RequestBody,
    Upload,
)

Endpoint = Literal[
    "create",
    "list",
    "retrieve",
    "delete",
    "content",
    "remix",
    "extensions",
    # Discovery: GET /v1/models, LiteLLM's GET /model_group/info, OpenRouter's video models.
    "models",
    "model_groups",
    "video_models",
]
DISCOVERY: Final[frozenset[Endpoint]] = frozenset({"models", "model_groups", "video_models"})

OPENAI_MODELS: Final = (
    "sora-2",
    "sora-2-pro",
    "sora-2-2025-10-06",
    "sora-2-pro-2025-10-06",
    "sora-2-2025-12-08",
)
OPENAI_SIZES: Final = ("720x1280", "1280x720", "1024x1792", "1792x1024")
SORA_2_SIZES: Final = ("720x1280", "1280x720")
OPENAI_SECONDS: Final = ("4", "8", "12")
# The spec's description allows longer extension segments than its create enum.
EXTENSION_SECONDS: Final = ("4", "8", "12", "16", "20")
CREATE_FIELDS: Final = frozenset({"model", "prompt", "input_reference", "seconds", "size"})
REFERENCE_FORMATS: Final = frozenset({"JPEG", "PNG", "WEBP"})
PROMPT_MAX: Final = 32000
DEFAULT_MODEL: Final = "sora-2"
DEFAULT_SIZE: Final = "720x1280"
DEFAULT_SECONDS: Final = "4"
_SIZE_PATTERN: Final = re.compile(r"^[1-9][0-9]*x[1-9][0-9]*$")
_VARIANTS: Final[Mapping[str, Variant]] = {
    "video": "video",
    "thumbnail": "thumbnail",
    "spritesheet": "spritesheet",
}


@dataclass(frozen=True)
class CreateRequest:
    """A create that passed validation."""

    model: str
    prompt: str
    size: str
    seconds: float
    reference: FileInfo | None = None
    # `input_reference: {"image_url": ...}`: recorded on the job, never fetched.
    reference_url: str | None = None
    # Dollars the job will be billed, for the dialects that say (OpenRouter, LiteLLM).
    cost: float | None = None
    # OpenRouter: `previous_job_id`, `callback_url`, the images named by URL, other options.
    continues: str | None = None
    callback_url: str | None = None
    images: tuple[ImageInput, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutgoingCallback:
    """A callback a dialect sends when a job ends: where to, and the exact bytes."""

    event: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class ExtendRequest:
    """An extension that passed validation: which video, and how many seconds to add."""

    source_id: str
    prompt: str
    seconds: float


@dataclass(frozen=True)
class Problem:
    """A rejected parameter, before a dialect words the answer in its own style."""

    param: str | None
    message: str
    code: str | None = "invalid_value"
    # Pydantic's error type, for the FastAPI-based servers that answer 422 lists.
    kind: str = "value_error"
    # Not a validation answer but a server that breaks on the request (LiteLLM's 500s).
    status: int = 400


def _quoted_list(values: tuple[str, ...]) -> str:
    """'a', 'b', and 'c' -- the way OpenAI lists allowed values."""
    quoted = [f"'{value}'" for value in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def _check_prompt(value: Any, param: str = "prompt") -> str | Problem:
    """The spec's rule for prompts: a string of 1..32000 characters once stripped."""
    if value is None:
        return Problem(
            param,
            f"Missing required parameter: '{param}'.",
            "missing_required_parameter",
            "missing",
        )
    if not isinstance(value, str):
        return Problem(
            param, f"Invalid type for '{param}': expected a string.", "invalid_type", "string_type"
        )
    if not value.strip():
        return Problem(
            param,
            f"Invalid '{param}': empty string. Expected a string with minimum length 1.",
            "empty_string",
            "string_too_short",
        )
    if len(value) > PROMPT_MAX:
        return Problem(
            param,
            f"Invalid '{param}': string too long. Expected a string with maximum "
            f"length {PROMPT_MAX}, but got a string with length {len(value)} instead.",
            "string_above_max_length",
            "string_too_long",
        )
    return value


def _check_enum(value: Any, param: str, allowed: tuple[str, ...]) -> str | Problem:
    """A string-enum parameter as OpenAI checks it: wrong JSON type first, then the value."""
    if isinstance(value, bool) or not isinstance(value, str):
        got = "an integer" if isinstance(value, int) and not isinstance(value, bool) else "a value"
        return Problem(
            param,
            f"Invalid type for '{param}': expected one of "
            f"{_quoted_list(allowed)}, but got {got} instead.",
            "invalid_type",
        )
    if value not in allowed:
        return Problem(
            param, f"Invalid value: '{value}'. Supported values are: {_quoted_list(allowed)}."
        )
    return value


def _check_image(upload: Upload, param: str) -> FileInfo | Problem:
    """An uploaded reference must be a JPEG, PNG or WebP that Pillow can read."""
    info = upload.info
    if info.image_format not in REFERENCE_FORMATS:
        return Problem(
            param,
            f"Invalid file '{param}': unsupported mimetype "
            f"('{info.content_type}'). Supported file formats are 'image/jpeg', "
            "'image/png', and 'image/webp'.",
            "unsupported_file",
        )
    return info


def _check_image_ref(value: Any, param: str) -> dict[str, str] | Problem:
    """A JSON reference object: exactly one of image_url or file_id, as strings.

    An `image_url` must be an http(s) URL, or the base64 `data:image/...` URL the spec also
    allows; the fake fetches none of them.
    """
    if not isinstance(value, dict) or set(value) - {"image_url", "file_id"}:
        return Problem(
            param,
            f"Invalid '{param}': expected an object with 'image_url' or 'file_id'.",
            "invalid_type",
        )
    if len(value) != 1 or not all(isinstance(v, str) and v for v in value.values()):
        return Problem(
            param, f"Invalid '{param}': provide exactly one of 'image_url' or 'file_id'."
        )
    url = value.get("image_url")
    if url is not None and not _fetchable_url(url):
        return Problem(
            f"{param}.image_url",
            f"Invalid '{param}.image_url': expected an http or https URL "
            "(or a base64-encoded data URL).",
            "invalid_url",
        )
    return dict(value)


def _fetchable_url(url: str) -> bool:
    """http(s) with a host, or a `data:image/...;base64,` URL; nothing else (file:, ftp:...)."""
    if url.startswith("data:"):
        header, comma, data = url.partition(",")
        return bool(comma and data) and header.startswith("data:image/") and "base64" in header
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and url.isprintable()


def _reference_url(raw: Any, param: str = "input_reference") -> str | Problem | None:
    """The image URL of a JSON reference (a JSON text part in multipart), None for a file_id."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    checked = _check_image_ref(raw, param)
    if isinstance(checked, Problem):
        return checked
    return checked.get("image_url")


def _first_unknown(params: Mapping[str, Any], known: frozenset[str]) -> str | None:
    unknown = sorted(set(params) - known)
    return unknown[0] if unknown else None


def _openai_create(
    body: RequestBody,
    *,
    models: tuple[str, ...] = OPENAI_MODELS,
    seconds: tuple[str, ...] = OPENAI_SECONDS,
    sizes: tuple[str, ...] = OPENAI_SIZES,
) -> CreateRequest | Problem:
    """Validate a create exactly as strictly as the OpenAI spec and service do (with other
    allowed values for a non-OpenAI model behind an OpenAI-style proxy)."""
    if body.kind not in {"json", "multipart"}:
        return _unreadable_body(body.kind)
    if body.kind == "json" and not isinstance(body.json, dict):
        return Problem(None, "Invalid body: expected a JSON object.", "invalid_type")
    params = body.params()
    unknown = _first_unknown(params, CREATE_FIELDS)
    if unknown is not None:
        return Problem(
            unknown, f"Unknown parameter: '{unknown}'.", "unknown_parameter", "extra_forbidden"
        )
    prompt = _check_prompt(params.get("prompt"))
    if isinstance(prompt, Problem):
        return prompt
    model = _check_enum(params.get("model", DEFAULT_MODEL), "model", models)
    if isinstance(model, Problem):
        return model
    length = _check_enum(params.get("seconds", seconds[0]), "seconds", seconds)
    if isinstance(length, Problem):
        return length
    size = _check_enum(params.get("size", DEFAULT_SIZE), "size", sizes)
    if isinstance(size, Problem):
        return size
    if model.startswith("sora-2") and "-pro" not in model and size not in SORA_2_SIZES:
        return Problem(
            "size",
            f"Invalid value: '{size}'. Supported values for {model} are: "
            f"{_quoted_list(SORA_2_SIZES)}.",
        )
    reference: FileInfo | None = None
    reference_url: str | None = None
    raw_reference = params.get("input_reference")
    if isinstance(raw_reference, Upload):
        checked_image = _check_image(raw_reference, "input_reference")
        if isinstance(checked_image, Problem):
            return checked_image
        width, height = (int(n) for n in size.split("x"))
        if (checked_image.width, checked_image.height) != (width, height):
            return Problem(
                "input_reference", "Inpaint image must match the requested width and height", None
            )
        reference = checked_image
    elif raw_reference is not None:
        # JSON's {image_url} or {file_id}; in multipart the object arrives as a JSON text part.
        checked_url = _reference_url(raw_reference)
        if isinstance(checked_url, Problem):
            return checked_url
        reference_url = checked_url
    return CreateRequest(model, prompt, size, float(length), reference, reference_url)


def _unreadable_body(kind: BodyKind) -> Problem:
    if kind == "bad-json":
        return Problem(
            None,
            "We could not parse the JSON body of your request. (HINT: This "
            "likely means you aren't using your HTTP library correctly.)",
            None,
            "json_invalid",
        )
    if kind == "none":
        return Problem(
            "prompt",
            "Missing required parameter: 'prompt'.",
            "missing_required_parameter",
            "missing",
        )
    received = "application/x-www-form-urlencoded" if kind == "form" else "this body"
    # aiohttp's FormData sends url-encoding unless a file is attached or multipart is forced.
    return Problem(
        None,
        f"Unsupported content type ({received}): send application/json or multipart/form-data.",
        None,
        "model_attributes_type",
    )


def _lenient_number(value: Any, param: str, *, integral: bool) -> float | Problem:
    """Seconds as int, float or numeric string, as the self-hosted servers coerce them."""
    if isinstance(value, bool):
        return Problem(param, f"Input should be a valid number: {param}", kind="float_type")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return Problem(param, f"Input should be a valid number: {param}", kind="float_parsing")
    if number <= 0 or (integral and not number.is_integer()):
        return Problem(param, f"Invalid {param}: {value!r}", kind="value_error")
    return number


def _lenient_create(
    body: RequestBody, *, default_model: str, integral_seconds: bool
) -> CreateRequest | Problem:
    """The self-hosted servers' create: any WxH size, seconds coerced, extra fields ignored."""
    if body.kind not in {"json", "multipart", "form"}:
        return _unreadable_body(body.kind)
    params = body.params()
    prompt = _check_prompt(params.get("prompt"))
    if isinstance(prompt, Problem):
        return prompt
    model = params.get("model", default_model)
    if not isinstance(model, str) or not model:
        return Problem("model", "Input should be a valid string: model", kind="string_type")
    size = params.get("size", DEFAULT_SIZE)
    if not isinstance(size, str) or not _SIZE_PATTERN.match(size):
        return Problem("size", f"Invalid size {size!r}: expected WIDTHxHEIGHT")
    seconds = _lenient_number(
        params.get("seconds", DEFAULT_SECONDS), "seconds", integral=integral_seconds
    )
    if isinstance(seconds, Problem):
        return seconds
    reference: FileInfo | None = None
    reference_url: str | None = None
    raw_reference = params.get("input_reference")
    if isinstance(raw_reference, Upload):
        # These servers resize the image themselves: any readable image will do.
        checked = _check_image(raw_reference, "input_reference")
        if isinstance(checked, Problem):
            return checked
        reference = checked
    elif raw_reference is not None:
        # Those that take JSON fetch an `image_url` themselves (the fake only records it).
        checked_url = _reference_url(raw_reference)
        if isinstance(checked_url, Problem):
            return checked_url
        reference_url = checked_url
    return CreateRequest(model, prompt, size, seconds, reference, reference_url)


def _detail(status: int, detail: Any) -> web.Response:
    """FastAPI's error shape."""
    return web.json_response({"detail": detail}, status=status)


def _seconds_text(seconds: float) -> str:
    return f"{seconds:g}"


def _dollars(price: Decimal, seconds: float) -> float:
    """A price per second times a length, as the float a JSON answer carries."""
    return float(price * Decimal(str(seconds)))


def _unix(day: str) -> int:
    """Midnight UTC of an ISO date, as Unix time."""
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


class OpenAIDialect:
    """The protocol as OpenAI served it; the other dialects override what their server changes."""

    name: ClassVar[Dialect] = "openai"
    authenticates: ClassVar[bool] = True
    create_status: ClassVar[int] = 200
    statuses: ClassVar[Mapping[Phase, str]] = {
        "queued": "queued",
        "in_progress": "in_progress",
        "completed": "completed",
        "failed": "failed",
        # Only a create response can see it (a `[lost]` job with zero duration).
        "lost": "queued",
    }
    # Optional endpoints this server lacks, and the status it answers them with: the switch
    # that turns remix, extensions, delete or list off per dialect (FIELD-NOTES 2.12, 6).
    unsupported: ClassVar[Mapping[Endpoint, int]] = {}
    content_not_ready_status: ClassVar[int] = 404
    content_failed_status: ClassVar[int] = 422
    # Content whose `expire_after` has passed.
    content_expired_status: ClassVar[int] = 410
    # Whether a bad `variant` is refused before the video is looked up (a declared query
    # parameter), so a missing video with variant=thumbnail already shows what is served.
    variant_checked_first: ClassVar[bool] = True
    # Where the API lives on the server: a client's base URL is http://host:port + this.
    base_path: ClassVar[str] = "/v1"
    # The discovery endpoints this server has, and those it serves without a key.
    discovery: ClassVar[frozenset[Endpoint]] = frozenset({"models"})
    public: ClassVar[frozenset[Endpoint]] = frozenset()

    # --- identity -------------------------------------------------------------------------
    def new_id(self) -> str:
        """A fresh video id in this server's shape."""
        return f"video_{secrets.token_hex(24)}"

    # --- errors ---------------------------------------------------------------------------
    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str | None = None,
    ) -> web.Response:
        """An error response in this server's envelope."""
        default_type = "server_error" if status >= 500 else "invalid_request_error"
        envelope = {"message": message, "type": type_ or default_type, "param": param, "code": code}
        return web.json_response({"error": envelope}, status=status)

    def reject(self, problem: Problem) -> web.Response:
        """A request that failed validation."""
        return self.error(problem.status, problem.message, param=problem.param, code=problem.code)

    def supports(self, endpoint: Endpoint) -> bool:
        """Whether this server has an (optional) endpoint at all."""
        return endpoint not in self.unsupported

    def unauthorized(self) -> web.Response:
        """A missing or wrong API key."""
        return self.error(401, "Incorrect API key provided", code="invalid_api_key")

    def not_found(self, video_id: str) -> web.Response:
        """An unknown, deleted or lost video."""
        return self.error(
            404, f"Video with id '{video_id}' not found.", param="video_id", code="video_not_found"
        )

    def route_missing(self, method: str, path: str) -> web.Response:
        """An endpoint this server does not have."""
        return self.error(404, f"Invalid URL ({method} {path})")

    def method_not_allowed(self, method: str, path: str) -> web.Response:
        """A path this server has, but not for this method."""
        return self.error(405, f"Method {method} not allowed for {path}")

    def unsupported_response(self, endpoint: Endpoint, method: str, path: str) -> web.Response:
        """The answer to an optional endpoint this server lacks (or that is disabled)."""
        if self.unsupported.get(endpoint) == 405:
            return self.method_not_allowed(method, path)
        return self.route_missing(method, path)

    # --- create ---------------------------------------------------------------------------
    def parse_create(self, body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
        """Validate a create request."""
        return _openai_create(body)

    def created(self, view: JobView) -> web.Response:
        """The answer to a create, remix or extension."""
        return web.json_response(self.render(view), status=self.create_status)

    def parse_remix(self, body: RequestBody) -> str | Problem:
        """Validate a remix request; returns the new prompt."""
        if body.kind not in {"json", "multipart"}:
            return _unreadable_body(body.kind)
        params = body.params()
        unknown = _first_unknown(params, frozenset({"prompt"}))
        if unknown is not None:
            return Problem(unknown, f"Unknown parameter: '{unknown}'.", "unknown_parameter")
        return _check_prompt(params.get("prompt"))

    def parse_extension(self, body: RequestBody) -> ExtendRequest | Problem:
        """Validate an extension request: {video: {id}, prompt, seconds}."""
        if body.kind not in {"json", "multipart"}:
            return _unreadable_body(body.kind)
        params = body.params()
        video: Any = params.pop("video", None)
        if "video[id]" in params:
            # How multipart encoders flatten a nested object.
            video = {"id": params.pop("video[id]")}
        elif isinstance(video, str):
            try:
                video = json.loads(video)
            except ValueError:
                video = None
        unknown = _first_unknown(params, frozenset({"prompt", "seconds"}))
        if unknown is not None:
            return Problem(unknown, f"Unknown parameter: '{unknown}'.", "unknown_parameter")
        if not isinstance(video, dict) or not isinstance(video.get("id"), str):
            return Problem(
                "video",
                "Missing required parameter: 'video.id'.",
                "missing_required_parameter",
                "missing",
            )
        prompt = _check_prompt(params.get("prompt"))
        if isinstance(prompt, Problem):
            return prompt
        if "seconds" not in params:
            return Problem(
                "seconds",
                "Missing required parameter: 'seconds'.",
                "missing_required_parameter",
                "missing",
            )
        seconds = _check_enum(params["seconds"], "seconds", EXTENSION_SECONDS)
        if isinstance(seconds, Problem):
            return seconds
        return ExtendRequest(video["id"], prompt, float(seconds))

    def continuation_refused(
        self, source: JobView | None, parsed: CreateRequest
    ) -> web.Response | None:
        """Why a create cannot continue `parsed.continues` (an error response), or None."""
        if source is None:
            return self.error(404, f"Job '{parsed.continues}' not found.")
        if source.job.model != parsed.model:
            return self.error(
                400,
                f"Job '{source.job.id}' was made with {source.job.model}; it can only be "
                f"continued with the same model, not {parsed.model}.",
            )
        if source.phase != "completed" or source.expired:
            return self.error(
                409,
                f"Job '{source.job.id}' is {self.status(source)}; only a completed job can be "
                "continued.",
            )
        return None

    # --- the video object -----------------------------------------------------------------
    def status(self, view: JobView) -> str:
        """The job's status in this server's words."""
        return self.statuses[view.phase]

    def render(self, view: JobView) -> dict[str, Any]:
        """The video object as this server shows it."""
        job = view.job
        body: dict[str, Any] = {
            "id": job.id,
            "object": "video",
            "model": job.model,
            "status": self.status(view),
            "progress": self.progress(view),
            "created_at": job.created_at,
            "completed_at": view.finished_at,
            "expires_at": view.expires_at,
            "prompt": job.prompt,
            "size": job.size,
            "seconds": self.seconds(job.seconds),
            "remixed_from_video_id": job.remixed_from,
            "error": None if view.error is None else self.job_error(view.error),
            "quality": "standard",
        }
        return body

    def progress(self, view: JobView) -> int | None:
        """Progress as an int percentage."""
        return 100 if view.phase == "completed" else min(99, int(view.progress))

    def seconds(self, seconds: float) -> Any:
        """`seconds` as this server types it (a string here)."""
        return _seconds_text(seconds)

    def job_error(self, error: JobError) -> Any:
        """A failed job's `error` field."""
        return {"code": error.code, "message": error.message}

    def retrieve(self, view: JobView) -> web.Response:
        """The answer to GET /videos/{video_id}; failures are HTTP 200 with status failed here."""
        return web.json_response(self.render(view))

    # --- content --------------------------------------------------------------------------
    def pick_variant(self, query: Mapping[str, str]) -> Variant | web.Response:
        """Which asset a content request's query asks for, or the error for a bad one."""
        return self.variant(query.get("variant"))

    def variant(self, raw: str | None) -> Variant | web.Response:
        """Which asset a content request wants, or the error for a bad `variant`."""
        variant = _VARIANTS.get(raw or "video")
        if variant is not None:
            return variant
        return self.reject(
            Problem(
                "variant",
                f"Invalid value: '{raw}'. Supported values are: "
                "'video', 'thumbnail', and 'spritesheet'.",
            )
        )

    def content_expired(self, view: JobView) -> web.Response:
        """Content asked for after `expires_at`."""
        return self.error(
            self.content_expired_status,
            f"Video with id '{view.job.id}' has expired; its content is no longer available.",
            param="video_id",
            code="video_expired",
        )

    def source_unusable(self, view: JobView, action: str) -> web.Response:
        """A remix or extension of a video that is not completed, or has expired."""
        if view.phase == "completed" and view.expired:
            return self.error(
                400,
                f"Video with id '{view.job.id}' has expired; it can no longer be {action}.",
                param="video_id",
                code="video_expired",
            )
        return self.error(
            400,
            f"Only completed videos can be {action}; video '{view.job.id}' is "
            f"{self.statuses[view.phase]}.",
            param="video_id",
            code="invalid_state",
        )

    def content_unavailable(self, view: JobView) -> web.Response:
        """Content asked for before completion, or of a failed job."""
        if view.phase == "failed":
            return self.error(
                self.content_failed_status,
                "Video generation failed; there is no content to download.",
                code="video_failed",
            )
        return self.error(
            self.content_not_ready_status,
            "Video is not ready yet; wait until its status is completed.",
            code="video_not_ready",
        )

    # --- discovery ------------------------------------------------------------------------
    def models(self, settings: FakeSettings, query: Mapping[str, str]) -> web.Response:
        """GET /v1/models: OpenAI's list has only id, object, created and owned_by."""
        data = [
            {"id": model, "object": "model", "created": _unix("2025-10-06"), "owned_by": "system"}
            for model in OPENAI_MODELS
        ]
        return web.json_response({"object": "list", "data": data})

    def model_groups(self, settings: FakeSettings) -> web.Response:
        """LiteLLM's GET /model_group/info (only the dialects with it in `discovery`)."""
        return self.route_missing("GET", "/model_group/info")

    def video_models(self, settings: FakeSettings) -> web.Response:
        """OpenRouter's GET /api/v1/videos/models (only the dialects with it in `discovery`)."""
        return self.route_missing("GET", f"{self.base_path}/videos/models")

    # --- callbacks --------------------------------------------------------------------------
    def callback(
        self, view: JobView, settings: FakeSettings, *, created_at: int, timestamp: int
    ) -> OutgoingCallback | None:
        """OpenAI's webhook event for a job that ended, Standard-Webhooks signed; None when
        no `webhook_url` is set. `timestamp` (real Unix time) is the one signed.

        Raises ValueError when `webhook_secret` is not a "whsec_<base64>" secret.
        """
        if settings.webhook_url is None:
            return None
        event_id = f"evt_{secrets.token_hex(16)}"
        event = "video.completed" if view.phase == "completed" else "video.failed"
        body = json.dumps(
            {
                "id": event_id,
                "object": "event",
                "created_at": created_at,
                "type": event,
                "data": {"id": view.job.id},
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
        }
        if settings.webhook_secret is not None:
            try:
                signer = Webhook(settings.webhook_secret)
            except (binascii.Error, ValueError, RuntimeError) as exc:
                raise ValueError(f"webhook_secret is not a whsec_ secret: {exc}") from exc
            headers["webhook-signature"] = signer.sign(
                event_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode()
            )
        return OutgoingCallback(event, settings.webhook_url, headers, body)


@dataclass(frozen=True)
class LiteLLMGroup:
    """A model group of the fake LiteLLM proxy: its provider, price and upstream rules."""

    name: str
    provider: str
    cost_per_second: Decimal
    seconds: tuple[str, ...]
    sizes: tuple[str, ...]
    deprecation_date: str | None = None
    successor_model: str | None = None
    # The provider has removed the model: creates come back as the upstream's 404.
    retired: bool = False

    def info(self) -> dict[str, Any]:
        """The group as /model_group/info shows it."""
        info: dict[str, Any] = {
            "model_group": self.name,
            "providers": [self.provider],
            "max_input_tokens": None,
            "max_output_tokens": None,
            "input_cost_per_token": None,
            "output_cost_per_token": None,
            "output_cost_per_second": float(self.cost_per_second),
            "mode": "video_generation",
            "tpm": None,
            "rpm": None,
            "supports_vision": False,
            "supports_function_calling": False,
            "supported_openai_params": ["model", "prompt", "seconds", "size", "input_reference"],
        }
        if self.deprecation_date is not None:
            info["deprecation_date"] = self.deprecation_date
        if self.successor_model is not None:
            info["successor_model"] = self.successor_model
        return info


VEO_SECONDS: Final = ("4", "6", "8")
VEO_SIZES: Final = ("1280x720", "720x1280", "1920x1080", "1080x1920")
LITELLM_GROUPS: Final[Mapping[str, LiteLLMGroup]] = {
    group.name: group
    for group in (
        LiteLLMGroup("sora-2", "openai", Decimal("0.10"), OPENAI_SECONDS, SORA_2_SIZES),
        LiteLLMGroup("sora-2-pro", "openai", Decimal("0.30"), OPENAI_SECONDS, OPENAI_SIZES),
        LiteLLMGroup("veo-3.1", "gemini", Decimal("0.40"), VEO_SECONDS, VEO_SIZES),
        # Google retired the preview on 2026-10-22 (FIELD-NOTES 7): still listed, never served.
        LiteLLMGroup(
            "veo-3.1-preview",
            "gemini",
            Decimal("0.40"),
            VEO_SECONDS,
            VEO_SIZES,
            deprecation_date="2026-10-22",
            successor_model="veo-3.1",
            retired=True,
        ),
    )
}
LITELLM_COST_HEADER: Final = "x-litellm-response-cost"


class LiteLLMDialect(OpenAIDialect):
    """LiteLLM proxy: long base64 ids, `variant` dropped, job failures as gateway 500s, model
    groups (OpenAI's and Gemini's Veo) with prices and retirements, the billed cost in a header."""

    name: ClassVar[Dialect] = "litellm"
    content_failed_status: ClassVar[int] = 500
    # Serves create, list, retrieve, content, remix and extensions, but no DELETE: FastAPI
    # answers 405 since GET /videos/{video_id} exists (FIELD-NOTES 6).
    unsupported: ClassVar[Mapping[Endpoint, int]] = {"delete": 405}
    discovery: ClassVar[frozenset[Endpoint]] = frozenset({"models", "model_groups"})

    def route_missing(self, method: str, path: str) -> web.Response:
        """FastAPI's default 404 (the proxy is a FastAPI app)."""
        return _detail(404, "Not Found")

    def method_not_allowed(self, method: str, path: str) -> web.Response:
        """FastAPI's default 405."""
        return _detail(405, "Method Not Allowed")

    def parse_create(self, body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
        """As strict as the upstream (OpenAI's rules, or Veo's seconds and sizes), but a JSON
        `input_reference` object breaks the proxy (FIELD-NOTES 2.1): only a multipart file part
        gets through. A retired group's create comes back as the upstream's 404."""
        params = body.params()
        reference = params.get("input_reference")
        if reference is not None and not isinstance(reference, Upload):
            return Problem(
                "input_reference",
                "litellm.InternalServerError: could not forward input_reference: "
                "expected an uploaded file",
                "500",
                status=500,
            )
        group = LITELLM_GROUPS.get(params.get("model", DEFAULT_MODEL))
        if group is not None and group.retired:
            return Problem(
                "model",
                f"litellm.NotFoundError: GeminiException - models/{group.name}-generate is not "
                "found for API version v1beta, or is not supported for predictLongRunning.",
                "404",
                status=404,
            )
        if group is not None and group.provider != "openai":
            created = _openai_create(
                body, models=(group.name,), seconds=group.seconds, sizes=group.sizes
            )
        else:
            created = super().parse_create(body, settings)
        if isinstance(created, Problem):
            return created
        if group is None:  # a dated OpenAI snapshot: priced as its family
            group = LITELLM_GROUPS["sora-2-pro" if "-pro" in created.model else "sora-2"]
        cost = _dollars(group.cost_per_second, created.seconds)
        return CreateRequest(
            created.model,
            created.prompt,
            created.size,
            created.seconds,
            created.reference,
            created.reference_url,
            cost=cost,
        )

    def reject(self, problem: Problem) -> web.Response:
        """Validation answers come from the upstream; the proxy's own failures are 500s and an
        upstream's missing model its 404."""
        if problem.status >= 500 or problem.status == 404:
            envelope = {
                "message": problem.message,
                "type": "None",
                "param": None,
                "code": str(problem.status),
            }
            return web.json_response({"error": envelope}, status=problem.status)
        return super().reject(problem)

    def created(self, view: JobView) -> web.Response:
        """The proxy bills at create and says so in a header."""
        return _with_cost(super().created(view), view)

    def models(self, settings: FakeSettings, query: Mapping[str, str]) -> web.Response:
        """The model groups, OpenAI-style; `?include_metadata=true` adds each group's info."""
        with_metadata = query.get("include_metadata", "").lower() == "true"
        data: list[dict[str, Any]] = []
        for group in LITELLM_GROUPS.values():
            entry: dict[str, Any] = {
                "id": group.name,
                "object": "model",
                "created": 1_677_610_602,
                "owned_by": "openai",
            }
            if with_metadata:
                entry["metadata"] = group.info()
            data.append(entry)
        return web.json_response({"object": "list", "data": data})

    def model_groups(self, settings: FakeSettings) -> web.Response:
        """GET /model_group/info: mode, providers, price per second, retirements."""
        return web.json_response({"data": [group.info() for group in LITELLM_GROUPS.values()]})

    def new_id(self) -> str:
        """LiteLLM packs provider and upstream id into ~230 base64 characters."""
        raw = (
            f"litellm:custom_llm_provider:openai;model_id:{uuid.uuid4()};"
            f"video_id:video_{secrets.token_hex(24)};target_model_names:sora-2"
        )
        return "video_" + base64.urlsafe_b64encode(raw.encode()).decode()

    def unauthorized(self) -> web.Response:
        """LiteLLM's own auth error (still 401)."""
        envelope = {
            "message": "Authentication Error, Invalid proxy server token passed. "
            "Received API Key = sk-...",
            "type": "auth_error",
            "param": "None",
            "code": "401",
        }
        return web.json_response({"error": envelope}, status=401)

    def retrieve(self, view: JobView) -> web.Response:
        """A failed upstream job comes back as an InternalServerError, not a failed object."""
        if view.phase == "failed" and view.error is not None:
            envelope = {
                "message": "litellm.InternalServerError: video generation failed: "
                f"{view.error.message}",
                "type": "None",
                "param": None,
                "code": "500",
            }
            return web.json_response({"error": envelope}, status=500)
        response = super().retrieve(view)
        return _with_cost(response, view) if view.phase == "completed" else response

    def variant(self, raw: str | None) -> Variant | web.Response:
        """LiteLLM does not forward `variant`: every content request gets the MP4."""
        return "video"


def _with_cost(response: web.Response, view: JobView) -> web.Response:
    """LiteLLM's `x-litellm-response-cost` header: the job's billed dollars."""
    if view.job.cost is not None:
        response.headers[LITELLM_COST_HEADER] = repr(view.job.cost)
    return response


class SGLangDialect(OpenAIDialect):
    """SGLang Diffusion: lenient create, int seconds, progress 0 until done, no list, no auth."""

    name: ClassVar[Dialect] = "sglang"
    authenticates: ClassVar[bool] = False
    unsupported: ClassVar[Mapping[Endpoint, int]] = {"list": 405, "remix": 404, "extensions": 404}
    # The fake keeps the answer it always gave: no /v1/models.
    discovery: ClassVar[frozenset[Endpoint]] = frozenset()
    content_not_ready_status: ClassVar[int] = 400
    content_expired_status: ClassVar[int] = 404
    # `variant` is an index into the video's outputs: it needs the video first.
    variant_checked_first: ClassVar[bool] = False

    def new_id(self) -> str:
        """A bare UUID."""
        return str(uuid.uuid4())

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str | None = None,
    ) -> web.Response:
        """`{"detail": "..."}`, FastAPI's HTTPException shape."""
        return _detail(status, message)

    def not_found(self, video_id: str) -> web.Response:
        """FastAPI-style not found."""
        return _detail(404, f"Video {video_id} not found")

    def route_missing(self, method: str, path: str) -> web.Response:
        """Starlette's default 404."""
        return _detail(404, "Not Found")

    def method_not_allowed(self, method: str, path: str) -> web.Response:
        """Starlette's default 405 (the path exists for POST only)."""
        return _detail(405, "Method Not Allowed")

    def parse_create(self, body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
        """Any WxH size, seconds as int or string, unknown fields ignored."""
        return _lenient_create(body, default_model=settings.served_model, integral_seconds=True)

    def progress(self, view: JobView) -> int | None:
        """Stuck at 0 until the video is done."""
        return 100 if view.phase == "completed" else 0

    def seconds(self, seconds: float) -> Any:
        """An int."""
        return round(seconds)

    def variant(self, raw: str | None) -> Variant | web.Response:
        """SGLang reads `variant` as an output index, so `variant=video` is a 404."""
        if raw is None or raw == "0":
            return "video"
        return _detail(404, f"Output {raw!r} not found for this video")


class VllmOmniDialect(OpenAIDialect):
    """vLLM-Omni: multipart only, one served model, `processing`, failures as HTTP 500 objects."""

    name: ClassVar[Dialect] = "vllm_omni"
    statuses: ClassVar[Mapping[Phase, str]] = {
        **OpenAIDialect.statuses,
        "in_progress": "processing",
    }
    unsupported: ClassVar[Mapping[Endpoint, int]] = {"list": 404, "remix": 404, "extensions": 404}
    # The fake keeps the answer it always gave: no /v1/models.
    discovery: ClassVar[frozenset[Endpoint]] = frozenset()
    content_not_ready_status: ClassVar[int] = 400
    content_failed_status: ClassVar[int] = 500
    content_expired_status: ClassVar[int] = 404
    _ERROR_TYPES: ClassVar[Mapping[int, str]] = {
        400: "BadRequestError",
        404: "NotFoundError",
        429: "RateLimitError",
    }

    def new_id(self) -> str:
        """vLLM's `video-<uuid hex>`."""
        return f"video-{uuid.uuid4().hex}"

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str | None = None,
    ) -> web.Response:
        """vLLM's ErrorResponse: the HTTP status as an int `code`."""
        default_type = self._ERROR_TYPES.get(status, "InternalServerError")
        envelope = {
            "message": message,
            "type": type_ or default_type,
            "param": param,
            "code": status,
        }
        return web.json_response({"error": envelope}, status=status)

    def unauthorized(self) -> web.Response:
        """vLLM's API-key middleware answer."""
        return web.json_response({"error": "Unauthorized"}, status=401)

    def route_missing(self, method: str, path: str) -> web.Response:
        """Starlette's default 404."""
        return _detail(404, "Not Found")

    def parse_create(self, body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
        """Multipart only; `model`, when sent, must name the one model served."""
        if body.kind in {"json", "bad-json"}:
            return Problem(None, "Video generation requests must be multipart/form-data.", None)
        created = _lenient_create(body, default_model=settings.served_model, integral_seconds=True)
        if isinstance(created, CreateRequest) and created.model != settings.served_model:
            return Problem(
                "model", f"The model `{created.model}` does not exist.", "model_not_found"
            )
        return created

    # progress: the baseline's int, capped at 99 until the status is completed.

    def job_error(self, error: JobError) -> Any:
        """A bare string."""
        return error.message

    def retrieve(self, view: JobView) -> web.Response:
        """A failed job answers HTTP 500 whose body is still the (failed) video object."""
        return web.json_response(self.render(view), status=500 if view.phase == "failed" else 200)

    def variant(self, raw: str | None) -> Variant | web.Response:
        """Only the video itself is served."""
        if raw is None or raw == "video":
            return "video"
        return self.reject(Problem("variant", f"Unsupported variant '{raw}'; only 'video'."))


class TrtllmDialect(OpenAIDialect):
    """TensorRT-LLM trtllm-serve: 202 creates, strict 422s, float seconds, no progress."""

    name: ClassVar[Dialect] = "trtllm"
    authenticates: ClassVar[bool] = False
    create_status: ClassVar[int] = 202
    statuses: ClassVar[Mapping[Phase, str]] = {
        "queued": "pending",
        "in_progress": "processing",
        "completed": "succeeded",
        "failed": "failed",
        "lost": "pending",
    }
    unsupported: ClassVar[Mapping[Endpoint, int]] = {
        "list": 405,
        "delete": 405,
        "remix": 404,
        "extensions": 404,
    }
    discovery: ClassVar[frozenset[Endpoint]] = frozenset()
    content_not_ready_status: ClassVar[int] = 404
    content_failed_status: ClassVar[int] = 422
    content_expired_status: ClassVar[int] = 404
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "prompt",
            "model",
            "size",
            "seconds",
            "input_reference",
            "negative_prompt",
            "fps",
            "num_inference_steps",
            "guidance_scale",
            "seed",
        }
    )

    def new_id(self) -> str:
        """`video_<uuid hex>`."""
        return f"video_{uuid.uuid4().hex}"

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str | None = None,
    ) -> web.Response:
        """FastAPI's HTTPException shape."""
        return _detail(status, message)

    def reject(self, problem: Problem) -> web.Response:
        """FastAPI's request-validation answer: 422 with a list of pydantic errors."""
        location = ["body"] if problem.param is None else ["body", problem.param]
        return _detail(422, [{"loc": location, "msg": problem.message, "type": problem.kind}])

    def not_found(self, video_id: str) -> web.Response:
        """FastAPI-style not found."""
        return _detail(404, f"Video {video_id} not found")

    def route_missing(self, method: str, path: str) -> web.Response:
        """Starlette's default 404."""
        return _detail(404, "Not Found")

    def method_not_allowed(self, method: str, path: str) -> web.Response:
        """Starlette's default 405."""
        return _detail(405, "Method Not Allowed")

    def parse_create(self, body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
        """A pydantic model with extra="forbid"; seconds "4", 4 and 4.0 all coerce."""
        unknown = _first_unknown(body.params(), self.FIELDS)
        if unknown is not None:
            return Problem(unknown, "Extra inputs are not permitted", None, "extra_forbidden")
        created = _lenient_create(body, default_model=settings.served_model, integral_seconds=False)
        if isinstance(created, Problem) and created.code == "missing_required_parameter":
            return Problem(created.param, "Field required", None, "missing")
        return created

    def render(self, view: JobView) -> dict[str, Any]:
        """No `progress` key at all."""
        body = super().render(view)
        del body["progress"]
        return body

    def seconds(self, seconds: float) -> Any:
        """A float, e.g. 4.0."""
        return float(seconds)

    def variant(self, raw: str | None) -> Variant | web.Response:
        """`variant` is ignored: the MP4 is all it serves."""
        return "video"


class NewApiDialect(OpenAIDialect):
    """The New API gateway: multipart only, ~250-char ids, int error codes, Gin's plain 404s."""

    name: ClassVar[Dialect] = "newapi"
    statuses: ClassVar[Mapping[Phase, str]] = {
        "queued": "queued",
        "in_progress": "processing",
        "completed": "succeeded",
        "failed": "failed",
        "lost": "queued",
    }
    unsupported: ClassVar[Mapping[Endpoint, int]] = {
        "list": 404,
        "delete": 404,
        "remix": 404,
        "extensions": 404,
    }
    discovery: ClassVar[frozenset[Endpoint]] = frozenset()
    content_not_ready_status: ClassVar[int] = 400
    content_failed_status: ClassVar[int] = 500

    def new_id(self) -> str:
        """`task_<base64 with padding>:<model>:<hex>`, about 250 characters."""
        # 130 bytes is not a multiple of 3, so the base64 always ends in "==".
        token = base64.urlsafe_b64encode(secrets.token_bytes(130)).decode()
        return f"task_{token}:sora-2:{secrets.token_hex(32)}"

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str | None = None,
    ) -> web.Response:
        """`{"error": {message, type, code}}` with an int code."""
        envelope = {"message": message, "type": type_ or "new_api_error", "code": status}
        return web.json_response({"error": envelope}, status=status)

    def unauthorized(self) -> web.Response:
        """A bad token comes back as a 500, not a 401."""
        return self.error(500, "Invalid token: the API key is wrong or has been disabled.")

    def route_missing(self, method: str, path: str) -> web.Response:
        """Gin's default 404: plain text."""
        return web.Response(status=404, text="404 page not found")

    def parse_create(self, body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
        """Multipart only; otherwise passes what it gets upstream."""
        if body.kind != "multipart":
            return Problem(None, "Video requests must be sent as multipart/form-data.", None)
        return _lenient_create(body, default_model=DEFAULT_MODEL, integral_seconds=True)

    def progress(self, view: JobView) -> int | None:
        """Not reported."""
        return None

    def job_error(self, error: JobError) -> Any:
        """Just a message."""
        return {"message": error.message}


OPENROUTER_FIELDS: Final = frozenset(
    {
        "model",
        "prompt",
        "duration",
        "size",
        "resolution",
        "aspect_ratio",
        "frame_images",
        "input_references",
        "generate_audio",
        "seed",
        "previous_job_id",
        "callback_url",
        "provider",
    }
)
# The short side of each named resolution, in pixels.
RESOLUTION_HEIGHTS: Final[Mapping[str, int]] = {"480p": 480, "720p": 720, "1080p": 1080}
_ASPECT_PATTERN: Final = re.compile(r"^([1-9][0-9]*):([1-9][0-9]*)$")
OPENROUTER_SIGNATURE_HEADER: Final = "X-OpenRouter-Signature"
OPENROUTER_IDEMPOTENCY_HEADER: Final = "X-OpenRouter-Idempotency-Key"


def _pixels(resolution: str, aspect_ratio: str) -> str:
    """The WxH of a resolution at an aspect ratio: 720p at 16:9 is 1280x720, at 9:16 720x1280."""
    short = RESOLUTION_HEIGHTS.get(resolution, 720)
    match = _ASPECT_PATTERN.match(aspect_ratio)
    across, down = (int(match.group(1)), int(match.group(2))) if match else (16, 9)
    if across >= down:
        return f"{round(short * across / down / 2) * 2}x{short}"
    return f"{short}x{round(short * down / across / 2) * 2}"


def _generation_id(job_id: str, created_at: int) -> str:
    """OpenRouter's `gen-<unix>-<token>`, fixed for a job."""
    return f"gen-{created_at}-{hashlib.sha256(job_id.encode()).hexdigest()[:20]}"


def _resolution_of(size: str) -> str:
    """The named resolution of a WxH size (its short side), e.g. 1080x1920 is 1080p."""
    width, height = (int(n) for n in size.split("x"))
    return f"{min(width, height)}p"


def _openrouter_image(value: Any, param: str, role: str | None) -> ImageInput | Problem:
    """One `{type: "image_url", image_url: {url}, frame_type?}` item.

    A `data:image/...;base64,` URL is decoded and must be a JPEG, PNG or WebP; an http(s) URL
    is recorded and never fetched.
    """
    if not isinstance(value, dict) or value.get("type") != "image_url":
        return Problem(param, f"Invalid '{param}': expected an object with type 'image_url'.")
    image_url = value.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str) or not url:
        return Problem(param, f"Invalid '{param}.image_url.url': expected a URL string.")
    if role is None:
        frame_type = value.get("frame_type")
        if not isinstance(frame_type, str):
            return Problem(param, f"Missing '{param}.frame_type'.")
        role = frame_type
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        if not header.startswith("data:image/") or not header.endswith(";base64"):
            return Problem(param, f"Invalid '{param}': a data URL must be base64 image data.")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return Problem(param, f"Invalid '{param}': the data URL is not valid base64.")
        info = FileInfo.probe(None, header.removeprefix("data:").split(";", 1)[0], raw)
        if info.image_format not in REFERENCE_FORMATS:
            return Problem(param, f"Invalid '{param}': the data URL is not a JPEG, PNG or WebP.")
        return ImageInput(role, None, info)
    if not _fetchable_url(url):
        return Problem(param, f"Invalid '{param}': expected an https URL or a data URL.")
    return ImageInput(role, url)


def _openrouter_images(
    value: Any, param: str, model: OpenRouterModel, *, frames: bool
) -> list[ImageInput] | Problem:
    """`frame_images` (each frame type at most once, of those the model takes) or
    `input_references`."""
    if not isinstance(value, list):
        return Problem(param, f"Invalid '{param}': expected an array.")
    allowed = model.supported_frame_images or []
    images: list[ImageInput] = []
    for index, item in enumerate(value):
        image = _openrouter_image(item, f"{param}[{index}]", None if frames else "reference")
        if isinstance(image, Problem):
            return image
        if frames and image.role not in allowed:
            supported = ", ".join(allowed) or "none"
            return Problem(
                param,
                f"Invalid '{param}[{index}].frame_type': {model.id} does not support "
                f"'{image.role}' (supported: {supported}).",
            )
        if frames and any(other.role == image.role for other in images):
            return Problem(param, f"Invalid '{param}': '{image.role}' given twice.")
        images.append(image)
    return images


def _openrouter_create(body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
    """OpenRouter's create: JSON only, the model's own durations, sizes and options."""
    if body.kind != "json":
        if body.kind == "bad-json":
            return Problem(None, "Invalid JSON in request body.")
        return Problem(None, "Content-Type must be application/json.")
    if not isinstance(body.json, dict):
        return Problem(None, "Invalid request body: expected a JSON object.")
    params: dict[str, Any] = body.json
    unknown = _first_unknown(params, OPENROUTER_FIELDS)
    if unknown is not None:
        return Problem(unknown, f"Unknown parameter: '{unknown}'.")
    model_id = params.get("model")
    if not isinstance(model_id, str) or not model_id:
        return Problem("model", "Missing required parameter: 'model'.")
    model = settings.openrouter_model(model_id)
    if model is None:
        return Problem("model", f"Model '{model_id}' is not a video generation model.")
    prompt = _check_prompt(params.get("prompt"))
    if isinstance(prompt, Problem):
        return prompt
    duration = params.get("duration", model.supported_durations[0])
    if isinstance(duration, bool) or not isinstance(duration, int):
        return Problem("duration", "Invalid 'duration': expected an integer number of seconds.")
    if duration not in model.supported_durations:
        supported = ", ".join(str(d) for d in model.supported_durations)
        return Problem(
            "duration",
            f"Invalid 'duration': {model.id} supports {supported} seconds, not {duration}.",
        )
    size = _openrouter_size(params, model)
    if isinstance(size, Problem):
        return size
    images: list[ImageInput] = []
    for param, frames in (("frame_images", True), ("input_references", False)):
        if params.get(param) is None:
            continue
        if frames and model.supported_frame_images is None:
            return Problem(param, f"{model.id} does not take frame images.")
        found = _openrouter_images(params[param], param, model, frames=frames)
        if isinstance(found, Problem):
            return found
        images.extend(found)
    options: dict[str, Any] = {
        "resolution": _resolution_of(size),
        "aspect_ratio": params.get("aspect_ratio"),
    }
    audio = params.get("generate_audio")
    if audio is not None:
        if not isinstance(audio, bool):
            return Problem("generate_audio", "Invalid 'generate_audio': expected a boolean.")
        if audio and not model.generate_audio:
            return Problem("generate_audio", f"{model.id} does not generate audio.")
        options["generate_audio"] = audio
    seed = params.get("seed")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int):
            return Problem("seed", "Invalid 'seed': expected an integer.")
        if not model.seed:
            return Problem("seed", f"{model.id} does not support 'seed'.")
        options["seed"] = seed
    continues = params.get("previous_job_id")
    if continues is not None:
        if not isinstance(continues, str) or not continues:
            return Problem("previous_job_id", "Invalid 'previous_job_id': expected a job id.")
        if not model.supports_continuation:
            return Problem("previous_job_id", f"{model.id} cannot continue a previous job.")
    callback_url = params.get("callback_url")
    if callback_url is not None:
        # The real one wants HTTPS; the fake takes http too, to call a receiver on loopback.
        if not isinstance(callback_url, str) or callback_url.startswith("data:"):
            return Problem("callback_url", "Invalid 'callback_url': expected an https URL.")
        if not _fetchable_url(callback_url):
            return Problem("callback_url", "Invalid 'callback_url': expected an https URL.")
    price = model.price(options["resolution"], billed=True)
    return CreateRequest(
        model.id,
        prompt,
        size,
        float(duration),
        cost=_dollars(price, duration),
        continues=continues,
        callback_url=callback_url,
        images=tuple(images),
        options=options,
    )


def _openrouter_size(params: Mapping[str, Any], model: OpenRouterModel) -> str | Problem:
    """`size` ("WxH", one of the model's) or `resolution` + `aspect_ratio` (defaults: the
    model's first of each), never both."""
    size = params.get("size")
    resolution = params.get("resolution")
    aspect_ratio = params.get("aspect_ratio")
    if size is not None:
        if resolution is not None or aspect_ratio is not None:
            return Problem("size", "Give either 'size' or 'resolution' and 'aspect_ratio'.")
        if model.supported_sizes is None:
            return Problem("size", f"{model.id} takes 'resolution' and 'aspect_ratio', not 'size'.")
        if not isinstance(size, str) or size not in model.supported_sizes:
            supported = ", ".join(model.supported_sizes)
            return Problem("size", f"Invalid 'size': {model.id} supports {supported}.")
        return size
    resolution = model.supported_resolutions[0] if resolution is None else resolution
    if not isinstance(resolution, str) or resolution not in model.supported_resolutions:
        supported = ", ".join(model.supported_resolutions)
        return Problem("resolution", f"Invalid 'resolution': {model.id} supports {supported}.")
    aspect_ratio = model.supported_aspect_ratios[0] if aspect_ratio is None else aspect_ratio
    if not isinstance(aspect_ratio, str) or aspect_ratio not in model.supported_aspect_ratios:
        supported = ", ".join(model.supported_aspect_ratios)
        return Problem("aspect_ratio", f"Invalid 'aspect_ratio': {model.id} supports {supported}.")
    return _pixels(resolution, aspect_ratio)


class OpenRouterDialect(OpenAIDialect):
    """OpenRouter's own video API under /api/v1 (FIELD-NOTES 7): JSON creates with integer
    `duration`, jobs `pending`..`completed` with `usage.cost`, content by `?index=0`, a public
    model listing, `previous_job_id` continuations and signed callbacks; no list, remix,
    extensions or delete."""

    name: ClassVar[Dialect] = "openrouter"
    create_status: ClassVar[int] = 202
    statuses: ClassVar[Mapping[Phase, str]] = {
        "queued": "pending",
        "in_progress": "in_progress",
        "completed": "completed",
        "failed": "failed",
        "lost": "pending",
    }
    unsupported: ClassVar[Mapping[Endpoint, int]] = {
        "list": 405,  # the path exists for POST
        "delete": 404,
        "remix": 404,
        "extensions": 404,
    }
    content_not_ready_status: ClassVar[int] = 400
    content_failed_status: ClassVar[int] = 400
    content_expired_status: ClassVar[int] = 404
    # `index` picks one of the job's outputs: the job first.
    variant_checked_first: ClassVar[bool] = False
    base_path: ClassVar[str] = "/api/v1"
    discovery: ClassVar[frozenset[Endpoint]] = frozenset({"video_models"})
    public: ClassVar[frozenset[Endpoint]] = frozenset({"video_models"})

    def new_id(self) -> str:
        """`job-<hex>`, as the API reference's examples show."""
        return f"job-{secrets.token_hex(16)}"

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type_: str | None = None,
    ) -> web.Response:
        """`{"error": {"code": <the HTTP status>, "message": ...}}`."""
        return web.json_response({"error": {"code": status, "message": message}}, status=status)

    def unauthorized(self) -> web.Response:
        """A missing or unknown key."""
        return self.error(401, "No auth credentials found")

    def not_found(self, video_id: str) -> web.Response:
        """An unknown (or lost) job."""
        return self.error(404, f"Video generation job '{video_id}' not found")

    def route_missing(self, method: str, path: str) -> web.Response:
        """Next.js-style not found, in the error envelope."""
        return self.error(404, "Not Found")

    def method_not_allowed(self, method: str, path: str) -> web.Response:
        """A path it has, but not for this method."""
        return self.error(405, "Method Not Allowed")

    def parse_create(self, body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
        """JSON only; `duration` an integer the model supports, `seconds` unknown."""
        return _openrouter_create(body, settings)

    def status(self, view: JobView) -> str:
        """`cancelled` and `expired` are statuses of their own here."""
        if view.phase == "failed" and view.error is not None and view.error.code == "cancelled":
            return "cancelled"
        if view.phase == "completed" and view.expired:
            return "expired"
        return self.statuses[view.phase]

    def render(self, view: JobView) -> dict[str, Any]:
        """The job: links once completed, `usage` once billed, `error` a plain string."""
        job = view.job
        api = f"{job.origin}{self.base_path}/videos/{quote(job.id, safe='')}"
        body: dict[str, Any] = {
            "id": job.id,
            "polling_url": api,
            "status": self.status(view),
            "generation_id": _generation_id(job.id, job.created_at),
        }
        if view.phase == "completed" and not view.expired:
            body["unsigned_urls"] = [f"{api}/content?index=0"]
            # A signed storage URL: the fake's own copy, no key needed.
            body["urls"] = [f"{job.origin}/_fake/blob/{quote(job.id, safe='')}"]
        if view.phase == "completed":
            body["usage"] = {"cost": job.cost, "is_byok": False}
        if view.error is not None:
            body["error"] = view.error.message
        return body

    def pick_variant(self, query: Mapping[str, str]) -> Variant | web.Response:
        """`?index=0` (or none) is the one video; any other index is not there."""
        index = query.get("index", "0")
        if index == "0":
            return "video"
        return self.error(404, f"No output at index {index}")

    def content_unavailable(self, view: JobView) -> web.Response:
        """No content before completion, nor of a failed job."""
        if view.phase == "failed":
            return self.error(self.content_failed_status, f"Video generation {self.status(view)}")
        return self.error(self.content_not_ready_status, "Video generation is not complete")

    def content_expired(self, view: JobView) -> web.Response:
        """Content asked for after it expired."""
        return self.error(self.content_expired_status, "Video content has expired")

    def video_models(self, settings: FakeSettings) -> web.Response:
        """GET /api/v1/videos/models: what each model takes, and its prices as strings."""
        data = [
            {
                "id": model.id,
                "canonical_slug": model.id,
                "name": model.name,
                "created": model.created,
                "supported_durations": list(model.supported_durations),
                "supported_resolutions": list(model.supported_resolutions),
                "supported_aspect_ratios": list(model.supported_aspect_ratios),
                "supported_sizes": model.supported_sizes,
                "supported_frame_images": model.supported_frame_images,
                "generate_audio": model.generate_audio,
                "seed": model.seed,
                "pricing_skus": {sku: str(price) for sku, price in model.pricing_skus.items()},
                "allowed_passthrough_parameters": list(model.allowed_passthrough_parameters),
                # Not OpenRouter's: the fake's stand-in for "takes previous_job_id".
                "supports_continuation": model.supports_continuation,
            }
            for model in settings.openrouter_models
        ]
        return web.json_response({"data": data})

    def callback(
        self, view: JobView, settings: FakeSettings, *, created_at: int, timestamp: int
    ) -> OutgoingCallback | None:
        """`video.generation.<status>` to the create's `callback_url` (else the workspace's
        `webhook_url`), with an idempotency key and, given a secret, an HMAC signature of
        "<timestamp>,<raw body>"."""
        url = view.job.callback_url or settings.webhook_url
        if url is None:
            return None
        status = self.status(view)
        event = f"video.generation.{status}"
        body = json.dumps(
            {"type": event, "created_at": created_at, "data": self.render(view)}
        ).encode()
        headers = {
            "Content-Type": "application/json",
            OPENROUTER_IDEMPOTENCY_HEADER: f"{view.job.id}-{status}",
        }
        if settings.webhook_secret is not None:
            digest = hmac.new(
                settings.webhook_secret.encode(), f"{timestamp},".encode() + body, hashlib.sha256
            ).hexdigest()
            headers[OPENROUTER_SIGNATURE_HEADER] = f"t={timestamp},v1={digest}"
        return OutgoingCallback(event, url, headers, body)


DIALECT_RULES: Final[Mapping[Dialect, OpenAIDialect]] = {
    rules.name: rules
    for rules in (
        OpenAIDialect(),
        LiteLLMDialect(),
        SGLangDialect(),
        VllmOmniDialect(),
        TrtllmDialect(),
        NewApiDialect(),
        OpenRouterDialect(),
    )
}


def rules_for(dialect: Dialect) -> OpenAIDialect:
    """The behaviour of a dialect."""
    return DIALECT_RULES[dialect]
