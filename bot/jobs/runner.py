"""Runs video jobs end to end: create, follow, download, hand over; bounded and tracked."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from bot.jobs.durations import DurationHistory
from bot.jobs.events import Delivery, JobListener, JobView, Phase
from bot.jobs.polling import PollPlanner
from bot.jobs.request import VideoRequest
from bot.jobs.tracking import Update, track
from bot.videos import JobFailedError, JobState, VideosClient, VideosError

log = logging.getLogger(__name__)

PlannerFactory = Callable[[float | None], PollPlanner]


def new_ref() -> str:
    """A short id that users quote and operators find in the log."""
    return secrets.token_hex(4)


class JobRunner:
    """Owns every running job as a tracked task; at most `limit` talk to the provider at once."""

    def __init__(
        self,
        client: VideosClient,
        *,
        work_dir: Path,
        planner_factory: PlannerFactory,
        deadline: float,
        max_download_bytes: int,
        limit: int = 50,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._work_dir = work_dir
        self._planner_factory = planner_factory
        self._deadline = deadline
        self._max_download_bytes = max_download_bytes
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wall = wall_clock
        self.durations = DurationHistory()
        self._closing = False

    @property
    def active(self) -> int:
        return len(self._tasks)

    @property
    def accepting(self) -> bool:
        return not self._closing

    def submit(self, request: VideoRequest, listener: JobListener) -> JobView:
        """Start a job in the background and return its first view."""
        view = JobView(new_ref(), request, Phase.WAITING, started_at=self._wall())
        task = asyncio.create_task(self._run(view, listener), name=f"video-job-{view.ref}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return view

    async def close(self, grace: float = 5.0) -> None:
        """Stop taking jobs, give in-flight I/O a moment, then cancel what is left."""
        self._closing = True
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("job task %s crashed", task.get_name(), exc_info=task.exception())

    async def _run(self, view: JobView, listener: JobListener) -> None:
        try:
            await _safely(listener.show, view)
            async with self._slots:
                await self._generate(view, listener)
        except asyncio.CancelledError:
            raise
        except VideosError as exc:
            log.warning("job %s failed: %s", view.ref, exc)
            refused = isinstance(exc, JobFailedError) and exc.refused
            await _safely(
                listener.fail,
                view.evolve(
                    phase=Phase.FAILED,
                    error=f"{exc.user_message} (ref {view.ref})",
                    refused=refused,
                ),
            )
        except Exception:
            log.exception("job %s crashed [ref %s]", view.ref, view.ref)
            await _safely(
                listener.fail,
                view.evolve(
                    phase=Phase.FAILED,
                    error=f"Something went wrong on the bot's side (ref {view.ref}).",
                ),
            )

    async def _generate(self, view: JobView, listener: JobListener) -> None:
        request = view.request
        view = view.evolve(phase=Phase.SUBMITTING)
        await _safely(listener.show, view)
        started = time.monotonic()
        video = await self._client.create(request.create_request())
        log.info("job %s created provider video %s", view.ref, video.id)
        view = view.evolve(video_id=video.id, phase=_phase(video.state), progress=video.progress)
        await _safely(listener.show, view)

        async def on_update(update: Update) -> None:
            nonlocal view
            eta = update.eta
            view = view.evolve(
                phase=_phase(update.state),
                progress=update.progress,
                eta_at=None if eta is None else self._wall() + eta,
            )
            await _safely(listener.show, view)

        expected = self.durations.expected(request.model, request.size, request.seconds)
        finished = await track(
            self._client,
            video.id,
            planner=self._planner_factory(expected),
            deadline=self._deadline,
            on_update=on_update,
            started_at=started,
        )
        self.durations.record(
            request.model, request.size, request.seconds, time.monotonic() - started
        )
        view = view.evolve(phase=Phase.DOWNLOADING, progress=100, eta_at=None)
        await _safely(listener.show, view)
        self._work_dir.mkdir(parents=True, exist_ok=True)
        path = self._work_dir / f"{view.ref}.mp4"
        try:
            size = await self._client.download(
                finished.id, path, max_bytes=self._max_download_bytes
            )
            view = view.evolve(phase=Phase.DELIVERING)
            await listener.deliver(view, Delivery(path, size))
        finally:
            path.unlink(missing_ok=True)


def _phase(state: JobState) -> Phase:
    if state is JobState.QUEUED:
        return Phase.QUEUED
    return Phase.RUNNING


async def _safely(show: Callable[[JobView], object], view: JobView) -> None:
    """A front end's trouble showing progress must not stop the job."""
    try:
        result = show(view)
        if asyncio.iscoroutine(result):
            await result
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("showing job %s failed", view.ref)
