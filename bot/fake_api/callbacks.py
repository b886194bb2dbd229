"""The callbacks (webhooks) the fake sends when a job ends.

A job's state is computed from the fake clock on demand, so nothing "happens" when a job ends: a
small loop looks at the jobs that have not ended yet whenever the clock moves or a job starts,
and every 50 ms of real time, and sends each ended job's callback once. The dialect words and
signs it (dialects.py, `callback`); here it is recorded and delivered by its own task, so no
request waits for it, with a few tries before it is given up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any, Final

import aiohttp

from .dialects import rules_for
from .settings import FakeSettings
from .state import TERMINAL, Callback, FakeState, JobView

logger = logging.getLogger(__name__)

# Real seconds between two looks at the jobs when nothing nudges the loop.
TICK: Final = 0.05
# Real seconds one try may take before it counts as failed.
DELIVERY_TIMEOUT: Final = 5.0


class CallbackSender:
    """Sends each job's callback once it has ended; `start` and `close` bracket its life."""

    def __init__(
        self,
        settings: FakeSettings,
        state: FakeState,
        *,
        tick: float = TICK,
        timeout: float = DELIVERY_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.state = state
        self._tick = tick
        self._timeout = timeout
        self._wake: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Open the HTTP session and start watching the jobs."""
        self._wake = asyncio.Event()
        self.state.listeners.append(self._wake.set)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))
        self._loop_task = self._spawn(self._watch())

    async def close(self) -> None:
        """Stop watching and abandon the deliveries still in flight."""
        if self._wake is not None:
            with contextlib.suppress(ValueError):
                self.state.listeners.remove(self._wake.set)
        tasks = [*self._deliveries, *([self._loop_task] if self._loop_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def flush(self) -> None:
        """Send the callbacks of every job that has ended by now and wait for their delivery
        (or for it to be given up)."""
        self.scan()
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    def scan(self) -> None:
        """Announce each job that has ended since the last look, once."""
        now = self.state.now()
        ended: list[JobView] = []
        for job_id in list(self.state.unsettled):
            job = self.state.jobs.get(job_id)
            if job is not None and job.settles_at() > now:
                continue
            # Without expiry: a job is reported as it ended, however late this look is.
            view = None if job is None else job.at(now)
            if view is None or view.phase == "lost":
                del self.state.unsettled[job_id]
            elif view.phase in TERMINAL:
                del self.state.unsettled[job_id]
                ended.append(view)
        # In the order they ended; those that ended in the same second, oldest job first.
        for view in sorted(ended, key=lambda v: (v.finished_at or 0, v.job.seq)):
            self._announce(view)

    def _announce(self, view: JobView) -> None:
        settings = self.settings
        created_at = view.finished_at if view.finished_at is not None else self.state.wall()
        timestamp = int(time.time() + settings.webhook_timestamp_offset)
        try:
            outgoing = rules_for(settings.dialect).callback(
                view, settings, created_at=created_at, timestamp=timestamp
            )
        except ValueError as exc:  # a secret the dialect cannot sign with
            url = view.job.callback_url or settings.webhook_url or ""
            self.state.stats.callbacks.append(
                Callback(view.job.id, "", url, {}, b"", "failed", error=str(exc))
            )
            return
        if outgoing is None:
            return
        callback = Callback(
            view.job.id, outgoing.event, outgoing.url, outgoing.headers, outgoing.body
        )
        self.state.stats.callbacks.append(callback)
        if settings.drop_callbacks:
            callback.outcome = "dropped"
            return
        self._deliveries.add(self._spawn(self._deliver(callback)))

    async def _deliver(self, callback: Callback) -> None:
        """POST the exact bytes; retry on a non-2xx answer or no answer, then give up."""
        assert self._session is not None  # noqa: S101 - started before any scan
        delay = self.settings.callback_retry_delay
        for attempt in range(self.settings.callback_attempts):
            if attempt:
                await asyncio.sleep(delay * 2 ** (attempt - 1))
            callback.attempts += 1
            try:
                async with self._session.post(
                    callback.url,
                    data=callback.body,
                    headers=callback.headers,
                    allow_redirects=False,
                ) as response:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                callback.statuses.append(None)
                callback.error = f"{type(exc).__name__}: {exc}"
                continue
            callback.statuses.append(response.status)
            if 200 <= response.status < 300:
                callback.outcome = "delivered"
                callback.error = None
                return
            callback.error = f"HTTP {response.status}"
        callback.outcome = "failed"
        logger.info(
            "callback %s for %s given up after %d tries (%s)",
            callback.event,
            callback.video_id,
            callback.attempts,
            callback.error,
        )

    async def _watch(self) -> None:
        assert self._wake is not None  # noqa: S101 - set by start
        while True:
            self._wake.clear()
            self.scan()
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the cancellation
            # that close() sends when the wait ends at the same moment.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick):
                    await self._wake.wait()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """A task kept referenced until done, its failure logged."""
        task = asyncio.create_task(coro)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._deliveries.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("fake callback task failed", exc_info=task.exception())
