"""The job files on disk: one downloaded video per job, removed when nobody needs it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from pathlib import Path

log = logging.getLogger(__name__)

# A file this young may belong to a job another process (sharing the directory) just started.
ORPHAN_AGE = 3600.0


class JobFiles:
    """Names and removes the files of jobs; `sweep` removes the ones no job refers to."""

    def __init__(self, directory: Path, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock

    def video(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.mp4"

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def remove(self, job_id: str) -> None:
        for path in self.directory.glob(f"{job_id}.*"):
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
