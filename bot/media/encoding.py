"""Shrinking a finished video so that it fits under an upload limit (Discord's, for instance).

Everything here talks to an ``ffmpeg`` binary through ``asyncio`` subprocesses, so an encode never
blocks the event loop, and every subprocess is killed when its caller times out or is cancelled.
ffmpeg itself is also the prober: ``ffmpeg -hide_banner -i FILE`` describes the input on stderr
(and exits non-zero for want of an output, which is expected), so no ``ffprobe`` is needed.

The bitrate is planned from the duration and the byte limit, with a safety margin for the MP4
container and the audio track; the encode caps the rate (``-maxrate``/``-bufsize``) so that the
result lands under the limit in one pass. Should it not, a second try runs at 80 % of the rate.

``grab_frame`` takes one still (a JPEG) from a video, for a thumbnail.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EncodeError",
    "EncodePlan",
    "SourceInfo",
    "find_ffmpeg",
    "fit_to_limit",
    "grab_frame",
    "plan_encode",
    "probe",
    "probe_duration",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int], Awaitable[None] | None]

# Share of the byte budget kept back for the MP4 container (moov atom, sample tables, ...).
CONTAINER_OVERHEAD = 0.08
AUDIO_BITRATE = 96_000
# Below this many bits per pixel per frame, H.264 turns to mush: try a smaller frame first.
MIN_BITS_PER_PIXEL = 0.05
# Short sides to step down to, largest first, when the bitrate is too thin for the source size.
SCALE_STEPS = (720, 480)
# The rate-control buffer, in seconds of the video rate (part of the budget, so short clips fit).
BUFFER_SECONDS = 0.5
# Under this video bitrate no encode is worth attempting: the limit is simply too small.
MIN_VIDEO_BITRATE = 32_000
# The second try, when the first result is still too large, runs at this share of the rate.
RETRY_FACTOR = 0.8
# x264's speed/efficiency trade-off. On a 12 s 1792x1024 clip fitted to 10 MiB with 2 cores
# (bench/fit.py), relative to veryfast: ultrafast 0.4x the time at a clearly worse SSIM
# (0.957 against 0.987), superfast 0.7x (0.985), faster 1.4x, fast 1.7x, medium 1.9x (all
# 0.987): veryfast is where more time stops buying visible quality.
X264_PRESET = "veryfast"
PROGRESS_STEP = 5
PROBE_TIMEOUT = 30.0
DEFAULT_FPS = 30.0
# How much of ffmpeg's stderr is kept for the log when an encode fails.
STDERR_KEEP = 4000
# The default moment of a thumbnail, as a share of the duration: past any fade-in or title card.
FRAME_AT = 1 / 3
# JPEG quality scale of ffmpeg's mjpeg encoder: 2 (best) to 31 (worst).
FRAME_QUALITY = 3
# A requested moment is kept this many frames before the end of the video.
FRAME_END_MARGIN = 2

_DURATION = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #0:\d+\S*:\s*(Video|Audio):(.*)$", re.MULTILINE)
_DIMENSIONS = re.compile(r"(?<![\dx])(\d{2,5})x(\d{2,5})(?![\dx])")
_FPS = re.compile(r"(\d+(?:\.\d+)?)\s+fps")
_TBR = re.compile(r"(\d+(?:\.\d+)?)\s+tbr")


class EncodeError(Exception):
    """A video could not be read or made small enough; the message is safe to show to a user."""


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What ffmpeg says about an input file."""

    duration: float
    has_audio: bool
    width: int | None = None
    height: int | None = None
    fps: float | None = None


@dataclass(frozen=True, slots=True)
class EncodePlan:
    """The rates and frame size of one encode."""

    video_bitrate: int
    audio_bitrate: int
    # The new short side of the frame, or None to keep the source size.
    short_side: int | None


def find_ffmpeg(configured: str | None) -> str | None:
    """The ffmpeg to use: the configured one, else one on PATH, else imageio-ffmpeg's, else None."""
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        # imageio-ffmpeg is installed without a binary for this platform.
        return None
    return str(exe) if exe else None


