"""The composition root: the engine built from settings, and its parts wired to each other.

One place decides which database, which dispatcher (in-process on SQLite, leased and shared
on PostgreSQL), which Videos client, which signer; the workflow's callbacks (a job ended, a
job was lost to another process) land here too. Front ends get a `VideoService`
(bot/service/facade.py) from `build_service` or `open_service` and never see these parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.background import spawn
from bot.catalogue import Catalogue, ModelSpec, RequestRejected
from bot.config import Provider, Settings
from bot.domain import (
    Attempt,
    JobState,
    JobSummary,
    LimitReached,
    ReplySink,
    Requester,
    VideoRequest,
    check_guild_policy,
)
from bot.guardrails.queue import JobQueue
from bot.guardrails.spending import SpendGate
from bot.jobs.dispatcher import Dispatcher
from bot.jobs.files import JobFiles
from bot.jobs.in_process import InProcessDispatcher
from bot.jobs.polling import SAFETY_NET_CAP, PollPlanner, SafetyNetPlanner
from bot.jobs.providers import ProviderLink, Providers
from bot.jobs.shared import SharedDispatcher
from bot.jobs.workflow import Workflow
from bot.media.fitting import VideoFitter
from bot.service.facade import VideoService
from bot.service.keys import Keys
from bot.service.links import LinkSigner, load_or_create_secret
from bot.service.moderation import make_moderation
from bot.service.prompt_improver import make_prompt_improver
from bot.service.replies import Replies, SinkBuilder
from bot.service.retention import Retention
from bot.store import Database, IdempotencyStore, JobRecord, JobStore, open_database
from bot.store.guilds import GuildStore
from bot.store.jobs import Lease, StaleTransitionError
from bot.store.leases import LeaseStore
from bot.store.provider_events import ProviderEvents
from bot.store.rewrites import RewriteCounts
from bot.store.usage import UsageStore
from bot.videos import CircuitBreaker, FailureKind, RetryPolicy, Timeouts, VideosClient

log = logging.getLogger(__name__)

# Told of every job that ended (the team API's webhooks); their failures are only logged.
FinishListener = Callable[[JobSummary], Awaitable[None]]


def settle_heap() -> None:
    """Take everything alive after start-up (the imported libraries, settings, the catalogue)
    out of the garbage collector's sight.

    A full collection otherwise scans those ~85,000 objects each time, 40-90 ms with the event
    loop stopped; frozen, it scans only what the bot made since (the queue, the jobs).
    """
    gc.collect()
    gc.freeze()


def open_session(trace_configs: Sequence[aiohttp.TraceConfig] = ()) -> aiohttp.ClientSession:
    """The one HTTP session a process uses for the Videos API (traced for the metrics)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
        raise_for_status=False,
        trace_configs=list(trace_configs) or None,
    )


def make_client(
    session: aiohttp.ClientSession, settings: Settings, provider: Provider | None = None
) -> VideosClient:
    """The client of one provider (`default`, OPENAI_BASE_URL's, when none is named)."""
    if provider is None:
        provider = Provider("default", "openai", settings.openai_base_url, settings.openai_api_key)
    retries = settings.max_retries if provider.max_retries is None else provider.max_retries
    return VideosClient(
        session,
        provider.base_url,
        provider.api_key,
        dialect=provider.dialect,
        provider=provider.name,
        max_connections=provider.max_connections,
        breaker=CircuitBreaker(settings.provider_failures, settings.provider_cooldown),
        timeouts=Timeouts(
            connect=settings.connect_timeout,
            request=settings.request_timeout,
            download=settings.download_timeout,
        ),
        retry=RetryPolicy(max_retries=retries),
    )


def make_providers(
    session: aiohttp.ClientSession, settings: Settings, catalogue: Catalogue | None = None
) -> Providers:
    """A client for every provider some model of the catalogue uses."""
    links = {
        name: ProviderLink(
            name, make_client(session, settings, provider), provider.dialect, provider.calls_back
        )
        for name, provider in settings.providers(catalogue).items()
    }
    return Providers(links)


def make_planner(
    settings: Settings, expected_duration: float | None = None, *, calls_back: bool = False
) -> PollPlanner:
    """How a job's status is read: paced by its progress, or, where the provider calls back
    when the video is ready, only now and then as a safety net for a lost callback."""
    if calls_back:
        every = settings.callback_poll_interval
        return SafetyNetPlanner(
            min_interval=every,
            max_interval=max(every, SAFETY_NET_CAP),
            fixed_interval=every,
            expected_duration=expected_duration,
        )
    return PollPlanner(
        min_interval=settings.poll_min_interval,
        max_interval=settings.poll_max_interval,
        fixed_interval=settings.poll_fixed_interval,
        expected_duration=expected_duration,
    )


