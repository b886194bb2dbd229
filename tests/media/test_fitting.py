"""VideoFitter: how many ffmpeg processes run at once, whatever finishes together."""

from __future__ import annotations

import asyncio
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.media.fitting import VideoFitter

# A stand-in for ffmpeg that holds until the gate file exists, then answers like ffmpeg: the
# probe (`-i FILE` and no output) describes a video on stderr and exits 1; a frame grab writes a
# JPEG to its last argument.
FAKE_FFMPEG = """\
import os, sys, time
gate = {gate!r}
while not os.path.exists(gate):
    time.sleep(0.01)
if "-frames:v" in sys.argv:
    with open(sys.argv[-1], "wb") as out:
        out.write(b"\\xff\\xd8\\xff\\xd9")
    sys.exit(0)
sys.stderr.write(
    "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'in.mp4':\\n"
    "  Duration: 00:00:04.00, start: 0.000000, bitrate: 100 kb/s\\n"
    "  Stream #0:0[0x1](und): Video: h264, yuv420p, 320x240, 90 kb/s, 24 fps, 24 tbr\\n"
    "At least one output file must be specified\\n"
)
sys.exit(1)
"""


class Spawns:
    """Counts the ffmpeg processes started through asyncio, and how many were alive at once."""

    def __init__(self) -> None:
        self.started = 0
        self.peak = 0
        self._starting = 0
        self._procs: list[asyncio.subprocess.Process] = []
        self._changed = asyncio.Condition()

    async def reached(self, count: int, within: float = 10.0) -> None:
        """Wait until `count` processes have been started."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: self.started >= count)

    @property
    def alive(self) -> int:
        # A process's return code is set as soon as it exits, before anyone awaiting it
        # resumes: one with none is still running.
        return self._starting + sum(p.returncode is None for p in self._procs)

    def wrap(self, real: Any) -> Any:
        async def spawn(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
            self.started += 1
            self._starting += 1
            self.peak = max(self.peak, self.alive)
            async with self._changed:
                self._changed.notify_all()
            try:
                proc = await real(*args, **kwargs)
            finally:
                self._starting -= 1
            self._procs.append(proc)
            return proc

        return spawn


class Gate:
    """The file the fake ffmpeg waits for."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def open(self) -> None:
        self.path.touch()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    each = Gate(tmp_path / "gate")
    yield each
    each.open()  # never leave a fake ffmpeg waiting, whatever the test did


@pytest.fixture
def fake_ffmpeg(tmp_path: Path, gate: Gate) -> str:
    script = tmp_path / "ffmpeg"
    script.write_text(f"#!{sys.executable}\n" + FAKE_FFMPEG.format(gate=str(gate.path)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> Spawns:
    counter = Spawns()
    monkeypatch.setattr(
        asyncio, "create_subprocess_exec", counter.wrap(asyncio.create_subprocess_exec)
    )
    return counter


async def test_frame_grabs_run_at_most_workers_at_once(
    tmp_path: Path, fake_ffmpeg: str, gate: Gate, spawns: Spawns
) -> None:
    """200 videos finishing together must not start 200 ffmpeg processes."""
    fitter = VideoFitter(fake_ffmpeg, workers=2)
    sources = [tmp_path / f"video-{n}.mp4" for n in range(8)]
    for source in sources:
        source.write_bytes(b"not read by the fake")
    grabs = [
        asyncio.create_task(fitter.grab_frame(source, source.with_suffix(".jpg")))
        for source in sources
    ]
    try:
        # Every grab has had its chance to start a process: only the first two may have.
        await spawns.reached(2)
        for _ in range(20):
            await asyncio.sleep(0)
        assert spawns.started == 2
        gate.open()
        await asyncio.gather(*grabs)
    finally:
        gate.open()
        for task in grabs:
            task.cancel()
        await asyncio.gather(*grabs, return_exceptions=True)
    assert spawns.started == 2 * len(sources)  # a probe and a grab each
    assert spawns.peak <= 2
    assert all(source.with_suffix(".jpg").read_bytes()[:2] == b"\xff\xd8" for source in sources)


async def test_frame_grabs_do_not_wait_behind_long_encodes(
    tmp_path: Path, fake_ffmpeg: str, gate: Gate, spawns: Spawns
) -> None:
    """A thumbnail takes a moment; it has its own slots rather than queueing behind encodes."""
    fitter = VideoFitter(fake_ffmpeg, workers=1)
    source = tmp_path / "video.mp4"
    source.write_bytes(b"not read by the fake")
    # An encode holds the only encode slot (its probe waits at the gate).
    encode = asyncio.create_task(fitter.fit(source, 1_000_000, tmp_path / "fitted.mp4"))
    grab = asyncio.create_task(fitter.grab_frame(source, tmp_path / "thumb.jpg"))
    try:
        await spawns.reached(2)
        assert spawns.started == 2  # the encode's probe and the grab's, side by side
    finally:
        gate.open()
        grab.cancel()
        encode.cancel()
        await asyncio.gather(grab, encode, return_exceptions=True)
