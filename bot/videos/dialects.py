"""The request dialects a VideosClient speaks, and what OpenRouter's dialect puts on the wire.

`openai` is the OpenAI Videos API and every server that imitates it (FIELD-NOTES section 2).
`openrouter` is OpenRouter's own video API (FIELD-NOTES section 7): JSON creates with an
integer `duration`, first frames as `frame_images`, follow-ups as a create naming
`previous_job_id`, content by `?index=0`, and no list, delete or `variant`.
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any, Literal, get_args

from bot.videos.errors import BadRequestError

if TYPE_CHECKING:
    from bot.videos.requests import CreateRequest

ProviderDialect = Literal["openai", "openrouter"]
DIALECTS: tuple[ProviderDialect, ...] = get_args(ProviderDialect)

# The main video of an OpenRouter job: its content answers by index, never by variant.
OPENROUTER_CONTENT_PARAMS: dict[str, str] = {"index": "0"}


# The aspect ratios video models name; a size is matched to the nearest one (854x480: 16:9).
ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21")


def resolution_of(size: str) -> tuple[str, str]:
    """A size as OpenRouter's resolution and aspect ratio: 1280x720 is 720p at 16:9 (the short
    side, and the nearest ratio)."""
    width, _, height = size.partition("x")
    w, h = int(width), int(height)

    def distance(ratio: str) -> float:
        a, _, b = ratio.partition(":")
        return abs(math.log((w / h) / (int(a) / int(b))))

    return f"{min(w, h)}p", min(ASPECT_RATIOS, key=distance)


def whole_seconds(seconds: str) -> int:
    """OpenRouter's `duration`: whole seconds only ("8" and "8.0" are 8; "4.5" is refused)."""
    try:
        number = float(seconds)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer() or number < 0:
        # Refused before sending: the provider takes integers, and no job is started.
        raise BadRequestError(
            f"OpenRouter takes a whole number of seconds, not {seconds[:20]!r}",
            param="duration",
            status=0,
        )
    return int(number)


def openrouter_create_body(request: CreateRequest) -> dict[str, Any]:
    """`POST /videos` for OpenRouter: only the fields that are set, never `seconds`."""
    body: dict[str, Any] = {"prompt": request.prompt}
    if request.model is not None:
        body["model"] = request.model
    if request.seconds is not None:
        body["duration"] = whole_seconds(request.seconds)
    if request.size is not None and request.size_as == "resolution":
        # Models whose listing has no exact sizes take a resolution and an aspect ratio.
        body["resolution"], body["aspect_ratio"] = resolution_of(request.size)
    elif request.size is not None:
        body["size"] = request.size
    url = request.reference_url
    if url is None and request.reference is not None:
        encoded = base64.b64encode(request.reference.data).decode("ascii")
        url = f"data:{request.reference.content_type};base64,{encoded}"
    if url is not None:
        body["frame_images"] = [
            {"type": "image_url", "image_url": {"url": url}, "frame_type": "first_frame"}
        ]
    if request.callback_url is not None:
        body["callback_url"] = request.callback_url
    return body


def openrouter_follow_up_body(
    previous_job_id: str, prompt: str, *, model: str | None, seconds: str | None = None
) -> dict[str, Any]:
    """A remix or an extension on OpenRouter: a create that continues a finished job."""
    body: dict[str, Any] = {"prompt": prompt, "previous_job_id": previous_job_id}
    if model is not None:
        body["model"] = model
    if seconds is not None:
        body["duration"] = whole_seconds(seconds)
    return body
