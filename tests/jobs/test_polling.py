"""The poll planner: few reads, little lag, the queue kept out of the speed, hints as floors.

Everything here runs on a fake clock: `schedule` is a pure function that drives a planner over
a scripted progress curve and returns the instants it read the job at. No test waits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bot.jobs.durations import DurationHistory
from bot.jobs.polling import PollPlanner, SafetyNetPlanner

# The bot's default poll settings (bot/config.py).
DEFAULTS = {"min_interval": 0.5, "max_interval": 30.0, "fixed_interval": 5.0}
# A reading's round trip: the server samples the job somewhere inside it.
LATENCY = 0.002
# The server starts its clock this long after the bot noted the submission.
SERVER_DELAY = 0.003

Curve = Callable[[float], tuple[str, int | None]]


def from_submission(duration: float, queue: float = 0.1) -> Curve:
    """The fake API's curve: queued at 0 % for `queue` of the time, then 100*t/duration."""

    def at(t: float) -> tuple[str, int | None]:
        if t >= duration:
            return "completed", 100
        if t < queue * duration:
            return "queued", 0
        return "in_progress", min(99, int(100 * t / duration))

    return at


def from_run_start(duration: float, queue: float = 0.3) -> Curve:
    """Queued at 0 %, then 0 -> 100 % over the running phase only (queue time not counted)."""

    def at(t: float) -> tuple[str, int | None]:
        if t >= duration:
            return "completed", 100
        start = queue * duration
        if t < start:
            return "queued", 0
        return "in_progress", min(99, int(100 * (t - start) / (duration - start)))

    return at


def silent(duration: float) -> Curve:
    """A server that reports no progress at all until the job is done."""

    def at(t: float) -> tuple[str, int | None]:
        return ("completed", 100) if t >= duration else ("in_progress", None)

    return at


def stuck_at_99(duration: float, tail: float = 0.05) -> Curve:
    """Linear to 99 % at (1 - tail) of the time, then 99 % until done (a final encode)."""

    def at(t: float) -> tuple[str, int | None]:
        if t >= duration:
            return "completed", 100
        if t < 0.1 * duration:
            return "queued", 0
        return "in_progress", min(99, int(99 * t / ((1 - tail) * duration)))

    return at


@dataclass(frozen=True)
class Schedule:
    reads: list[float]  # when each status request was sent, from the submission
    lag: float  # from completion to the read that saw it

    @property
    def count(self) -> int:
        return len(self.reads)


def schedule(
    planner: PollPlanner,
    curve: Curve,
    duration: float,
    *,
    hint: float | None = None,
    tell_state: bool = True,
) -> Schedule:
    """Drive `planner` over `curve` on a fake clock, as tracking.track does, until completed."""
    planner.started_at = 0.0
    now = planner.initial_delay(0.0)
    reads: list[float] = []
    while True:
        sent = now
        state, progress = curve(sent + LATENCY / 2 - SERVER_DELAY)
        now = sent + LATENCY
        reads.append(sent)
        if state == "completed":
            return Schedule(reads, now - (duration + SERVER_DELAY))
        if tell_state:
            planner.observe(now, progress, hint, running=state != "queued", sent=sent)
        else:  # an old caller: no provider state, no send time
            planner.observe(now, progress, hint)
        now += planner.next_delay(now)
        assert now < 20 * duration + 600, "the planner never saw the job complete"


def sdk_reads(duration: float, hint: float | None = None) -> int:
    """Status reads of the official SDK: one at once, then every hint (default 1 s)."""
    step = (hint or 1.0) + LATENCY
    return math.ceil((duration + SERVER_DELAY) / step) + 1


def planner(**overrides: float | None) -> PollPlanner:
    return PollPlanner(**{**DEFAULTS, **overrides})  # type: ignore[arg-type]


# -- the read schedule of scripted jobs ----------------------------------------------------------


@pytest.mark.parametrize("hint", [None, 1.0])
def test_a_20_s_job_takes_four_reads_and_is_seen_within_a_second(hint: float | None) -> None:
    run = schedule(planner(), from_submission(20.0), 20.0, hint=hint)
    assert run.count == 4  # the SDK: 21
    assert 0 <= run.lag <= 1.0
    assert sum(t < 2.0 for t in run.reads) == 0  # none bunched up at the start
    if hint is not None:
        assert all(b - a >= hint for a, b in zip(run.reads, run.reads[1:], strict=False))


