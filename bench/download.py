"""Benchmark: memory and speed of `VideosClient.download` on a 200 MB video.

Run it with `python -m bench.download` (options: --bytes N, --runs N). It is not a test: it
prints figures. The goal (from the issue) is a peak RSS growth under 20 MB while downloading.

The project's fake Videos API runs in this same process and streams the MP4 in 256 KiB chunks,
so the memory figures include the server's side of the transfer as well as the client's: they
are an upper bound on what the client alone needs.

Peak RSS growth is the highest VmRSS (read from /proc/self/status about every 10 ms by a
thread) minus VmRSS just before the download, measured after start-up and after the job was
created and completed. ru_maxrss growth is the rise of the process's high-water mark over the
download; it stays at 0 when an earlier moment (an earlier run, start-up) was already higher.
The loop stall is the longest delay seen by a coroutine that asks to wake every 10 ms: it
shows how long the event loop was blocked, for instance by file writes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bot.fake_api import FakeSettings, FakeVideosServer
from bot.videos import CreateRequest, JobState, Timeouts, VideosClient

GOAL_MB = 20.0
MB = 1_000_000
MIB = 1024 * 1024
SAMPLE_INTERVAL = 0.010
_STATUS = Path("/proc/self/status")


@dataclass(frozen=True)
class Result:
    """The figures of one download."""

    size: int
    seconds: float
    peak_growth: int | None  # bytes; None without /proc
    maxrss_growth: int  # bytes
    samples: int
    loop_stall: float  # seconds

    @property
    def throughput(self) -> float:
        """MB/s (10^6 bytes per second)."""
        return self.size / self.seconds / MB


def vm_rss() -> int | None:
    """This process's resident set size in bytes, or None where /proc is missing."""
    try:
        text = _STATUS.read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def max_rss() -> int:
    """The process's RSS high-water mark in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class RssSampler:
    """Reads VmRSS every ~10 ms in a thread and keeps the highest value."""

    def __init__(self) -> None:
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            rss = vm_rss()
            if rss is not None:
                self.peak = max(self.peak, rss)
                self.samples += 1
            if self._stop.wait(SAMPLE_INTERVAL):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        rss = vm_rss()  # one last reading, after the download
        if rss is not None:
            self.peak = max(self.peak, rss)
            self.samples += 1


async def _watch_loop(stall: list[float]) -> None:
    """Record the longest gap beyond SAMPLE_INTERVAL between wake-ups of this coroutine."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(SAMPLE_INTERVAL)
        stall[0] = max(stall[0], time.perf_counter() - before - SAMPLE_INTERVAL)


async def _completed_job(client: VideosClient, fake: FakeVideosServer, size: int) -> str:
    video = await client.create(CreateRequest(prompt=f"benchmark download [bytes={size}]"))
    fake.advance(3600)  # far past any job's duration: the job is done
    video = await client.retrieve(video.id)
    if video.state is not JobState.COMPLETED:
        raise RuntimeError(f"the fake job is {video.status!r}, not completed")
    return video.id


async def one_run(client: VideosClient, fake: FakeVideosServer, size: int, workdir: Path) -> Result:
    """Create a job, let it finish, then download it once while measuring."""
    video_id = await _completed_job(client, fake, size)
    dest = workdir / f"{video_id}.mp4"
    gc.collect()
    baseline = vm_rss()
    maxrss_before = max_rss()
    stall = [0.0]
    watcher = asyncio.create_task(_watch_loop(stall))
    try:
        with RssSampler() as sampler:
            started = time.perf_counter()
            written = await client.download(video_id, dest, max_bytes=size + MIB)
            seconds = time.perf_counter() - started
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    try:
        on_disk = dest.stat().st_size
    finally:
        dest.unlink(missing_ok=True)
    if written != size or on_disk != size:
        raise RuntimeError(f"downloaded {written} bytes ({on_disk} on disk), expected {size}")
    return Result(
        size=written,
        seconds=seconds,
        peak_growth=None if baseline is None else sampler.peak - baseline,
        maxrss_growth=max_rss() - maxrss_before,
        samples=sampler.samples,
        loop_stall=stall[0],
    )


async def bench(size: int, runs: int) -> list[Result]:
    """Start the fake in-process, then download `runs` times into a temporary directory."""
    timeouts = Timeouts(connect=10, request=60, download=600)
    with tempfile.TemporaryDirectory(prefix="video-bot-bench-") as tmp:
        async with (
            FakeVideosServer(FakeSettings()) as fake,
            aiohttp.ClientSession() as session,
        ):
            client = VideosClient(session, fake.base_url, timeouts=timeouts)
            return [await one_run(client, fake, size, Path(tmp)) for _ in range(runs)]


def _mb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / MIB:.1f}"


def report(results: Sequence[Result], size: int) -> None:
    """Print the machine, one row per run, the median and the verdict."""
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print(
        f"machine: {platform.machine()}, {cpus} logical CPUs ({usable} usable), "
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}"
    )
    print(
        f"download: {size:,} bytes from the in-process fake Videos API over loopback, "
        f"to a temporary file in {tempfile.gettempdir()}"
    )
    print(
        "memory: the fake server streams from this same process, so its memory is "
        "counted too (an upper bound for the client alone)"
    )
    print()
    header = (
        f"{'run':>6} {'seconds':>8} {'MB/s':>8} {'peak RSS growth MiB':>20} "
        f"{'ru_maxrss growth MiB':>21} {'RSS samples':>12} {'max loop stall ms':>18}"
    )
    print(header)
    print("-" * len(header))
    for number, result in enumerate(results, 1):
        print(
            f"{number:>6} {result.seconds:>8.2f} {result.throughput:>8.1f} "
            f"{_mb(result.peak_growth):>20} {_mb(result.maxrss_growth):>21} "
            f"{result.samples:>12} {result.loop_stall * 1000:>18.1f}"
        )
    growths = [r.peak_growth for r in results if r.peak_growth is not None]
    median_growth = int(statistics.median(growths)) if growths else None
    print(
        f"{'median':>6} {statistics.median(r.seconds for r in results):>8.2f} "
        f"{statistics.median(r.throughput for r in results):>8.1f} "
        f"{_mb(median_growth):>20} "
        f"{_mb(int(statistics.median(r.maxrss_growth for r in results))):>21} "
        f"{'':>12} {statistics.median(r.loop_stall for r in results) * 1000:>18.1f}"
    )
    print()
    if not growths:
        print("goal: not measured (no /proc/self/status on this system)")
        return
    worst = max(growths) / MB
    verdict = "met" if worst < GOAL_MB else "NOT met"
    print(
        f"goal: peak RSS growth < {GOAL_MB:.0f} MB: {verdict} "
        f"(worst run {worst:.1f} MB = {max(growths) / MIB:.1f} MiB)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.download", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--bytes", type=int, default=200_000_000, help="size of the video")
    parser.add_argument("--runs", type=int, default=3, help="downloads to time")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.bytes < 1:
        parser.error("--runs and --bytes must be positive")
    results = asyncio.run(bench(args.bytes, args.runs))
    report(results, args.bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
