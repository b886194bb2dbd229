"""The job workflow as a table: for each persisted state, the one step that moves it on.

Every step commits its transition before the side effect that depends on it, and can run again
from its state after a crash or a failure of ours (the store, the disk, Discord): `STEPS` below
is the whole workflow. A step that may have created something at the provider is never retried
blindly: an unanswered create is reconciled through the provider's job list. Reads, downloads,
uploads (after reading the reply back) and store writes are what gets retried. Only the
provider's own verdict (failed, refused, lost, expired) or the reply being gone ends a job
without a video.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from bot import i18n
from bot.background import spawn
from bot.catalogue import Catalogue, ModelSpec, RequestRejected
from bot.domain import (
    STATE_PHASE,
    Delivery,
    JobKind,
    JobState,
    JobView,
    Original,
    Phase,
    ReplyGone,
    ReplySink,
    Requester,
    VideoRequest,
    with_ref,
)
from bot.i18n import N_
from bot.jobs.durations import DurationHistory
from bot.jobs.files import JobFiles
from bot.jobs.polling import PollPlanner
from bot.jobs.providers import ProviderLink, Providers, UnknownProviderError
from bot.jobs.reconcile import find_created_job
from bot.jobs.thumbnails import FrameGrabber, make_thumbnail
from bot.jobs.tracking import Update, track
from bot.store import JobRecord, JobStore
from bot.store.jobs import Lease, StaleTransitionError
from bot.videos import (
    ContentError,
    ContentNotReadyError,
    ContentUnavailableError,
    CreateOutcomeUnknownError,
    FailureKind,
    JobFailedError,
    JobLostError,
    JobTimeoutError,
    NetworkError,
    RateLimitedError,
    ReferenceImage,
    ServerError,
    Video,
    VideosClient,
    VideosError,
    failure_kind,
)
from bot.videos import JobState as ProviderState
from bot.videos.refusals import refusal_of

log = logging.getLogger(__name__)

# (expected duration, whether the provider calls back) -> the job's poll planner.
PlannerFactory = Callable[[float | None, bool], PollPlanner]
# A job whose attempt ended with a kind that may fall back: the service moves it to the next
# model of its chain that passes every check (one transaction, its own reservation) and
# returns the record as stored, back in ACCEPTED; None when no model is left.
FallBack = Callable[["JobRecord", FailureKind, str], Awaitable["JobRecord | None"]]
SinkFactory = Callable[[JobRecord], ReplySink]
# Where a delivered job's original can be had (a link, or kept on the host), if it is kept.
OriginalFinder = Callable[[str, int], Original | None]


# Why a job ended, stored in English with it (`last_error`) and shown in each reader's
# language by the card (bot.domain.failure_text).
EXPIRED_MESSAGE = N_(
    "The video was generated, but the video service's download link expired before the bot "
    "could fetch it (the bot was offline too long)."
)
REMOVED_MESSAGE = N_(
    "The video was made, but the video service's safety filter withheld it. The service may "
    "still bill it."
)
UNAVAILABLE_MESSAGE = N_(
    "The video was generated, but it could not be downloaded: the video service did not hand "
    "the file over."
)
PROVIDER_GONE_MESSAGE = N_(
    "This video's provider is no longer configured on the bot; an operator removed it."
)
NEVER_STARTED_MESSAGE = N_(
    "The video service never received this request (nothing was billed). Please try again."
)
UNDELIVERABLE_MESSAGE = N_(
    "The video was made, but its reply can no longer be reached (deleted, or the bot lost "
    "access). An operator can still send the file on."
)
TIMED_OUT_MESSAGE = N_(
    "The video took too long; the bot stopped waiting for it. The video service may still "
    "finish (and bill) it."
)


TELL_ATTEMPTS = 4
# How often a job the provider never received may be sent again (after its process stopped
# between committing SUBMITTING and sending the create).
RESEND_LIMIT = 3


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts of a failing step of ours: growing, jittered, capped."""

    first: float = 1.0
    cap: float = 60.0

    def delay(self, attempt: int) -> float:
        base = min(self.cap, self.first * 2 ** max(0, attempt - 1))
        return float(base * random.uniform(0.8, 1.2))


