"""Why an attempt at a provider ended without a video: one kind per ended attempt.

Each dialect has one table (FAILURE_TABLES) a reader can scan: the kind of each error a call
can raise, the refusal codes and words, and the kind of each way a job can end without a video.
`failure_kind(error)` reads it for an error; `JobFailedError.kind` carries it for an ended job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
from bot.videos.refusals import (
    NEVER_STARTED,
    PROVIDER_ERROR,
    REFUSALS,
    REFUSED_INPUT,
    REFUSED_OUTPUT,
    UNKNOWN,
    FailureKind,
    end_kind,
    ended_kind,
    is_refusal,
    refusal_of,
)

if TYPE_CHECKING:
    from bot.videos.dialects import ProviderDialect
    from bot.videos.models import Video


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


def _table_of(dialect: str) -> FailureTable:
    refusals = REFUSALS[dialect]
    return FailureTable(
        errors=_CALL_ERRORS,
        refusal_codes=refusals.codes,
        refusal_code_prefixes=refusals.code_prefixes,
        refusal_words=refusals.words,
        ended=refusals.ended,
    )


# The refusal codes, words and endings are bot/videos/refusals.py's (the models read them too).
OPENAI_FAILURES = _table_of("openai")
OPENROUTER_FAILURES = _table_of("openrouter")

FAILURE_TABLES: Mapping[ProviderDialect, FailureTable] = {
    "openai": OPENAI_FAILURES,
    "openrouter": OPENROUTER_FAILURES,
}


def job_end_kind(video: Video, dialect: ProviderDialect = "openai") -> FailureKind:
    """The kind of a job the provider reports ended without a video."""
    error = video.error
    code = error.code if error else None
    message = error.message if error else None
    return end_kind(video.state.value, code, message, dialect)


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


__all__ = [
    "FAILURE_TABLES",
    "NEVER_STARTED",
    "OPENAI_FAILURES",
    "OPENROUTER_FAILURES",
    "PROVIDER_ERROR",
    "REFUSED_INPUT",
    "REFUSED_OUTPUT",
    "STARTS_A_JOB",
    "UNKNOWN",
    "FailureKind",
    "FailureTable",
    "ended_kind",
    "failure_kind",
    "is_refusal",
    "job_end_kind",
    "refusal_of",
]
