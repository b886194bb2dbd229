"""The bot's own queue: accepted jobs waiting for a slot at the provider, in acceptance order.

The queue's truth lives in the store (jobs in state `accepted`); this is its in-memory index,
rebuilt at start-up. Everything is cheap at 10,000 entries: a position is a bisection, an
insert or removal one list shift, and a full pass of positions a single loop.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    user_id: int
    key: tuple[float, str]
    held: bool  # reserved, but its reply is not made yet: counts, but cannot start


class JobQueue:
    """Waiting jobs ordered by (accepted at, id)."""

    def __init__(self) -> None:
        self._keys: list[tuple[float, str]] = []
        self._entries: dict[str, _Entry] = {}
        self._per_user: Counter[int] = Counter()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._entries

    def waiting_for(self, user_id: int) -> int:
        return self._per_user[user_id]

    def add(self, job_id: str, user_id: int, accepted_at: float, *, held: bool = False) -> None:
        if job_id in self._entries:
            return
        key = (accepted_at, job_id)
        bisect.insort(self._keys, key)
        self._entries[job_id] = _Entry(user_id, key, held)
        self._per_user[user_id] += 1

    def release_hold(self, job_id: str) -> None:
        entry = self._entries.get(job_id)
        if entry is not None:
            entry.held = False

    def remove(self, job_id: str) -> bool:
        entry = self._entries.pop(job_id, None)
        if entry is None:
            return False
        index = bisect.bisect_left(self._keys, entry.key)
        del self._keys[index]
        self._per_user[entry.user_id] -= 1
        if not self._per_user[entry.user_id]:
            del self._per_user[entry.user_id]
        return True

    def position(self, job_id: str) -> int | None:
        """1-based place in the queue, or None when not waiting."""
        entry = self._entries.get(job_id)
        if entry is None:
            return None
        return bisect.bisect_left(self._keys, entry.key) + 1

    def positions(self) -> Iterator[tuple[str, int]]:
        """(job id, position) for every waiting job, front first."""
        for place, (_, job_id) in enumerate(self._keys, start=1):
            yield job_id, place

    def next_ready(self, may_start: Callable[[int], bool]) -> tuple[str, int] | None:
        """The first job (and its member) that may start now; a member at their limit does
        not block the others behind them."""
        blocked: set[int] = set()
        for _, job_id in self._keys:
            entry = self._entries[job_id]
            if entry.held or entry.user_id in blocked:
                continue
            if may_start(entry.user_id):
                return job_id, entry.user_id
            blocked.add(entry.user_id)
        return None
