"""Fitting a ~25 MB clip under 10 MiB and 2 MiB with a real ffmpeg, and checking the results.

The source (10 s of 1280x720 at 30 fps, a test pattern under moving noise, with a sine tone) is
made once per module; each limit is fitted once and every check reads that result. Each result
must decode without a single error, keep every frame and the duration, stay under its limit,
carry H.264 video and AAC audio, and have its ``moov`` atom before ``mdat`` (``+faststart``,
so that a player can start before the whole file has arrived). Nothing here depends on speed.
"""

from __future__ import annotations

import asyncio
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.media.encoding import SourceInfo, find_ffmpeg, fit_to_limit, probe

FFMPEG = find_ffmpeg(None)
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="no ffmpeg available")

MIB = 1024 * 1024
SECONDS = 10
FPS = 30
LIMITS = {"10MiB": 10 * MIB, "2MiB": 2 * MIB}
DURATION_TOLERANCE = 0.2
_STREAM = re.compile(r"Stream #0:\d+\S*: (Video|Audio): (\w+)")


def ffmpeg() -> str:
    assert FFMPEG is not None
    return FFMPEG


@dataclass(frozen=True)
class Decoded:
    """What a full decode of a file's default streams says."""

    frames: int
    errors: str
    returncode: int


def decode(path: Path, *streams: str) -> tuple[Decoded, float]:
    """Decode ``path`` (its default streams, or ``streams`` such as ``0:a:0``) to nothing.

    Returns the video frames decoded, ffmpeg's error output and exit code, and the time of the
    last decoded sample (``out_time`` of the final ``-progress`` report) in seconds.
    """
    maps = [arg for stream in streams for arg in ("-map", stream)]
    run = subprocess.run(
        [
            *(ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-v", "error"),
            *("-progress", "pipe:1", "-i", str(path), *maps, "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report: dict[str, str] = {}
    for line in run.stdout.splitlines():
        key, _, value = line.partition("=")
        report[key.strip()] = value.strip()
    assert report.get("progress") == "end", run.stdout[-500:]
    frames = int(report.get("frame", "0"))
    out_time = int(report["out_time_us"]) / 1e6
    return Decoded(frames, run.stderr.strip(), run.returncode), out_time


def codecs(path: Path) -> list[tuple[str, str]]:
    """The (kind, codec) of every stream of ``path``, from ``ffmpeg -i``."""
    run = subprocess.run(
        [ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return _STREAM.findall(run.stderr)


def top_level_boxes(path: Path) -> list[str]:
    """The types of the top-level MP4 boxes of ``path``, in file order."""
    boxes: list[str] = []
    with path.open("rb") as file:
        while header := file.read(8):
            assert len(header) == 8, "truncated box header"
            size, kind = struct.unpack(">I4s", header)
            boxes.append(kind.decode("latin-1"))
            if size == 1:  # a 64-bit size follows the type
                (size,) = struct.unpack(">Q", file.read(8))
                file.seek(size - 16, 1)
            elif size == 0:  # the box runs to the end of the file
                break
            else:
                assert size >= 8, f"bad box size {size}"
                file.seek(size - 8, 1)
    return boxes


@dataclass(frozen=True)
class Source:
    path: Path
    info: SourceInfo
    frames: int
    video_seconds: float
    audio_seconds: float


@dataclass(frozen=True)
class Fitted:
    path: Path
    limit: int
    returned: int
    info: SourceInfo
    decoded: Decoded
    video_seconds: float
    audio_seconds: float


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    path = tmp_path_factory.mktemp("large") / "source.mp4"
    # Temporal noise over the pattern keeps x264 from compressing it away: at a 19 Mb/s cap
    # the file comes out at ~25 MB. ultrafast keeps the making quick.
    subprocess.run(
        [
            *(ffmpeg(), "-hide_banner", "-nostdin", "-v", "error", "-y"),
            *("-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate={FPS},noise=alls=12:allf=t"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"),
            *("-t", str(SECONDS), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
            *("-b:v", "19M", "-maxrate", "19M", "-bufsize", "19M"),
            *("-c:a", "aac", "-b:a", "128k", str(path)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    info = asyncio.run(probe(ffmpeg(), path))
    decoded, _ = decode(path)
    _, video_seconds = decode(path, "0:v:0")
    _, audio_seconds = decode(path, "0:a:0")
    assert decoded.returncode == 0
    assert decoded.errors == ""
    return Source(path, info, decoded.frames, video_seconds, audio_seconds)


@pytest.fixture(scope="module", params=list(LIMITS), ids=list(LIMITS))
def fitted(
    request: pytest.FixtureRequest, source: Source, tmp_path_factory: pytest.TempPathFactory
) -> Fitted:
    limit = LIMITS[request.param]
    dest = tmp_path_factory.mktemp(f"fit-{request.param}") / "out.mp4"
    returned = asyncio.run(fit_to_limit(ffmpeg(), source.path, limit, dest))
    decoded, _ = decode(dest)
    _, video_seconds = decode(dest, "0:v:0")
    _, audio_seconds = decode(dest, "0:a:0")
    info = asyncio.run(probe(ffmpeg(), dest))
    return Fitted(dest, limit, returned, info, decoded, video_seconds, audio_seconds)


def test_the_source_is_about_25_mb(source: Source) -> None:
    size = source.path.stat().st_size
    assert 20_000_000 <= size <= 30_000_000, size
    assert source.info.duration == pytest.approx(SECONDS, abs=0.05)
    assert (source.info.width, source.info.height, source.info.has_audio) == (1280, 720, True)
    assert source.frames == SECONDS * FPS
    assert codecs(source.path) == [("Video", "h264"), ("Audio", "aac")]


def test_the_result_is_under_the_limit(fitted: Fitted) -> None:
    size = fitted.path.stat().st_size
    assert fitted.returned == size
    assert 0 < size <= fitted.limit
    # Every byte saved is quality lost: the planner should use a good share of the room.
    assert size >= fitted.limit // 2


def test_the_result_decodes_without_errors(fitted: Fitted) -> None:
    assert fitted.decoded.returncode == 0
    assert fitted.decoded.errors == ""


def test_every_frame_is_kept(fitted: Fitted, source: Source) -> None:
    assert fitted.decoded.frames == source.frames


def test_the_duration_is_kept(fitted: Fitted, source: Source) -> None:
    assert abs(fitted.info.duration - source.info.duration) <= DURATION_TOLERANCE
    # Stream by stream too: neither track may be cut short or padded out.
    assert abs(fitted.video_seconds - source.video_seconds) <= DURATION_TOLERANCE
    assert abs(fitted.audio_seconds - source.audio_seconds) <= DURATION_TOLERANCE


def test_the_result_is_h264_and_aac(fitted: Fitted) -> None:
    assert codecs(fitted.path) == [("Video", "h264"), ("Audio", "aac")]
    assert fitted.info.has_audio


def test_the_moov_atom_comes_first(fitted: Fitted) -> None:
    boxes = top_level_boxes(fitted.path)
    assert "moov" in boxes
    assert "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat")


def test_the_frame_keeps_its_aspect_ratio(fitted: Fitted) -> None:
    width, height = fitted.info.width, fitted.info.height
    assert width is not None
    assert height is not None
    assert width % 2 == 0
    assert height % 2 == 0
    assert width / height == pytest.approx(16 / 9, rel=0.01)