@dataclass
class _Job:
    """One job this process is running: its stored record as last written, and its reply."""

    record: JobRecord
    sink: ReplySink
    view: JobView
    created: Video | None = None  # a create answered in this process, not stored yet
    sent_at: float | None = None
    delivering_here: bool = False  # moved to DELIVERING by this process: nothing uploaded yet
    content_since: float | None = None  # when fetching the content first failed
    failures: int = 0
    reload: bool = False
    lease: Lease | None = None  # shared jobs: every write is fenced by it


Step = Callable[["Workflow", _Job], Awaitable[None]]
# Whether a lease is still the job's (and renewed if so): checked right before the create and
# the delivery. With `sending`, the renewal also records that the create is about to leave.
LeaseCheck = Callable[[str, Lease, bool], Awaitable[bool]]


class _LeaseLostError(Exception):
    """This process no longer holds the job: its task ends without touching it."""


class Workflow:
    """Runs each job as one tracked task through the steps of `STEPS`."""

    def __init__(
        self,
        providers: Providers,
        store: JobStore,
        catalogue: Catalogue,
        files: JobFiles,
        *,
        sink_for: SinkFactory,
        planner_factory: PlannerFactory,
        fall_back: FallBack | None = None,
        deadline: float,
        max_download_bytes: int,
        content_wait: float = 300.0,
        grab_frame: FrameGrabber | None = None,
        original: OriginalFinder = lambda _job_id, _size: None,
        reference_link: Callable[[str], str | None] = lambda _job_id: None,
        callback_url: Callable[[ProviderLink], str | None] = lambda _link: None,
        on_end: Callable[[str], None] = lambda _job_id: None,
        on_lost: Callable[[str], None] = lambda _job_id: None,
        still_holds: LeaseCheck | None = None,
        backoff: Backoff | None = None,
        delayed_after: int = 2,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._providers = providers
        self._fall_back = fall_back
        self._store = store
        self._catalogue = catalogue
        self._files = files
        self._sink_for = sink_for
        self._planner_factory = planner_factory
        self._deadline = deadline
        self._max_download_bytes = max_download_bytes
        self._content_wait = content_wait
        self._grab_frame = grab_frame
        self._original = original
        self._reference_link = reference_link
        self._callback_url = callback_url
        self._on_end = on_end
        self._on_lost = on_lost
        self._still_holds = still_holds
        self._lost: set[str] = set()
        self._backoff = backoff or Backoff()
        self._delayed_after = delayed_after
        self._wall = wall_clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Jobs being followed here, woken by a provider's callback to read their status now.
        self._wakes: dict[str, asyncio.Event] = {}
        self.durations = DurationHistory()

    # -- running jobs --------------------------------------------------------------------------

    @property
    def running(self) -> int:
        return len(self._tasks)

    def is_running(self, job_id: str) -> bool:
        return job_id in self._tasks

    def nudge(self, job_id: str) -> bool:
        """The provider said the job moved on: read its status now, if it is followed here."""
        wake = self._wakes.get(job_id)
        if wake is None:
            return False
        wake.set()
        return True

    def _link(self, job: _Job) -> ProviderLink:
        return self._providers.get(job.record.provider)

    def _client(self, job: _Job) -> VideosClient:
        return self._link(job).client

    def start(self, record: JobRecord, *, delay: float = 0.0, lease: Lease | None = None) -> None:
        """Run the job from its stored state (new, resumed after a restart, or taken over
        from another process under `lease`)."""
        if record.id in self._tasks:
            return
        job = _Job(record, self._sink_for(record), self.view(record), lease=lease)
        task = spawn(self._run(job, delay), name=f"job-{record.id}")
        self._tasks[record.id] = task
        task.add_done_callback(functools.partial(self._task_done, record.id))

    async def let_go(self, job_id: str) -> None:
        """Stop a job's task because another process has it now (or it ended there): nothing
        of this process's ending (listeners, file clean-up) runs for it."""
        if job_id in self._tasks:
            self._lost.add(job_id)
            await self.stop(job_id)

    async def stop(self, job_id: str) -> None:
        """Stop a job's task (its state was already moved on by the caller)."""
        task = self._tasks.get(job_id)
        if task is None or task is asyncio.current_task():
            return
        task.cancel()
        await asyncio.wait([task])

    async def close(self, grace: float) -> None:
        """Give in-flight steps a moment, then stop every task; the states are stored.

        A job only being followed (between status reads) has nothing in flight worth waiting
        for: it stops at once, and its next owner reads it again."""
        for job_id in list(self._wakes):
            task = self._tasks.get(job_id)
            if task is not None:
                task.cancel()
        tasks = set(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    def _task_done(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]
        if job_id in self._lost:
            self._lost.discard(job_id)
            self._on_lost(job_id)
            return
        self._on_end(job_id)  # a crash of the task itself is logged by `spawn`

    # -- views ---------------------------------------------------------------------------------

    def request(self, record: JobRecord) -> VideoRequest:
        try:
            spec = self._catalogue.get(record.model)
        except RequestRejected:  # the operator removed the model since: keep the job going
            spec = ModelSpec(name=record.model, sizes=(record.size,), seconds=(record.seconds,))
        requester = Requester(record.requester_id, record.guild_id)
        return VideoRequest(
            record.prompt,
            spec,
            record.size,
            record.seconds,
            requester,
            kind=JobKind(record.kind or JobKind.GENERATE),
            source_video_id=record.source_video_id,
        )

    def view(self, record: JobRecord) -> JobView:
        return JobView(
            ref=record.id,
            request=self.request(record),
            phase=STATE_PHASE.get(record.state, Phase.FAILED),
            state=record.state,
            started_at=record.created_at,
            progress=record.progress,
            video_id=record.provider_video_id,
            error=record.last_error if record.state.is_final else None,
            fell_back_from=tuple(a.model for a in record.attempts_made()),
            spoiler=record.spoiler,
        )

    # -- the loop ------------------------------------------------------------------------------

    async def _run(self, job: _Job, delay: float) -> None:
        # A job reads to nobody: what it stores and logs is English, whichever member's
        # interaction started it (each reply renders in its own reader's language).
        i18n.read_in(i18n.ENGLISH)
        if delay:
            await asyncio.sleep(delay)
        if job.record.state not in (JobState.ACCEPTED, JobState.DELIVERING):
            await self._show(job)  # a resumed job says where it is (a delivering one may be final)
        while True:
            try:
                if job.reload and not await self._reload(job):
                    return
                state = job.record.state
                if state.is_final:
                    break
                await STEPS[state](self, job)
                if job.failures:
                    job.failures = 0
                    job.view = job.view.evolve(delayed=False)
            except StaleTransitionError:
                job.reload = True  # someone else moved it on (a cancel): see where it is now
            except UnknownProviderError:
                # The operator removed the job's provider from the catalogue: nothing can
                # reach it. Unsent, the reservation is given back; sent, it may be billed.
                sent = job.record.state is not JobState.ACCEPTED
                final = JobState.UNKNOWN if sent else JobState.FAILED
                await self._end(job, final, PROVIDER_GONE_MESSAGE)
            except _LeaseLostError:
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                job.failures += 1
                job.reload = True
                log.exception(
                    "job %s: step of %s failed (attempt %d); retrying",
                    job.record.id,
                    job.record.state.value,
                    job.failures,
                )
                if job.failures >= self._delayed_after and not job.view.delayed:
                    job.view = job.view.evolve(delayed=True)
                    await self._show(job)
                await asyncio.sleep(self._backoff.delay(job.failures))
        self._discard_files(job.record)

    def _discard_files(self, record: JobRecord) -> None:
        """After a job's end: the original of a delivered video stays for its link (the janitor
        removes it after KEEP_DAYS or beyond KEEP_MAX_GB); an undeliverable job keeps all."""
        if record.state is JobState.DELIVERED:
            self._files.keep_original(record.id)
        elif record.state is not JobState.UNDELIVERABLE:
            self._files.remove(record.id)

    async def _reload(self, job: _Job) -> bool:
        fresh = await self._store.get(job.record.id)
        job.reload = False
        if fresh is None:
            return False
        lease = job.lease
        if lease is not None and (fresh.lease_owner, fresh.lease_generation) != (
            lease.owner,
            lease.generation,
        ):
            # Taken over while this process stalled: the job is another's, hands off.
            log.warning("job %s: its lease was taken over; stopping here", fresh.id)
            self._lost.add(fresh.id)
            if job.created is not None:
                await self._withdraw_orphan(self._client(job), job.created)
            return False
        job.record = fresh
        if fresh.state.is_final:
            self._discard_files(fresh)
        return not fresh.state.is_final

    async def _move(
        self, job: _Job, to: JobState, *, expect: list[JobState], **changes: Any
    ) -> None:
        """Commit a transition; the side effect that depends on it comes after."""
        await self._store.transition(job.record.id, to, expect=expect, lease=job.lease, **changes)
        job.record = replace(job.record, state=to, updated_at=self._wall(), **changes)
        job.view = job.view.evolve(state=to)

    async def _end(
        self,
        job: _Job,
        state: JobState,
        message: str,
        *,
        refused: bool = False,
        kind: FailureKind | None = None,
    ) -> None:
        """Record a final state first, then tell the requester.

        The message may quote the provider, which may echo a key: it is redacted before it is
        stored or shown.
        """
        from bot.observability.redaction import redact

        ref = with_ref(redact(message), job.record.id)
        extra = {} if kind is None else {"failure_kind": kind.value}
        await self._move(job, state, expect=[job.record.state], last_error=ref, **extra)
        job.view = job.view.evolve(phase=Phase.FAILED, error=ref, refused=refused, eta_at=None)
        # The member must learn the outcome: a passing failure to say so is tried again.
        for attempt in range(1, TELL_ATTEMPTS + 1):
            try:
                await job.sink.fail(job.view)
                return
            except asyncio.CancelledError:
                raise
            except ReplyGone:
                return
            except Exception:  # noqa: BLE001 - any passing failure of the front end
                log.warning("telling job %s's end failed (attempt %d)", job.record.id, attempt)
                await asyncio.sleep(self._backoff.delay(attempt))

    async def _show(self, job: _Job) -> None:
        await _safely(job.sink.show, job.view)

    # -- the steps -----------------------------------------------------------------------------

    async def _submit(self, job: _Job) -> None:
        """ACCEPTED: send the create, once. Its outcome is stored or reconciled, never resent."""
        record = job.record
        link = self._link(job)
        request = self.request(record)
        reference = await self._store.reference(record.id)
        if reference is not None:
            request = request.with_reference(ReferenceImage(reference, "image/jpeg"))
            # OpenRouter takes a reference only as a URL: the bot's copy behind a signed link
            # where members can reach the web server, else the image itself as a data: URL.
            if request.spec.reference == "image_url" or link.dialect == "openrouter":
                # The server takes the reference as a URL: the fitted image on the bot's own
                # web server (without a public one, it goes up as a file after all).
                request = replace(request, reference_url=self._reference_link(record.id))
        # `submitted_at` marks "the create may have left": set with this commit in one process
        # (nothing waits between it and the create), or by the lease check right before the
        # create when shared. Without it, a takeover knows the create never left.
        sending = {} if job.lease is not None else {"submitted_at": self._wall()}
        await self._move(
            job,
            JobState.SUBMITTING,
            expect=[JobState.ACCEPTED],
            attempts=record.attempts + 1,
            **sending,
        )
        # Nothing waits between the commit (fenced by the lease: a process whose job was taken
        # over stops here) and the create: a process killed or paused in between leaves a job
        # the provider never saw, which the next owner can only fail and refund. The reply
        # says "submitting" meanwhile, and is done before the next edit.
        job.view = job.view.evolve(phase=Phase.SUBMITTING, queue_position=None)
        showing = spawn(self._show(job), name="show-submitting")
        job.sent_at = self._wall()
        try:
            # Shared: the lease is checked and renewed for a full term right before the
            # create, so that whoever takes the job over looks at the provider only once this
            # process has stopped for longer than that (and a stalled one never sends).
            if not await self._holds_lease(job, sending=True):
                log.warning("job %s: lease lost before the create; stopping here", record.id)
                self._lost.add(record.id)
                raise _LeaseLostError
            job.created = await self._send_create(link, request)
        except CreateOutcomeUnknownError:
            log.warning("job %s: create outcome unknown; reconciling", record.id)
            return  # SUBMITTING's step finds out what the provider made of it
        except VideosError as exc:
            # The provider answered and made nothing (or was not even asked: its circuit is
            # open): it will not bill this.
            kind = failure_kind(exc)
            log.warning("job %s: create refused (%s): %s", record.id, kind.value, exc)
            await showing
            if await self._try_fall_back(job, kind, exc.user_message):
                return
            state = JobState.REFUSED if kind.is_refusal else JobState.FAILED
            await self._end(job, state, exc.user_message, refused=kind.is_refusal, kind=kind)
            return
        finally:
            if not showing.done():
                await asyncio.wait([showing])
        await self._store_created(job)

    async def _send_create(self, link: ProviderLink, request: VideoRequest) -> Video:
        """The one billed request of a job: a create, a remix or an extension."""
        client = link.client
        source = request.source_video_id
        model = request.spec.wire_model
        if request.kind is JobKind.REMIX and source is not None:
            return await client.remix(source, request.prompt, model=model)
        if request.kind is JobKind.EXTEND and source is not None:
            return await client.extend(source, request.prompt, str(request.seconds), model=model)
        # Where the provider is told to call back when the video is ready (OpenRouter).
        create = replace(request.create_request(), callback_url=self._callback_url(link))
        return await client.create(create)

    async def _try_fall_back(self, job: _Job, kind: FailureKind, message: str) -> bool:
        """After an attempt that provably never started or that the provider itself failed:
        the next model of the chain, if one passes every check. Follow-ups never fall back
        (they belong to the provider that made their source)."""
        record = job.record
        if (
            self._fall_back is None
            or not kind.may_fall_back
            or JobKind(record.kind or JobKind.GENERATE) is not JobKind.GENERATE
        ):
            return False
        moved = await self._fall_back(record, kind, message)
        if moved is None:
            return False
        log.info(
            "job %s: %s could not make it (%s); trying %s",
            record.id,
            record.model,
            kind.value,
            moved.model,
        )
        job.record = moved
        job.created = None
        job.sent_at = None
        job.content_since = None
        job.view = self.view(moved).evolve(phase=Phase.SUBMITTING)
        await self._show(job)
        return True

    async def _reconcile(self, job: _Job) -> None:
        """SUBMITTING: the create may have reached the provider; find the job it made."""
        if job.created is not None:
            await self._store_created(job)
            return
        record = job.record
        create = self.request(record).create_request()
        found, searched = await find_created_job(
            self._client(job),
            create,
            since=(job.sent_at or record.updated_at) - 5,
            store=self._store,
        )
        if found is not None:
            log.info("job %s: adopted provider video %s", record.id, found.id)
            job.created = found
            await self._store_created(job)
            return
        never_left = job.sent_at is None and record.submitted_at is None
        if searched and never_left and record.attempts < RESEND_LIMIT:
            # The process that committed SUBMITTING stopped (killed, paused past its lease)
            # before its last step ahead of the create, so the create never left; the provider,
            # asked after that process's lease ran out, has no such job, and that process can
            # no longer send it (fenced right before its create): it is sent now. A create that
            # may have left is never sent again, even when the provider has lost its job.
            log.info("job %s: the provider never received it; sending it now", record.id)
            await self._move(job, JobState.ACCEPTED, expect=[JobState.SUBMITTING])
            return
        # The create may have left: never another model (it may be making the video).
        if searched:
            await self._end(job, JobState.FAILED, NEVER_STARTED_MESSAGE, kind=FailureKind.UNKNOWN)
            return
        await self._end(
            job,
            JobState.UNKNOWN,
            CreateOutcomeUnknownError().user_message,
            kind=FailureKind.UNKNOWN,
        )

    async def _store_created(self, job: _Job) -> None:
        video = job.created
        assert video is not None  # noqa: S101 - callers set it
        billed = {} if video.billed_cost is None else {"billed_cost": str(video.billed_cost)}
        await self._move(
            job,
            JobState.SUBMITTED,
            expect=[JobState.SUBMITTING],
            provider_video_id=video.id,
            submitted_at=job.sent_at or job.record.updated_at,
            **billed,
        )
        job.created = None
        log.info("job %s is provider video %s", job.record.id, video.id)
        phase = Phase.QUEUED if video.state is ProviderState.QUEUED else Phase.RUNNING
        job.view = job.view.evolve(video_id=video.id, phase=phase, progress=video.progress)
        await self._show(job)

    async def _follow(self, job: _Job) -> None:
        """SUBMITTED / RUNNING: read the status until the provider's verdict or the deadline."""
        record = job.record
        video_id = record.provider_video_id
        assert video_id is not None  # noqa: S101 - stored with SUBMITTED
        started = self._monotonic_of(record.submitted_at or record.created_at)
        request = job.view.request

        async def on_update(update: Update) -> None:
            if update.state is ProviderState.RUNNING and job.record.state is JobState.SUBMITTED:
                await self._move(job, JobState.RUNNING, expect=[JobState.SUBMITTED])
            eta = update.eta
            phase = Phase.QUEUED if update.state is ProviderState.QUEUED else Phase.RUNNING
            job.view = job.view.evolve(
                phase=phase,
                progress=update.progress,
                eta_at=None if eta is None else self._wall() + eta,
            )
            await self._show(job)

        kind = (request.model, request.size, request.seconds)
        link = self._link(job)
        planner = self._planner_factory(self.durations.expected(*kind), link.calls_back)
        # How long similar jobs spent running: a prior for the first speed estimate.
        planner.expected_running = self.durations.expected_running(*kind)
        wake = self._wakes.setdefault(record.id, asyncio.Event())
        try:
            finished = await track(
                link.client,
                video_id,
                planner=planner,
                deadline=self._deadline,
                on_update=on_update,
                started_at=started,
                wake=wake,
            )
        except JobFailedError as exc:
            if await self._try_fall_back(job, exc.kind, exc.user_message):
                return
            state = JobState.REFUSED if exc.kind.is_refusal else JobState.FAILED
            await self._end(job, state, exc.user_message, refused=exc.refused, kind=exc.kind)
            return
        except JobLostError as exc:
            await self._end(job, JobState.LOST, exc.user_message, kind=FailureKind.UNKNOWN)
            return
        except JobTimeoutError:
            await self._end(job, JobState.TIMED_OUT, TIMED_OUT_MESSAGE, kind=FailureKind.UNKNOWN)
            return
        except VideosError:
            if time.monotonic() - started >= self._deadline:
                await self._end(job, JobState.TIMED_OUT, TIMED_OUT_MESSAGE)
                return
            raise  # the provider is unreachable for now: the step runs again
        finally:
            self._wakes.pop(record.id, None)
        self.durations.record(*kind, time.monotonic() - started, running=planner.running_seconds)
        billed = {} if finished.billed_cost is None else {"billed_cost": str(finished.billed_cost)}
        await self._move(
            job,
            JobState.DOWNLOADING,
            expect=[JobState.SUBMITTED, JobState.RUNNING],
            progress=100,
            video_expires_at=finished.expires_at,
            **billed,
        )

    async def _download(self, job: _Job) -> None:
        """DOWNLOADING: fetch the finished video, waiting a bounded time for content not ready."""
        record = job.record
        path = self._files.video(record.id)
        job.view = job.view.evolve(phase=Phase.DOWNLOADING, progress=100, eta_at=None)
        await self._show(job)
        while not path.exists():
            expires = record.video_expires_at
            if expires is not None and expires < self._wall():
                await self._end(job, JobState.EXPIRED, EXPIRED_MESSAGE, kind=FailureKind.UNKNOWN)
                return
            assert record.provider_video_id is not None  # noqa: S101
            self._files.prepare()
            try:
                await self._client(job).download(
                    record.provider_video_id, path, max_bytes=self._max_download_bytes
                )
            except (
                ContentNotReadyError,
                ContentUnavailableError,
                ServerError,
                NetworkError,
                RateLimitedError,
            ) as exc:
                if self._withheld(job, exc):
                    await self._refused_after_making(job)
                    return
                # `completed` can come before the file is ready, and a link can be down for a
                # moment: wait, but not for ever.
                now = time.monotonic()
                job.content_since = job.content_since or now
                waited = now - job.content_since
                if waited >= self._content_wait:
                    await self._end(
                        job, JobState.EXPIRED, UNAVAILABLE_MESSAGE, kind=FailureKind.UNKNOWN
                    )
                    return
                log.info("job %s: content not available yet (%s)", record.id, exc)
                await asyncio.sleep(min(self._backoff.delay(2 + int(waited // 10)), 30.0))
            except ContentError as exc:
                if self._withheld(job, exc):
                    await self._refused_after_making(job)
                    return
                await self._end(job, JobState.EXPIRED, exc.user_message, kind=FailureKind.UNKNOWN)
                return
        await self._thumbnail(job)
        await self._move(job, JobState.DELIVERING, expect=[JobState.DOWNLOADING])
        job.delivering_here = True

    def _withheld(self, job: _Job, error: VideosError) -> bool:
        """A finished video the provider will not hand over because its safety filter
        removed it (Veo behind LiteLLM: `completed`, then the content is refused)."""
        return isinstance(error, ContentError) and (
            refusal_of(None, str(error), self._link(job).dialect) is not None
        )

    async def _refused_after_making(self, job: _Job) -> None:
        """Made, then withheld by the provider's safety filter: a refusal of the output, which
        the provider bills (its bill where it reported one, else the estimate)."""
        record = job.record
        billed = record.billed_cost or record.cost
        await self._store.note(record.id, billed_cost=billed)
        job.record = replace(record, billed_cost=billed)
        await self._end(
            job,
            JobState.REFUSED,
            REMOVED_MESSAGE,
            refused=True,
            kind=FailureKind.REFUSED_OUTPUT,
        )

    async def _thumbnail(self, job: _Job) -> None:
        """A still for the reply: the provider's thumbnail, else a frame taken with ffmpeg.

        Best effort and bounded: the video is what matters.
        """
        record = job.record
        thumbnail = self._files.thumbnail(record.id)
        if thumbnail is None:
            thumbnail = await make_thumbnail(
                record, self._client(job), self._catalogue, self._files, self._grab_frame
            )
        if thumbnail is not None:
            job.view = job.view.evolve(thumbnail=thumbnail)
            await self._show(job)

    async def _deliver(self, job: _Job) -> None:
        """DELIVERING: post the video once; after any doubt, read the reply back first."""
        record = job.record
        fresh, job.delivering_here = job.delivering_here, False
        path = self._files.video(record.id)
        try:
            if not fresh and await job.sink.already_delivered():
                log.info("job %s was already delivered", record.id)
                await self._move(job, JobState.DELIVERED, expect=[JobState.DELIVERING])
                return
            if not path.exists():  # removed by hand since: fetch it again
                await self._move(job, JobState.DOWNLOADING, expect=[JobState.DELIVERING])
                return
            size = path.stat().st_size
            thumbnail = self._files.thumbnail(record.id)
            job.view = job.view.evolve(phase=Phase.DELIVERING, delayed=False, thumbnail=thumbnail)
            delivery = Delivery(path, size, thumbnail, self._original(record.id, size))
            # Right before the post: a process that stalled past its lease must not post a
            # video that the process which took the job over posts too.
            if not await self._holds_lease(job):
                log.warning("job %s: lease lost before delivery; stopping here", record.id)
                self._lost.add(record.id)
                raise _LeaseLostError
            await job.sink.deliver(job.view, delivery)
        except ReplyGone:
            log.warning("job %s: the reply is gone; keeping the file", record.id)
            await self._move(
                job,
                JobState.UNDELIVERABLE,
                expect=[JobState.DELIVERING],
                last_error=UNDELIVERABLE_MESSAGE,
            )
            return
        await self._move(job, JobState.DELIVERED, expect=[JobState.DELIVERING])

    async def _withdraw_orphan(self, client: VideosClient, video: Video) -> None:
        """A create answered after this process lost the job: the job is another's (made
        once more there), so this video has no owner. Deleted at the provider where it
        deletes (a queued job is often not billed); logged either way."""
        log.error(
            "provider video %s was created after this process lost its job; deleting it",
            video.id,
        )
        try:
            await client.delete(video.id)
        except VideosError as exc:
            log.warning("deleting provider video %s failed: %s", video.id, exc)

    async def _holds_lease(self, job: _Job, *, sending: bool = False) -> bool:
        if job.lease is None or self._still_holds is None:
            return True  # one process: nobody else works on it
        return await self._still_holds(job.record.id, job.lease, sending)

    def _monotonic_of(self, wall: float) -> float:
        """A stored wall-clock instant on this process's monotonic clock.

        A resumed job's progress curve and deadline count from its real submission, not from
        the restart: otherwise the progress it made meanwhile looks like a sudden sprint and
        the poll planner would hammer the server.
        """
        return time.monotonic() - max(0.0, self._wall() - wall)


# The workflow: each unfinished state and the one step that moves it on.
STEPS: dict[JobState, Step] = {
    JobState.ACCEPTED: Workflow._submit,
    JobState.SUBMITTING: Workflow._reconcile,
    JobState.SUBMITTED: Workflow._follow,
    JobState.RUNNING: Workflow._follow,
    JobState.DOWNLOADING: Workflow._download,
    JobState.DELIVERING: Workflow._deliver,
}


async def _safely(show: Callable[[JobView], Awaitable[None]], view: JobView) -> None:
    """A front end's trouble showing progress must not stop the job."""
    try:
        await show(view)
    except asyncio.CancelledError:
        raise
    except ReplyGone:
        log.info("job %s: its reply is gone", view.ref)
    except Exception as exc:
        # A progress edit that fails is retried by the next one: a line, not a traceback.
        log.warning(
            "showing job %s failed: %s",
            view.ref,
            type(exc).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
