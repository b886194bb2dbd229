"""The reply registry: where each live job shows its progress and its result.

A front end registers, per kind of reply it makes ("discord", "terminal", …), how to rebuild a
reply's sink from its stored handle. The registry keeps one sink per live job (its throttling
state lives there), so a job resumed after a restart, or taken over from another process,
edits the same reply through the same rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from bot.domain import Delivery, JobView, ReplyHandle, ReplySink
from bot.store import JobRecord

log = logging.getLogger(__name__)

SinkBuilder = Callable[[ReplyHandle], ReplySink]


class ReplyOpener(Protocol):
    """How a front end makes the public reply of an accepted request."""

    async def open(self, view: JobView) -> ReplyHandle:
        """Make the reply (the request is reserved and valid); return its handle."""


class _Unreachable:
    """The sink of a job whose front end this process does not serve: it only logs."""

    def __init__(self, handle: ReplyHandle | None) -> None:
        self._kind = handle.kind if handle else None

    async def show(self, view: JobView) -> None:
        pass

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        log.warning("job %s: no front end for %r replies; nothing posted", view.ref, self._kind)

    async def fail(self, view: JobView) -> None:
        pass

    async def already_delivered(self) -> bool:
        return False


class Replies:
    """One sink per live job, built by the front end that made its reply."""

    def __init__(self, builders: Mapping[str, SinkBuilder]) -> None:
        self._builders = dict(builders)
        self._sinks: dict[str, ReplySink] = {}

    def build(self, record: JobRecord) -> ReplySink:
        """A fresh sink for the job's reply (nothing posts where no front end serves it)."""
        handle = record.handle
        builder = self._builders.get(handle.kind) if handle is not None else None
        if handle is None or builder is None:
            return _Unreachable(handle)
        return builder(handle)

    def sink(self, record: JobRecord) -> ReplySink:
        """The one sink of a live job."""
        sink = self._sinks.get(record.id)
        if sink is None:
            sink = self._sinks[record.id] = self.build(record)
        return sink

    def current(self, job_id: str) -> ReplySink | None:
        """The job's sink, if it has one in this process now."""
        return self._sinks.get(job_id)

    def forget(self, job_id: str) -> None:
        self._sinks.pop(job_id, None)

    def live(self) -> set[str]:
        """The jobs with a sink in this process (their files are in use)."""
        return set(self._sinks)

    async def tell_ended(
        self, record: JobRecord, view: JobView, sink: ReplySink | None = None
    ) -> None:
        """Tell a job's reply it ended without a video; a failure here is only logged."""
        sink = sink or self._sinks.get(record.id) or self.build(record)
        try:
            await sink.fail(view)
        except Exception:
            log.warning("telling job %s's reply it ended failed", record.id, exc_info=True)
        finally:
            self.forget(record.id)