async def _spawn(args: list[str], *, stdout: int) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        # A missing or non-executable binary: the operator's configuration, not the user's video.
        log.warning("could not start ffmpeg %r: %s", args[0], exc)
        raise EncodeError("ffmpeg couldn't be started.") from exc


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def parse_info(stderr: str) -> SourceInfo:
    """Read the duration and streams of input #0 from ``ffmpeg -i``'s stderr."""
    match = _DURATION.search(stderr)
    if match is None:
        raise EncodeError("Couldn't read that video.")
    hours, minutes, seconds = match.groups()
    duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    if duration <= 0:
        raise EncodeError("That video has no length.")
    has_audio = False
    width = height = None
    fps = None
    for kind, rest in _STREAM.findall(stderr):
        if kind == "Audio":
            has_audio = True
        elif width is None and "attached pic" not in rest:
            dims = _DIMENSIONS.search(rest)
            if dims is not None:
                width, height = int(dims.group(1)), int(dims.group(2))
            rate = _FPS.search(rest) or _TBR.search(rest)
            if rate is not None and float(rate.group(1)) > 0:
                fps = float(rate.group(1))
    return SourceInfo(duration, has_audio, width, height, fps)


async def probe(ffmpeg: str, path: Path) -> SourceInfo:
    """Describe ``path`` with ``ffmpeg -i``; raise EncodeError if it isn't a readable video."""
    proc = await _spawn(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(path)], stdout=asyncio.subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            _, stderr = await proc.communicate()
    except TimeoutError:
        raise EncodeError("Reading the video took too long.") from None
    finally:
        await _kill(proc)
    return parse_info(stderr.decode("utf-8", "replace"))


async def probe_duration(ffmpeg: str, path: Path) -> float:
    """The duration of ``path`` in seconds; EncodeError if it can't be read."""
    return (await probe(ffmpeg, path)).duration


def plan_encode(info: SourceInfo, limit: int, *, factor: float = 1.0) -> EncodePlan:
    """The rates (and, if the rate is thin, a smaller frame) to fit ``info`` under ``limit``."""
    audio = AUDIO_BITRATE if info.has_audio else 0
    budget = limit * 8 * (1 - CONTAINER_OVERHEAD) - audio * info.duration
    # The rate cap lets the stream run over its average by at most one buffer's worth of bits.
    video = int(budget / (info.duration + BUFFER_SECONDS) * factor)
    if video < MIN_VIDEO_BITRATE:
        raise EncodeError(
            f"That video is too long to fit in {_human_size(limit)}, even at the lowest quality."
        )
    short_side = None
    if info.width and info.height:
        fps = info.fps or DEFAULT_FPS
        short, long = sorted((info.width, info.height))
        for step in SCALE_STEPS:
            if video / (short * long * fps) >= MIN_BITS_PER_PIXEL:
                break
            if short <= step:
                continue
            long, short = long * step // short, step
            short_side = step
    return EncodePlan(video, audio, short_side)


