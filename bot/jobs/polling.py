"""When to ask for a job's status next.

A fixed 1 s poll wastes requests on multi-minute jobs and still lags by up to a second. Instead
the planner predicts completion from the progress curve (or from how long similar jobs took)
and halves the remaining time at each poll: sparse while the end is far, dense near it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PollPlanner:
    """Decides the delay before the next status read of one job."""

    min_interval: float = 0.5
    max_interval: float = 30.0
    # Used when the server reports no usable progress and nothing predicts the end.
    fixed_interval: float = 5.0
    # How long comparable jobs took before (seconds), when known.
    expected_duration: float | None = None
    started_at: float | None = None
    _first: tuple[float, int] | None = field(default=None, init=False)
    _last: tuple[float, int] | None = field(default=None, init=False)
    _hint: float | None = field(default=None, init=False)

    def observe(self, now: float, progress: int | None, hint: float | None = None) -> None:
        """Record one status read (time, reported %, the server's poll-after hint)."""
        if self.started_at is None:
            self.started_at = now
        self._hint = hint
        if progress is None or progress <= 0 or progress >= 100:
            return
        if self._first is None:
            self._first = (now, progress)
        if self._last is None or progress != self._last[1]:
            self._last = (now, progress)

    def remaining(self, now: float) -> float | None:
        """Predicted seconds until completion (negative when overdue), or None if unknown."""
        rate = self._rate()
        if rate is not None and self._last is not None:
            t_last, p_last = self._last
            return (100 - p_last) / rate - (now - t_last)
        if self.expected_duration is not None and self.started_at is not None:
            return self.expected_duration - (now - self.started_at)
        return None

    def next_delay(self, now: float) -> float:
        """Seconds to wait before the next status read."""
        if self._hint is not None:
            return min(max(self._hint, 0.1), self.max_interval)
        remaining = self.remaining(now)
        if remaining is None:
            # Nothing to predict from yet: no video is done within a second, so look again
            # after as long as it has run (1, 2, 4 s ...), up to the fixed interval.
            elapsed = 0.0 if self.started_at is None else now - self.started_at
            return _clamp(elapsed, max(1.0, self.min_interval), self.fixed_interval)
        if remaining > 0:
            # Progress comes in whole points, so the end may be one point's time earlier than
            # predicted; aim at that earliest moment. A rate measured over a good stretch of
            # the curve is trusted a little more.
            rate = self._rate()
            point = 1 / rate if rate else 0.0
            earliest = remaining - point
            well_measured = self._measured_span() >= 20
            fine_grained = point <= 2 * self.min_interval
            if well_measured and fine_grained and remaining <= 4 * self.min_interval:
                # Close to an end known to within a point: one read aimed at the middle of that
                # point beats several reads on the way.
                return _clamp(remaining - point / 2, self.min_interval, self.max_interval)
            share = 0.7 if well_measured else 0.5
            return _clamp(earliest * share, self.min_interval, self.max_interval)
        # Overdue (progress capped at 99, a slow finish): back off gently, never past fixed.
        return _clamp(-remaining / 4, self.min_interval, self.fixed_interval)

    def _measured_span(self) -> int:
        """How many progress points the rate estimate is based on."""
        if self._first is None or self._last is None:
            return 0
        return self._last[1] - self._first[1]

    def _rate(self) -> float | None:
        """Progress points per second, from the first and latest positive readings."""
        if self._last is None:
            return None
        t_last, p_last = self._last
        if self._first is not None and t_last > self._first[0] and p_last > self._first[1]:
            return (p_last - self._first[1]) / (t_last - self._first[0])
        if self.started_at is not None and t_last > self.started_at:
            return p_last / (t_last - self.started_at)
        return None


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
