"""A circuit breaker per provider: stop sending jobs to a provider that keeps failing.

Closed: every request goes out; each one's outcome is recorded. After `failures` failures in
a row (transport errors, timeouts, 5xx, 429) it opens for `cooldown` seconds: creates are
refused without being sent (status reads and downloads still go out, and still count). Once
the cooldown has passed it is half-open: the next create goes out as a trial, the others wait
another cooldown; a success (any other HTTP answer) closes it, a failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Counts one provider's failures in a row and decides whether a create may go out."""

    def __init__(
        self,
        failures: int = 5,
        cooldown: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failures < 1:
            raise ValueError("a breaker opens after at least one failure")
        if cooldown < 0:
            raise ValueError("a breaker's cooldown cannot be negative")
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self.consecutive_failures = 0
        # When the open breaker lets a trial create through; None while closed.
        self.opened_until: float | None = None

    @property
    def state(self) -> BreakerState:
        if self.opened_until is None:
            return "closed"
        return "open" if self._clock() < self.opened_until else "half_open"

    @property
    def is_open(self) -> bool:
        """Whether creates are refused right now (open, still cooling down)."""
        return self.state == "open"

    def allow(self) -> bool:
        """Whether a create may go out now. In half-open the first caller takes the one trial:
        the breaker stays open for others for another cooldown, unless the trial succeeds (a
        trial that never reports, e.g. cancelled, just leads to the next half-open)."""
        state = self.state
        if state == "half_open":
            self.opened_until = self._clock() + self.cooldown
            return True
        return state == "closed"

    def record_success(self) -> None:
        """The provider answered (2xx, or a 4xx about the request): it is up."""
        self.consecutive_failures = 0
        self.opened_until = None

    def record_failure(self) -> bool:
        """A transport error, a timeout, a 5xx or a 429; True when this failure opened it."""
        self.consecutive_failures += 1
        if self.consecutive_failures < self.failures:
            return False
        was_closed = self.opened_until is None
        self.opened_until = self._clock() + self.cooldown
        return was_closed
