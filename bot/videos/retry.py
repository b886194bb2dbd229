"""How long to wait before trying a request again."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time

from multidict import CIMultiDictProxy


@dataclass(frozen=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, as the OpenAI SDKs do it."""

    max_retries: int = 4
    base_delay: float = 0.5
    max_delay: float = 16.0
    jitter: float = 0.25
    # A server asking us to wait longer than this is treated as "not now" and surfaces as an
    # error, so one request never holds a job (or a terminal) hostage for minutes.
    max_server_wait: float = 60.0

    def backoff(self, attempt: int) -> float:
        """Delay before retry number `attempt` (0-based)."""
        delay: float = min(self.max_delay, self.base_delay * (2.0**attempt))
        return delay * (1 - self.jitter * random.random())


def server_wait(headers: CIMultiDictProxy[str]) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, then `Retry-After`."""
    millis = _seconds(headers.get("retry-after-ms"), 1000)
    if millis is not None:
        return millis
    after = headers.get("retry-after")
    if after is None:
        return None
    seconds = _seconds(after, 1)
    if seconds is not None:
        return seconds
    try:
        return max(0.0, parsedate_to_datetime(after).timestamp() - time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _seconds(value: str | None, per_second: float) -> float | None:
    """A header's number in seconds; NaN, Infinity and unreadable text are None."""
    if value is None:
        return None
    try:
        number = float(value) / per_second
    except (ValueError, OverflowError):
        return None
    return max(0.0, number) if math.isfinite(number) else None


def server_says_retry(headers: CIMultiDictProxy[str]) -> bool | None:
    """The `x-should-retry` header as a verdict, or None when absent."""
    value = headers.get("x-should-retry")
    if value is None:
        return None
    return value.strip().lower() == "true"


def poll_after(headers: CIMultiDictProxy[str]) -> float | None:
    """The `openai-poll-after-ms` hint in seconds."""
    return _seconds(headers.get("openai-poll-after-ms"), 1000)
