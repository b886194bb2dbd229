"""What is kept, for how long, and the janitor that removes the rest.

Originals of delivered videos are kept VIDEO_BOT_KEEP_DAYS within VIDEO_BOT_KEEP_MAX_GB behind
signed links; undeliverable videos and reference images KEEP_DAYS; Idempotency-Keys of the
team API for a day (as the SDKs assume); files no job refers to go at once. The janitor runs
hourly, and the originals are trimmed right after each delivery too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from bot.background import spawn
from bot.config import Settings
from bot.domain import JobState, Original
from bot.jobs.files import JobFiles
from bot.service.links import LinkSigner, link_for, reference_link_for
from bot.store import IdempotencyStore, JobStore
from bot.store.provider_events import ProviderEvents

log = logging.getLogger(__name__)

JANITOR_INTERVAL = 3600.0
# A job reserved this long ago still without its reply: its process died before replying.
STALE_HOLD = 900.0
# A provider fetches a reference link when the job starts (or a little later, queued there).
REFERENCE_LINK_LIFE = 86400.0
# How long the team API remembers an Idempotency-Key (the OpenAI SDKs assume 24 hours).
IDEMPOTENCY_LIFE = 86400.0
GIB = 1024**3
_JOB_ID = re.compile(r"[0-9a-f]{8,32}")

# Withdraws a reservation nobody replied to (the service's own withdrawal).
Withdraw = Callable[[str, str], Awaitable[None]]


# How long a provider callback's id is remembered against replays (stale ones are refused).
PROVIDER_EVENT_LIFE = 24 * 3600


class Retention:
    """Keeps originals, reference images and idempotency records as long as configured."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        idempotency: IdempotencyStore,
        files: JobFiles,
        signer: LinkSigner | None,
        *,
        provider_events: ProviderEvents | None = None,
        clock: Callable[[], float],
        shared: bool,
    ) -> None:
        self._settings = settings
        self._store = store
        self._idempotency = idempotency
        self._provider_events = provider_events
        self._files = files
        self.signer = signer
        self._clock = clock
        self._shared = shared
        self._janitor: asyncio.Task[None] | None = None
        self._trimming: asyncio.Task[None] | None = None
        self._trim_again = False

    # -- links ------------------------------------------------------------------------------

    def original_for(self, job_id: str, size: int) -> Original | None:
        """Where the original of a job being delivered can be had afterwards."""
        settings = self._settings
        if settings.keep_days <= 0 or settings.keep_max_gb <= 0:
            return None
        kept_until = self._clock() + settings.keep_days * 86400
        link = None
        if self.signer is not None and settings.public_url is not None:
            link = link_for(settings.public_url, self.signer, job_id, int(kept_until))
        return Original(size=size, kept_until=kept_until, link=link)

    def reference_link(self, job_id: str) -> str | None:
        """A signed link to a job's fitted reference image, for servers that take a URL."""
        if self.signer is None or self._settings.public_url is None:
            return None
        expires_at = int(self._clock() + REFERENCE_LINK_LIFE)
        return reference_link_for(self._settings.public_url, self.signer, job_id, expires_at)

    def original_file(self, job_id: str) -> Path | None:
        """The kept original of a job (what a signed link serves), or None once it is gone."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        path = self._files.video(job_id)
        return path if path.is_file() else None

    def thumbnail_file(self, job_id: str) -> Path | None:
        if not _JOB_ID.fullmatch(job_id):
            return None
        return self._files.thumbnail(job_id)

    async def reference_image(self, job_id: str) -> bytes | None:
        """A job's fitted reference image (what a reference link serves)."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        return await self._store.reference(job_id)

    # -- tidying ----------------------------------------------------------------------------

    async def tidy(self, withdraw: Withdraw, in_use: set[str]) -> int:
        """Remove what no job needs any more: orphan files, originals past KEEP_DAYS or beyond
        KEEP_MAX_GB, undeliverable videos and reference images past KEEP_DAYS (a member's
        picture is kept only as long as the job's files), Idempotency-Keys past their day.
        Returns how many files went."""
        now = self._clock()
        keep_until = now - self._settings.keep_days * 86400
        await self._store.drop_references(keep_until)
        await self._idempotency.forget_before(now - IDEMPOTENCY_LIFE)
        if self._provider_events is not None:
            # A callback older than this is refused as stale anyway: its id need not be kept.
            await self._provider_events.forget_before(now - PROVIDER_EVENT_LIFE)
        kept = set(await self.trim_originals())
        for job_id, finished_at in await self._store.finished_with_files([JobState.UNDELIVERABLE]):
            if finished_at >= keep_until:
                kept.add(job_id)
            else:
                self._files.remove(job_id)
        after: tuple[float, str] | None = None
        stale_hold = now - STALE_HOLD
        while records := await self._store.unfinished_page(after, 1000):
            kept.update(r.id for r in records)
            after = (records[-1].created_at, records[-1].id)
            for record in records:
                if self._shared and record.handle is None and record.created_at < stale_hold:
                    # Reserved, but its process died before replying (a restart of the only
                    # process does this at start-up; shared, another process may be replying).
                    await withdraw(record.id, "the bot restarted before replying")
        kept.update(in_use)
        return self._files.sweep(kept)

    async def trim_originals(self) -> list[str]:
        """Keep the originals of delivered videos KEEP_DAYS and within KEEP_MAX_GB, removing
        the oldest first; returns the jobs whose original stays."""
        keep_until = self._clock() - self._settings.keep_days * 86400
        budget = int(self._settings.keep_max_gb * GIB)
        delivered = await self._store.finished_with_files([JobState.DELIVERED], since=keep_until)
        kept: list[str] = []
        used = 0
        for job_id, _finished_at in sorted(delivered, key=lambda row: row[1], reverse=True):
            size = self._files.size(job_id)
            if size == 0:
                continue
            if used + size > budget:
                self._files.remove(job_id)
                continue
            used += size
            kept.append(job_id)
        return kept

    def trim_soon(self) -> None:
        """After a delivery: hold the originals to KEEP_MAX_GB now, not at the next tidy."""
        if self._trimming is not None and not self._trimming.done():
            self._trim_again = True
            return
        self._trimming = spawn(self._trim_until_settled(), name="trim-originals")

    async def _trim_until_settled(self) -> None:
        while True:
            self._trim_again = False
            try:
                await self.trim_originals()
            except Exception:
                log.warning("trimming the kept originals failed", exc_info=True)
            if not self._trim_again:
                return

    async def tidy_once(self, withdraw: Withdraw, in_use: Callable[[], set[str]]) -> None:
        try:
            await self.tidy(withdraw, in_use())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("tidying the job files failed", exc_info=True)

    def start_janitor(self, withdraw: Withdraw, in_use: Callable[[], set[str]]) -> None:
        if self._janitor is None:
            self._janitor = spawn(self._tidy_forever(withdraw, in_use), name="janitor")

    async def _tidy_forever(self, withdraw: Withdraw, in_use: Callable[[], set[str]]) -> None:
        while True:
            await asyncio.sleep(JANITOR_INTERVAL)
            await self.tidy_once(withdraw, in_use)

    async def close(self) -> None:
        for task in (self._janitor, self._trimming):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._janitor = None
