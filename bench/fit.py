"""Benchmark: speed and memory of `fit_to_limit` on a 12 s 1792x1024 clip fitted to 10 MiB.

Run it with `python -m bench.fit` from the repository root (options: --seconds, --size,
--limit-mib, --repeat). It is not a test: it prints figures, and whether each goal is met.
Exit status: 0 when every goal is met, 1 when one is not (2 for bad options).

The source is made first with the same ffmpeg the bot finds (`bot.media.encoding.find_ffmpeg`): a
zoom into the Mandelbrot set (fine detail in constant motion, like a camera move) encoded with
libx264 (veryfast, CRF 20, High profile, as a provider's renderer might), with stereo AAC audio
(a tone under pink noise, 160 kb/s). Its size is printed; it must be larger than the limit, or
the run says so and the figures mean little.

Each fit runs in a fresh Python process (`python -m bench.fit --worker ...`), which calls
`fit_to_limit` exactly as the bot does (no `threads`, the default timeout) and reports:

- wall seconds: `time.perf_counter()` around the `fit_to_limit` call alone (the probe and every
  encode try included; the worker's start-up is not);
- seconds per video-second: wall seconds / the source's duration (as ffmpeg reads it). Goal:
  < 1.0, i.e. faster than real time on this machine's cores;
- ffmpeg peak RSS: `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` in the worker, the largest
  resident set of any ffmpeg it started and reaped (the probe's and the encodes'). The worker
  exists so that the ffmpeg that made the source is not counted;
- bot process peak RSS: the worker's own `ru_maxrss` (Python, the bot's encoding module, asyncio);
- ffmpeg CPU seconds: user + system time of the worker's children; CPU / wall shows how many
  cores the encode kept busy.

The fitted file is then checked (size <= the limit: goal) and described (frame size, duration,
bitrate). The last run's result is compared with the source by SSIM (ffmpeg's `ssim` filter,
the fitted video scaled back to the source size when it was scaled down), to show what the size
cost in quality; it has no goal. Goals are judged as: size on every run, speed on the median run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.media import encoding
from bot.media.encoding import EncodeError, find_ffmpeg, fit_to_limit, plan_encode, probe

MIB = 1024 * 1024
MB = 1_000_000
GOAL_SPEED = 1.0  # seconds of wall time per second of video
ROOT = Path(__file__).resolve().parent.parent
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_SSIM = re.compile(r"SSIM .*All:([\d.]+)")


@dataclass(frozen=True)
class Run:
    """The figures of one fit, as the worker reports them."""

    size: int
    seconds: float
    children_maxrss: int  # bytes
    self_maxrss: int  # bytes
    children_cpu: float  # seconds


def _maxrss(who: int) -> int:
    """ru_maxrss in bytes (it is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(who).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def worker(source: Path, dest: Path, limit: int) -> int:
    """Fit `source` to `limit` bytes as `dest` and print the figures as one JSON line."""
    ffmpeg = find_ffmpeg(None)
    if ffmpeg is None:
        print("no ffmpeg found", file=sys.stderr)
        return 1
    started = time.perf_counter()
    size = asyncio.run(fit_to_limit(ffmpeg, source, limit, dest))
    seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps(
            {
                "size": size,
                "seconds": seconds,
                "children_maxrss": _maxrss(resource.RUSAGE_CHILDREN),
                "self_maxrss": _maxrss(resource.RUSAGE_SELF),
                "children_cpu": children.ru_utime + children.ru_stime,
            }
        )
    )
    return 0


