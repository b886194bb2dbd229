"""The progress line of `video-bot generate`: it moves between status reads (elapsed, ETA), and
says when the download is being retried. A fake clock and a captured terminal: no waiting."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from bot.catalogue import default_catalogue
from bot.config import load_settings
from bot.domain import OPERATOR, JobView, Phase, validate_request
from bot.fake_api import FakeSettings, FakeVideosServer, Fault
from bot.terminal import progress
from bot.terminal.generate import GenerateOptions, generate

START = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    """What a terminal shows: the line is redrawn in place (carriage return, erase line)."""

    def isatty(self) -> bool:
        return True

    def line(self) -> str:
        """The line as it reads now: what was drawn after the last erase."""
        return self.getvalue().rsplit("\r\x1b[2K", 1)[-1]


def view(phase: Phase, progress: int | None = None, eta_in: float | None = None) -> JobView:
    request = validate_request(default_catalogue(), OPERATOR, "a paper boat")
    return JobView(
        ref="ref",
        request=request,
        phase=phase,
        started_at=START,
        progress=progress,
        eta_at=None if eta_in is None else START + eta_in,
        video_id="video_1",
    )


def test_elapsed_and_eta_move_on_between_two_status_reads() -> None:
    clock, terminal = Clock(), Terminal()
    line = progress.ProgressLine(terminal, clock=clock)
    clock.now += 10
    line.update(view(Phase.RUNNING, 40, eta_in=60))  # a status read
    assert line_text(terminal).endswith("40%  elapsed 0:10  ETA 0:50")
    clock.now += 5
    line.tick()  # no status read: a second went by, five times
    assert line_text(terminal).endswith("40%  elapsed 0:15  ETA 0:45")
    clock.now += 50
    line.tick()  # later than the estimate: no negative time, no frozen 0:00
    assert line_text(terminal).endswith("40%  elapsed 1:05  ETA any moment")


def line_text(terminal: Terminal) -> str:
    return terminal.line().rstrip()


async def test_the_line_ticks_every_second_on_its_own() -> None:
    clock, terminal = Clock(), Terminal()
    line = progress.ProgressLine(terminal, clock=clock)
    line.update(view(Phase.QUEUED, None, eta_in=30))
    shown: list[str] = []

    async def a_second_goes_by(seconds: float) -> None:
        clock.now += seconds
        if len(shown) == 3:
            raise asyncio.CancelledError  # how the command stops it
        shown.append(line_text(terminal))

    with pytest.raises(asyncio.CancelledError):
        await line.keep_ticking(sleep=a_second_goes_by)
    assert [s[s.index("elapsed") :] for s in shown] == [
        "elapsed 0:00  ETA 0:30",
        "elapsed 0:01  ETA 0:29",
        "elapsed 0:02  ETA 0:28",
    ]
    assert line_text(terminal).endswith("elapsed 0:03  ETA 0:27")


def test_a_pipe_gets_one_line_per_change_not_per_second() -> None:
    clock, piped = Clock(), io.StringIO()
    line = progress.ProgressLine(piped, clock=clock)
    line.update(view(Phase.RUNNING, 40, eta_in=60))
    for _ in range(5):
        clock.now += 1
        line.tick()
    line.update(view(Phase.RUNNING, 60, eta_in=60))
    assert len(piped.getvalue().splitlines()) == 2


def test_a_retried_download_is_said() -> None:
    clock, terminal = Clock(), Terminal()
    line = progress.ProgressLine(terminal, clock=clock)
    line.update(view(Phase.DOWNLOADING, 100))
    assert line_text(terminal).startswith("downloading")
    line.note("retrying the download (attempt 2; the last one got HTTP 503)")
    assert line_text(terminal).endswith(
        "retrying the download (attempt 2; the last one got HTTP 503)"
    )
    clock.now += 1
    line.tick()
    assert "retrying the download" in line_text(terminal)  # until something changes


async def test_generate_says_when_it_retries_the_download(tmp_path: Path) -> None:
    """The real command's workflow against a server whose first download answers 503."""
    async with FakeVideosServer(FakeSettings(default_duration=1.0)) as videos:
        videos.settings.faults = [Fault(endpoint="content", kind="503")]
        settings = load_settings(
            openai_base_url=videos.base_url,
            poll_min_interval=0.2,
            poll_fixed_interval=0.3,
        )
        piped = io.StringIO()
        written = await generate(
            settings, GenerateOptions(prompt="a kite", out=tmp_path / "kite.mp4"), piped
        )
    assert written == len(videos.asset_bytes())
    lines = piped.getvalue().splitlines()
    retried = [line for line in lines if "retrying the download" in line]
    assert retried, lines
    assert "attempt 2" in retried[0]
    assert "HTTP 503" in retried[0]
    assert lines[-1].startswith("completed")
