"""The media the fake serves: a tiny real MP4, padded on demand without building it in memory."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, Literal

from aiohttp import web

Variant = Literal["video", "thumbnail", "spritesheet"]

CONTENT_TYPES: Final[dict[Variant, str]] = {
    "video": "video/mp4",
    "thumbnail": "image/webp",
    "spritesheet": "image/jpeg",
}
_FILES: Final[dict[Variant, str]] = {
    "video": "video.mp4",
    "thumbnail": "thumbnail.webp",
    "spritesheet": "spritesheet.jpg",
}
CHUNK_SIZE: Final = 256 * 1024
_ZEROS: Final = bytes(CHUNK_SIZE)
# A box header is 4 bytes of size and 4 of type; past 4 GiB the size moves to a 64-bit field.
_BOX_HEADER: Final = 8
_LARGE_BOX_HEADER: Final = 16
_MAX_BOX32: Final = 0xFFFFFFFF


@cache
def asset(variant: Variant) -> bytes:
    """The bytes of a shipped asset (unpadded)."""
    return resources.files(__package__).joinpath("assets", _FILES[variant]).read_bytes()


@dataclass(frozen=True)
class PaddedVideo:
    """The MP4 grown to `total` bytes: a (possibly patched) asset, a box header, then zeros."""

    head: bytes
    zeros: int

    @property
    def total(self) -> int:
        """Size of the whole body."""
        return len(self.head) + self.zeros


def padded_video(total: int | None) -> PaddedVideo:
    """Plan an MP4 of exactly `total` bytes (never smaller than the asset itself)."""
    video = asset("video")
    pad = 0 if total is None else total - len(video)
    if pad <= 0:
        return PaddedVideo(video, 0)
    if pad < _BOX_HEADER:
        # Too little room for a `free` box: grow the last box (mdat, thanks to faststart)
        # instead; trailing bytes inside mdat are never referenced by the index, so harmless.
        return PaddedVideo(_grow_last_box(video, pad), pad)
    if pad <= _MAX_BOX32:
        return PaddedVideo(video + struct.pack(">I4s", pad, b"free"), pad - _BOX_HEADER)
    # size == 1 means "the real size follows as a 64-bit largesize".
    header = struct.pack(">I4sQ", 1, b"free", pad)
    return PaddedVideo(video + header, pad - _LARGE_BOX_HEADER)


def _grow_last_box(video: bytes, extra: int) -> bytes:
    """Return the MP4 with its last top-level box's 32-bit size increased by `extra`."""
    offset = 0
    last = 0
    while offset + _BOX_HEADER <= len(video):
        (size,) = struct.unpack_from(">I", video, offset)
        if size < _BOX_HEADER:
            raise ValueError("the video asset needs plain 32-bit top-level boxes")
        last, offset = offset, offset + size
    (size,) = struct.unpack_from(">I", video, last)
    return video[:last] + struct.pack(">I", size + extra) + video[last + 4 :]


async def stream_video(request: web.Request, total: int | None) -> web.StreamResponse:
    """Send the MP4 padded to `total` bytes in 256 KiB chunks, with its Content-Length."""
    plan = padded_video(total)
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPES["video"]})
    response.content_length = plan.total
    await response.prepare(request)
    await response.write(plan.head)
    remaining = plan.zeros
    zeros = memoryview(_ZEROS)
    while remaining > 0:
        # write() waits for the socket to drain, so a slow reader never makes us buffer.
        step = min(remaining, CHUNK_SIZE)
        await response.write(zeros[:step])
        remaining -= step
    await response.write_eof()
    return response


def image_response(variant: Variant) -> web.Response:
    """A preview image (thumbnail or spritesheet) in one piece; they are a few KB."""
    return web.Response(body=asset(variant), content_type=CONTENT_TYPES[variant])
