"""When to ask for a job's status next.

A fixed 1 s poll wastes requests on multi-minute jobs and still lags by up to a second. The
planner instead reads the progress curve the server reports and spends reads where they decide
something: while the end is far a read refines the estimate, near it a read collects the video.

The model. While a job runs its progress is taken to be a straight line `p(t) = a + b t`. Each
reading (taken between sending the request and receiving the answer, reported as a whole
percentage) only bounds the line: it passed through [p - 0.5, p + 1) during that request, so
truncating and rounding servers both fit. Progress cannot start before the job was submitted
(`started_at`). Every line meeting all the bounds is possible, and together they give a
*window* [earliest, latest] for the instant the line reaches 100 %. Queued readings are not
part of the line: the speed is measured from the first reading in the running state, so the
time spent queued never dilutes it. When a reading contradicts the older ones (the curve is
not straight, the server restarted a phase), the oldest readings are dropped until the rest
agree.

The schedule, after each read:

- the window is at most `target_lag` wide: read once at its latest instant; the job is done by
  then and was done at most `target_lag` earlier (with fewer than three readings, which any
  line fits, the window is first widened by a tenth of the time left, for a bent curve);
- otherwise read no later than `target_lag` after the earliest possible end, and never further
  ahead than `reach` times the time the estimate rests on (since the job was last seen not
  running): an extrapolation is only trusted as far as the evidence behind it. With a single
  reading, the speed of similar jobs (`expected_running`) may stretch that step up to half the
  time to the end it predicts, at most twice as far;
- past the latest possible end (progress capped at 99, a slow finish), back off gently.

Before any progress is known (queued, or running without progress) the planner ramps from half
the fixed interval up to the fixed interval. A job submitted just now is first read one ramp
step after its submission: the create answer was the first look. When the server reports no
progress at all for a fixed interval of running and similar jobs took `expected_duration`, it
halves the time left to that instead.

`openai-poll-after-ms` is a floor: never poll sooner than the server asks; when it asks for
more than `max_interval`, the server wins. It never replaces the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Bounds of the line's speed (points per second) and intercept, so the set of possible lines
# is a bounded polygon. A job reaching 100 % in under a hundredth of a second, or one needing
# more than a year, is not a video job.
_MIN_RATE = 100 / (366 * 86400)
_MAX_RATE = 10_000.0
_MAX_INTERCEPT = 1e9
# A percentage read as p may have been anything in [p - 0.5, p + 1): truncated or rounded.
_BELOW = 0.5
_ABOVE = 1.0
# At or above this, the reading only says "at least": servers cap at 99 until completed.
_CAPPED = 99
# Readings kept for the line: the first (the longest baseline) and the latest ones.
_KEEP = 6
# Until this many readings agree on one line, the curve may bend by this share of the time
# left either way.
_STRAIGHT = 3
_BEND = 0.1
# A prior (similar jobs) is trusted to this relative error.
_PRIOR_TOLERANCE = 0.25


@dataclass(frozen=True)
class _Reading:
    """One progress reading: the server sampled it somewhere in [sent, at]."""

    sent: float
    at: float
    progress: int


# A half-plane  u * a + v * b <= w  over the line's (intercept a, speed b).
_HalfPlane = tuple[float, float, float]
_Point = tuple[float, float]


@dataclass
class PollPlanner:
    """Decides the delay before the next status read of one job."""

    min_interval: float = 0.5
    max_interval: float = 30.0
    # Used when the server reports no usable progress and nothing predicts the end.
    fixed_interval: float = 5.0
    # How long comparable jobs took before (seconds from submission to completion), when known.
    expected_duration: float | None = None
    started_at: float | None = None
    # How late after completion the planner aims to notice it, at most (seconds).
    target_lag: float = 1.0
    # How far ahead an estimate may be trusted, as a multiple of the time it rests on.
    reach: float = 1.5
    # How long comparable jobs took to go from 0 to 100 % once running (seconds), when known.
    expected_running: float | None = None
    _readings: list[_Reading] = field(default_factory=list, init=False)
    _anchor: float | None = field(default=None, init=False)
    _silent_since: float | None = field(default=None, init=False)
    _queued: bool = field(default=False, init=False)
    _hint: float | None = field(default=None, init=False)
    _observed: bool = field(default=False, init=False)
    _window: tuple[float, float] | None = field(default=None, init=False)

    # -- input -------------------------------------------------------------------------------

    def observe(
        self,
        now: float,
        progress: int | None,
        hint: float | None = None,
        *,
        running: bool | None = None,
        sent: float | None = None,
    ) -> None:
        """Record one status read.

        `now` is when the answer arrived and `sent` when the request left (default: `now`);
        `running` is False while the provider says queued, True once it says running, None when
        unknown (then any positive progress counts as running). `hint` is the server's
        poll-after hint in seconds.
        """
        if self.started_at is None:
            self.started_at = now if sent is None else sent
        self._observed = True
        self._hint = hint
        self._queued = running is False
        sent = now if sent is None else min(sent, now)
        if running is False or progress is None or not 0 < progress < 100:
            if running is False or (progress is not None and progress <= 0):
                # Not running yet, or running without progress so far: the speed is measured
                # from the readings after this one.
                self._anchor = now
            if running is not False and self._silent_since is None:
                self._silent_since = now
            return
        self._readings.append(_Reading(sent, now, progress))
        if len(self._readings) > _KEEP:
            del self._readings[1]
        self._refit()

    # -- output ------------------------------------------------------------------------------

    def initial_delay(self, now: float) -> float:
        """Seconds to wait before the very first read of a job submitted at `started_at`.

        The create call's answer was the first look at a job; no video is done within the first
        ramp step, so the first status read waits that long after submission. A job submitted
        long ago (resumed after a restart) is read at once.
        """
        if self._observed or self.started_at is None:
            return 0.0
        return max(0.0, self.started_at + self._ramp_floor() - now)

    def window(self, now: float) -> tuple[float, float] | None:
        """The earliest and latest instants the job can reach 100 %, from its progress curve."""
        if self._window is None:
            return None
        earliest, latest = self._window
        return max(earliest, now), max(latest, now)

    def remaining(self, now: float) -> float | None:
        """Predicted seconds until completion (negative when overdue), or None if unknown."""
        if self._window is not None:
            earliest, latest = self._window
            if len(self._readings) >= 2 and latest > now:
                return (max(earliest, now) + latest) / 2 - now
            return latest - now  # one reading: its latest end (progress counted from submission)
        if self.expected_duration is not None and self.started_at is not None:
            return self.started_at + self.expected_duration - now
        return None

    @property
    def running_seconds(self) -> float | None:
        """How long 0 to 100 % takes at the measured speed (for the duration history)."""
        if len(self._readings) < 2:
            return None
        first, last = self._readings[0], self._readings[-1]
        span = (last.sent + last.at) / 2 - (first.sent + first.at) / 2
        points = last.progress - first.progress
        if span <= 0 or points <= 0:
            return None
        return 100 * span / points

    def next_delay(self, now: float) -> float:
        """Seconds to wait before the next status read."""
        delay = _clamp(self._plan(now), self.min_interval, self.max_interval)
        if self._hint is not None:
            delay = max(delay, self._hint)  # a floor; above max_interval the server wins
        return delay

    # -- planning ----------------------------------------------------------------------------

    def _plan(self, now: float) -> float:
        if self._window is None:
            return self._without_progress(now)
        earliest, latest = self._window
        if latest < now:
            # Past every line the readings allow (capped at 99, a slow finish): back off gently,
            # never past the fixed interval.
            return _clamp((now - latest) / 4, self.min_interval, self.fixed_interval)
        # Two points always fit a line: until a third confirms it, allow for a bent curve.
        bend = _BEND * (latest - now) if len(self._readings) < _STRAIGHT else 0.0
        earliest = max(earliest - bend, now)
        if latest + bend - earliest <= self.target_lag:
            return latest - now  # done by then, and not long before
        target = latest
        if len(self._readings) >= 2:
            # The speed is measured: the job may end at `earliest`, so look by then + the lag.
            target = min(target, earliest + self.target_lag)
        anchor = self._anchor if self._anchor is not None else self._origin()
        evidence = max(now - anchor, self.min_interval)
        step = self.reach * evidence
        prior = self._prior_end()
        if prior is not None and prior <= latest:
            # One reading, and similar jobs' speed agrees with it: halve the time to their
            # earliest end, though never more than twice as far as the evidence alone allows.
            step = max(step, min((prior - now) / 2, 2 * step))
        return min(target, now + step) - now

    def _prior_end(self) -> float | None:
        """With a single reading, the earliest end at the speed of similar jobs."""
        if len(self._readings) != 1 or not self.expected_running or self.expected_running <= 0:
            return None
        reading = self._readings[0]
        fastest = 100 / self.expected_running * (1 + _PRIOR_TOLERANCE)
        return reading.at + (100 - reading.progress - _ABOVE) / fastest

    def _without_progress(self, now: float) -> float:
        """No usable progress: a ramp up to the fixed interval, or the history's duration."""
        start = now if self.started_at is None else self.started_at
        silent = 0.0 if self._silent_since is None else now - self._silent_since
        if self.expected_duration is None or self._queued or silent < self.fixed_interval:
            # Queued, or running without progress only just now: the speed may show any moment.
            # Look again after as long as it has run, from half the fixed interval up to it.
            return _clamp(now - start, self._ramp_floor(), self.fixed_interval)
        # A server that reports no progress at all: halve the time left to the end similar jobs
        # reached, no denser than the lag aimed at; once overdue, back off gently.
        remaining = start + self.expected_duration - now
        floor = max(self.min_interval, self.target_lag)
        if remaining > 0:
            return _clamp(remaining / 2, floor, self.max_interval)
        return _clamp(-remaining / 4, floor, self.fixed_interval)

    def _ramp_floor(self) -> float:
        return _clamp(self.fixed_interval / 2, self.min_interval, self.max_interval)

    def _origin(self) -> float:
        if self.started_at is not None:
            return self.started_at
        return self._readings[0].sent if self._readings else 0.0

    # -- the set of possible lines -----------------------------------------------------------

    def _refit(self) -> None:
        """Recompute the window, dropping the oldest readings that contradict the newer ones."""
        origin = self._origin()
        while True:
            polygon = _polygon(self._constraints(origin))
            if polygon or len(self._readings) <= 1:
                break
            del self._readings[0]
        if not polygon:
            self._window = None
            return
        ends = [(100 - a) / b + origin for a, b in polygon]
        self._window = (min(ends), max(ends))

    def _constraints(self, origin: float) -> list[_HalfPlane]:
        """Half-planes u*a + v*b <= w on the line p(t) = a + b*(t - origin)."""
        planes: list[_HalfPlane] = [(1.0, 0.0, 0.0)]  # p(origin) <= 0: none before submission
        for reading in self._readings:
            # The line was at least progress - below when the answer came back ...
            planes.append((-1.0, -(reading.at - origin), _BELOW - reading.progress))
            if reading.progress < _CAPPED:
                # and below progress + above when it was sent
                planes.append((1.0, reading.sent - origin, reading.progress + _ABOVE))
        return planes


