"""The one service every front end calls: submit, cancel, stop following, usage, policy.

It owns the store, the guild policies, the spend gate, the dispatcher and the workflow. A front
end (the `/video` cog, the buttons, the terminal, an HTTP API) hands it a request and a way to
open its reply, and renders what its ReplySink is shown; it never touches the store or the
workflow itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.catalogue import Catalogue, RequestRejected
from bot.config import Settings
from bot.domain import (
    AT_PROVIDER,
    NO_LIMITS,
    Delivery,
    EffectiveLimits,
    GuildPolicy,
    JobKind,
    JobState,
    JobView,
    MemberUsage,
    Original,
    Phase,
    ReplyHandle,
    ReplySink,
    Requester,
    Usage,
    VideoRequest,
    check_guild_policy,
    validate_request,
)
from bot.guardrails.queue import JobQueue
from bot.guardrails.spending import SpendGate
from bot.http.server import link_for, reference_link_for
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.files import JobFiles
from bot.jobs.shared import SharedDispatcher
from bot.jobs.workflow import Workflow
from bot.media.fitting import VideoFitter
from bot.media.images import ImageRejected, check_upload, fit_reference_off_loop
from bot.service.links import LinkSigner, load_or_create_secret
from bot.service.wiring import make_planner
from bot.store import Database, JobRecord, JobStore
from bot.store.guilds import GuildStore
from bot.store.jobs import Lease, StaleTransitionError
from bot.store.leases import LeaseStore
from bot.store.usage import UsageStore
from bot.videos import VideosClient, VideosError

log = logging.getLogger(__name__)

SinkBuilder = Callable[[ReplyHandle], ReplySink]

RESTARTING = "The bot is restarting. Try again in a minute."
CANCELLED_MESSAGE = "Cancelled before it started; nothing was sent to the video service."
STOPPED_MESSAGE = (
    "Stopped following this video. The video service may still finish (and bill) it, so it "
    "still counts against your limits; the bot will not post it."
)
JANITOR_INTERVAL = 3600.0
# A job reserved this long ago still without its reply: its process died before replying.
STALE_HOLD = 900.0
LINEAGE_SHOWN = 10
# A provider fetches a reference link when the job starts (or a little later, queued there).
REFERENCE_LINK_LIFE = 86400.0
SOURCE_EXPIRED = (
    "The video service no longer keeps this video, so it cannot be remixed or extended. "
    "Retry makes it again from its prompt."
)
SOURCE_DELETED = "This video was deleted; it cannot be remixed or extended."
SOURCE_MODEL_GONE = "This video's model is no longer offered; it cannot be remixed or extended."

FollowUpKind = Literal["retry", "remix", "extend"]


class SourceGone(RequestRejected):
    """The provider's copy of a source video has expired: only a Retry can help."""


@dataclass(frozen=True)
class JobDetails:
    """A job and its lineage (the jobs it was retried, remixed or extended from)."""

    record: JobRecord
    lineage: tuple[JobRecord, ...]


GIB = 1024**3
_JOB_ID = re.compile(r"[0-9a-f]{8,32}")


def new_ref() -> str:
    """A job id that users quote and operators find in the log; 64 random bits never collide
    in a bot's lifetime (8 hex characters did, at 10,000 jobs)."""
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Upload:
    """A reference image as a front end received it: checked before its bytes are read."""

    content_type: str | None
    size: int
    filename: str
    read: Callable[[], Awaitable[bytes]]


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