def _signer(settings: Settings) -> LinkSigner | None:
    """Links to originals: signed wherever replies are made (a worker too), served by the
    process with the web server; the processes share the data directory or the secret."""
    if settings.web_port is None and settings.public_url is None:
        return None
    secret = settings.link_secret.get_secret_value() if settings.link_secret else None
    return LinkSigner(load_or_create_secret(settings.data_dir, secret))


class Engine:
    """Every long-lived part of the engine, wired: store, guards, workflow, dispatcher."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        providers: Providers,
        *,
        sinks: Mapping[str, SinkBuilder],
        catalogue: Catalogue | None = None,
        fitter: VideoFitter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.database = database
        self.providers = providers
        self.clock = clock
        self.catalogue = catalogue or settings.catalogue()
        self.operator = settings.operator_limits()
        self.fitter = fitter or VideoFitter(settings.ffmpeg, workers=settings.encode_workers)
        self.store = JobStore(database)
        self.usage = UsageStore(database)
        self.guilds = GuildStore(database)
        self.keys = Keys(database, clock)
        self.files = JobFiles(settings.data_dir / "downloads", clock)
        self.queue = JobQueue()
        self.replies = Replies(sinks)
        self.finish_listeners: list[FinishListener] = []
        self.closing = False
        # The prompt check before spending (VIDEO_BOT_MODERATION_URL); None: no check.
        self.moderation = make_moderation(settings)
        # The chat model that improves prompts before spending (VIDEO_BOT_PROMPT_URL); None: off.
        self.prompts = make_prompt_improver(settings)
        self.rewrites = RewriteCounts(database)
        # On PostgreSQL the jobs are shared with the other processes on the same database
        # (`video-bot worker`, more `run`s): leases, and the queue and the limits in the store.
        shared = database.engine.dialect.name == "postgresql"
        self.leases = LeaseStore(database, clock) if shared else None
        self.provider_events = ProviderEvents(database)
        self.retention = Retention(
            settings,
            self.store,
            IdempotencyStore(database, clock),
            self.files,
            _signer(settings),
            provider_events=self.provider_events,
            clock=clock,
            shared=shared,
        )
        self.gate = SpendGate(
            self.usage, self.guilds, self.operator, self.queue, clock, shared=self.leases
        )
        # Each provider's settings with its secrets (a callback's signature is checked by them).
        self.provider_settings = {
            name: found
            for name, found in settings.providers(self.catalogue).items()
            if name in providers
        }
        self.workflow = Workflow(
            providers,
            self.store,
            self.catalogue,
            self.files,
            sink_for=self.replies.sink,
            planner_factory=lambda expected, calls_back: make_planner(
                settings, expected, calls_back=calls_back
            ),
            fall_back=self._fall_back,
            deadline=settings.job_deadline,
            max_download_bytes=settings.max_download_bytes,
            content_wait=settings.content_wait,
            grab_frame=self.fitter.grab_frame if self.fitter.available else None,
            original=self.retention.original_for,
            reference_link=self.retention.reference_link,
            callback_url=self._callback_url,
            on_end=self._ended,
            on_lost=self._lost,
            still_holds=None if self.leases is None else self._still_holds,
            wall_clock=clock,
        )
        self.dispatcher = self._dispatcher()
        self._telling: set[asyncio.Task[None]] = set()
        self._store_probe: asyncio.Task[None] | None = None

    def _dispatcher(self) -> Dispatcher:
        settings, operator = self.settings, self.operator
        if self.leases is None:
            return InProcessDispatcher(
                self.queue,
                self.store,
                max_running=operator.max_running,
                max_per_user=operator.max_per_user,
                start=lambda record, delay: self.workflow.start(record, delay=delay),
                show_position=self._show_position,
                position_interval=settings.edit_interval,
            )
        url = self.database.engine.url.set(drivername="postgresql")
        return SharedDispatcher(
            self.leases,
            max_running=operator.max_running,
            max_per_user=operator.max_per_user,
            ttl=settings.lease_seconds,
            run_jobs=settings.run_jobs,
            start=lambda record, lease: self.workflow.start(record, lease=lease),
            stop=self.workflow.let_go,
            show_position=self._show_position,
            position_interval=settings.edit_interval,
            listen_dsn=url.render_as_string(hide_password=False),
            on_policy=self.guilds.forget,
            on_due=self._nudge_here,
        )

    @property
    def shared(self) -> bool:
        """Whether the jobs are shared with other processes (PostgreSQL)."""
        return self.leases is not None

    # -- what the workflow and the dispatcher report --------------------------------------

    def _ended(self, job_id: str) -> None:
        self.dispatcher.release(job_id)
        self.replies.forget(job_id)
        if not self.closing:
            self.retention.trim_soon()
        self.announce(job_id)

    def _lost(self, job_id: str) -> None:
        """Another process has the job now (or it ended there): only this one's books."""
        self.dispatcher.forget(job_id)
        self.replies.forget(job_id)

    async def _fall_back(
        self, record: JobRecord, kind: FailureKind, message: str
    ) -> JobRecord | None:
        """Move a job whose attempt ended unbilled to the next model of its chain that passes
        every check the first one passed: the server's allowed models and length, the size
        and seconds asked for, not retired, its provider configured and not skipped by the
        circuit breaker, and the budgets (its own reservation, in place of the given-back
        one). The chain is the first model's `fallbacks`, each model tried once."""
        earlier = record.attempts_made()
        first = earlier[0].model if earlier else record.model
        try:
            chain = self.catalogue.get(first).fallbacks
        except RequestRejected:
            return None
        tried = {a.model for a in earlier} | {record.model}
        key = None if record.api_key_id is None else await self.keys.get(record.api_key_id)
        requester = Requester(record.requester_id, record.guild_id, key=key)
        policy = None if record.guild_id is None else await self.guilds.get(record.guild_id)
        today = datetime.fromtimestamp(self.clock(), tz=UTC).date()
        attempt = Attempt(
            model=record.model,
            provider=record.provider,
            failure_kind=kind,
            cost=record.cost,
            error=message,
            provider_video_id=record.provider_video_id,
            ended_at=self.clock(),
        )
        for name in chain:
            if name in tried:
                continue
            try:
                spec, _, _ = self.catalogue.resolve(name, record.size, record.seconds, today=today)
                request = VideoRequest(record.prompt, spec, record.size, record.seconds, requester)
                if policy is not None:
                    check_guild_policy(policy, request)
            except RequestRejected as exc:
                log.info("job %s: fallback %s skipped: %s", record.id, name, exc)
                continue
            if spec.provider not in self.providers or self.providers.is_down(spec.provider):
                log.info("job %s: fallback %s skipped: its provider is down", record.id, name)
                continue

            async def reserve(
                conn: AsyncConnection | None,
                spec: ModelSpec = spec,
                request: VideoRequest = request,
            ) -> JobRecord:
                return await self.store.fall_back(
                    record,
                    model=spec.name,
                    provider=spec.provider,
                    cost=str(request.estimated_cost),
                    attempt=attempt,
                    conn=conn,
                )

            try:
                return await self.gate.readmit(request, Decimal(record.cost or 0), reserve)
            except LimitReached as exc:
                log.info("job %s: fallback %s skipped: %s", record.id, name, exc)
        return None

    async def _still_holds(self, job_id: str, lease: Lease, sending: bool) -> bool:
        assert self.leases is not None  # noqa: S101 - only given when shared
        ttl = self.settings.lease_seconds
        return await self.leases.holds(job_id, lease, ttl=ttl, sending=sending)

    async def _show_position(self, record: JobRecord, position: int) -> None:
        view = self.workflow.view(record).evolve(queue_position=position)
        await self.replies.sink(record).show(view)

    def _callback_url(self, link: ProviderLink) -> str | None:
        """OpenRouter is told per create where to call back: the bot's public web server,
        when members can reach it and the provider's events can be verified (a secret)."""
        public = self.settings.public_url
        if link.dialect != "openrouter" or not link.calls_back or public is None:
            return None
        return f"{public}/provider-webhooks/{link.name}"

    def _nudge_here(self, job_id: str) -> None:
        self.workflow.nudge(job_id)

    def nudge(self, job_id: str) -> None:
        """A provider called back: the job's status is read now, wherever it is followed."""
        if not self.workflow.nudge(job_id):
            self.dispatcher.wake_elsewhere(job_id)

    def announce(self, job_id: str) -> None:
        """Tell the listeners of finished jobs (the API's webhooks) that this one ended."""
        if self.finish_listeners:
            task = spawn(self._tell_finished(job_id), name="tell-finished")
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    async def _tell_finished(self, job_id: str) -> None:
        record = await self.store.get(job_id)
        if record is None or not record.state.is_final:
            return  # stopped by a shutdown, resumed later
        summary = record.summary()
        for listener in self.finish_listeners:
            try:
                await listener(summary)
            except Exception:
                log.exception("a listener of finished jobs failed")

    async def withdraw(self, job_id: str, reason: str) -> None:
        """Give a reservation back: nothing was sent."""
        self.dispatcher.withdraw(job_id)
        with contextlib.suppress(StaleTransitionError):
            await self.store.transition(
                job_id, JobState.CANCELLED, expect=[JobState.ACCEPTED], last_error=reason
            )

    def sink_of(self, job_id: str) -> ReplySink | None:
        return self.replies.current(job_id)

    # -- life cycle ------------------------------------------------------------------------

    async def start(self, *, resume: bool = True, spread: float | None = None) -> int:
        """Resume what this process is responsible for, then start the queue; returns how
        many jobs were resumed (shared jobs are claimed instead: none)."""
        today = datetime.fromtimestamp(self.clock(), tz=UTC).date()
        for spec, _ in self.catalogue.retiring(today):
            note = spec.retirement_note(today)
            refused = " (refused from that day)" if spec.is_retired(today) else ""
            log.warning("catalogue: %s%s", note, refused)
        for link in self.providers:
            if link.dialect == "openrouter" and link.calls_back and not self.settings.public_url:
                log.warning(
                    "provider %s has a webhook secret but VIDEO_BOT_PUBLIC_URL is unset: "
                    "OpenRouter cannot be told where to call back, so its jobs are read only "
                    "every %.0f s",
                    link.name,
                    self.settings.callback_poll_interval,
                )
        resumed = await self.dispatcher.resume(spread=spread) if resume else 0
        self.dispatcher.launch()
        if resume:  # leftovers of an earlier run go before new work starts
            await self.retention.tidy_once(self.withdraw, self.replies.live)
        self.retention.start_janitor(self.withdraw, self.replies.live)
        return resumed

    async def close(self, grace: float = 5.0) -> None:
        """Stop taking jobs, give in-flight steps a moment, then stop; states are stored."""
        self.closing = True
        self.dispatcher.paused = True
        await self.dispatcher.close()
        await self.retention.close()
        await self.workflow.close(grace)
        await self.dispatcher.hand_back()  # shared: the others take the jobs over at once
        # Reads still on their way (endings being told, a health probe) finish before the
        # store closes: a read cut off in SQLite's thread would outlive its connection.
        pending = [*self._telling, *([self._store_probe] if self._store_probe else [])]
        if pending:
            _, late = await asyncio.wait(pending, timeout=max(grace, 2.0))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self.moderation is not None:
            await self.moderation.close()
        if self.prompts is not None:
            await self.prompts.close()

    async def store_answers(self, within: float = 3.0) -> bool:
        """Whether the store answers a read and a write within `within` seconds (health).

        A probe stuck behind a lock is left to finish on its own rather than cancelled (a
        cancelled SQLite call still waits for its thread); while it is stuck, the answer is no.
        """
        probe = self._store_probe
        if probe is None or probe.done():
            probe = self._store_probe = spawn(self.store.ping(), name="store-ping")
        done, _ = await asyncio.wait({probe}, timeout=within)
        if not done:
            log.warning("the store does not answer within %.0f s", within)
            return False
        if probe.cancelled() or probe.exception() is not None:
            log.warning("the store does not answer: %s", probe.exception())
            return False
        return True


