"""How long jobs of each kind took, so that progress-less servers can still be polled well."""

from __future__ import annotations


class DurationHistory:
    """An exponential moving average of generation time per (model, size, seconds)."""

    def __init__(self, weight: float = 0.3) -> None:
        self._weight = weight
        self._averages: dict[tuple[str, str, int], float] = {}

    def expected(self, model: str, size: str, seconds: int) -> float | None:
        return self._averages.get((model, size, seconds))

    def record(self, model: str, size: str, seconds: int, took: float) -> None:
        key = (model, size, seconds)
        previous = self._averages.get(key)
        self._averages[key] = (
            took if previous is None else previous + self._weight * (took - previous)
        )