class VideoService:
    """Validation, guild rules, spend, queue and workflow behind a handful of calls."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        client: VideosClient,
        *,
        sinks: Mapping[str, SinkBuilder],
        catalogue: Catalogue | None = None,
        fitter: VideoFitter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._client = client
        self.fitter = fitter or VideoFitter(settings.ffmpeg, workers=settings.encode_workers)
        # Links to originals: signed wherever replies are made (a worker too), served by the
        # process with the web server; the processes share the data directory or the secret.
        self.link_signer: LinkSigner | None = None
        if settings.web_port is not None or settings.public_url is not None:
            secret = settings.link_secret.get_secret_value() if settings.link_secret else None
            self.link_signer = LinkSigner(load_or_create_secret(settings.data_dir, secret))
        self.catalogue = catalogue or settings.catalogue()
        self.operator = settings.operator_limits()
        self._database = database
        self._store = JobStore(database)
        self._usage = UsageStore(database)
        self._guilds = GuildStore(database)
        self._builders = dict(sinks)
        self._clock = clock
        self._sinks: dict[str, ReplySink] = {}
        self.files = JobFiles(settings.data_dir / "downloads", clock)
        self.queue = JobQueue()
        # On PostgreSQL the jobs are shared with the other processes on the same database
        # (`video-bot worker`, more `run`s): leases, and the queue and the limits in the store.
        self.leases: LeaseStore | None = None
        if database.engine.dialect.name == "postgresql":
            self.leases = LeaseStore(database, clock)
        leases = self.leases
        self._gate = SpendGate(
            self._usage, self._guilds, self.operator, self.queue, clock, shared=leases
        )
        self.workflow = Workflow(
            client,
            self._store,
            self.catalogue,
            self.files,
            sink_for=self._sink,
            planner_factory=lambda expected: make_planner(settings, expected),
            deadline=settings.job_deadline,
            max_download_bytes=settings.max_download_bytes,
            content_wait=settings.content_wait,
            grab_frame=self.fitter.grab_frame if self.fitter.available else None,
            original=self.original_for,
            reference_link=self.reference_link,
            on_end=self._ended,
            on_lost=self._lost,
            still_holds=None if leases is None else self._still_holds,
            wall_clock=clock,
        )
        self.dispatcher: Dispatcher | SharedDispatcher
        if leases is None:
            self.dispatcher = Dispatcher(
                self.queue,
                max_running=self.operator.max_running,
                max_per_user=self.operator.max_per_user,
                start=self.workflow.start,
                show_position=self._show_position,
                position_interval=settings.edit_interval,
            )
        else:
            url = database.engine.url.set(drivername="postgresql")
            self.dispatcher = SharedDispatcher(
                leases,
                max_running=self.operator.max_running,
                max_per_user=self.operator.max_per_user,
                ttl=settings.lease_seconds,
                run_jobs=settings.run_jobs,
                start=lambda record, lease: self.workflow.start(record, lease=lease),
                stop=self.workflow.let_go,
                show_position=self._show_position,
                position_interval=settings.edit_interval,
                listen_dsn=url.render_as_string(hide_password=False),
                on_policy=self._guilds.forget,
            )
        self._closing = False
        self._janitor: asyncio.Task[None] | None = None
        self._trimming: asyncio.Task[None] | None = None
        self._store_probe: asyncio.Task[None] | None = None
        # Told every job that ended (the team API's webhooks); their failures are only logged.
        self.finish_listeners: list[Callable[[JobRecord], Awaitable[None]]] = []
        self._telling: set[asyncio.Task[None]] = set()
        self._trim_again = False

    @property
    def accepting(self) -> bool:
        return not self._closing

    @property
    def shared(self) -> bool:
        """Whether the jobs are shared with other processes (PostgreSQL)."""
        return self.leases is not None

    @property
    def lease_owner(self) -> str | None:
        """This process's name on the leases it holds (shared jobs only)."""
        return self.dispatcher.owner

    @property
    def waiting(self) -> int:
        """Jobs in the queue (over every process when shared, as last counted)."""
        return self.dispatcher.waiting

    @property
    def store(self) -> JobStore:
        """Read access for listings (`video-bot jobs`, tests)."""
        return self._store

    # -- submit ------------------------------------------------------------------------------

    async def submit(
        self,
        requester: Requester,
        prompt: str,
        *,
        reply: ReplyOpener,
        model: str | None = None,
        size: str | None = None,
        seconds: int | None = None,
        reference: Upload | None = None,
        bounded: bool = True,
        api_key_id: str | None = None,
        metadata: str | None = None,
    ) -> JobView:
        """Validate, apply the guild's rules, reserve the cost, open the reply and queue it.

        Raises RequestRejected (LimitReached among them) with a reason written for the member
        before anything is reserved or sent. `bounded=False` is the operator's own terminal:
        no guild rules, limits or backlog.
        """
        if self._closing:
            raise RequestRejected(RESTARTING)
        request = validate_request(
            self.catalogue, requester, prompt, model=model, size=size, seconds=seconds
        )
        if reference is not None:
            try:
                check_upload(reference.content_type, reference.size, reference.filename)
            except ImageRejected as exc:
                raise RequestRejected(str(exc)) from None
        if bounded and requester.guild_id is not None:
            check_guild_policy(await self._guilds.get(requester.guild_id), request)
        fitted: bytes | None = None
        if reference is not None:
            fitted = await self._fit(reference, request.size)
        return await self._start(
            request, reply, fitted, bounded=bounded, api_key_id=api_key_id, metadata=metadata
        )

    async def _start(
        self,
        request: VideoRequest,
        reply: ReplyOpener,
        fitted: bytes | None,
        *,
        bounded: bool = True,
        source_id: str | None = None,
        api_key_id: str | None = None,
        metadata: str | None = None,
    ) -> JobView:
        """Reserve, open the reply and queue a request that passed every check."""
        requester = request.requester
        now = self._clock()
        record = JobRecord(
            id=new_ref(),
            state=JobState.ACCEPTED,
            prompt=request.prompt,
            model=request.model,
            size=request.size,
            seconds=request.seconds,
            cost=str(request.estimated_cost),
            requester_id=requester.user_id,
            guild_id=requester.guild_id,
            created_at=now,
            updated_at=now,
            reference=fitted,
            kind=request.kind.value,
            source_id=source_id,
            source_video_id=request.source_video_id,
            api_key_id=api_key_id,
            metadata=metadata,
        )

        async def reserve(conn: AsyncConnection | None) -> None:
            # In the queue before the first await: the backlog counts it at once.
            self.dispatcher.hold(record.id, record.requester_id, record.created_at)
            try:
                await self._store.add(record, conn=conn)
            except BaseException:
                self.dispatcher.withdraw(record.id)
                raise

        await self._gate.admit(request, reserve, bounded=bounded)
        view = self.workflow.view(record)
        try:
            handle = await reply.open(view)
            await self._store.note(
                record.id, reply_kind=handle.kind, reply=handle.public, reply_secret=handle.secret
            )
        except BaseException:
            await self._withdraw(record.id, "the reply could not be made")
            raise
        started = JobRecord(
            **{
                **record.values(),
                "state": JobState.ACCEPTED,
                "reference": None,
                "reply_kind": handle.kind,
                "reply": handle.public,
                "reply_secret": handle.secret,
            }
        )
        self.dispatcher.ready(started)
        return view.evolve(queue_position=await self.dispatcher.place(record.id))

    async def _fit(self, reference: Upload, size: str) -> bytes:
        try:
            data = await reference.read()
        except (asyncio.CancelledError, RequestRejected):
            raise
        except Exception:
            log.info("reading the reference image failed", exc_info=True)
            raise RequestRejected("The reference image could not be fetched.") from None
        try:
            # Decoding and resizing is CPU work: off the event loop, so acknowledgements go on.
            fitted = await fit_reference_off_loop(data, size)
        except ImageRejected as exc:
            raise RequestRejected(str(exc)) from None
        return fitted.data

    async def _withdraw(self, job_id: str, reason: str) -> None:
        """Give a reservation back: nothing was sent."""
        self.dispatcher.withdraw(job_id)
        with contextlib.suppress(StaleTransitionError):
            await self._store.transition(
                job_id, JobState.CANCELLED, expect=[JobState.ACCEPTED], last_error=reason
            )

    # -- follow-ups: retry, remix, extend, details, delete ---------------------------------------

    async def follow_up(
        self,
        kind: FollowUpKind,
        source_id: str,
        requester: Requester,
        *,
        reply: ReplyOpener,
        is_admin: bool = False,
        prompt: str | None = None,
        seconds: int | None = None,
    ) -> JobView:
        """A new job from a finished one, through the same checks, limits, queue and workflow.

        `retry` asks for the same video again (with the same reference image while it is
        kept); `remix` changes the finished video with a new prompt; `extend` continues it by
        `seconds`. The requester of the follow-up pays for it. Raises RequestRejected.
        """
        if self._closing:
            raise RequestRejected(RESTARTING)
        source = await self._own_job(source_id, requester.user_id, is_admin, "follow it up")
        fitted: bytes | None = None
        if kind == "retry" and source.kind in (JobKind.REMIX, JobKind.EXTEND):
            # A remix or an extension tried again is that remix or extension again.
            parent = await self._store.get(source.source_id or "")
            if parent is None:
                raise RequestRejected("The video this one was made from is unknown.")
            kind = "remix" if source.kind == JobKind.REMIX else "extend"
            prompt, seconds, source = source.prompt, source.seconds, parent
        if kind == "retry":
            request = validate_request(
                self.catalogue,
                requester,
                source.prompt,
                model=source.model,
                size=source.size,
                seconds=source.seconds,
            )
            fitted = await self._store.reference(source.id)
        else:
            request = self._continuation(kind, source, requester, prompt, seconds)
        if requester.guild_id is not None:
            check_guild_policy(await self._guilds.get(requester.guild_id), request)
        return await self._start(request, reply, fitted, source_id=source.id)

    def _continuation(
        self,
        kind: FollowUpKind,
        source: JobRecord,
        requester: Requester,
        prompt: str | None,
        seconds: int | None,
    ) -> VideoRequest:
        """A remix or an extension of `source`, checked against what its model can do."""
        try:
            spec = self.catalogue.get(source.model)
        except RequestRejected:
            raise RequestRejected(SOURCE_MODEL_GONE) from None
        if source.deleted_at is not None:
            raise RequestRejected(SOURCE_DELETED)
        posted = (JobState.DELIVERED, JobState.DELIVERING)  # DELIVERING: being recorded now
        if source.state not in posted or source.provider_video_id is None:
            raise RequestRejected("Only a delivered video can be remixed or extended.")
        expires = source.video_expires_at
        if expires is not None and expires <= self._clock():
            raise SourceGone(SOURCE_EXPIRED)
        text = validate_request(
            self.catalogue,
            requester,
            prompt if prompt is not None else source.prompt,
            model=source.model,
            size=source.size,
        ).prompt
        if kind == "remix":
            if not spec.remix:
                raise RequestRejected(f"The video service cannot remix {spec.display_name} videos.")
            return VideoRequest(
                text,
                spec,
                source.size,
                source.seconds,
                requester,
                kind=JobKind.REMIX,
                source_video_id=source.provider_video_id,
            )
        if not spec.extensions:
            raise RequestRejected(f"The video service cannot extend {spec.display_name} videos.")
        allowed = spec.extension_seconds
        added = seconds if seconds is not None else allowed[0]
        if added not in allowed:
            choices = ", ".join(str(s) for s in allowed)
            raise RequestRejected(f"An extension adds {choices} seconds, not {added}.")
        return VideoRequest(
            text,
            spec,
            source.size,
            added,
            requester,
            kind=JobKind.EXTEND,
            source_video_id=source.provider_video_id,
        )

    async def details(self, job_id: str) -> JobDetails | None:
        """A job and the jobs it came from (newest first), for the Details button."""
        record = await self._store.get(job_id)
        if record is None:
            return None
        lineage: list[JobRecord] = []
        seen = {record.id}
        source_id = record.source_id
        while source_id is not None and source_id not in seen and len(lineage) < LINEAGE_SHOWN:
            source = await self._store.get(source_id)
            if source is None:
                break
            lineage.append(source)
            seen.add(source.id)
            source_id = source.source_id
        return JobDetails(record, tuple(lineage))

    async def delete(self, job_id: str, *, user_id: int, is_admin: bool = False) -> str:
        """Delete a finished video: its files here and the provider's copy where the provider
        deletes; the job stays in the history as deleted. Returns what happened."""
        record = await self._own_job(job_id, user_id, is_admin, "delete it")
        # DELIVERING: the video is in the reply, the state is being recorded this moment.
        if not record.state.is_final and record.state is not JobState.DELIVERING:
            raise RequestRejected("This video is still being made; stop it first.")
        if record.deleted_at is not None:
            return "This video was already deleted."
        await self._store.note(record.id, deleted_at=self._clock())
        self.files.remove(record.id)
        at_provider = ""
        try:
            deletes = self.catalogue.get(record.model).delete
        except RequestRejected:
            deletes = False
        if record.provider_video_id is not None and deletes:
            try:
                await self._client.delete(record.provider_video_id)
            except VideosError as exc:
                log.info("job %s: the provider did not delete its copy: %s", record.id, exc)
                at_provider = " The video service kept its own copy (it expires on its own)."
            else:
                at_provider = " The video service's copy was deleted too."
        log.info("job %s deleted by user %d", record.id, user_id)
        return f"Deleted.{at_provider}"

    async def check_follow_up(
        self, kind: FollowUpKind, source_id: str, *, user_id: int, is_admin: bool = False
    ) -> JobRecord:
        """The source of a remix or an extension, once it is known it may be asked for (the
        modal opens only then); raises RequestRejected, SourceGone when it expired."""
        source = await self._own_job(source_id, user_id, is_admin, "follow it up")
        if kind != "retry":
            self._continuation(kind, source, Requester(user_id, source.guild_id), None, None)
        return source

    async def check_owner(self, job_id: str, user_id: int, *, is_admin: bool = False) -> None:
        """Raises RequestRejected unless the job is the member's (or they are an admin)."""
        await self._own_job(job_id, user_id, is_admin, "see its details")

    async def _own_job(self, job_id: str, user_id: int, is_admin: bool, action: str) -> JobRecord:
        record = await self._store.get(job_id)
        if record is None:
            raise RequestRejected("That video is unknown (it may belong to another bot).")
        if record.requester_id != user_id and not is_admin:
            raise RequestRejected(
                f"Only the member who asked for this video, or a server admin, can {action}."
            )
        return record

    # -- cancel / stop following --------------------------------------------------------------

    async def cancel(self, job_id: str, *, user_id: int, is_admin: bool = False) -> str:
        """Cancel a waiting job, or stop following one the provider has; returns what happened.

        The state change is a guarded transition made first; only when it succeeded is the
        job's task stopped, so a job that moved on meanwhile is never left without one.
        """
        record = await self._store.get(job_id)
        if record is None:
            return "That job is unknown."
        if record.requester_id != user_id and not is_admin:
            return "Only the member who asked for this video, or a server admin, can do that."
        if record.state is JobState.ACCEPTED:
            try:
                await self._store.transition(
                    job_id,
                    JobState.CANCELLED,
                    expect=[JobState.ACCEPTED],
                    last_error=CANCELLED_MESSAGE,
                )
            except StaleTransitionError:
                record = await self._store.get(job_id) or record  # it started meanwhile
            else:
                self.dispatcher.withdraw(job_id)
                await self._tell_ended(record, JobState.CANCELLED, CANCELLED_MESSAGE)
                return CANCELLED_MESSAGE
        if record.state in AT_PROVIDER:
            try:
                await self._store.transition(
                    job_id, JobState.ABANDONED, expect=AT_PROVIDER, last_error=STOPPED_MESSAGE
                )
            except StaleTransitionError:
                record = await self._store.get(job_id) or record
            else:
                # The job's own sink, taken before its task ends: an edit it still has pending
                # must be cancelled by the final one, not land after it.
                sink = self._sinks.get(job_id)
                running_here = self.workflow.is_running(job_id)
                await self.workflow.stop(job_id)  # its end is announced as the task ends
                self.dispatcher.stop_elsewhere(job_id)  # if another process runs it
                if not running_here:
                    self._announce(job_id)  # the process running it lets go quietly
                self.files.remove(job_id)
                await self._tell_ended(record, JobState.ABANDONED, STOPPED_MESSAGE, sink)
                return STOPPED_MESSAGE
        if record.state.is_final:
            return "That video is already finished."
        return "That video is already done and being posted."

    async def _tell_ended(
        self, record: JobRecord, state: JobState, message: str, sink: ReplySink | None = None
    ) -> None:
        sink = sink or self._sinks.get(record.id) or self._build_sink(record)
        view = self.workflow.view(record).evolve(
            phase=Phase.FAILED, state=state, error=message, queue_position=None
        )
        try:
            await sink.fail(view)
        except Exception:
            log.warning("telling job %s's reply it ended failed", record.id, exc_info=True)
        finally:
            self._sinks.pop(record.id, None)

    # -- rules and usage ----------------------------------------------------------------------

    async def policy(self, guild_id: int | None) -> GuildPolicy:
        return await self._gate.policy(guild_id)

    async def save_policy(self, guild_id: int, policy: GuildPolicy) -> None:
        await self._guilds.save(guild_id, policy)
        self.dispatcher.policy_changed(guild_id)  # other processes cached the old rules

    async def limits(self, guild_id: int | None) -> EffectiveLimits:
        return await self._gate.limits(guild_id) if guild_id is not None else NO_LIMITS

    async def usage(
        self, *, since: float, user_id: int | None = None, guild_id: int | None = None
    ) -> Usage:
        return await self._usage.usage(since=since, user_id=user_id, guild_id=guild_id)

    async def usage_by_member(self, *, guild_id: int, since: float) -> list[MemberUsage]:
        return await self._usage.by_member(guild_id=guild_id, since=since)

    async def recent_jobs(self, user_id: int, limit: int = 10) -> list[JobRecord]:
        return await self._store.recent_for(user_id, limit=limit)

    async def job(self, job_id: str) -> JobRecord | None:
        return await self._store.get(job_id)

    async def store_answers(self, within: float = 3.0) -> bool:
        """Whether the store answers a read and a write within `within` seconds (health).

        A probe stuck behind a lock is left to finish on its own rather than cancelled (a
        cancelled SQLite call still waits for its thread); while it is stuck, the answer is no.
        """
        probe = self._store_probe
        if probe is None or probe.done():
            probe = self._store_probe = asyncio.create_task(self._store.ping(), name="store-ping")
        done, _ = await asyncio.wait({probe}, timeout=within)
        if not done:
            log.warning("the store does not answer within %.0f s", within)
            return False
        if probe.cancelled() or probe.exception() is not None:
            log.warning("the store does not answer: %s", probe.exception())
            return False
        return True

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, *, resume: bool = True, spread: float | None = None) -> int:
        """Resume every unfinished job, then start the queue; returns how many were resumed.

        Shared jobs are not resumed here: the claims take over whatever no live process
        holds (at once when its process stopped cleanly, after its lease otherwise).
        """
        resumed = await self.resume(spread=spread) if resume and not self.shared else 0
        self.dispatcher.launch()
        if resume:
            await self._tidy_once()  # leftovers of an earlier run go before new work starts
        if self._janitor is None:
            self._janitor = asyncio.create_task(self._tidy_forever(), name="janitor")
        return resumed

    async def resume(self, *, spread: float | None = None, page: int = 500) -> int:
        """Pick up the unfinished jobs after a restart, a page at a time.

        Waiting jobs rejoin the queue in their order (no task each); jobs past the queue get
        their task back, their first reads spread over up to a minute (no thundering herd).
        One process only: shared jobs are claimed (bot/jobs/shared.py).
        """
        dispatcher = self.dispatcher
        if isinstance(dispatcher, SharedDispatcher):
            return 0
        running: list[JobRecord] = []
        waiting = 0
        after: tuple[float, str] | None = None
        while True:
            records = await self._store.unfinished_page(after, page)
            if not records:
                break
            after = (records[-1].created_at, records[-1].id)
            for record in records:
                if record.state is JobState.ACCEPTED:
                    if record.handle is None:
                        # Reserved, but the bot died before it could reply: nobody waits for it.
                        await self._withdraw(record.id, "the bot restarted before replying")
                        continue
                    self.dispatcher.ready(record)
                    waiting += 1
                    position = self.queue.position(record.id)
                    if position is not None and position > 10:
                        dispatcher.assume_shown(record.id, position)
                else:
                    dispatcher.occupy(record.id, record.requester_id)
                    running.append(record)
            await asyncio.sleep(0)
        window = spread if spread is not None else min(60.0, len(running) / 100)
        for record in running:
            delay = random.uniform(0, window) if window > 0 else 0.0
            self.workflow.start(record, delay=delay)
        if running or waiting:
            log.info(
                "resumed %d job(s) past the queue over %.0f s and %d waiting",
                len(running),
                window,
                waiting,
            )
        return len(running) + waiting

    async def close(self, grace: float = 5.0) -> None:
        """Stop taking jobs, give in-flight steps a moment, then stop; states are stored."""
        self._closing = True
        self.dispatcher.paused = True
        await self.dispatcher.close()
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
            self._janitor = None
        await self.workflow.close(grace)
        await self.dispatcher.hand_back()  # shared: the others take the jobs over at once
        for task in (self._trimming, self._store_probe):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def tidy(self) -> int:
        """Remove what no job needs any more: orphan files, originals past KEEP_DAYS or beyond
        KEEP_MAX_GB, undeliverable videos and reference images past KEEP_DAYS (a member's
        picture is kept only as long as the job's files)."""
        keep_until = self._clock() - self.settings.keep_days * 86400
        await self._store.drop_references(keep_until)
        kept = set(await self.trim_originals())
        for job_id, finished_at in await self._store.finished_with_files([JobState.UNDELIVERABLE]):
            if finished_at >= keep_until:
                kept.add(job_id)
            else:
                self.files.remove(job_id)
        after: tuple[float, str] | None = None
        stale_hold = self._clock() - STALE_HOLD
        while records := await self._store.unfinished_page(after, 1000):
            kept.update(r.id for r in records)
            after = (records[-1].created_at, records[-1].id)
            for record in records:
                if self.shared and record.handle is None and record.created_at < stale_hold:
                    # Reserved, but its process died before replying (a restart of the only
                    # process does this at start-up; shared, another process may be replying).
                    await self._withdraw(record.id, "the bot restarted before replying")
        kept.update(self._sinks)
        return self.files.sweep(kept)

    async def trim_originals(self) -> list[str]:
        """Keep the originals of delivered videos KEEP_DAYS and within KEEP_MAX_GB, removing
        the oldest first; returns the jobs whose original stays."""
        keep_until = self._clock() - self.settings.keep_days * 86400
        budget = int(self.settings.keep_max_gb * GIB)
        delivered = await self._store.finished_with_files([JobState.DELIVERED], since=keep_until)
        kept: list[str] = []
        used = 0
        for job_id, _finished_at in sorted(delivered, key=lambda row: row[1], reverse=True):
            size = self.files.size(job_id)
            if size == 0:
                continue
            if used + size > budget:
                self.files.remove(job_id)
                continue
            used += size
            kept.append(job_id)
        return kept

    def original_file(self, job_id: str) -> Path | None:
        """The kept original of a job (what a signed link serves), or None once it is gone."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        path = self.files.video(job_id)
        return path if path.is_file() else None

    def original_for(self, job_id: str, size: int) -> Original | None:
        """Where the original of a job being delivered can be had afterwards."""
        if self.settings.keep_days <= 0 or self.settings.keep_max_gb <= 0:
            return None
        kept_until = self._clock() + self.settings.keep_days * 86400
        link = None
        if self.link_signer is not None and self.settings.public_url is not None:
            link = link_for(self.settings.public_url, self.link_signer, job_id, int(kept_until))
        return Original(size=size, kept_until=kept_until, link=link)

    def reference_link(self, job_id: str) -> str | None:
        """A signed link to a job's fitted reference image, for servers that take a URL."""
        if self.link_signer is None or self.settings.public_url is None:
            return None
        expires_at = int(self._clock() + REFERENCE_LINK_LIFE)
        return reference_link_for(self.settings.public_url, self.link_signer, job_id, expires_at)

    async def reference_image(self, job_id: str) -> bytes | None:
        """A job's fitted reference image (what a reference link serves)."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        return await self._store.reference(job_id)

    def _trim_soon(self) -> None:
        """After a delivery: hold the originals to KEEP_MAX_GB now, not at the next tidy."""
        if self._trimming is not None and not self._trimming.done():
            self._trim_again = True
            return
        self._trimming = asyncio.create_task(self._trim_until_settled(), name="trim-originals")

    async def _trim_until_settled(self) -> None:
        while True:
            self._trim_again = False
            try:
                await self.trim_originals()
            except Exception:
                log.warning("trimming the kept originals failed", exc_info=True)
            if not self._trim_again:
                return

    async def _tidy_once(self) -> None:
        try:
            await self.tidy()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("tidying the job files failed", exc_info=True)

    async def _tidy_forever(self) -> None:
        while True:
            await asyncio.sleep(JANITOR_INTERVAL)
            await self._tidy_once()

    # -- sinks --------------------------------------------------------------------------------

    def _build_sink(self, record: JobRecord) -> ReplySink:
        handle = record.handle
        builder = self._builders.get(handle.kind) if handle is not None else None
        if handle is None or builder is None:
            return _Unreachable(handle)
        return builder(handle)

    def _sink(self, record: JobRecord) -> ReplySink:
        """The one sink of a live job (its throttling state lives there)."""
        sink = self._sinks.get(record.id)
        if sink is None:
            sink = self._sinks[record.id] = self._build_sink(record)
        return sink

    def _lost(self, job_id: str) -> None:
        """Another process has the job now (or it ended there): only this one's books."""
        self.dispatcher.forget(job_id)
        self._sinks.pop(job_id, None)

    async def _still_holds(self, job_id: str, lease: Lease) -> bool:
        assert self.leases is not None  # noqa: S101 - only given when shared
        return await self.leases.holds(job_id, lease, ttl=self.settings.lease_seconds)

    def _ended(self, job_id: str) -> None:
        self.dispatcher.release(job_id)
        self._sinks.pop(job_id, None)
        if not self._closing:
            self._trim_soon()
        self._announce(job_id)

    def _announce(self, job_id: str) -> None:
        """Tell the listeners of finished jobs (the API's webhooks) that this one ended."""
        if self.finish_listeners:
            task = asyncio.create_task(self._tell_finished(job_id), name="tell-finished")
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    async def _tell_finished(self, job_id: str) -> None:
        record = await self._store.get(job_id)
        if record is None or not record.state.is_final:
            return  # stopped by a shutdown, resumed later
        for listener in self.finish_listeners:
            try:
                await listener(record)
            except Exception:
                log.exception("a listener of finished jobs failed")

    async def _show_position(self, record: JobRecord, position: int) -> None:
        view = self.workflow.view(record).evolve(queue_position=position)
        await self._sink(record).show(view)