class OpenStore:
    """A store opened (and migrated) before anything else starts: one that cannot be written
    stops start-up before Discord is called. Front ends only build the service on it and close
    it; they never use it themselves."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def close(self) -> None:
        await self._database.close()


async def open_store(settings: Settings) -> OpenStore:
    """The configured store, opened; raises StoreError with a one-line reason."""
    return OpenStore(await open_database(settings.effective_database_url))


def build_service(
    settings: Settings,
    store: OpenStore | Database,
    client: VideosClient | Providers,
    *,
    sinks: Mapping[str, SinkBuilder],
    catalogue: Catalogue | None = None,
    fitter: VideoFitter | None = None,
    clock: Callable[[], float] = time.time,
) -> VideoService:
    """The service over an open store and a Videos client (not started)."""
    database = store._database if isinstance(store, OpenStore) else store
    providers = Providers.single(client) if isinstance(client, VideosClient) else client
    engine = Engine(
        settings, database, providers, sinks=sinks, catalogue=catalogue, fitter=fitter, clock=clock
    )
    return VideoService(engine)


@contextlib.asynccontextmanager
async def open_service(
    settings: Settings,
    *,
    sinks: Mapping[str, SinkBuilder],
    resume: bool = True,
    trace_configs: Sequence[aiohttp.TraceConfig] = (),
) -> AsyncIterator[VideoService]:
    """The service with its own database and HTTP session (traced with `trace_configs`),
    started; closed at the end."""
    database = await open_database(settings.effective_database_url)
    try:
        async with open_session(trace_configs) as session:
            providers = make_providers(session, settings)
            service = build_service(settings, database, providers, sinks=sinks)
            await service.start(resume=resume)
            try:
                yield service
            finally:
                await service.close(grace=0)
    finally:
        await database.close()
