"""The order jobs reach the provider in: FIFO, within an operator-wide and a per-member limit.

The queue itself lives in the store (jobs in state `accepted`, oldest first), so it survives
restarts; this class only hands out the slots of the running process.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Waiter:
    user_id: int
    order: float  # when the job was accepted: replies may be ready in another order
    granted: asyncio.Event = field(default_factory=asyncio.Event)


class Dispatcher:
    """Grants provider slots in arrival order; a member at their limit does not block others."""

    def __init__(self, max_running: int, max_per_user: int) -> None:
        self.max_running = max_running
        self.max_per_user = max_per_user
        self._waiting: dict[str, _Waiter] = {}  # kept in order of acceptance
        self._running: dict[str, int] = {}
        self._per_user: Counter[int] = Counter()
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, callback: Callable[[], None]) -> None:
        """Called whenever queue positions may have moved."""
        self._listeners.append(callback)

    @property
    def running(self) -> int:
        return len(self._running)

    def position(self, job_id: str) -> int | None:
        """1-based place in the queue, or None when not waiting."""
        for place, waiting_id in enumerate(self._waiting, start=1):
            if waiting_id == job_id:
                return place
        return None

    def enqueue(self, job_id: str, user_id: int, order: float) -> None:
        """Join the queue at the place its acceptance time gives it."""
        self._waiting[job_id] = _Waiter(user_id, order)
        self._waiting = dict(sorted(self._waiting.items(), key=lambda item: item[1].order))
        self._pump()

    async def wait_turn(self, job_id: str) -> None:
        waiter = self._waiting.get(job_id)
        if waiter is not None:
            await waiter.granted.wait()

    def occupy(self, job_id: str, user_id: int) -> None:
        """Count a job already at the provider (resumed after a restart) without queueing it."""
        self._running[job_id] = user_id
        self._per_user[user_id] += 1

    def release(self, job_id: str) -> None:
        """A job left the queue or the provider (done, failed, cancelled, abandoned)."""
        if job_id in self._waiting:
            del self._waiting[job_id]
        user = self._running.pop(job_id, None)
        if user is not None:
            self._per_user[user] -= 1
        self._pump()

    def _pump(self) -> None:
        for job_id, waiter in list(self._waiting.items()):
            if len(self._running) >= self.max_running:
                break
            if self._per_user[waiter.user_id] >= self.max_per_user:
                continue
            del self._waiting[job_id]
            self._running[job_id] = waiter.user_id
            self._per_user[waiter.user_id] += 1
            waiter.granted.set()
        for callback in self._listeners:
            callback()