@pytest.mark.parametrize("hint", [None, 1.0])
@pytest.mark.parametrize("duration", [float(d) for d in range(10, 301, 5)])
def test_every_length_is_seen_within_a_second_at_a_fifth_of_the_sdk_reads(
    duration: float, hint: float | None
) -> None:
    run = schedule(planner(), from_submission(duration), duration, hint=hint)
    assert 0 <= run.lag <= 1.0
    if duration >= 20:
        assert run.count * 5 <= sdk_reads(duration, hint)


def test_a_120_s_job_is_not_read_every_half_second_near_its_end() -> None:
    run = schedule(planner(), from_submission(120.0), 120.0)
    assert run.lag <= 1.0
    assert run.count <= 12
    assert sum(t >= 108 for t in run.reads) <= 3  # the last 10 %
    gaps = [b - a for a, b in zip(run.reads, run.reads[1:], strict=False)]
    assert min(gaps) >= 0.9


@pytest.mark.parametrize("duration", [20.0, 30.0, 60.0, 120.0, 300.0])
def test_the_queue_does_not_slow_the_speed_estimate(duration: float) -> None:
    # 30 % queued, then 0 -> 100 % over the rest: counting the queue would halve the speed
    # and put the next read long after the end.
    run = schedule(planner(), from_run_start(duration, queue=0.3), duration)
    assert 0 <= run.lag <= 1.0
    assert run.count * 4 <= sdk_reads(duration)


def test_a_job_stuck_at_99_before_the_end_is_still_seen_promptly() -> None:
    for duration in (30.0, 120.0, 300.0):
        run = schedule(planner(), stuck_at_99(duration), duration)
        assert 0 <= run.lag <= 1.0
        assert run.count * 3 <= sdk_reads(duration)


def test_callers_that_do_not_tell_the_state_still_get_a_good_schedule() -> None:
    run = schedule(planner(), from_submission(60.0), 60.0, tell_state=False)
    assert run.lag <= 1.0
    assert run.count * 5 <= sdk_reads(60.0)


# -- the server's hint ---------------------------------------------------------------------------


def test_the_hint_is_a_floor_not_the_schedule() -> None:
    plain = schedule(planner(), from_submission(120.0), 120.0)
    hinted = schedule(planner(), from_submission(120.0), 120.0, hint=1.0)
    assert hinted.count == plain.count  # the SDK would read 121 times
    p = planner()
    p.observe(0.0, 10, hint=2.5, running=True)
    assert p.next_delay(0.0) >= 2.5
    p.observe(1.0, 12, hint=2.5, running=True)
    assert p.next_delay(1.0) >= 2.5  # even when the planner would look sooner


def test_a_hint_longer_than_max_interval_wins() -> None:
    p = planner(max_interval=10.0)
    p.observe(0.0, 10, hint=45.0, running=True)
    assert p.next_delay(0.0) == 45.0
    run = schedule(planner(max_interval=10.0), from_submission(60.0), 60.0, hint=45.0)
    assert all(b - a >= 45.0 for a, b in zip(run.reads, run.reads[1:], strict=False))


# -- the first read, the queue, no progress ------------------------------------------------------


def test_a_fresh_job_is_first_read_after_the_first_ramp_step_a_resumed_one_at_once() -> None:
    p = planner()
    p.started_at = 100.0
    assert p.initial_delay(100.0) == 2.5  # half the fixed interval
    assert p.initial_delay(101.0) == 1.5
    assert p.initial_delay(400.0) == 0.0  # submitted long ago: read now
    p.observe(102.5, 0, running=False)
    assert p.initial_delay(102.5) == 0.0  # only before the first read


def test_without_progress_it_ramps_up_to_the_fixed_interval() -> None:
    p = planner()
    p.observe(0.0, None)
    assert p.next_delay(0.0) == 2.5  # half the fixed interval, not a 1 s hammer
    p.observe(3.0, None)
    assert p.next_delay(3.0) == 3.0
    p.observe(100.0, None)
    assert p.next_delay(100.0) == 5.0


def test_a_queued_job_is_read_at_most_every_fixed_interval() -> None:
    p = planner(expected_duration=600.0)
    for t in (2.5, 5.0, 10.0, 15.0, 300.0):
        p.observe(t, 0, running=False)
        assert 2.5 <= p.next_delay(t) <= 5.0  # it may start any moment


def test_history_predicts_the_end_when_the_server_reports_nothing() -> None:
    run = schedule(planner(expected_duration=120.0, max_interval=60), silent(120.0), 120.0)
    assert run.count <= 15
    assert run.lag <= 1.0


def test_progress_capped_at_99_backs_off_gently_when_overdue() -> None:
    p = planner()
    p.observe(0.0, 0)
    p.observe(10.0, 50)
    p.observe(20.0, 99)
    assert p.next_delay(20.0) == 0.5
    assert p.next_delay(60.0) == 5.0  # long overdue: no faster than the fixed interval


