"""Fitting a video under an upload limit, with a real ffmpeg on real (small, generated) inputs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.media import encoding
from bot.media.encoding import (
    EncodeError,
    SourceInfo,
    find_ffmpeg,
    fit_to_limit,
    grab_frame,
    parse_info,
    plan_encode,
    probe,
    probe_duration,
)

FFMPEG = find_ffmpeg(None)
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="no ffmpeg available")


def ffmpeg() -> str:
    assert FFMPEG is not None
    return FFMPEG


def make(out: Path, *, size: str, seconds: float, audio: bool) -> Path:
    args = [ffmpeg(), "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=24"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-crf", "0", "-preset", "ultrafast"]
    args += ["-c:a", "aac"] if audio else ["-an"]
    subprocess.run([*args, str(out)], check=True, capture_output=True, timeout=60)
    return out


def decodes(path: Path) -> bool:
    run = subprocess.run(
        [ffmpeg(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    return run.returncode == 0 and not run.stderr.strip()


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sources")
    return {
        "big": make(root / "big.mp4", size="1280x720", seconds=4, audio=True),
        "silent": make(root / "silent.mp4", size="640x360", seconds=3, audio=False),
        "odd": make(root / "odd.mp4", size="321x241", seconds=2, audio=False),
        "portrait": make(root / "portrait.mp4", size="720x1280", seconds=2, audio=False),
    }


@pytest.fixture
def spawned(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.subprocess.Process]:
    """Every ffmpeg process the module starts, to check none is left running."""
    procs: list[asyncio.subprocess.Process] = []
    real = asyncio.create_subprocess_exec

    async def spy(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        proc = await real(*args, **kwargs)
        procs.append(proc)
        return proc

    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy)
    return procs


# --- probing -------------------------------------------------------------------------------------


async def test_probe_reads_duration_size_and_audio(inputs: dict[str, Path]) -> None:
    assert await probe_duration(ffmpeg(), inputs["big"]) == pytest.approx(4.0, abs=0.1)
    info = await probe(ffmpeg(), inputs["big"])
    assert (info.width, info.height, info.fps, info.has_audio) == (1280, 720, 24.0, True)
    silent = await probe(ffmpeg(), inputs["silent"])
    assert not silent.has_audio


async def test_probe_of_a_non_video_raises(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    with pytest.raises(EncodeError) as caught:
        await probe_duration(ffmpeg(), text)
    assert str(tmp_path) not in str(caught.value)
    with pytest.raises(EncodeError):
        await probe_duration(ffmpeg(), tmp_path / "missing.mp4")


async def test_a_missing_ffmpeg_is_an_encode_error(inputs: dict[str, Path], tmp_path: Path) -> None:
    absent = str(tmp_path / "no-such-ffmpeg")
    with pytest.raises(EncodeError, match="couldn't be started"):
        await probe_duration(absent, inputs["big"])
    with pytest.raises(EncodeError, match="couldn't be started"):
        await fit_to_limit(absent, inputs["big"], 1_000_000, tmp_path / "out.mp4")
    assert names(tmp_path) == []


def test_parse_info_ignores_hex_tags_and_cover_art() -> None:
    stderr = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'x.mp4':\n"
        "  Duration: 01:02:03.50, start: 0.000000, bitrate: 1000 kb/s\n"
        "  Stream #0:0[0x1](und): Video: mjpeg (Baseline), yuvj420p, 600x600, 90k tbr"
        " (attached pic)\n"
        "  Stream #0:1[0x2](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive),"
        " 1920x1080 [SAR 1:1 DAR 16:9], 5000 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)\n"
    )
    info = parse_info(stderr)
    assert info == SourceInfo(3723.5, False, 1920, 1080, 29.97)
    with pytest.raises(EncodeError):
        parse_info("  Duration: N/A, bitrate: N/A\n")


# --- planning ------------------------------------------------------------------------------------


def test_plan_keeps_the_size_when_the_rate_is_ample() -> None:
    plan = plan_encode(SourceInfo(10, True, 1280, 720, 24), 25_000_000)
    assert plan.short_side is None
    assert plan.audio_bitrate == 96_000
    assert plan.video_bitrate * 10.5 + 96_000 * 10 <= 25_000_000 * 8 * 0.92 + 1


def test_plan_steps_down_when_the_rate_is_thin() -> None:
    hd = SourceInfo(60, True, 1920, 1080, 30)
    assert plan_encode(hd, 20_000_000).short_side == 720
    assert plan_encode(hd, 3_000_000).short_side == 480
    portrait = SourceInfo(60, False, 1080, 1920, 30)
    assert plan_encode(portrait, 3_000_000).short_side == 480
    # A 720p source with a thin rate skips straight to the next step.
    assert plan_encode(SourceInfo(60, False, 1280, 720, 30), 3_000_000).short_side == 480
    # Already small: never scaled up, nor down past the last step.
    assert plan_encode(SourceInfo(60, False, 640, 360, 30), 1_000_000).short_side is None


def test_plan_refuses_a_hopeless_limit() -> None:
    with pytest.raises(EncodeError, match="too long"):
        plan_encode(SourceInfo(4, True, 1280, 720, 24), 20_000)
    with pytest.raises(EncodeError):
        plan_encode(SourceInfo(600, False, 1280, 720, 24), 1_000_000)


def test_find_ffmpeg_prefers_configured_then_path(monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_ffmpeg("/opt/ffmpeg") == "/opt/ffmpeg"
    monkeypatch.setattr(shutil, "which", lambda _name: "/usr/bin/ffmpeg")
    assert find_ffmpeg(None) == "/usr/bin/ffmpeg"
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    bundled = find_ffmpeg(None)
    assert bundled is None or Path(bundled).exists()


# --- encoding ------------------------------------------------------------------------------------


async def test_fits_a_big_video_under_a_quarter_of_its_size(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    source = inputs["big"]
    limit = source.stat().st_size // 4
    dest = tmp_path / "out.mp4"
    seen: list[int] = []

    async def on_progress(percent: int) -> None:
        seen.append(percent)

    size = await fit_to_limit(ffmpeg(), source, limit, dest, on_progress=on_progress)
    assert size == dest.stat().st_size <= limit
    assert decodes(dest)
    info = await probe(ffmpeg(), dest)
    assert abs(info.duration - 4.0) <= 0.5
    assert info.has_audio
    assert (info.width, info.height) == (1280, 720)
    assert seen[0] == 0
    assert seen[-1] == 100
    assert seen == sorted(set(seen))
    assert all(b - a >= 5 for a, b in itertools.pairwise(seen[:-1]))
    assert names(tmp_path) == ["out.mp4"]


async def test_a_silent_video_stays_silent(inputs: dict[str, Path], tmp_path: Path) -> None:
    source = inputs["silent"]
    limit = source.stat().st_size // 3
    dest = tmp_path / "quiet.mp4"
    seen: list[int] = []
    size = await fit_to_limit(ffmpeg(), source, limit, dest, on_progress=seen.append, threads=2)
    assert size <= limit
    assert decodes(dest)
    info = await probe(ffmpeg(), dest)
    assert not info.has_audio
    assert abs(info.duration - 3.0) <= 0.5
    assert seen[-1] == 100
    assert seen == sorted(set(seen))


async def test_odd_dimensions_are_made_even(inputs: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "even.mp4"
    await fit_to_limit(ffmpeg(), inputs["odd"], 2_000_000, dest)
    info = await probe(ffmpeg(), dest)
    assert (info.width, info.height) == (320, 240)
    assert decodes(dest)


@pytest.mark.parametrize(
    ("name", "limit", "expected"), [("big", 300_000, (854, 480)), ("portrait", 150_000, (480, 854))]
)
async def test_a_thin_rate_scales_the_frame_down(
    inputs: dict[str, Path], tmp_path: Path, name: str, limit: int, expected: tuple[int, int]
) -> None:
    dest = tmp_path / "small.mp4"
    size = await fit_to_limit(ffmpeg(), inputs[name], limit, dest)
    assert size <= limit
    info = await probe(ffmpeg(), dest)
    assert (info.width, info.height) == expected
    assert decodes(dest)


async def test_an_impossible_limit_raises_and_leaves_nothing(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    dest = tmp_path / "out.mp4"
    with pytest.raises(EncodeError, match="too long"):
        await fit_to_limit(ffmpeg(), inputs["big"], 20_000, dest)
    assert names(tmp_path) == []


async def test_still_too_large_after_the_retry_raises(
    inputs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spawned: list[asyncio.subprocess.Process],
) -> None:
    # A planner that believes it has twice the room: both tries overshoot the real limit.
    monkeypatch.setattr(encoding, "CONTAINER_OVERHEAD", -1.0)
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"previous")
    with pytest.raises(EncodeError, match="smaller than"):
        await fit_to_limit(ffmpeg(), inputs["silent"], inputs["silent"].stat().st_size // 4, dest)
    assert len(spawned) == 3  # one probe, two encodes
    assert all(proc.returncode is not None for proc in spawned)
    assert dest.read_bytes() == b"previous"
    assert leftovers(tmp_path) == []


async def test_the_retry_at_a_lower_rate_can_succeed(
    inputs: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spawned: list[asyncio.subprocess.Process],
) -> None:
    monkeypatch.setattr(encoding, "CONTAINER_OVERHEAD", -1.0)
    monkeypatch.setattr(encoding, "RETRY_FACTOR", 0.3)
    source = inputs["silent"]
    limit = source.stat().st_size // 4
    seen: list[int] = []
    size = await fit_to_limit(
        ffmpeg(), source, limit, tmp_path / "out.mp4", on_progress=seen.append
    )
    assert size <= limit
    assert len(spawned) == 3
    assert seen == sorted(set(seen))
    assert seen[-1] == 100
    assert leftovers(tmp_path) == []


async def test_a_timeout_kills_ffmpeg_and_cleans_up(
    inputs: dict[str, Path], tmp_path: Path, spawned: list[asyncio.subprocess.Process]
) -> None:
    with pytest.raises(EncodeError, match="too long"):
        await fit_to_limit(
            ffmpeg(), inputs["big"], 2_000_000, tmp_path / "out.mp4", timeout=0.3, threads=1
        )
    assert spawned
    assert all(proc.returncode is not None for proc in spawned)
    assert names(tmp_path) == []


async def test_cancellation_kills_ffmpeg_and_cleans_up(
    inputs: dict[str, Path], tmp_path: Path, spawned: list[asyncio.subprocess.Process]
) -> None:
    started = asyncio.Event()

    def on_progress(percent: int) -> None:
        if percent == 0:
            started.set()

    task = asyncio.create_task(
        fit_to_limit(
            ffmpeg(), inputs["big"], 2_000_000, tmp_path / "out.mp4", on_progress=on_progress
        )
    )
    await asyncio.wait_for(started.wait(), 10)
    # Let the encoder start, then cancel mid-encode.
    for _ in range(100):
        if len(spawned) == 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(spawned) == 2
    assert all(proc.returncode is not None for proc in spawned)
    assert names(tmp_path) == []


async def test_a_failing_progress_callback_aborts_cleanly(
    inputs: dict[str, Path], tmp_path: Path, spawned: list[asyncio.subprocess.Process]
) -> None:
    class BoomError(Exception):
        pass

    def on_progress(percent: int) -> None:
        if percent > 0:
            raise BoomError

    callback: Callable[[int], None] = on_progress
    with pytest.raises(BoomError):
        await fit_to_limit(
            ffmpeg(), inputs["big"], 2_000_000, tmp_path / "out.mp4", on_progress=callback
        )
    assert all(proc.returncode is not None for proc in spawned)
    assert names(tmp_path) == []


# --- thumbnails ----------------------------------------------------------------------------------


def jpeg_size(path: Path) -> tuple[int, int]:
    """The (width, height) of a baseline or progressive JPEG, from its start-of-frame segment."""
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    at = 2
    while at + 4 <= len(data):
        assert data[at] == 0xFF, f"bad JPEG segment at {at}"
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in {0xC0, 0xC1, 0xC2}:
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        at += 2 + length
    raise AssertionError("no start-of-frame segment")


def run_ffmpeg(*args: str) -> None:
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", *args], check=True, capture_output=True, timeout=60
    )


async def test_grab_frame_writes_a_small_jpeg(inputs: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "thumb.jpg"
    assert await grab_frame(ffmpeg(), inputs["big"], dest) == dest
    assert dest.read_bytes()[:2] == b"\xff\xd8"
    assert jpeg_size(dest) == (640, 360)
    assert names(tmp_path) == ["thumb.jpg"]
    # It replaces an older picture.
    assert await grab_frame(ffmpeg(), inputs["big"], dest, at=0, width=320) == dest
    assert jpeg_size(dest) == (320, 180)
    assert names(tmp_path) == ["thumb.jpg"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Never scaled up; odd sides made even.
        ("odd", (320, 240)),
        # Portrait: the width is the bound; 640 * 1280 / 720 = 1137.8, rounded down to even.
        ("portrait", (640, 1136)),
        ("silent", (640, 360)),
    ],
)
async def test_grab_frame_keeps_the_aspect_ratio(
    inputs: dict[str, Path], tmp_path: Path, name: str, expected: tuple[int, int]
) -> None:
    dest = await grab_frame(ffmpeg(), inputs[name], tmp_path / "thumb.jpg")
    width, height = jpeg_size(dest)
    assert (width, height) == expected
    assert width <= 640
    assert width % 2 == 0
    assert height % 2 == 0


async def test_grab_frame_uses_the_display_aspect_ratio(tmp_path: Path) -> None:
    # 320x240 stored with pixels twice as wide as tall: shown as 640x240.
    source = tmp_path / "anamorphic.mp4"
    run_ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10,setsar=2", "-t", "1"),
        *("-c:v", "libx264", "-preset", "ultrafast", str(source)),
    )
    dest = await grab_frame(ffmpeg(), source, tmp_path / "thumb.jpg", width=320)
    assert jpeg_size(dest) == (320, 120)


@pytest.mark.parametrize("at", [0.0, 1.0, 3.99, 4.0, 100.0, -5.0])
async def test_grab_frame_clamps_the_moment(
    inputs: dict[str, Path], tmp_path: Path, at: float
) -> None:
    dest = await grab_frame(ffmpeg(), inputs["big"], tmp_path / "thumb.jpg", at=at)
    assert jpeg_size(dest) == (640, 360)


async def test_grab_frame_falls_back_to_the_first_frame(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The container lasts 3 s (the audio) but the picture stops after 1 s: at 2.5 s there is no
    # frame to take, so the first one is used.
    source = tmp_path / "short-picture.mp4"
    run_ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=1"),
        *("-f", "lavfi", "-i", "sine=frequency=440:duration=3"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(source)),
    )
    assert await probe_duration(ffmpeg(), source) == pytest.approx(3.0, abs=0.1)
    with caplog.at_level(logging.INFO, logger="bot.media.encoding"):
        dest = await grab_frame(ffmpeg(), source, tmp_path / "thumb.jpg", at=2.5)
    assert jpeg_size(dest) == (320, 240)
    assert any("at 2.500 s" in record.getMessage() for record in caplog.records)
    assert names(tmp_path) == ["short-picture.mp4", "thumb.jpg"]


async def test_grab_frame_of_a_non_video_raises_and_leaves_nothing(
    tmp_path: Path, spawned: list[asyncio.subprocess.Process]
) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EncodeError) as caught:
        await grab_frame(ffmpeg(), text, out / "thumb.jpg")
    assert str(tmp_path) not in str(caught.value)
    assert names(out) == []
    assert all(proc.returncode is not None for proc in spawned)


async def test_grab_frame_of_sound_only_raises(tmp_path: Path) -> None:
    source = tmp_path / "tone.m4a"
    run_ffmpeg("-f", "lavfi", "-i", "sine=frequency=440", "-t", "1", "-c:a", "aac", str(source))
    dest = tmp_path / "thumb.jpg"
    dest.write_bytes(b"previous")
    with pytest.raises(EncodeError, match="no picture"):
        await grab_frame(ffmpeg(), source, dest)
    assert dest.read_bytes() == b"previous"
    assert names(tmp_path) == ["thumb.jpg", "tone.m4a"]


async def test_grab_frame_rejects_nonsense_arguments(
    inputs: dict[str, Path], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="width"):
        await grab_frame(ffmpeg(), inputs["big"], tmp_path / "thumb.jpg", width=0)
    with pytest.raises(ValueError, match="finite"):
        await grab_frame(ffmpeg(), inputs["big"], tmp_path / "thumb.jpg", at=float("nan"))
    assert names(tmp_path) == []


async def test_grab_frame_timeout_kills_ffmpeg_and_cleans_up(
    inputs: dict[str, Path], tmp_path: Path, spawned: list[asyncio.subprocess.Process]
) -> None:
    with pytest.raises(EncodeError, match="too long"):
        await grab_frame(ffmpeg(), inputs["big"], tmp_path / "thumb.jpg", timeout=0.001)
    assert all(proc.returncode is not None for proc in spawned)
    assert names(tmp_path) == []


async def test_grab_frame_cancellation_kills_ffmpeg_and_cleans_up(
    inputs: dict[str, Path], tmp_path: Path, spawned: list[asyncio.subprocess.Process]
) -> None:
    task = asyncio.create_task(grab_frame(ffmpeg(), inputs["big"], tmp_path / "thumb.jpg"))
    # Cancel while the first ffmpeg (the probe) runs.
    for _ in range(500):
        if spawned:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert spawned
    assert all(proc.returncode is not None for proc in spawned)
    assert names(tmp_path) == []
