"""How each real server speaks the Videos protocol: OpenAI as the baseline, one subclass per peer.

Each subclass holds everything its server does differently (FIELD-NOTES section 2), so "what does
vLLM-Omni do on X" is answered by reading one class. The handlers in app.py stay generic.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal
from urllib.parse import urlsplit

from aiohttp import web

from .media import Variant
from .settings import Dialect, FakeSettings
from .state import BodyKind, FileInfo, JobError, JobView, Phase, RequestBody, Upload

Endpoint = Literal["create", "list", "retrieve", "delete", "content", "remix", "extensions"]

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


def _openai_create(body: RequestBody) -> CreateRequest | Problem:
    """Validate a create exactly as strictly as the OpenAI spec and service do."""
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
    model = _check_enum(params.get("model", DEFAULT_MODEL), "model", OPENAI_MODELS)
    if isinstance(model, Problem):
        return model
    seconds = _check_enum(params.get("seconds", DEFAULT_SECONDS), "seconds", OPENAI_SECONDS)
    if isinstance(seconds, Problem):
        return seconds
    size = _check_enum(params.get("size", DEFAULT_SIZE), "size", OPENAI_SIZES)
    if isinstance(size, Problem):
        return size
    if "-pro" not in model and size not in SORA_2_SIZES:
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
    return CreateRequest(model, prompt, size, float(seconds), reference, reference_url)


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

    # --- the video object -----------------------------------------------------------------
    def render(self, view: JobView) -> dict[str, Any]:
        """The video object as this server shows it."""
        job = view.job
        body: dict[str, Any] = {
            "id": job.id,
            "object": "video",
            "model": job.model,
            "status": self.statuses[view.phase],
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


class LiteLLMDialect(OpenAIDialect):
    """LiteLLM proxy: long base64 ids, `variant` dropped, job failures as gateway 500s."""

    name: ClassVar[Dialect] = "litellm"
    content_failed_status: ClassVar[int] = 500
    # Serves create, list, retrieve, content, remix and extensions, but no DELETE: FastAPI
    # answers 405 since GET /videos/{video_id} exists (FIELD-NOTES 6).
    unsupported: ClassVar[Mapping[Endpoint, int]] = {"delete": 405}

    def route_missing(self, method: str, path: str) -> web.Response:
        """FastAPI's default 404 (the proxy is a FastAPI app)."""
        return _detail(404, "Not Found")

    def method_not_allowed(self, method: str, path: str) -> web.Response:
        """FastAPI's default 405."""
        return _detail(405, "Method Not Allowed")

    def parse_create(self, body: RequestBody, settings: FakeSettings) -> CreateRequest | Problem:
        """As strict as the upstream, but a JSON `input_reference` object breaks the proxy
        (FIELD-NOTES 2.1): only a multipart file part gets through."""
        reference = body.params().get("input_reference")
        if reference is not None and not isinstance(reference, Upload):
            return Problem(
                "input_reference",
                "litellm.InternalServerError: could not forward input_reference: "
                "expected an uploaded file",
                "500",
                status=500,
            )
        return super().parse_create(body, settings)

    def reject(self, problem: Problem) -> web.Response:
        """Validation answers come from the upstream; the proxy's own failures are 500s."""
        if problem.status >= 500:
            envelope = {"message": problem.message, "type": "None", "param": None, "code": "500"}
            return web.json_response({"error": envelope}, status=problem.status)
        return super().reject(problem)

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
        return super().retrieve(view)

    def variant(self, raw: str | None) -> Variant | web.Response:
        """LiteLLM does not forward `variant`: every content request gets the MP4."""
        return "video"


class SGLangDialect(OpenAIDialect):
    """SGLang Diffusion: lenient create, int seconds, progress 0 until done, no list, no auth."""

    name: ClassVar[Dialect] = "sglang"
    authenticates: ClassVar[bool] = False
    unsupported: ClassVar[Mapping[Endpoint, int]] = {"list": 405, "remix": 404, "extensions": 404}
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


DIALECT_RULES: Final[Mapping[Dialect, OpenAIDialect]] = {
    rules.name: rules
    for rules in (
        OpenAIDialect(),
        LiteLLMDialect(),
        SGLangDialect(),
        VllmOmniDialect(),
        TrtllmDialect(),
        NewApiDialect(),
    )
}


def rules_for(dialect: Dialect) -> OpenAIDialect:
    """The behaviour of a dialect."""
    return DIALECT_RULES[dialect]
