"""How long to wait before trying a request again."""

from __future__ import annotations

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
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    after = headers.get("retry-after")
    if after is None:
        return None
    try:
        return max(0.0, float(after))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(after).timestamp() - time())
    except (TypeError, ValueError):
        return None


def server_says_retry(headers: CIMultiDictProxy[str]) -> bool | None:
    """The `x-should-retry` header as a verdict, or None when absent."""
    value = headers.get("x-should-retry")
    if value is None:
        return None
    return value.strip().lower() == "true"


def poll_after(headers: CIMultiDictProxy[str]) -> float | None:
    """The `openai-poll-after-ms` hint in seconds."""
    value = headers.get("openai-poll-after-ms")
    if value is None:
        return None
    try:
        return max(0.0, float(value) / 1000)
    except ValueError:
        return None
