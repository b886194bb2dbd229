"""Why an attempt at a provider ended without a video: one kind per ended attempt.

Each dialect has one table (FAILURE_TABLES) a reader can scan: the kind of each error a call
can raise, the refusal codes and words, and the kind of each way a job can end without a video.
`failure_kind(error)` reads it for an error; `JobFailedError.kind` carries it for an ended job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.videos.errors import (
    AuthenticationError,
    BadRequestError,
    CapabilityMissingError,
    ContentError,
    CreateOutcomeUnknownError,
    EndpointNotVideosError,
    InvalidAnswerError,
    JobFailedError,
    JobLostError,
    JobTimeoutError,
    NetworkError,
    ProviderUnavailableError,
    RateLimitedError,
    ServerError,
    VideosError,
)

if TYPE_CHECKING:
    from bot.videos.dialects import ProviderDialect
    from bot.videos.models import Video


class FailureKind(StrEnum):
    """Why an attempt at a provider ended without a video, in the terms fallback decides by.

    Each dialect's errors map to one kind (bot/videos/failures.py). Only an attempt that provably
    never started, or that the provider itself reports failed on its side, may be tried again
    on another model: anything else may have been billed, or was refused for its content.
    """

    REFUSED_INPUT = "refused_input"  # the provider refused the prompt or image
    REFUSED_OUTPUT = "refused_output"  # the provider refused what it made
    PROVIDER_ERROR = "provider_error"  # the provider reports its own failure
    NEVER_STARTED = "never_started"  # the create provably never started a job
    UNKNOWN = "unknown"  # the outcome cannot be known (a lost answer, a timeout, a lost job)

    @property
    def may_fall_back(self) -> bool:
        return self in (FailureKind.NEVER_STARTED, FailureKind.PROVIDER_ERROR)

    @property
    def is_refusal(self) -> bool:
        return self in (FailureKind.REFUSED_INPUT, FailureKind.REFUSED_OUTPUT)


NEVER_STARTED = FailureKind.NEVER_STARTED
UNKNOWN = FailureKind.UNKNOWN
PROVIDER_ERROR = FailureKind.PROVIDER_ERROR
REFUSED_INPUT = FailureKind.REFUSED_INPUT
REFUSED_OUTPUT = FailureKind.REFUSED_OUTPUT

# The client operations that start (and bill) a job. An error stamped with any other operation
# (a status read, a download) comes from a job that exists: it can prove nothing never started.
STARTS_A_JOB = frozenset({"create", "remix", "extensions"})


@dataclass(frozen=True)
class FailureTable:
    """How one dialect's failures read as kinds."""

    # An error a call raised, by type: the most specific class listed wins. Rows that say
    # NEVER_STARTED hold only for errors of a create (remix, extension): the client raises
    # NetworkError from a create only when the request never left, and turns any doubt into
    # CreateOutcomeUnknownError.
    errors: Mapping[type[VideosError], FailureKind]
    # Error codes (lower-case) that mean a content refusal, and on which side, for a job that
    # ended failed. A create refused with any of them (or the words below) is REFUSED_INPUT.
    refusal_codes: Mapping[str, FailureKind]
    # Code prefixes (lower-case) with a side, for providers that structure their codes.
    refusal_code_prefixes: tuple[tuple[str, FailureKind], ...]
    # Words (lower-case) of a refusal without a known code: REFUSED_OUTPUT for a failed job.
    refusal_words: tuple[str, ...]
    # A job that ended without a video and was not refused, by its normalised state.
    ended: Mapping[str, FailureKind]


_CALL_ERRORS: Mapping[type[VideosError], FailureKind] = {
    # Nothing started: the request never left, or the provider refused it outright.
    NetworkError: NEVER_STARTED,  # connection refused or reset before sending
    RateLimitedError: NEVER_STARTED,  # 429, or 402: credits or quota used up
    AuthenticationError: NEVER_STARTED,
    BadRequestError: NEVER_STARTED,  # unless refused for its content: REFUSED_INPUT
    EndpointNotVideosError: NEVER_STARTED,
    CapabilityMissingError: NEVER_STARTED,
    ProviderUnavailableError: NEVER_STARTED,  # the circuit breaker is open: never sent
    # The job may exist (and be billed): nothing can be concluded.
    CreateOutcomeUnknownError: UNKNOWN,
    InvalidAnswerError: UNKNOWN,
    ServerError: UNKNOWN,
    JobTimeoutError: UNKNOWN,
    JobLostError: UNKNOWN,
    ContentError: UNKNOWN,  # the video was made; its download failed
    VideosError: UNKNOWN,
}

# Words of a content refusal when no known code says so (OpenAI, Nova "blocked by our content
# filters", Seedance "may contain sensitive information", the providers' "safety" systems).
_REFUSAL_WORDS = (
    "moderation",
    "content policy",
    "content filter",
    "safety",
    "blocked",
    "sensitive",
)