# -- the estimate ------------------------------------------------------------------------------


def test_the_speed_is_measured_from_the_running_phase_only() -> None:
    p = planner()
    p.started_at = 0.0
    p.observe(10.0, 0, running=False)
    p.observe(20.0, 0, running=False)  # queued for 20 s
    p.observe(25.0, 10, running=True)
    p.observe(30.0, 20, running=True)  # 2 points/s since it started running
    remaining = p.remaining(30.0)
    assert remaining is not None
    assert 37 <= remaining <= 43  # 80 points at 2/s; counting the queue would say ~120
    assert p.running_seconds == pytest.approx(50.0, rel=0.1)


def test_the_window_narrows_as_readings_come_in() -> None:
    p = planner()
    p.started_at = 0.0
    p.observe(2.5, 12, running=True, sent=2.5)
    first = p.window(2.5)
    p.observe(6.25, 31, running=True, sent=6.25)
    second = p.window(6.25)
    assert first is not None
    assert second is not None
    assert second[1] - second[0] < first[1] - first[0]
    assert second[0] <= 20.0 <= second[1]


def test_readings_that_contradict_the_old_ones_replace_them() -> None:
    # The provider's clock jumped (or a phase restarted): the old line no longer holds.
    p = planner()
    p.started_at = 0.0
    for t, progress in ((10.0, 10), (20.0, 20), (30.0, 30), (31.0, 90)):
        p.observe(t, progress, running=True)
    window = p.window(31.0)
    assert window is not None
    assert window[1] < 60  # not the old line's end at 100 s
    assert 0.5 <= p.next_delay(31.0) <= 30.0


def test_a_prior_from_similar_jobs_saves_reads_and_a_wrong_one_costs_little_lag() -> None:
    durations = [float(d) for d in range(20, 301, 10)]
    plain = [schedule(planner(), from_submission(d), d) for d in durations]
    right = [schedule(planner(expected_running=d), from_submission(d), d) for d in durations]
    assert sum(r.count for r in right) < sum(r.count for r in plain)
    assert all(r.lag <= 1.0 for r in right)
    for duration in durations:
        # Similar jobs ran 4x slower, or 4x faster, than this one.
        for running in (4 * 0.7 * duration, 0.7 * duration / 4):
            curve = from_run_start(duration, queue=0.3)
            assert schedule(planner(expected_running=running), curve, duration).lag <= 2.5


# -- the history --------------------------------------------------------------------------------


def test_history_averages_per_kind_and_remembers_the_running_phase() -> None:
    history = DurationHistory(weight=0.5)
    assert history.expected("sora-2", "720x1280", 4) is None
    history.record("sora-2", "720x1280", 4, 100.0)
    history.record("sora-2", "720x1280", 4, 50.0, running=40.0)
    assert history.expected("sora-2", "720x1280", 4) == 75.0
    assert history.expected_running("sora-2", "720x1280", 4) == 40.0
    assert history.expected("sora-2", "720x1280", 8) is None


def test_history_forgets_the_least_recently_used_kinds_beyond_its_cap() -> None:
    history = DurationHistory(max_kinds=2)
    history.record("a", "s", 4, 10.0)
    history.record("b", "s", 4, 20.0)
    assert history.expected("a", "s", 4) == 10.0  # "a" is now the most recently used
    history.record("c", "s", 4, 30.0)
    assert len(history) == 2
    assert history.expected("b", "s", 4) is None
    assert history.expected("a", "s", 4) == 10.0


def test_a_job_whose_provider_calls_back_is_read_only_as_a_safety_net() -> None:
    planner = SafetyNetPlanner(min_interval=120, max_interval=1800, fixed_interval=120)
    planner.started_at = 1000.0
    # The first read two minutes after the submission, then waits that double, capped.
    assert planner.initial_delay(1000.0) == 120
    assert [planner.next_delay(1120.0 + n) for n in range(6)] == [240, 480, 960, 1800, 1800, 1800]


def test_the_safety_net_waits_past_the_usual_duration_of_similar_jobs() -> None:
    planner = SafetyNetPlanner(
        min_interval=120, max_interval=1800, fixed_interval=120, expected_duration=400
    )
    planner.started_at = 1000.0
    assert planner.initial_delay(1000.0) == 600  # 1.5 times the 400 s similar jobs took


def test_a_resumed_job_past_its_safety_net_read_is_read_at_once() -> None:
    planner = SafetyNetPlanner(min_interval=120, max_interval=1800, fixed_interval=120)
    planner.started_at = 1000.0
    assert planner.initial_delay(5000.0) == 0
