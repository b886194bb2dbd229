"""How long jobs of each kind took, so that the poll planner starts from a good guess."""

from __future__ import annotations

from collections import OrderedDict

_Kind = tuple[str, str, int]


class DurationHistory:
    """Exponential moving averages per (model, size, seconds), for the most recent kinds.

    `expected` is the time from submission to completion (queue included); `expected_running`
    the time the progress takes from 0 to 100 % once the job runs (queue excluded), when the
    caller recorded it. At most `max_kinds` kinds are remembered, the least recently used
    forgotten first, so a catalogue with many sizes cannot grow it without bound.
    """

    def __init__(self, weight: float = 0.3, max_kinds: int = 256) -> None:
        self._weight = weight
        self._max_kinds = max(1, max_kinds)
        self._averages: OrderedDict[_Kind, float] = OrderedDict()
        self._running: OrderedDict[_Kind, float] = OrderedDict()

    def expected(self, model: str, size: str, seconds: int) -> float | None:
        return self._get(self._averages, (model, size, seconds))

    def expected_running(self, model: str, size: str, seconds: int) -> float | None:
        return self._get(self._running, (model, size, seconds))

    def record(
        self,
        model: str,
        size: str,
        seconds: int,
        took: float,
        *,
        running: float | None = None,
    ) -> None:
        key = (model, size, seconds)
        self._put(self._averages, key, took)
        if running is not None and running > 0:
            self._put(self._running, key, running)

    def __len__(self) -> int:
        return len(self._averages)

    def _get(self, table: OrderedDict[_Kind, float], key: _Kind) -> float | None:
        value = table.get(key)
        if value is not None:
            table.move_to_end(key)
        return value

    def _put(self, table: OrderedDict[_Kind, float], key: _Kind, value: float) -> None:
        previous = table.get(key)
        table[key] = value if previous is None else previous + self._weight * (value - previous)
        table.move_to_end(key)
        while len(table) > self._max_kinds:
            table.popitem(last=False)