def _polygon(planes: list[_HalfPlane]) -> list[_Point]:
    """The vertices of the bounded convex polygon where every half-plane holds (maybe empty)."""
    box: list[_Point] = [
        (-_MAX_INTERCEPT, _MIN_RATE),
        (0.0, _MIN_RATE),
        (0.0, _MAX_RATE),
        (-_MAX_INTERCEPT, _MAX_RATE),
    ]
    return _clip_all(box, planes)


def _clip_all(polygon: list[_Point], planes: list[_HalfPlane]) -> list[_Point]:
    for plane in planes:
        polygon = _clip(polygon, plane)
        if not polygon:
            return []
    return polygon


def _clip(polygon: list[_Point], plane: _HalfPlane) -> list[_Point]:
    """Sutherland-Hodgman: the part of a convex polygon where u*a + v*b <= w."""
    u, v, w = plane
    scale = max(abs(u), abs(v), abs(w), 1.0)
    tolerance = 1e-12 * scale

    def side(point: _Point) -> float:
        return u * point[0] + v * point[1] - w

    result: list[_Point] = []
    count = len(polygon)
    for index in range(count):
        current, following = polygon[index], polygon[(index + 1) % count]
        s_current, s_following = side(current), side(following)
        if s_current <= tolerance:
            result.append(current)
        if (s_current < -tolerance < tolerance < s_following) or (
            s_following < -tolerance < tolerance < s_current
        ):
            share = s_current / (s_current - s_following)
            result.append(
                (
                    current[0] + share * (following[0] - current[0]),
                    current[1] + share * (following[1] - current[1]),
                )
            )
    if len(result) < 3 or not all(math.isfinite(x) and math.isfinite(y) for x, y in result):
        return []
    return result


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


