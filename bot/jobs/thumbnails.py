"""A still for a finished video's reply: the provider's thumbnail, else a frame from ffmpeg.

A nicety, bounded: one try at the provider, never a long wait, and never a job's failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.catalogue import Catalogue, RequestRejected
from bot.jobs.files import JobFiles
from bot.store import JobRecord
from bot.videos import VideosClient, VideosError

log = logging.getLogger(__name__)

# Writes a still of the video (first path) as a JPEG (second path).
FrameGrabber = Callable[[Path, Path], Awaitable[object]]

THUMBNAIL_WAIT = 10.0
THUMBNAIL_MAX_BYTES = 5 * 1024 * 1024


async def make_thumbnail(
    record: JobRecord,
    client: VideosClient,
    catalogue: Catalogue,
    files: JobFiles,
    grab_frame: FrameGrabber | None,
) -> Path | None:
    """A still of a finished job's video: the provider's thumbnail where its model has one,
    else a frame taken with ffmpeg; None when neither comes quickly (never a job's failure)."""
    try:
        provider_has_one = catalogue.get(record.model).thumbnail
    except RequestRejected:  # the operator removed the model since
        provider_has_one = False
    if provider_has_one and record.provider_video_id is not None:
        dest = files.thumbnail_path(record.id, ".webp")
        try:
            async with asyncio.timeout(THUMBNAIL_WAIT):
                await client.download(
                    record.provider_video_id,
                    dest,
                    variant="thumbnail",
                    max_bytes=THUMBNAIL_MAX_BYTES,
                    retries=0,
                )
        except (VideosError, TimeoutError) as exc:
            log.info("job %s: no thumbnail from the provider (%s)", record.id, exc)
        else:
            return dest
    if grab_frame is None:
        return None
    dest = files.thumbnail_path(record.id, ".jpg")
    try:
        async with asyncio.timeout(THUMBNAIL_WAIT):
            await grab_frame(files.video(record.id), dest)
    except Exception as exc:  # noqa: BLE001 - no thumbnail is never a reason to fail a job
        log.info("job %s: no frame for a thumbnail (%s)", record.id, exc)
        return None
    return dest if dest.is_file() else None
