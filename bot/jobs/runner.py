"""Runs video jobs end to end on top of the store: create, follow, download, hand over.

Every step is a persisted transition committed before its side effect, so a job interrupted
anywhere (a deploy, a crash, SIGKILL) is resumed by `resume()` without creating it twice or
delivering it twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

from bot.catalogue import Catalogue, ModelSpec, RequestRejected
from bot.guardrails.policy import EffectiveLimits
from bot.guardrails.queue import Dispatcher
from bot.guardrails.spending import SpendGate
from bot.jobs.durations import DurationHistory
from bot.jobs.events import Delivery, JobListener, JobView, Phase, ReplyAddress
from bot.jobs.polling import PollPlanner
from bot.jobs.reconcile import find_created_job
from bot.jobs.request import Requester, VideoRequest
from bot.jobs.tracking import Update, track
from bot.store import JobRecord, JobState, JobStore
from bot.store.jobs import UNFINISHED_STATES, StaleTransitionError
from bot.videos import (
    CreateOutcomeUnknownError,
    JobFailedError,
    JobLostError,
    ReferenceImage,
    Video,
    VideosClient,
    VideosError,
)
from bot.videos import JobState as ProviderState

log = logging.getLogger(__name__)

PlannerFactory = Callable[[float | None], PollPlanner]
ListenerFactory = Callable[[JobRecord], JobListener]

_PROVIDER_PHASE = {ProviderState.QUEUED: Phase.QUEUED}
_STATE_PHASE = {
    JobState.ACCEPTED: Phase.WAITING,
    JobState.SUBMITTING: Phase.SUBMITTING,
    JobState.SUBMITTED: Phase.QUEUED,
    JobState.RUNNING: Phase.RUNNING,
    JobState.DOWNLOADING: Phase.DOWNLOADING,
    JobState.DELIVERING: Phase.DELIVERING,
    JobState.DELIVERED: Phase.DELIVERED,
}
EXPIRED_MESSAGE = (
    "The video was generated, but the video service's download link expired before the bot "
    "could fetch it (the bot was offline too long)."
)
NEVER_STARTED_MESSAGE = (
    "The video service never received this request (nothing was billed). Please try again."
)


def new_ref() -> str:
    """A short id that users quote and operators find in the log."""
    return secrets.token_hex(4)


class _JobEnded(Exception):  # noqa: N818 - internal signal: a final state was recorded
    pass


@dataclass
class _Live:
    """A job this process is running: its task, its front end, what it last showed."""

    task: asyncio.Task[None]
    listener: JobListener
    view: JobView


class JobRunner:
    """Owns every job as a tracked task; at most `limit` new jobs talk to the provider at once."""

    def __init__(
        self,
        client: VideosClient,
        store: JobStore,
        catalogue: Catalogue,
        *,
        listener_factory: ListenerFactory,
        work_dir: Path,
        planner_factory: PlannerFactory,
        deadline: float,
        max_download_bytes: int,
        dispatcher: Dispatcher | None = None,
        gate: SpendGate | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._store = store
        self._catalogue = catalogue
        self._listener_factory = listener_factory
        self._work_dir = work_dir
        self._planner_factory = planner_factory
        self._deadline = deadline
        self._max_download_bytes = max_download_bytes
        self.dispatcher = dispatcher or Dispatcher(max_running=50, max_per_user=50)
        self.dispatcher.on_change(self._queue_moved)
        self._gate = gate
        self._tasks: set[asyncio.Task[None]] = set()
        self._jobs: dict[str, _Live] = {}
        self._wall = wall_clock
        self.durations = DurationHistory()
        self._closing = False

    @property
    def accepting(self) -> bool:
        return not self._closing

    # -- entry points -------------------------------------------------------------------------

    async def reserve(self, request: VideoRequest) -> JobRecord:
        """Check the spend limits and store the job as accepted, atomically.

        Raises LimitReached (a RequestRejected) when a limit would be exceeded. The reply's
        address is not known yet: `start` adds it. Nothing has reached the provider.
        """
        now = self._wall()
        record = JobRecord(
            id=new_ref(),
            state=JobState.ACCEPTED,
            prompt=request.prompt,
            model=request.model,
            size=request.size,
            seconds=request.seconds,
            cost=str(request.estimated_cost),
            requester_id=request.requester.user_id,
            guild_id=request.requester.guild_id,
            channel_id=request.requester.channel_id,
            created_at=now,
            updated_at=now,
        )

        async def store() -> JobRecord:
            await self._store.add(record)
            return record

        if self._gate is None:
            return await store()
        return await self._gate.admit(request, store)

    async def start(
        self, record: JobRecord, reply: ReplyAddress, reference: bytes | None = None
    ) -> JobRecord:
        """Attach the reply (and fitted reference image) to a reserved job and queue it."""
        changes: dict[str, Any] = {
            "channel_id": reply.channel_id,
            "application_id": reply.application_id,
            "interaction_id": reply.interaction_id,
            "interaction_token": reply.interaction_token,
            "token_expires_at": reply.token_expires_at,
            "message_id": reply.message_id,
            "upload_limit": reply.upload_limit,
            "reference": reference,
        }
        await self._store.note(record.id, **changes)
        started = replace(record, **changes)
        self._start(started, delay=0.0)
        return started

    async def limits(self, guild_id: int | None) -> EffectiveLimits:
        """The spend limits that apply in a guild (none without a gate)."""
        if self._gate is None:
            return EffectiveLimits(None, None, None, None)
        return await self._gate.limits(guild_id)

    async def withdraw(self, record: JobRecord, reason: str) -> None:
        """Give a reservation back (the reply could not be made): nothing was sent."""
        await self._store.transition(
            record.id, JobState.CANCELLED, expect=[JobState.ACCEPTED], last_error=reason
        )

    async def cancel(self, job_id: str) -> str:
        """Cancel a queued job, or abandon a running one; returns what happened, for the user."""
        record = await self._store.get(job_id)
        if record is None or record.state.is_final:
            return "That video is already finished."
        if record.state in (JobState.DOWNLOADING, JobState.DELIVERING):
            return "That video is already done and being posted."
        queued = record.state is JobState.ACCEPTED
        message = (
            "Cancelled before it started; nothing was sent to the video service."
            if queued
            else "Stopped following this video. The video service may still finish (and bill) "
            "it, but the bot will not post it."
        )
        live = self._jobs.get(job_id)
        if live is not None:
            live.task.cancel()
        try:
            await self._store.transition(
                job_id,
                JobState.CANCELLED,
                expect=UNFINISHED_STATES - {JobState.DOWNLOADING, JobState.DELIVERING},
                last_error=message,
            )
        except StaleTransitionError:
            return "That video moved on meanwhile; it can no longer be cancelled."
        self.dispatcher.release(job_id)
        if live is not None:
            await _safely(
                live.listener.fail,
                live.view.evolve(phase=Phase.FAILED, error=message, queue_position=None),
            )
        return message

    async def resume(self, *, spread: float | None = None) -> int:
        """Pick up every unfinished job after a restart; first reads spread over `spread` s."""
        records = []
        for record in await self._store.unfinished():
            if record.state is JobState.ACCEPTED and record.message_id is None:
                # Reserved, but the bot died before it could reply: nobody is waiting for it.
                await self.withdraw(record, "the bot restarted before replying")
                continue
            records.append(record)
        window = spread if spread is not None else min(60.0, len(records) / 100)
        for record in records:  # oldest first: the queue keeps its order across restarts
            self._start(record, delay=random.uniform(0, window) if window > 0 else 0.0)
        if records:
            log.info("resumed %d unfinished job(s) over %.0f s", len(records), window)
        return len(records)

    async def close(self, grace: float = 5.0) -> None:
        """Stop taking jobs, give in-flight I/O a moment, then stop; state is already stored."""
        self._closing = True
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- the job ------------------------------------------------------------------------------

    def _start(self, record: JobRecord, delay: float) -> None:
        listener = self._listener_factory(record)
        if record.state is JobState.ACCEPTED:
            self.dispatcher.enqueue(record.id, record.requester_id, record.created_at)
        else:
            self.dispatcher.occupy(record.id, record.requester_id)
        view = self._view(record)
        task = asyncio.create_task(self._run(record, listener, delay), name=f"job-{record.id}")
        self._jobs[record.id] = _Live(task, listener, view)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _queue_moved(self) -> None:
        """Tell every queued job's reply its new place (the presenter throttles the edits)."""
        for job_id, live in list(self._jobs.items()):
            if live.view.phase is not Phase.WAITING:
                continue
            place = self.dispatcher.position(job_id)
            if place is not None and place != live.view.queue_position:
                live.view = live.view.evolve(queue_position=place)
                self._notify(live)

    def _notify(self, live: _Live) -> None:
        task = asyncio.create_task(_safely(live.listener.show, live.view), name="queue-position")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        job_id = task.get_name().removeprefix("job-")
        live = self._jobs.get(job_id)
        if live is not None and live.task is task:
            del self._jobs[job_id]
            self.dispatcher.release(job_id)
        if not task.cancelled() and task.exception() is not None:
            log.error("job task %s crashed", task.get_name(), exc_info=task.exception())

    def _request(self, record: JobRecord) -> VideoRequest:
        try:
            spec = self._catalogue.get(record.model)
        except RequestRejected:  # the operator removed the model since: keep the job going
            spec = ModelSpec(name=record.model, sizes=(record.size,), seconds=(record.seconds,))
        requester = Requester(record.requester_id, record.guild_id, record.channel_id)
        return VideoRequest(record.prompt, spec, record.size, record.seconds, requester)

    def _view(self, record: JobRecord) -> JobView:
        return JobView(
            ref=record.id,
            request=self._request(record),
            phase=_STATE_PHASE.get(record.state, Phase.FAILED),
            started_at=record.created_at,
            progress=record.progress,
            video_id=record.provider_video_id,
        )

    async def _run(self, record: JobRecord, listener: JobListener, delay: float) -> None:
        view = self._view(record)
        try:
            if delay:
                await asyncio.sleep(delay)
            if record.state is JobState.ACCEPTED:
                view = view.evolve(queue_position=self.dispatcher.position(record.id))
                self._jobs[record.id].view = view
                if view.queue_position is not None:  # only a job that really waits says so
                    await _safely(listener.show, view)
                await self.dispatcher.wait_turn(record.id)
                if self._closing:  # a slot freed during shutdown: leave it for the next start
                    return
                view = view.evolve(queue_position=None)
                self._jobs[record.id].view = view
                await self._from_accepted(record, view, listener)
                return
            if record.state is not JobState.DELIVERING:  # that reply may already be final
                await _safely(listener.show, view)
            await self._continue(record, view, listener)
        except _JobEnded:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s crashed [ref %s]", record.id, record.id)
            await self._end(
                record.id,
                JobState.FAILED,
                view,
                listener,
                f"Something went wrong on the bot's side (ref {record.id}).",
            )

    async def _from_accepted(self, record: JobRecord, view: JobView, listener: JobListener) -> None:
        await self._store.transition(
            record.id, JobState.SUBMITTING, expect=[JobState.ACCEPTED], attempts=record.attempts + 1
        )
        view = view.evolve(phase=Phase.SUBMITTING)
        await _safely(listener.show, view)
        request = self._request(record)
        if record.reference is not None:
            request = request.with_reference(ReferenceImage(record.reference, "image/jpeg"))
        submitted_at = self._wall()
        try:
            video = await self._client.create(request.create_request())
        except CreateOutcomeUnknownError:
            log.warning("job %s: create outcome unknown; reconciling", record.id)
            video = await self._reconcile(record, view, listener, since=submitted_at)
        except VideosError as exc:
            await self._fail(record.id, view, listener, exc)
        await self._submitted(record, video, submitted_at)
        await self._follow(record.id, video, view, listener, started=time.monotonic())

    async def _continue(self, record: JobRecord, view: JobView, listener: JobListener) -> None:
        """A resumed job: pick up from its stored state, never re-creating it."""
        state = record.state
        if state is JobState.SUBMITTING:
            video = await self._reconcile(
                record, view, listener, since=record.updated_at - 5
            )
            await self._submitted(record, video, record.updated_at)
            started = self._monotonic_of(record.updated_at)
            await self._follow(record.id, video, view, listener, started=started)
            return
        assert record.provider_video_id is not None  # noqa: S101 - stored with SUBMITTED
        if state in (JobState.SUBMITTED, JobState.RUNNING):
            video = Video(id=record.provider_video_id, status="queued")
            started = self._monotonic_of(record.submitted_at or record.created_at)
            await self._follow(record.id, video, view, listener, started=started)
            return
        if state is JobState.DOWNLOADING:
            await self._download_and_deliver(record.id, record, view, listener)
            return
        if state is JobState.DELIVERING:
            if await listener.already_delivered():
                log.info("job %s was delivered before the restart", record.id)
                await self._store.transition(record.id, JobState.DELIVERED)
                return
            await self._download_and_deliver(record.id, record, view, listener)

    def _monotonic_of(self, wall: float) -> float:
        """A stored wall-clock instant on this process's monotonic clock.

        A resumed job's progress curve and deadline count from its real submission, not from
        the restart: otherwise the progress it made meanwhile looks like a sudden sprint and
        the poll planner would hammer the server.
        """
        return time.monotonic() - max(0.0, self._wall() - wall)

    async def _submitted(self, record: JobRecord, video: Video, submitted_at: float) -> None:
        await self._store.transition(
            record.id,
            JobState.SUBMITTED,
            expect=[JobState.SUBMITTING],
            provider_video_id=video.id,
            submitted_at=submitted_at,
        )
        log.info("job %s is provider video %s", record.id, video.id)

    async def _reconcile(
        self, record: JobRecord, view: JobView, listener: JobListener, *, since: float
    ) -> Video:  # or raises _JobEnded
        """Find the job a create with no answer made, or end the job honestly."""
        request = self._request(record)
        try:
            found, searched = await find_created_job(
                self._client, request.create_request(), since=since, store=self._store
            )
        except VideosError as exc:
            log.warning("job %s: reconciliation failed: %s", record.id, exc)
            found, searched = None, False
        if found is not None:
            log.info("job %s: adopted provider video %s", record.id, found.id)
            return found
        message = NEVER_STARTED_MESSAGE if searched else CreateOutcomeUnknownError().user_message
        await self._end(record.id, JobState.FAILED, view, listener, f"{message} (ref {record.id})")
        raise _JobEnded

    async def _follow(
        self, job_id: str, video: Video, view: JobView, listener: JobListener, started: float
    ) -> None:
        view = view.evolve(
            video_id=video.id,
            phase=_PROVIDER_PHASE.get(video.state, Phase.RUNNING),
            progress=video.progress,
        )
        await _safely(listener.show, view)
        request = view.request
        running = False

        async def on_update(update: Update) -> None:
            nonlocal view, running
            if update.state is ProviderState.RUNNING and not running:
                running = True
                await self._store.transition(
                    job_id, JobState.RUNNING, expect=[JobState.SUBMITTED, JobState.RUNNING]
                )
            eta = update.eta
            view = view.evolve(
                phase=_PROVIDER_PHASE.get(update.state, Phase.RUNNING),
                progress=update.progress,
                eta_at=None if eta is None else self._wall() + eta,
            )
            await _safely(listener.show, view)

        expected = self.durations.expected(request.model, request.size, request.seconds)
        try:
            finished = await track(
                self._client,
                video.id,
                planner=self._planner_factory(expected),
                deadline=self._deadline,
                on_update=on_update,
                started_at=started,
            )
        except VideosError as exc:
            await self._fail(job_id, view, listener, exc)
        self.durations.record(
            request.model, request.size, request.seconds, time.monotonic() - started
        )
        await self._store.transition(
            job_id,
            JobState.DOWNLOADING,
            progress=100,
            video_expires_at=finished.expires_at,
        )
        record = await self._store.get(job_id)
        assert record is not None  # noqa: S101 - we just wrote it
        await self._download_and_deliver(job_id, record, view, listener)

    async def _download_and_deliver(
        self, job_id: str, record: JobRecord, view: JobView, listener: JobListener
    ) -> None:
        view = view.evolve(phase=Phase.DOWNLOADING, progress=100, eta_at=None)
        await _safely(listener.show, view)
        path = self._work_dir / f"{job_id}.mp4"
        if not path.exists():
            if record.video_expires_at is not None and record.video_expires_at < self._wall():
                await self._end(job_id, JobState.FAILED, view, listener, EXPIRED_MESSAGE)
                return
            assert record.provider_video_id is not None  # noqa: S101
            self._work_dir.mkdir(parents=True, exist_ok=True)
            try:
                await self._client.download(
                    record.provider_video_id, path, max_bytes=self._max_download_bytes
                )
            except VideosError as exc:
                await self._fail(job_id, view, listener, exc)
        await self._store.transition(job_id, JobState.DELIVERING)
        view = view.evolve(phase=Phase.DELIVERING)
        await listener.deliver(view, Delivery(path, path.stat().st_size))
        await self._store.transition(job_id, JobState.DELIVERED)
        path.unlink(missing_ok=True)

    async def _fail(
        self, job_id: str, view: JobView, listener: JobListener, exc: VideosError
    ) -> NoReturn:
        log.warning("job %s failed: %s", job_id, exc)
        state = JobState.FAILED
        if isinstance(exc, JobFailedError) and exc.refused:
            state = JobState.REFUSED
        elif isinstance(exc, JobLostError):
            state = JobState.LOST
        await self._end(
            job_id, state, view, listener, f"{exc.user_message} (ref {job_id})", refused=(
                state is JobState.REFUSED
            )
        )
        raise _JobEnded

    async def _end(
        self,
        job_id: str,
        state: JobState,
        view: JobView,
        listener: JobListener,
        message: str,
        *,
        refused: bool = False,
    ) -> None:
        """Record the final state first, then tell the requester."""
        await self._store.transition(job_id, state, last_error=message)
        await _safely(
            listener.fail, view.evolve(phase=Phase.FAILED, error=message, refused=refused)
        )


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
