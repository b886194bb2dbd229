"""The poll planner: sparse when the end is far, dense near it, honest without progress."""

from __future__ import annotations

import pytest

from bot.jobs.polling import PollPlanner


def simulate(planner: PollPlanner, duration: float, report: str = "linear") -> tuple[int, float]:
    """Poll a job that completes at `duration`; return (status reads, lag after completion)."""
    now, reads = 0.0, 0
    planner.started_at = 0.0
    while True:
        reads += 1
        if now >= duration:
            return reads, now - duration
        fraction = now / duration
        if report == "linear":
            progress: int | None = int(fraction * 100)
        elif report == "capped":
            progress = min(99, int(fraction * 120))
        else:
            progress = None
        planner.observe(now, progress)
        now += planner.next_delay(now)


@pytest.mark.parametrize("duration", [60.0, 180.0, 600.0])
def test_linear_progress_needs_few_reads_and_little_lag(duration: float) -> None:
    reads, lag = simulate(PollPlanner(min_interval=0.5, max_interval=60), duration)
    fixed_reads = int(duration) + 1  # a fixed 1 s poll
    assert reads * 5 <= fixed_reads
    assert lag <= 1.0


def test_short_jobs_still_save_reads() -> None:
    reads, lag = simulate(PollPlanner(min_interval=0.5, max_interval=60), 20.0)
    assert reads * 2 <= 21
    assert lag <= 1.0


def test_server_hint_wins() -> None:
    planner = PollPlanner()
    planner.observe(0.0, 10, hint=2.5)
    assert planner.next_delay(0.0) == 2.5


def test_without_progress_it_ramps_up_to_the_fixed_interval() -> None:
    planner = PollPlanner(min_interval=0.5, fixed_interval=5.0)
    planner.observe(0.0, None)
    assert planner.next_delay(0.0) == 1.0  # no video is done within a second
    planner.observe(3.0, None)
    assert planner.next_delay(3.0) == 3.0
    planner.observe(100.0, None)
    assert planner.next_delay(100.0) == 5.0


def test_history_predicts_the_end_when_the_server_reports_nothing() -> None:
    reads, lag = simulate(PollPlanner(expected_duration=120.0, max_interval=60), 120.0, "none")
    assert reads <= 15
    assert lag <= 1.0


def test_progress_capped_at_99_backs_off_gently_when_overdue() -> None:
    planner = PollPlanner(min_interval=0.5, fixed_interval=5.0)
    planner.observe(0.0, 0)
    planner.observe(10.0, 50)
    planner.observe(20.0, 99)
    assert planner.next_delay(20.0) == 0.5
    assert planner.next_delay(60.0) == 5.0  # long overdue: no faster than the fixed interval
