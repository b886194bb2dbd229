"""Content refusals and endings, read the same by every layer: the kinds an attempt can end with,
and per dialect the codes and words of a refusal and what each way a job ends means.

The plainest module of the client: it imports nothing of it, so the models, the errors and the
failure tables (bot/videos/failures.py) can all read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


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


@dataclass(frozen=True)
class RefusalRules:
    """How one dialect tells a content refusal, and what a job that ended otherwise means."""

    # Error codes (lower-case) that mean a content refusal, and on which side, for a job that
    # ended failed. A create refused with any of them (or the words below) is REFUSED_INPUT.
    codes: Mapping[str, FailureKind]
    # Code prefixes (lower-case) with a side, for providers that structure their codes.
    code_prefixes: tuple[tuple[str, FailureKind], ...]
    # Words (lower-case) of a refusal without a known code: REFUSED_OUTPUT for a failed job.
    words: tuple[str, ...]
    # A job that ended without a video and was not refused, by its normalised state.
    ended: Mapping[str, FailureKind]


OPENAI_REFUSALS = RefusalRules(
    codes=_REFUSAL_CODES,
    code_prefixes=_REFUSAL_CODE_PREFIXES,
    words=_REFUSAL_WORDS,
    ended={
        "failed": PROVIDER_ERROR,
        "cancelled": PROVIDER_ERROR,  # unless we cancelled it: the caller knows that
        "expired": PROVIDER_ERROR,
        "deleted": UNKNOWN,  # gone before we saw it end: it may have been made and billed
    },
)

# OpenRouter's failed jobs carry `error` as a bare string, whose words (or an upstream code
# quoted in it) tell a refusal; `expired` means the job was never made in time.
OPENROUTER_REFUSALS = RefusalRules(
    codes=_REFUSAL_CODES,  # upstream codes, when OpenRouter passes them on
    code_prefixes=_REFUSAL_CODE_PREFIXES,
    words=(*_REFUSAL_WORDS, "flagged"),
    ended={
        "failed": PROVIDER_ERROR,
        "cancelled": PROVIDER_ERROR,
        "expired": PROVIDER_ERROR,  # never made in time
        "deleted": UNKNOWN,
    },
)

REFUSALS: Mapping[str, RefusalRules] = {
    "openai": OPENAI_REFUSALS,
    "openrouter": OPENROUTER_REFUSALS,
}


def rules(dialect: str) -> RefusalRules:
    return REFUSALS.get(dialect, OPENAI_REFUSALS)


def refusal_of(
    code: str | None, message: str | None, dialect: str = "openai"
) -> FailureKind | None:
    """The side a failed job was refused on, by code, then a code quoted in the message, then
    by words (REFUSED_OUTPUT); None when it reads as no refusal."""
    table = rules(dialect)
    lowered = (code or "").strip().lower()
    if lowered:
        if lowered in table.codes:
            return table.codes[lowered]
        for prefix, kind in table.code_prefixes:
            if lowered.startswith(prefix):
                return kind
    text = (message or "").lower()
    if not text:
        return None
    for name, kind in table.codes.items():
        if not name.isdigit() and name in text:
            return kind
    if any(word in text for word in table.words):
        return REFUSED_OUTPUT
    return None


def is_refusal(code: str | None, message: str | None) -> bool:
    """Whether any dialect reads this error as a content refusal."""
    return any(refusal_of(code, message, dialect) is not None for dialect in REFUSALS)


def ended_kind(
    code: str | None,
    message: str | None,
    *,
    refused: bool,
    dialect: str = "openai",
) -> FailureKind:
    """The kind of a failed job described by its error code and message; `refused` is the
    caller's verdict on whether it was refused at all."""
    if not refused:
        return PROVIDER_ERROR
    return refusal_of(code, message, dialect) or REFUSED_OUTPUT


def end_kind(
    state: str, code: str | None, message: str | None, dialect: str = "openai"
) -> FailureKind:
    """The kind of a job the provider reports ended without a video, in state `state`."""
    if state == "failed" and (code or message):
        refusal = refusal_of(code, message, dialect)
        if refusal is not None:
            return refusal
    return rules(dialect).ended.get(state, UNKNOWN)
