"""Optional rate limits, configured per test, answered the way Discord answers them."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from .clock import FakeClock


@dataclass
class RateLimitRule:
    limit: int
    per: float
    announce: bool  # send X-RateLimit-* on successful answers too (real Discord does)


@dataclass
class _Window:
    start: float
    count: int


@dataclass
class Verdict:
    headers: dict[str, str]
    retry_after: float | None  # None: allowed


class RateLimiter:
    """Fixed windows per bucket key, on the fake clock. 429s do not use up the window."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.rules: dict[str, RateLimitRule] = {}
        self._windows: dict[tuple[str, str], _Window] = {}

    def configure(self, kind: str, *, limit: int, per: float, announce: bool) -> None:
        if limit < 1 or per <= 0:
            raise ValueError("a rate limit needs limit >= 1 and per > 0")
        self.rules[kind] = RateLimitRule(limit=limit, per=per, announce=announce)
        for key in [k for k in self._windows if k[0] == kind]:
            del self._windows[key]

    def clear(self) -> None:
        self.rules.clear()
        self._windows.clear()

    def check(self, kind: str, key: str) -> Verdict | None:
        rule = self.rules.get(kind)
        if rule is None:
            return None
        now = self._clock.now()
        window = self._windows.get((kind, key))
        if window is None or now >= window.start + rule.per:
            window = self._windows[(kind, key)] = _Window(start=now, count=0)
        reset_after = max(window.start + rule.per - now, 0.001)
        bucket = hashlib.sha1(f"{kind}".encode(), usedforsecurity=False).hexdigest()[:32]
        headers = {
            "X-RateLimit-Limit": str(rule.limit),
            "X-RateLimit-Bucket": bucket,
            "X-RateLimit-Reset": f"{self._clock.wall() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        }
        if window.count >= rule.limit:
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Scope"] = "user"
            headers["Retry-After"] = str(math.ceil(reset_after))
            return Verdict(headers=headers, retry_after=round(reset_after, 3))
        window.count += 1
        headers["X-RateLimit-Remaining"] = str(rule.limit - window.count)
        if not rule.announce:
            headers = {}
        return Verdict(headers=headers, retry_after=None)