def _human_size(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(size // 1000, 1)} KB"


def _scale_filter(short_side: int | None) -> str:
    if short_side is None:
        # libx264 with 4:2:0 chroma wants even dimensions.
        return "scale=trunc(iw/2)*2:trunc(ih/2)*2"
    # Scale the short side down, whatever the orientation, keeping the aspect ratio and even sides.
    s = short_side
    return f"scale=w='if(gte(iw,ih),-2,{s})':h='if(gte(iw,ih),{s},-2)'"


def _encode_args(
    ffmpeg: str, source: Path, out: Path, plan: EncodePlan, threads: int | None
) -> list[str]:
    video = plan.video_bitrate
    args = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(source),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        "-vf",
        _scale_filter(plan.short_side),
        "-c:v",
        "libx264",
        "-preset",
        X264_PRESET,
        "-pix_fmt",
        "yuv420p",
        "-b:v",
        str(video),
        "-maxrate",
        str(video),
        # A small buffer bounds how far the file can overshoot its average rate.
        "-bufsize",
        str(int(video * BUFFER_SECONDS)),
    ]
    if plan.audio_bitrate:
        args += ["-c:a", "aac", "-b:a", str(plan.audio_bitrate), "-ac", "2"]
    else:
        args += ["-an"]
    if threads is not None:
        args += ["-threads", str(threads)]
    args += [
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-movflags",
        "+faststart",
        "-progress",
        "pipe:1",
        "-f",
        "mp4",
        str(out),
    ]
    return args


class _Progress:
    """Turns ffmpeg's ``out_time`` into whole percents: monotonic, at most every 5 %."""

    def __init__(self, callback: ProgressCallback | None, duration: float) -> None:
        self._callback = callback
        self._duration = duration
        self._last = -1
        # Where the current attempt starts and ends on the 0..100 scale.
        self._low = 0
        self._high = 99

    def next_attempt(self) -> None:
        self._low = max(self._last, 0)

    async def emit(self, percent: int, *, force: bool = False) -> None:
        if self._callback is None or percent <= self._last:
            return
        if not force and self._last >= 0 and percent - self._last < PROGRESS_STEP:
            return
        self._last = percent
        result = self._callback(percent)
        if inspect.isawaitable(result):
            await result

    async def at_time(self, micros: int) -> None:
        fraction = min(max(micros / 1e6 / self._duration, 0.0), 1.0)
        await self.emit(self._low + int((self._high - self._low) * fraction))


async def _run_encode(args: list[str], progress: _Progress) -> None:
    proc = await _spawn(args, stdout=asyncio.subprocess.PIPE)
    stderr_tail = bytearray()

    async def drain_stderr(stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(4096):
            stderr_tail.extend(chunk)
            del stderr_tail[:-STDERR_KEEP]

    async def read_progress(stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            # Despite its name, out_time_ms is in microseconds too (an old ffmpeg quirk).
            if key in {"out_time_us", "out_time_ms"} and value.isdigit():
                await progress.at_time(int(value))

    try:
        if proc.stdout is not None and proc.stderr is not None:
            await asyncio.gather(drain_stderr(proc.stderr), read_progress(proc.stdout))
        code = await proc.wait()
    finally:
        await _kill(proc)
    if code != 0:
        log.warning(
            "ffmpeg exited with %s: %s", code, stderr_tail.decode("utf-8", "replace").strip()
        )
        raise EncodeError("The video couldn't be re-encoded.")


# Quick metadata operations on a local file, kept synchronous so that cleanup needs no await.
def _file_size(path: Path) -> int:
    return path.stat().st_size


def _move(source: Path, dest: Path) -> None:
    source.replace(dest)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


async def fit_to_limit(
    ffmpeg: str,
    source: Path,
    limit: int,
    dest: Path,
    *,
    on_progress: ProgressCallback | None = None,
    timeout: float = 600,  # noqa: ASYNC109 - a deadline for the whole job, probe and retry included
    threads: int | None = None,
) -> int:
    """Re-encode ``source`` to ``dest`` (H.264 + AAC in MP4) at most ``limit`` bytes; its size.

    ``on_progress`` gets whole percents, increasing, at most every 5 %, ending with 100; an
    exception it raises aborts the encode. The result is written next to ``dest`` under a
    temporary name and renamed into place only on success; on any failure, timeout or
    cancellation ffmpeg is killed, the temporary file removed and ``dest`` left untouched.
    """
    if limit <= 0:
        raise EncodeError("The size limit must be positive.")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        async with asyncio.timeout(timeout):
            info = await probe(ffmpeg, source)
            progress = _Progress(on_progress, info.duration)
            await progress.emit(0)
            size = 0
            for factor in (1.0, RETRY_FACTOR):
                plan = plan_encode(info, limit, factor=factor)
                log.debug("encoding %s with %s (factor %s)", source.name, plan, factor)
                progress.next_attempt()
                await _run_encode(_encode_args(ffmpeg, source, tmp, plan, threads), progress)
                size = _file_size(tmp)
                if 0 < size <= limit:
                    _move(tmp, dest)
                    await progress.emit(100, force=True)
                    return size
                log.info("encode of %s came out at %d bytes, over %d", source.name, size, limit)
            raise EncodeError(f"Couldn't make that video smaller than {_human_size(limit)}.")
    except TimeoutError:
        raise EncodeError("Re-encoding the video took too long.") from None
    finally:
        _remove(tmp)


async def _run_quiet(args: list[str]) -> tuple[int, str]:
    """Run ffmpeg to completion; its exit code and the tail of its stderr. Killed if cancelled."""
    proc = await _spawn(args, stdout=asyncio.subprocess.DEVNULL)
    try:
        _, stderr = await proc.communicate()
    finally:
        await _kill(proc)
    code = proc.returncode
    return (-1 if code is None else code), stderr[-STDERR_KEEP:].decode("utf-8", "replace")


def _frame_filter(width: int) -> str:
    # At most ``width`` wide, on the display aspect ratio (``sar`` widens non-square pixels),
    # both sides even and at least 2, square pixels in the result.
    return f"scale=w='max(2,trunc(min(iw*sar,{width})/2)*2)':h='max(2,trunc(ow/dar/2)*2)',setsar=1"


def _frame_args(ffmpeg: str, source: Path, out: Path, at: float, width: int) -> list[str]:
    args = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-y"]
    if at > 0:
        # Before -i: seek in the input (fast), then decode up to the exact moment.
        args += ["-ss", f"{at:.3f}"]
    return [
        *args,
        "-i",
        str(source),
        "-map",
        "0:v:0",
        "-vf",
        _frame_filter(width),
        "-frames:v",
        "1",
        "-c:v",
        "mjpeg",
        "-q:v",
        str(FRAME_QUALITY),
        "-an",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-f",
        "mjpeg",
        str(out),
    ]


def _is_jpeg(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(2) == b"\xff\xd8"


async def grab_frame(
    ffmpeg: str,
    source: Path,
    dest: Path,
    *,
    at: float | None = None,
    width: int = 640,
    timeout: float = 60.0,  # noqa: ASYNC109 - a deadline for the whole job, probe included
) -> Path:
    """Write one frame of ``source`` to ``dest`` as a JPEG at most ``width`` pixels wide; ``dest``.

    The frame is the one ``at`` seconds in (default: a third of the duration), clamped to the
    video; should nothing be decoded there (a video stream shorter than the container says),
    the first frame is taken instead. The aspect ratio is kept and both sides are even. As with
    ``fit_to_limit``, the image is written under a temporary name next to ``dest`` and renamed
    into place only on success; on any failure, timeout or cancellation ffmpeg is killed, the
    temporary file removed, ``dest`` left untouched and (but for cancellation) EncodeError raised.
    """
    if width < 2:
        raise ValueError("width must be at least 2")
    if at is not None and not math.isfinite(at):
        raise ValueError("at must be a finite number of seconds")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        async with asyncio.timeout(timeout):
            info = await probe(ffmpeg, source)
            if info.width is None:
                raise EncodeError("That video has no picture.")
            moment = info.duration * FRAME_AT if at is None else at
            # Keep two frames clear of the end, where a seek finds nothing left to decode.
            last = info.duration - FRAME_END_MARGIN / (info.fps or DEFAULT_FPS)
            moment = min(max(moment, 0.0), max(last, 0.0))
            for start in dict.fromkeys((moment, 0.0)):
                code, stderr = await _run_quiet(_frame_args(ffmpeg, source, tmp, start, width))
                if code == 0 and _file_size(tmp) > 0 and _is_jpeg(tmp):
                    _move(tmp, dest)
                    return dest
                log.log(
                    logging.INFO if start > 0 else logging.WARNING,
                    "no frame from %s at %.3f s (ffmpeg exited with %s): %s",
                    source.name,
                    start,
                    code,
                    stderr.strip(),
                )
            raise EncodeError("Couldn't take a picture from that video.")
    except TimeoutError:
        raise EncodeError("Taking a picture from the video took too long.") from None
    finally:
        _remove(tmp)
