"""Fitting a finished video to a reply's upload limit: ffmpeg, a bounded number at once.

The encoding itself is `bot.media.encoding`; this is the long-lived part a front end holds: which
ffmpeg, how many encodes may run together (each uses every core it gets), how many thumbnail
frame grabs may run together, and how long an encode may take.

Frame grabs are bounded too (200 videos finishing together would otherwise start 200 ffmpeg
processes), but by slots of their own, `workers` by default: a grab takes a moment and must not
queue behind an encode that may take minutes. At most `workers` encodes and `frame_workers`
grabs run at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.media.encoding import EncodeError, find_ffmpeg, fit_to_limit, grab_frame

log = logging.getLogger(__name__)


class VideoFitter:
    """Fits videos to their reply, `workers` at a time; grabs frames, `frame_workers` at a time."""

    def __init__(
        self,
        ffmpeg: str | None,
        *,
        workers: int,
        frame_workers: int | None = None,
        timeout: float = 900.0,
        observe: Callable[[float, bool], None] | None = None,
    ) -> None:
        self.ffmpeg = find_ffmpeg(ffmpeg)
        self._slots = asyncio.Semaphore(max(1, workers))
        self._frame_slots = asyncio.Semaphore(
            max(1, workers if frame_workers is None else frame_workers)
        )
        self._timeout = timeout
        # Told the seconds and the outcome of every encode (the metrics).
        self._observe = observe
        if self.ffmpeg is None:
            log.warning("no ffmpeg found: videos over the upload limit cannot be fitted")

    @property
    def available(self) -> bool:
        return self.ffmpeg is not None

    async def fit(
        self,
        source: Path,
        limit: int,
        dest: Path,
        on_progress: Callable[[int], Awaitable[None] | None] | None = None,
    ) -> int:
        """Write `source` re-encoded to at most `limit` bytes as `dest`; returns its size.

        Raises EncodeError (no ffmpeg, an unreadable video, a limit it cannot reach).
        """
        if self.ffmpeg is None:
            raise EncodeError("no ffmpeg is available to make the video smaller")
        async with self._slots:
            started = time.monotonic()
            ok = False
            try:
                size = await fit_to_limit(
                    self.ffmpeg, source, limit, dest, on_progress=on_progress, timeout=self._timeout
                )
                ok = True
            finally:
                if self._observe is not None:
                    self._observe(time.monotonic() - started, ok)
            return size

    async def grab_frame(self, source: Path, dest: Path) -> None:
        """A JPEG still of `source` for a thumbnail, in a frame slot (not an encode's)."""
        if self.ffmpeg is None:
            raise EncodeError("no ffmpeg is available to take a frame")
        async with self._frame_slots:
            await grab_frame(self.ffmpeg, source, dest)
