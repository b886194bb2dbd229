"""The queue of one process as one loop: start the next waiting job whenever a slot frees up.

No task per waiting job: the dispatcher wakes on events (a job ready, a job finished, a job
withdrawn), starts as many as the slots allow, and a second loop tells waiting replies their
place, throttled and only when the place as shown changes (`shown_position`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter
from collections.abc import Awaitable, Callable

from bot.background import spawn
from bot.domain import JobState, shown_position
from bot.guardrails.queue import JobQueue
from bot.store import JobRecord, JobStore
from bot.store.jobs import StaleTransitionError

log = logging.getLogger(__name__)

# Positions computed per slice before the loop yields: 10,000 waiting jobs never hold it long.
_SLICE = 500
NOT_REPLIED = "the bot restarted before replying"

# Starts a job's task from its stored state, after a delay (seconds).
Starter = Callable[[JobRecord, float], None]


class InProcessDispatcher:
    """Grants provider slots in acceptance order within an overall and a per-member limit."""

    def __init__(
        self,
        queue: JobQueue,
        store: JobStore,
        *,
        max_running: int,
        max_per_user: int,
        start: Starter,
        show_position: Callable[[JobRecord, int], Awaitable[None]],
        position_interval: float = 3.0,
    ) -> None:
        self.queue = queue
        self._store = store
        self.max_running = max_running
        self.max_per_user = max_per_user
        self._start = start
        self._show_position = show_position
        self._interval = position_interval
        self._records: dict[str, JobRecord] = {}
        self._running: dict[str, int] = {}
        self._per_user: Counter[int] = Counter()
        self._shown: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._moved = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.paused = False

    @property
    def running(self) -> int:
        return len(self._running)

    def position(self, job_id: str) -> int | None:
        return self.queue.position(job_id)

    # -- changes -----------------------------------------------------------------------------

    def hold(self, job_id: str, user_id: int, accepted_at: float) -> None:
        """A reservation: it counts in the queue at once, but cannot start before `ready`."""
        self.queue.add(job_id, user_id, accepted_at, held=True)

    def ready(self, record: JobRecord) -> None:
        """The job has its reply: it may start (at once if a slot is free)."""
        self._records[record.id] = record
        if record.id not in self.queue:
            self.queue.add(record.id, record.requester_id, record.created_at)
        self.queue.release_hold(record.id)
        self._changed()

    def withdraw(self, job_id: str) -> None:
        """The job left the queue without starting (cancelled, withdrawn)."""
        if self.queue.remove(job_id):
            self._records.pop(job_id, None)
            self._shown.pop(job_id, None)
            self._changed()

    def _occupy(self, job_id: str, user_id: int) -> None:
        """Count a job already past the queue (resumed after a restart)."""
        if job_id not in self._running:
            self._running[job_id] = user_id
            self._per_user[user_id] += 1

    def release(self, job_id: str) -> None:
        """A running job ended (or stopped): its slot is free."""
        user = self._running.pop(job_id, None)
        if user is not None:
            self._per_user[user] -= 1
            if not self._per_user[user]:
                del self._per_user[user]
            self._changed()

    # -- calls the shared queue needs (bot/jobs/shared.py); one process has nothing to do --

    @property
    def owner(self) -> str | None:
        return None  # no leases here

    @property
    def waiting(self) -> int:
        return len(self.queue)

    async def place(self, job_id: str) -> int | None:
        return self.queue.position(job_id)

    def forget(self, job_id: str) -> None:
        """Nothing to forget: no other process takes jobs from this one."""

    def stop_elsewhere(self, job_id: str) -> None:
        """Nothing to tell: no other process runs jobs."""

    def policy_changed(self, guild_id: int) -> None:
        """Nothing to tell: no other process caches the rules."""

    def wake_elsewhere(self, job_id: str) -> None:
        """Nothing to tell: no other process follows jobs (one not running here waits in the
        queue, and is read when it starts)."""

    async def hand_back(self) -> None:
        """Nothing to hand back: the jobs resume at the next start."""

    async def resume(self, *, spread: float | None = None, page: int = 500) -> int:
        """Pick up the unfinished jobs after a restart, a page at a time.

        Waiting jobs rejoin the queue in their order (no task each); jobs past the queue get
        their task back, their first reads spread over up to a minute (no thundering herd).
        """
        running: list[JobRecord] = []
        waiting = 0
        after: tuple[float, str] | None = None
        while records := await self._store.unfinished_page(after, page):
            after = (records[-1].created_at, records[-1].id)
            for record in records:
                if record.state is not JobState.ACCEPTED:
                    self._occupy(record.id, record.requester_id)
                    running.append(record)
                elif record.handle is None:
                    # Reserved, but the bot died before it could reply: nobody waits for it.
                    with contextlib.suppress(StaleTransitionError):
                        await self._store.transition(
                            record.id,
                            JobState.CANCELLED,
                            expect=[JobState.ACCEPTED],
                            last_error=NOT_REPLIED,
                        )
                else:
                    self.ready(record)
                    waiting += 1
                    position = self.queue.position(record.id)
                    if position is not None and position > 10:
                        # The reply already shows about this place: no edit until it moves.
                        self._shown[record.id] = shown_position(position)
            await asyncio.sleep(0)
        window = spread if spread is not None else min(60.0, len(running) / 100)
        for record in running:
            self._start(record, random.uniform(0, window) if window > 0 else 0.0)
        if running or waiting:
            log.info(
                "resumed %d job(s) past the queue over %.0f s and %d waiting",
                len(running),
                window,
                waiting,
            )
        return len(running) + waiting

    def _changed(self) -> None:
        self._wake.set()
        self._moved.set()

    # -- loops -------------------------------------------------------------------------------

    def launch(self) -> None:
        if not self._tasks:
            self._tasks = [
                spawn(self._dispatch(), name="dispatcher"),
                spawn(self._positions(), name="queue-positions"),
            ]
            self._wake.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []

    def _may_start(self, user_id: int) -> bool:
        return self._per_user[user_id] < self.max_per_user

    def pump(self) -> int:
        """Start every job the slots allow now; returns how many started."""
        started = 0
        while not self.paused and len(self._running) < self.max_running:
            found = self.queue.next_ready(self._may_start)
            if found is None:
                break
            job_id, user_id = found
            self.queue.remove(job_id)
            self._shown.pop(job_id, None)
            record = self._records.pop(job_id, None)
            if record is None:  # cannot happen: ready() stores it before releasing the hold
                log.error("job %s was in the queue without its record", job_id)
                continue
            self._running[job_id] = user_id
            self._per_user[user_id] += 1
            self._moved.set()
            started += 1
            try:
                self._start(record, 0.0)
            except Exception:
                log.exception("job %s could not be started", job_id)
                self.release(job_id)
        return started

    async def _dispatch(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self.pump()

    async def _positions(self) -> None:
        while True:
            await self._moved.wait()
            await asyncio.sleep(self._interval)  # changes in the meantime share one round
            self._moved.clear()
            await self.show_positions()

    async def show_positions(self) -> int:
        """Tell each waiting reply whose shown place changed; returns how many were told."""
        changed: list[tuple[JobRecord, int]] = []
        for count, (job_id, place) in enumerate(list(self.queue.positions()), start=1):
            shown = shown_position(place)
            record = self._records.get(job_id)
            if record is not None and self._shown.get(job_id) != shown:
                self._shown[job_id] = shown
                changed.append((record, place))
            if count % _SLICE == 0:
                await asyncio.sleep(0)
        for first in range(0, len(changed), 20):
            batch = changed[first : first + 20]
            await asyncio.gather(*(self._safe_show(r, p) for r, p in batch))
        return len(changed)

    async def _safe_show(self, record: JobRecord, place: int) -> None:
        if record.id not in self.queue:
            return  # it started or left meanwhile
        try:
            await self._show_position(record, place)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("showing the queue place of job %s failed", record.id, exc_info=True)
