"""Tolerant models of what Videos API servers answer.

Servers in the field disagree on almost everything but `id` and `status` (FIELD-NOTES §2), so
every other field is optional, unknown keys are ignored, and status names are normalised.
"""

from __future__ import annotations

import math
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.videos.refusals import is_refusal

# 9999-12-31T23:59:59Z: later timestamps do not fit a datetime and are treated as missing.
MAX_TIMESTAMP = 253_402_300_799
MAX_ID_LENGTH = 1024
_MAX_SHORT_TEXT = 64
# A bill above this for one video is not a bill but a broken (or hostile) provider.
MAX_BILLED_COST = Decimal(1_000_000)


class JobState(StrEnum):
    """Status of a job, normalised across dialects."""

    QUEUED = "queued"
    RUNNING = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    DELETED = "deleted"

    @property
    def is_terminal(self) -> bool:
        return self is not JobState.QUEUED and self is not JobState.RUNNING


_STATUS_NAMES: dict[str, JobState] = {
    "queued": JobState.QUEUED,
    "pending": JobState.QUEUED,
    "submitted": JobState.QUEUED,
    "not_start": JobState.QUEUED,
    "in_progress": JobState.RUNNING,
    "processing": JobState.RUNNING,
    "running": JobState.RUNNING,
    "generating": JobState.RUNNING,
    "completed": JobState.COMPLETED,
    "succeeded": JobState.COMPLETED,
    "success": JobState.COMPLETED,
    "done": JobState.COMPLETED,
    "failed": JobState.FAILED,
    "failure": JobState.FAILED,
    "error": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "canceled": JobState.CANCELLED,
    "expired": JobState.EXPIRED,
    "deleted": JobState.DELETED,
}


def finite_number(value: Any) -> float | None:
    """A JSON number (or numeric text) as a finite float; anything else is None, never raised.

    Booleans are not numbers here, and neither are NaN, Infinity or integers too large for a
    float (1e400 written out as digits).
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def billed_cost(value: Any) -> Decimal | None:
    """What a provider says it billed (`usage.cost`, `x-litellm-response-cost`) as a Decimal:
    a finite number from 0 to MAX_BILLED_COST, else None, never raised."""
    if isinstance(value, Decimal):
        cost = value + 0 if value.is_finite() else None  # + 0: no "-0"
    else:
        number = finite_number(value)
        # + 0.0: no "-0.0"; repr: the shortest text that reads back as the same float.
        cost = None if number is None else Decimal(repr(number + 0.0))
    if cost is None or not 0 <= cost <= MAX_BILLED_COST:
        return None
    return cost


def _scalar_text(value: Any) -> str | None:
    """Text, or a number written as text; containers, booleans and non-finite numbers: None."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = finite_number(value)
        return None if number is None else str(value)
    return None


def normalise_status(raw: str) -> JobState:
    """Map a server's status word to a JobState; unknown words count as still running."""
    return _STATUS_NAMES.get(raw.strip().lower(), JobState.RUNNING)


class JobError(BaseModel):
    """Why a job failed, in whatever shape the server sent it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    code: str | None = None
    message: str | None = None

    @field_validator("code", "message", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> str | None:
        return _scalar_text(value)

    @property
    def is_refusal(self) -> bool:
        """Whether the code or the words say the provider refused the content (any dialect's
        table in bot/videos/failures.py), as opposed to a crash."""
        return is_refusal(self.code, self.message)


class Video(BaseModel):
    """A video job as the server describes it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    status: str
    progress: int | None = None
    model: str | None = None
    prompt: str | None = None
    size: str | None = None
    seconds: str | None = None
    created_at: int | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    remixed_from_video_id: str | None = None
    error: JobError | None = None
    # What the provider reports it billed for the job (OpenRouter's `usage.cost`, or LiteLLM's
    # `x-litellm-response-cost` header, which the client adds); None when it did not say.
    billed_cost: Decimal | None = None

    @model_validator(mode="before")
    @classmethod
    def _bill_from_usage(cls, data: Any) -> Any:
        if isinstance(data, dict) and "usage" in data:
            usage = data["usage"]
            return {**data, "billed_cost": usage.get("cost") if isinstance(usage, dict) else None}
        return data

    @field_validator("billed_cost", mode="before")
    @classmethod
    def _bill(cls, value: Any) -> Decimal | None:
        return billed_cost(value)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("progress", mode="before")
    @classmethod
    def _progress_clamped(cls, value: Any) -> int | None:
        number = finite_number(value)  # NaN, Infinity, 1e400, a dict: as if missing
        if number is None:
            return None
        if 0 < number <= 1 and not float(number).is_integer():
            number *= 100  # a fraction, as some servers send
        return max(0, min(100, int(number)))

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_as_text(cls, value: Any) -> str | None:
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        text = _scalar_text(value)
        if text is None or len(text) > _MAX_SHORT_TEXT:
            return None
        return text.removesuffix(".0")

    @field_validator("created_at", "completed_at", "expires_at", mode="before")
    @classmethod
    def _timestamp(cls, value: Any) -> int | None:
        number = finite_number(value)
        if number is None or not 0 <= number <= MAX_TIMESTAMP:  # beyond year 9999: missing
            return None
        return int(number)

    @field_validator("error", mode="before")
    @classmethod
    def _error_any_shape(cls, value: Any) -> Any:
        if value is None or value in ("", {}):
            return None
        if isinstance(value, str):
            return {"message": value}
        if isinstance(value, dict):
            return value
        text = _scalar_text(value)
        return None if text is None else {"message": text}

    @field_validator("model", "prompt", "size", "remixed_from_video_id", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> str | None:
        return _scalar_text(value)

    @property
    def state(self) -> JobState:
        return normalise_status(self.status)

    @property
    def is_refused(self) -> bool:
        return self.state is JobState.FAILED and self.error is not None and self.error.is_refusal


class VideoPage(BaseModel):
    """One page of `GET /videos`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    data: list[Video] = Field(default_factory=list)
    has_more: bool = False
    last_id: str | None = None

    @field_validator("data", mode="before")
    @classmethod
    def _good_items(cls, value: Any) -> Any:
        """Items that are not videos are dropped; the page itself must still be a list."""
        if not isinstance(value, list):
            return value
        videos: list[Video] = []
        for item in value:
            try:
                videos.append(Video.model_validate(item))
            except ValidationError:
                continue
        return videos

    @field_validator("has_more", mode="before")
    @classmethod
    def _strict_bool(cls, value: Any) -> bool:
        return value if isinstance(value, bool) else False

    @field_validator("last_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> str | None:
        return value if isinstance(value, str) else None