def make_source(ffmpeg: str, path: Path, seconds: float, size: str) -> float:
    """Write the test clip to `path`; the seconds it took."""
    started = time.perf_counter()
    subprocess.run(
        [
            *(ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y"),
            *("-f", "lavfi", "-i", f"mandelbrot=size={size}:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=220:sample_rate=48000"),
            *("-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.05:sample_rate=48000"),
            *("-filter_complex", "[1:a][2:a]amix=inputs=2:duration=shortest[a]"),
            *("-map", "0:v", "-map", "[a]", "-t", str(seconds)),
            *("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "160k", "-ac", "2", "-movflags", "+faststart", str(path)),
        ],
        check=True,
        capture_output=True,
        timeout=max(600.0, seconds * 60),
    )
    return time.perf_counter() - started


def fit_once(source: Path, dest: Path, limit: int) -> Run:
    """One fit in a fresh worker process."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "bench.fit", "--worker"),
            *(str(source), str(dest), str(limit)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the fit failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return Run(**json.loads(done.stdout.strip().splitlines()[-1]))


def ssim(ffmpeg: str, fitted: Path, source: Path, width: int, height: int) -> str:
    """SSIM (All) of `fitted` against `source`, `fitted` scaled to the source size first."""
    done = subprocess.run(
        [
            *(ffmpeg, "-hide_banner", "-nostdin", "-nostats"),
            *("-i", str(fitted), "-i", str(source)),
            *("-lavfi", f"[0:v]scale={width}:{height}:flags=bicubic[a];[a][1:v]ssim"),
            *("-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    found = _SSIM.search(done.stderr)
    return found.group(1) if found else "n/a"


def _ffmpeg_version(ffmpeg: str) -> str:
    done = subprocess.run(
        [ffmpeg, "-hide_banner", "-version"], capture_output=True, text=True, check=False
    )
    first = done.stdout.splitlines()[0] if done.stdout else "unknown"
    return first.removeprefix("ffmpeg version ").split(" Copyright")[0]


def _mib(value: float) -> str:
    return f"{value / MIB:.2f} MiB ({value / MB:.2f} MB)"


def bench(args: argparse.Namespace, ffmpeg: str, workdir: Path) -> bool:
    """Make the source, fit it `--repeat` times, print everything; whether all goals are met."""
    limit = int(args.limit_mib * MIB)
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print(
        f"machine: {platform.machine()}, {cpus} logical CPUs ({usable} usable), "
        f"Python {platform.python_version()}"
    )
    print(f"ffmpeg: {ffmpeg} ({_ffmpeg_version(ffmpeg)})")
    print(f"encoder: libx264 -preset {encoding.X264_PRESET}, AAC {encoding.AUDIO_BITRATE} b/s")

    source = workdir / "source.mp4"
    made_in = make_source(ffmpeg, source, args.seconds, args.size)
    info = asyncio.run(probe(ffmpeg, source))
    source_size = source.stat().st_size
    print(
        f"source: {info.width}x{info.height} {info.fps:g} fps, {info.duration:.2f} s, "
        f"audio {'yes' if info.has_audio else 'no'}, {_mib(source_size)}, "
        f"{source_size * 8 / info.duration / 1e6:.1f} Mb/s (made in {made_in:.1f} s)"
    )
    bigger = source_size > limit
    print(f"source larger than the {_mib(limit)} limit: {'yes' if bigger else 'NO'}")
    try:
        plan = plan_encode(info, limit)
    except EncodeError as exc:
        print(f"plan: none ({exc})")
        return False
    scaled = "kept" if plan.short_side is None else f"short side -> {plan.short_side}"
    print(
        f"plan: video {plan.video_bitrate / 1000:.0f} kb/s, audio {plan.audio_bitrate / 1000:.0f}"
        f" kb/s, frame size {scaled}"
    )
    print()

    header = (
        f"{'run':>4} {'fitted MiB':>11} {'wall s':>8} {'s per video-s':>14} "
        f"{'ffmpeg CPU s':>13} {'cores busy':>11} {'ffmpeg peak RSS MiB':>20} "
        f"{'bot peak RSS MiB':>17}"
    )
    print(header)
    print("-" * len(header))
    runs: list[Run] = []
    dest = workdir / "fitted.mp4"
    for number in range(1, args.repeat + 1):
        run = fit_once(source, dest, limit)
        runs.append(run)
        print(
            f"{number:>4} {run.size / MIB:>11.2f} {run.seconds:>8.2f} "
            f"{run.seconds / info.duration:>14.3f} {run.children_cpu:>13.1f} "
            f"{run.children_cpu / run.seconds:>11.2f} {run.children_maxrss / MIB:>20.1f} "
            f"{run.self_maxrss / MIB:>17.1f}"
        )
    median_seconds = statistics.median(r.seconds for r in runs)
    if len(runs) > 1:
        print(
            f"{'med':>4} {statistics.median(r.size for r in runs) / MIB:>11.2f} "
            f"{median_seconds:>8.2f} {median_seconds / info.duration:>14.3f} "
            f"{statistics.median(r.children_cpu for r in runs):>13.1f} {'':>11} "
            f"{statistics.median(r.children_maxrss for r in runs) / MIB:>20.1f} "
            f"{statistics.median(r.self_maxrss for r in runs) / MIB:>17.1f}"
        )
    print()

    fitted = asyncio.run(probe(ffmpeg, dest))
    print(
        f"fitted (last run): {fitted.width}x{fitted.height}, {fitted.duration:.2f} s, "
        f"audio {'yes' if fitted.has_audio else 'no'}, "
        f"{dest.stat().st_size * 8 / fitted.duration / 1e6:.2f} Mb/s, "
        f"{dest.stat().st_size / limit:.1%} of the limit"
    )
    if info.width and info.height:
        score = ssim(ffmpeg, dest, source, info.width, info.height)
        print(f"SSIM against the source (last run): {score}")
    print()

    worst = max(r.size for r in runs)
    size_ok = all(0 < r.size <= limit for r in runs)
    speed = median_seconds / info.duration
    speed_ok = speed < GOAL_SPEED
    slowest = max(r.seconds for r in runs) / info.duration
    print(
        f"goal: fitted size <= {args.limit_mib:g} MiB on every run: "
        f"{'met' if size_ok else 'NOT met'} (largest {_mib(worst)})"
    )
    print(
        f"goal: faster than real time (< {GOAL_SPEED:g} s per video-second, median run): "
        f"{'met' if speed_ok else 'NOT met'} ({speed:.3f}; slowest run {slowest:.3f})"
    )
    if not bigger:
        print("note: the source already fits the limit, so this run measured little")
    met = size_ok and speed_ok and bigger
    print(f"\nall goals met: {'yes' if met else 'no'}")
    return met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fit",
        description=__doc__.splitlines()[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the clip")
    parser.add_argument("--size", default="1792x1024", help="frame size of the clip, WxH")
    parser.add_argument("--limit-mib", type=float, default=10.0, help="the limit to fit under")
    parser.add_argument("--repeat", type=int, default=3, help="fits to time")
    parser.add_argument(
        "--worker", nargs=3, metavar=("SOURCE", "DEST", "LIMIT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.worker:
        source, dest, limit = args.worker
        return worker(Path(source), Path(dest), int(limit))
    dims = _SIZE.match(args.size)
    if dims is None or min(int(dims.group(1)), int(dims.group(2))) < 16:
        parser.error("--size must be WxH, each side at least 16")
    if args.seconds <= 0 or args.limit_mib <= 0 or args.repeat < 1:
        parser.error("--seconds and --limit-mib must be positive, --repeat at least 1")
    ffmpeg = find_ffmpeg(None)
    if ffmpeg is None:
        print("no ffmpeg: neither on PATH nor from imageio-ffmpeg", file=sys.stderr)
        return 1
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="video-bot-bench-fit-") as tmp:
        met = bench(args, ffmpeg, Path(tmp))
    print(f"run time: {time.perf_counter() - began:.0f} s")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
