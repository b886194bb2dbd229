"""The served media: real files, padding that keeps the MP4 valid, streaming of big bodies."""

from __future__ import annotations

import io
import struct
import subprocess
import tracemalloc

import imageio_ffmpeg
import pytest
from PIL import Image

from bot.fake_api.media import CHUNK_SIZE, asset, padded_video

from ._client import create, video_url


def ffmpeg_errors(path) -> str:
    """What ffmpeg complains about while decoding the whole file (empty: a valid video)."""
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stderr + ("" if result.returncode == 0 else f"exit {result.returncode}")


def top_level_boxes(data: bytes) -> list[tuple[bytes, int]]:
    """The MP4's top-level boxes; they must tile the file exactly (ffmpeg ignores trailing junk)."""
    boxes = []
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
        assert size >= 8, f"bad box size at {offset}"
        boxes.append((kind, size))
        offset += size
    assert offset == len(data), "the last box overruns the file"
    return boxes


def test_assets_are_small_real_media(tmp_path):
    video = asset("video")
    assert 8_000 < len(video) < 25_000
    assert video[4:8] == b"ftyp"
    target = tmp_path / "video.mp4"
    target.write_bytes(video)
    assert ffmpeg_errors(target) == ""
    with Image.open(io.BytesIO(asset("thumbnail"))) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("WEBP", (320, 180))
    with Image.open(io.BytesIO(asset("spritesheet"))) as spritesheet:
        assert spritesheet.format == "JPEG"


@pytest.mark.parametrize("extra", [0, 3, 8, 100_000])
async def test_padded_download_is_a_valid_mp4_of_the_exact_size(fake, http, tmp_path, extra):
    size = len(fake.asset_bytes()) + extra
    _, video = await create(http, fake, f"[bytes={size}] [duration=0]")
    async with http.get(video_url(fake, video["id"], "/content")) as r:
        assert r.headers["Content-Length"] == str(size)
        data = await r.read()
    assert len(data) == size
    kinds = [kind for kind, _ in top_level_boxes(data)]
    assert kinds[:2] == [b"ftyp", b"moov"]  # faststart: the index comes first
    assert kinds[-1] == (b"free" if extra >= 8 else b"mdat")
    target = tmp_path / "padded.mp4"
    target.write_bytes(data)
    assert ffmpeg_errors(target) == ""


def test_padding_past_4_gib_uses_a_64_bit_free_box():
    total = 5 * 1024**3
    plan = padded_video(total)
    assert plan.total == total
    size32, kind, largesize = struct.unpack(">I4sQ", plan.head[-16:])
    assert (size32, kind) == (1, b"free")
    assert largesize == total - len(asset("video"))


def test_a_size_below_the_asset_serves_it_unpadded():
    assert padded_video(100).head == asset("video")
    assert padded_video(None).total == len(asset("video"))


async def test_a_200_mb_video_is_streamed_not_built_in_memory(fake, http):
    size = 200 * 1024 * 1024
    fake.settings.video_bytes = size
    _, video = await create(http, fake, "[duration=0]")
    received = 0
    tracemalloc.start()
    try:
        async with http.get(video_url(fake, video["id"], "/content")) as r:
            assert r.headers["Content-Length"] == str(size)
            async for chunk in r.content.iter_chunked(CHUNK_SIZE):
                received += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    # Client and server share this process: both together stay far below the body's size.
    assert peak < 16 * 1024 * 1024
