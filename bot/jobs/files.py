"""The job files on disk, removed when nobody needs them.

Per job: `{id}.mp4` the original as the provider made it (kept after delivery for the links),
`{id}.thumb.webp|jpg` its thumbnail, `{id}.fit*.mp4` the fitted copies uploaded to Discord.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

# A file this young may belong to a job another process (sharing the directory) just started.
ORPHAN_AGE = 3600.0
# The provider's thumbnail variant is WebP; a frame taken with ffmpeg is JPEG.
THUMBNAIL_SUFFIXES = (".webp", ".jpg")


class JobFiles:
    """Names and removes the files of jobs; `sweep` removes the ones no job refers to."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock

    def video(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.mp4"

    def thumbnail(self, job_id: str) -> Path | None:
        """The job's thumbnail, whichever way it was made, when there is one."""
        for suffix in THUMBNAIL_SUFFIXES:
            path = self.directory / f"{job_id}.thumb{suffix}"
            if path.is_file():
                return path
        return None

    def thumbnail_path(self, job_id: str, suffix: str) -> Path:
        return self.directory / f"{job_id}.thumb{suffix}"

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def remove(self, job_id: str) -> None:
        """Remove every file of the job."""
        self._remove(self.directory.glob(f"{job_id}.*"))

    def keep_original(self, job_id: str) -> None:
        """Remove what was only needed for the delivery (the fitted copies); the original and
        its thumbnail stay for its link and the bot's own API."""
        kept = {self.video(job_id), *(self.thumbnail_path(job_id, s) for s in THUMBNAIL_SUFFIXES)}
        self._remove(p for p in self.directory.glob(f"{job_id}.*") if p not in kept)

    def size(self, job_id: str) -> int:
        """The original's size in bytes, 0 when it is gone."""
        try:
            return self.video(job_id).stat().st_size
        except OSError:
            return 0

    @staticmethod
    def _remove(paths: Iterable[Path]) -> None:
        for path in paths:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                log.warning("could not remove %s", path.name, exc_info=True)

    def sweep(self, referenced: Collection[str]) -> int:
        """Remove files older than an hour that belong to no job in `referenced`."""
        if not self.directory.is_dir():
            return 0
        removed = 0
        now = self._clock()
        for path in self.directory.iterdir():
            job_id = path.name.split(".", 1)[0]
            if job_id in referenced or not path.is_file():
                continue
            try:
                if now - path.stat().st_mtime < ORPHAN_AGE:
                    continue
                path.unlink()
            except OSError:
                log.warning("could not remove %s", path.name, exc_info=True)
                continue
            removed += 1
        if removed:
            log.info("removed %d file(s) no job refers to", removed)
        return removed
