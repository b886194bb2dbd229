"""The queue shared by several processes through PostgreSQL: claims, heartbeats, wake-ups.

The in-memory Dispatcher (bot/jobs/dispatcher.py) is the one-process path. Here the queue's
truth is the jobs table itself: any process (`video-bot run`, `video-bot worker`) claims the
oldest waiting jobs under a lease (bot/store/leases.py) within limits counted over every
process, renews its leases while it works, takes over jobs whose lease ran out, and hands its
leases back when it stops cleanly. PostgreSQL's LISTEN/NOTIFY wakes idle processes at once
when a job is accepted or a slot frees; a poll every few seconds covers a lost notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from bot.background import spawn
from bot.domain import shown_position
from bot.store import JobRecord
from bot.store.jobs import Lease
from bot.store.leases import CHANNEL, POSITIONS_LOCK, LeaseStore

log = logging.getLogger(__name__)

# Jobs one claim takes at most: a burst spreads over the processes instead of all landing on
# whichever woke first.
CLAIM_BATCH = 10
# The longest an idle process waits between looks at the queue without a notification.
MAX_POLL = 5.0
# The least time between two claim rounds of one process.
CLAIM_SPACING = 0.05
# How long a loop may take to finish its round when the process stops.
LOOP_GRACE = 10.0


def process_name() -> str:
    """This process as a lease owner: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class SharedDispatcher:
    """Runs jobs claimed from the shared queue; same calls as the in-memory Dispatcher."""

    def __init__(
        self,
        leases: LeaseStore,
        *,
        max_running: int,
        max_per_user: int,
        ttl: float,
        run_jobs: bool,
        start: Callable[[JobRecord, Lease], None],
        stop: Callable[[str], Awaitable[None]],
        show_position: Callable[[JobRecord, int], Awaitable[None]],
        position_interval: float = 3.0,
        listen_dsn: str | None = None,
        owner: str | None = None,
        on_policy: Callable[[int], None] = lambda _guild_id: None,
        on_due: Callable[[str], None] = lambda _job_id: None,
    ) -> None:
        self.leases = leases
        self.max_running = max_running
        self.max_per_user = max_per_user
        self.ttl = ttl
        self.run_jobs = run_jobs
        self.owner = owner or process_name()
        self._start = start
        self._stop = stop
        self._show_position = show_position
        self._interval = position_interval
        self._dsn = listen_dsn
        self._on_policy = on_policy
        self._on_due = on_due
        self._held: dict[str, int] = {}  # job id -> lease generation
        self._wake = asyncio.Event()
        self._moved = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._notes: set[asyncio.Task[None]] = set()
        self._waking: asyncio.Task[None] | None = None
        self._wake_again = False
        self._closing = False
        self._ended = asyncio.Event()  # the job tasks have stopped: the heartbeat may too
        self.paused = False
        self.waiting = 0  # over every process, as last counted (for /metrics)

    @property
    def running(self) -> int:
        """Jobs this process holds."""
        return len(self._held)

    async def place(self, job_id: str) -> int | None:
        """A waiting job's place in the queue of every process."""
        return await self.leases.position(job_id)

    def holds(self, job_id: str) -> bool:
        return job_id in self._held

    # -- the same calls as the in-memory dispatcher ---------------------------------------------

    def hold(self, job_id: str, user_id: int, accepted_at: float) -> None:
        """Nothing to do: the stored job without its reply is the hold."""

    def ready(self, record: JobRecord) -> None:
        """The job has its reply: any process may claim it now."""
        self._notify("")
        self._changed()

    def withdraw(self, job_id: str) -> None:
        self._moved.set()

    def release(self, job_id: str) -> None:
        """A job this process ran ended here (or was stopped): its slot is free for anyone.

        While closing, the job's task was stopped by the shutdown, not ended: its lease stays
        in the books for `hand_back` to give back (one that did end is left alone there).
        """
        if self._closing:
            return
        if self._held.pop(job_id, None) is not None:
            self._notify("")
            self._changed()

    def forget(self, job_id: str) -> None:
        """A job whose lease this process lost: another process has it now."""
        self._held.pop(job_id, None)

    def stop_elsewhere(self, job_id: str) -> None:
        """A member stopped a job: whichever process holds it stops its task at once."""
        self._notify(f"stop:{job_id}")

    def policy_changed(self, guild_id: int) -> None:
        """A server's rules changed here: the other processes drop their cached copy."""
        self._notify(f"policy:{guild_id}")

    def wake_elsewhere(self, job_id: str) -> None:
        """A provider's callback reached this process for a job another one holds: the
        holder reads its status now (as a stop does, by NOTIFY)."""
        self._notify(f"due:{job_id}")

    def _changed(self) -> None:
        self._wake.set()
        self._moved.set()

    def _notify(self, payload: str) -> None:
        if not payload:
            # "Look at the queue": one on the way is enough, plus one after it for what
            # was committed meanwhile (a burst of 1,000 acceptances sends a handful).
            if self._waking is not None and not self._waking.done():
                self._wake_again = True
                return
            self._waking = spawn(self._wake_others(), name="notify")
            self._notes.add(self._waking)
            self._waking.add_done_callback(self._notes.discard)
            return
        task = spawn(self._safe_notify(payload), name="notify")
        self._notes.add(task)
        task.add_done_callback(self._notes.discard)

    async def _wake_others(self) -> None:
        while True:
            self._wake_again = False
            await self._safe_notify("")
            if not self._wake_again:
                return

    async def _safe_notify(self, payload: str) -> None:
        try:
            await self.leases.notify(payload)
        except Exception as exc:  # noqa: BLE001 - the poll finds the work anyway
            log.warning("waking the other processes failed: %s", type(exc).__name__)

    # -- life cycle ----------------------------------------------------------------------------

    async def resume(self, *, spread: float | None = None) -> int:
        """Nothing to resume by hand: the claims take over whatever no live process holds (at
        once when its process stopped cleanly, once its lease ran out otherwise)."""
        del spread
        return 0

    def launch(self) -> None:
        if self._tasks:
            return
        loops: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = [
            ("queue-positions", self._positions)
        ]
        if self.run_jobs:
            loops += [("claims", self._claims), ("heartbeat", self._heartbeat)]
        if self._dsn is not None:  # every process listens: stops and rule changes concern all
            loops.append(("listen", self._listen))
        for name, loop in loops:
            self._tasks.append(spawn(loop(), name=name))
        self._changed()

    async def close(self) -> None:
        """Stop claiming; the heartbeat goes on until `hand_back` (job tasks still run).

        The loops are asked to stop and finish the round they are in: a task cancelled in the
        middle of a database call leaves a connection that cannot be closed cleanly.
        """
        self._closing = True
        self.paused = True
        self._wake.set()
        self._moved.set()
        await self._stop_loops(keep={"heartbeat"})
        await asyncio.gather(*self._notes, return_exceptions=True)

    async def hand_back(self) -> None:
        """After the job tasks stopped: give every lease back so others take over at once."""
        self._ended.set()
        await self._stop_loops(keep=set())
        held, self._held = list(self._held), {}
        if not held:
            return
        try:
            count = await self.leases.release(self.owner, held)
            await self.leases.notify("")
        except Exception:  # noqa: BLE001 - the leases run out on their own
            log.warning("handing %d lease(s) back failed; they run out on their own", len(held))
        else:
            log.info("handed %d job(s) back to the shared queue", count)

    # -- loops ---------------------------------------------------------------------------------

    async def _stop_loops(self, keep: set[str]) -> None:
        stopping = [t for t in self._tasks if t.get_name() not in keep]
        for task in stopping:
            if task.get_name() == "listen":  # idle on its connection: nothing to finish
                task.cancel()
        if stopping:
            _, late = await asyncio.wait(stopping, timeout=LOOP_GRACE)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        self._tasks = [t for t in self._tasks if t not in stopping]

    async def _claims(self) -> None:
        poll = min(MAX_POLL, self.ttl / 3)
        looked = -poll  # when expired leases were last looked for (monotonic)
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)
            self._wake.clear()
            if self.paused:
                continue
            try:
                # Leases run out with time, not with events: expired ones are looked for once
                # a poll interval, however often notifications wake this loop meanwhile.
                take_over = time.monotonic() - looked >= poll
                if take_over:
                    looked = time.monotonic()
                more = await self.claim(take_over=take_over)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the store is away: try again later
                log.warning("claiming jobs failed: %s", exc)
                continue
            if more:
                self._wake.set()
            # A burst of notifications (every acceptance and every end sends one to every
            # process) shares one round instead of costing each process a claim apiece.
            await asyncio.sleep(CLAIM_SPACING)

    async def claim(self, *, take_over: bool = True) -> bool:
        """One round: jobs whose lease ran out (with `take_over`), then the oldest waiting
        ones; returns whether a full batch was taken (there may be more)."""
        free = self.max_running - len(self._held)
        taken: list[tuple[JobRecord, Lease]] = []
        if take_over:
            taken = await self.leases.claim_expired(self.owner, ttl=self.ttl, limit=free)
            taken += await self.leases.adopt_unleased(
                self.owner, ttl=self.ttl, limit=free - len(taken)
            )
        for record, _ in taken:
            log.info("took over job %s (%s)", record.id, record.state.value)
        new = await self.leases.claim_new(
            self.owner,
            ttl=self.ttl,
            slots=min(CLAIM_BATCH, free - len(taken)),
            max_running=self.max_running,
            max_per_user=self.max_per_user,
        )
        for record, lease in [*taken, *new]:
            self._held[record.id] = lease.generation
            try:
                self._start(record, lease)
            except Exception:
                log.exception("job %s could not be started", record.id)
                self._held.pop(record.id, None)
        if new:
            self._moved.set()
        return len(new) >= CLAIM_BATCH

    async def _heartbeat(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), self.ttl / 3)
            if self._ended.is_set():
                return
            try:
                lost = await self.leases.renew(self.owner, dict(self._held), ttl=self.ttl)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried at the next beat
                log.warning("renewing the leases failed: %s", exc)
                continue
            for job_id in lost:
                if job_id in self._held:
                    log.warning("job %s: lease lost (taken over or ended elsewhere)", job_id)
                    await self._drop(job_id)

    async def _drop(self, job_id: str) -> None:
        self.forget(job_id)
        await self._stop(job_id)

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; reconnects, and the poll covers the gaps."""
        import asyncpg  # type: ignore[import-untyped]

        assert self._dsn is not None  # noqa: S101 - launched only with one

        def heard(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            if payload.startswith("policy:"):
                guild = payload.removeprefix("policy:")
                if guild.isdigit():
                    self._on_policy(int(guild))
                return
            if payload.startswith("due:"):
                job_id = payload.removeprefix("due:")
                if job_id in self._held:
                    self._on_due(job_id)
                return
            if payload.startswith("stop:"):
                job_id = payload.removeprefix("stop:")
                if job_id in self._held:
                    task = spawn(self._drop(job_id), name="stop-job")
                    self._notes.add(task)
                    task.add_done_callback(self._notes.discard)
                return
            self._changed()

        while True:
            try:
                conn = await asyncpg.connect(self._dsn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - polling goes on meanwhile
                log.warning("cannot listen for new jobs (%s); polling", type(exc).__name__)
                await asyncio.sleep(MAX_POLL)
                continue
            closed = asyncio.Event()
            try:
                conn.add_termination_listener(functools.partial(_set, closed))
                await conn.add_listener(CHANNEL, heard)
                self._changed()  # anything notified while nobody listened
                await closed.wait()
                log.warning("the connection listening for new jobs closed; reconnecting")
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=2))

    async def _positions(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), max(self._interval, MAX_POLL))
            if self._closing:
                return
            await asyncio.sleep(self._interval)  # changes in the meantime share one round
            self._moved.clear()
            try:
                await self.show_positions()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                log.warning("telling the queue places failed: %s", exc)

    async def show_positions(self) -> int:
        """Tell each waiting reply whose shown place changed, in one process at a time."""
        async with self.leases.exclusive(POSITIONS_LOCK) as mine:
            if not mine:
                return 0  # another process is doing this round
            changed: list[tuple[JobRecord, int]] = []
            place = 0
            after: tuple[float, str] | None = None
            while page := await self.leases.waiting(after=after, limit=1000):
                for record in page:
                    place += 1
                    if record.shown_position != shown_position(place):
                        changed.append((record, place))
                after = (page[-1].created_at, page[-1].id)
            self.waiting = place
            for first in range(0, len(changed), 20):
                batch = changed[first : first + 20]
                # Those that started or left meanwhile keep their own card.
                live = await self.leases.still_waiting([r.id for r, _ in batch])
                batch = [(r, p) for r, p in batch if r.id in live]
                await asyncio.gather(*(self._safe_show(r, p) for r, p in batch))
                await self.leases.mark_shown({r.id: shown_position(p) for r, p in batch})
            return len(changed)

    async def _safe_show(self, record: JobRecord, place: int) -> None:
        try:
            await self._show_position(record, place)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("showing the queue place of job %s failed", record.id, exc_info=True)


def _set(event: asyncio.Event, *_: object) -> None:
    event.set()