# The longest wait between two safety-net reads of a job whose provider calls back.
SAFETY_NET_CAP = 1800.0
# A provider's callback is expected by this multiple of the job's usual duration.
_CALLBACK_SLACK = 1.5


@dataclass
class SafetyNetPlanner(PollPlanner):
    """The reads of a job whose provider calls back when it is done: only a safety net for a
    callback that is lost.

    The first read comes once the job should long be finished (1.5 times as long as similar
    jobs took, when known) and no sooner than `min_interval` after submission; each later wait
    doubles, up to `max_interval`. A callback cuts any wait short (bot/jobs/tracking.py), so a
    job is usually read once: right after its callback.
    """

    _next_at: float | None = field(default=None, init=False)
    _waits: int = field(default=0, init=False)

    def initial_delay(self, now: float) -> float:
        if self.started_at is None:
            return 0.0
        if self._next_at is None:
            first = self.min_interval
            if self.expected_duration is not None:
                first = max(first, _CALLBACK_SLACK * self.expected_duration)
            self._next_at = self.started_at + min(first, self.max_interval)
        return max(0.0, self._next_at - now)

    def next_delay(self, now: float) -> float:
        self._waits += 1
        wait = min(self.min_interval * float(2**self._waits), self.max_interval)
        self._next_at = now + wait
        return wait