# Error codes of a content refusal, with their side, from the providers behind these dialects.
_REFUSAL_CODES: Mapping[str, FailureKind] = {
    "sentinel_block": REFUSED_INPUT,  # Sora: the prompt or image, before generating
    "moderation_blocked": REFUSED_OUTPUT,  # Sora: what it generated
    "content_policy_violation": REFUSED_OUTPUT,
    "content_filter": REFUSED_OUTPUT,
    "safety_violation": REFUSED_OUTPUT,
    "1026": REFUSED_INPUT,  # MiniMax: a sensitive prompt
}
_REFUSAL_CODE_PREFIXES = (
    ("safety.input", REFUSED_INPUT),  # Runway failureCode SAFETY.INPUT.*
    ("safety.output", REFUSED_OUTPUT),  # Runway failureCode SAFETY.OUTPUT.*
)

OPENAI_FAILURES = FailureTable(
    errors=_CALL_ERRORS,
    refusal_codes=_REFUSAL_CODES,
    refusal_code_prefixes=_REFUSAL_CODE_PREFIXES,
    refusal_words=_REFUSAL_WORDS,
    ended={
        "failed": PROVIDER_ERROR,
        "cancelled": PROVIDER_ERROR,  # unless we cancelled it: the caller knows that
        "expired": PROVIDER_ERROR,
        "deleted": UNKNOWN,  # gone before we saw it end: it may have been made and billed
    },
)

# OpenRouter's failed jobs carry `error` as a bare string, whose words (or an upstream code
# quoted in it) tell a refusal; a 403 "your input was flagged" is a BadRequestError refusal
# (the client reads it so); `expired` means the job was never made in time.
OPENROUTER_FAILURES = FailureTable(
    errors=_CALL_ERRORS,
    refusal_codes=_REFUSAL_CODES,  # upstream codes, when OpenRouter passes them on
    refusal_code_prefixes=_REFUSAL_CODE_PREFIXES,
    refusal_words=(*_REFUSAL_WORDS, "flagged"),
    ended={
        "failed": PROVIDER_ERROR,
        "cancelled": PROVIDER_ERROR,
        "expired": PROVIDER_ERROR,  # never made in time
        "deleted": UNKNOWN,
    },
)

FAILURE_TABLES: Mapping[ProviderDialect, FailureTable] = {
    "openai": OPENAI_FAILURES,
    "openrouter": OPENROUTER_FAILURES,
}


def refusal_of(
    code: str | None, message: str | None, dialect: ProviderDialect = "openai"
) -> FailureKind | None:
    """The side a failed job was refused on, by code, then a code quoted in the message, then
    by words (REFUSED_OUTPUT); None when it reads as no refusal."""
    table = _table(dialect)
    lowered = (code or "").strip().lower()
    if lowered:
        if lowered in table.refusal_codes:
            return table.refusal_codes[lowered]
        for prefix, kind in table.refusal_code_prefixes:
            if lowered.startswith(prefix):
                return kind
    text = (message or "").lower()
    if not text:
        return None
    for name, kind in table.refusal_codes.items():
        if not name.isdigit() and name in text:
            return kind
    if any(word in text for word in table.refusal_words):
        return REFUSED_OUTPUT
    return None


def is_refusal(code: str | None, message: str | None) -> bool:
    """Whether any dialect reads this error as a content refusal."""
    return any(refusal_of(code, message, dialect) is not None for dialect in FAILURE_TABLES)


def ended_kind(
    code: str | None,
    message: str | None,
    *,
    refused: bool,
    dialect: ProviderDialect = "openai",
) -> FailureKind:
    """The kind of a failed job described by its error code and message; `refused` is the
    caller's verdict on whether it was refused at all."""
    if not refused:
        return PROVIDER_ERROR
    return refusal_of(code, message, dialect) or REFUSED_OUTPUT


def job_end_kind(video: Video, dialect: ProviderDialect = "openai") -> FailureKind:
    """The kind of a job the provider reports ended without a video."""
    table = _table(dialect)
    state = video.state.value
    if state == "failed" and video.error is not None:
        refusal = refusal_of(video.error.code, video.error.message, dialect)
        if refusal is not None:
            return refusal
    return table.ended.get(state, UNKNOWN)


def failure_kind(error: BaseException) -> FailureKind:
    """Why the attempt that raised `error` ended without a video (see FailureKind)."""
    if isinstance(error, JobFailedError):
        return error.kind
    if not isinstance(error, VideosError):
        return UNKNOWN
    table = _table(error.dialect)
    # The most specific class the table lists: InvalidAnswerError before ServerError.
    kind = next(
        (k for cls in type(error).__mro__ for c, k in table.errors.items() if c is cls), UNKNOWN
    )
    refused = isinstance(error, BadRequestError) and (
        refusal_of(error.code, str(error), error.dialect) is not None
    )
    if refused:
        # A create refused for its content, whichever side its code names: nothing was made.
        kind = REFUSED_INPUT
    if kind in (NEVER_STARTED, REFUSED_INPUT) and error.operation not in (None, *STARTS_A_JOB):
        # Raised while reading or fetching a job that exists: it started, whatever failed.
        return UNKNOWN
    return kind


def _table(dialect: str) -> FailureTable:
    return next((t for d, t in FAILURE_TABLES.items() if d == dialect), OPENAI_FAILURES)
