"""The one service every front end calls: submit, follow up, cancel, details, usage, policy.

A front end (the `/video` cog, the buttons, the terminal, the team API) hands it a requester, a
request and a way to open its reply, and renders what the reply's sink is shown. Every rule is
applied here, the same for every way in: who may ask where, what the server allows, what the
request may be, what it may cost. Front ends get domain views back (bot/domain.py), never a
store row; the parts behind this class are built in bot/service/wiring.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.catalogue import Catalogue, RequestRejected
from bot.config import Settings
from bot.domain import (
    AT_PROVIDER,
    MAX_PROMPT,
    CallbackOutcome,
    EffectiveLimits,
    FollowUpKind,
    GuildPolicy,
    JobDetails,
    JobKind,
    JobState,
    JobSummary,
    JobView,
    Limit,
    LimitReached,
    MemberUsage,
    Phase,
    PromptFlagged,
    PromptHelperUnavailable,
    PromptOffer,
    ProviderHealth,
    Requester,
    Upload,
    Usage,
    VideoRequest,
    check_guild_policy,
    day_bounds,
    new_ref,
    validate_request,
)
from bot.guardrails.access import guild_refusal, operator_refusal
from bot.i18n import N_, _, ngettext
from bot.jobs.providers import UnknownProviderError
from bot.media.images import ImageRejected, check_upload, fit_reference_off_loop
from bot.service import follow_ups
from bot.service.keys import Keys
from bot.service.links import LinkSigner, link_for
from bot.service.replies import ReplyOpener
from bot.store import JobRecord
from bot.store.jobs import StaleTransitionError
from bot.store.listing import jobs_page
from bot.videos import VideosError

if TYPE_CHECKING:  # built by the composition root, which imports this module
    from bot.service.wiring import Engine, FinishListener

log = logging.getLogger(__name__)

RESTARTING = N_("The bot is restarting. Try again in a minute.")
# A cancel's answer, and the job's end as stored (English) and shown on its card.
CANCELLED_MESSAGE = N_("Cancelled before it started; nothing was sent to the video service.")
STOPPED_MESSAGE = N_(
    "Stopped following this video. The video service may still finish (and bill) it, so it "
    "still counts against your limits; the bot will not post it."
)
UNKNOWN_JOB = N_("That video is unknown (it may belong to another bot).")
# Who may act on a job, per action (whole sentences: languages word each action their way).
FOLLOW_UP_OTHERS = N_(
    "Only the member who asked for this video, or a server admin, can follow it up."
)
DETAILS_OF_OTHERS = N_(
    "Only the member who asked for this video, or a server admin, can see its details."
)
DELETE_OTHERS = N_("Only the member who asked for this video, or a server admin, can delete it.")


class VideoService:
    """Validation, access rules, spend, queue and workflow behind a handful of calls."""

    def __init__(self, engine: Engine) -> None:
        # The parts, for tests and benchmarks; front ends use the methods below.
        self.engine = engine
        self._store = engine.store

    # -- what front ends may read ------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    @property
    def catalogue(self) -> Catalogue:
        return self.engine.catalogue

    @property
    def keys(self) -> Keys:
        """The team API's keys and Idempotency-Keys."""
        return self.engine.keys

    @property
    def link_signer(self) -> LinkSigner | None:
        """Signs and checks the links the web server serves (None: no links)."""
        return self.engine.retention.signer

    @property
    def accepting(self) -> bool:
        return not self.engine.closing

    @property
    def shared(self) -> bool:
        """Whether the jobs are shared with other processes (PostgreSQL)."""
        return self.engine.shared

    @property
    def lease_owner(self) -> str | None:
        """This process's name on the leases it holds (shared jobs only)."""
        return self.engine.dispatcher.owner

    @property
    def waiting(self) -> int:
        """Jobs in the queue (over every process when shared, as last counted)."""
        return self.engine.dispatcher.waiting

    @property
    def running(self) -> int:
        """Jobs this process runs now."""
        return self.engine.workflow.running

    @property
    def slots(self) -> int:
        return self.engine.dispatcher.max_running

    async def totals_by_state(self) -> dict[JobState, tuple[int, Decimal]]:
        return await self._store.totals_by_state()

    def on_finished(self, listener: FinishListener) -> None:
        """Call `listener` with every job that ends (its failures are only logged)."""
        self.engine.finish_listeners.append(listener)

    # -- who may ask where ---------------------------------------------------------------------

    async def check_access(self, requester: Requester, *, server_rules: bool = True) -> None:
        """Raise NotAllowed unless the operator's and the server's rules let the requester make
        videos where they ask. `server_rules=False`: the operator's allow-list only (the
        server's own settings commands, which its admins must reach when the bot is off)."""
        refusal = operator_refusal(self.engine.operator, requester.guild_id)
        if refusal is None and server_rules and requester.guild_id is not None:
            policy = await self.engine.guilds.get(requester.guild_id)
            refusal = guild_refusal(policy, requester)
        if refusal is not None:
            raise refusal

    async def _admissible(self, request: VideoRequest) -> None:
        """The access rules and what the server allows this request to be."""
        requester = request.requester
        await self.check_access(requester)
        if requester.guild_id is not None:
            check_guild_policy(await self.engine.guilds.get(requester.guild_id), request)

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
        metadata: str | None = None,
    ) -> JobView:
        """Check, reserve the cost, open the reply and queue the job.

        Raises RequestRejected (NotAllowed and LimitReached among them) with a reason for the
        requester before anything is reserved or sent. `bounded=False` is the operator's own
        terminal: no access rules, limits or backlog.
        """
        if self.engine.closing:
            raise RequestRejected(_(RESTARTING))
        request = await self._validated(
            requester,
            prompt,
            model=model,
            size=size,
            seconds=seconds,
            reference=reference,
            bounded=bounded,
        )
        fitted = None if reference is None else await self._fit(reference, request.size)
        # The operator's own terminal (`bounded=False`) is not checked: it is the operator's.
        spoiler = await self._screen(request, fitted) if bounded else None
        return await self._start(
            request, reply, fitted, bounded=bounded, metadata=metadata, spoiler=spoiler
        )

    async def _validated(
        self,
        requester: Requester,
        prompt: str,
        *,
        model: str | None,
        size: str | None,
        seconds: int | None,
        reference: Upload | None,
        bounded: bool = True,
    ) -> VideoRequest:
        """Every free check of a new request, in submit's order: the access rules, the
        catalogue, the reference image's kind and size, what the server allows."""
        if bounded:
            await self.check_access(requester)
        request = validate_request(
            self.catalogue,
            requester,
            prompt,
            model=model,
            size=size,
            seconds=seconds,
            today=self.today(),
        )
        if reference is not None:
            try:
                check_upload(reference.content_type, reference.size, reference.filename)
            except ImageRejected as exc:
                raise RequestRejected(str(exc)) from None
        if bounded and requester.guild_id is not None:
            check_guild_policy(await self.engine.guilds.get(requester.guild_id), request)
        return request

    # -- improving a prompt before spending ----------------------------------------------------

    @property
    def improves_prompts(self) -> bool:
        """Whether members may have a prompt rewritten before spending (a chat model is set)."""
        return self.engine.prompts is not None

    async def improve_prompt(
        self,
        requester: Requester,
        prompt: str,
        *,
        model: str | None = None,
        size: str | None = None,
        seconds: int | None = None,
        reference: Upload | None = None,
        max_length: int = MAX_PROMPT,
    ) -> PromptOffer:
        """A richer prompt for the member to choose, before anything is reserved or sent.

        The prompt is checked first exactly as `submit` checks it (access rules, catalogue,
        reference image, the server's rules, the moderation check); a refusal raises
        RequestRejected and asks nothing of the chat model. Then one of the member's rewrites
        of the day is counted, the chat model asked, and the rewrite checked the same way.
        Without a usable rewrite the offer says why (`problem`) and the member's own prompt
        stays usable. `max_length` is the longest prompt the front end can show and take back.
        """
        improver = self.engine.prompts
        if improver is None:
            raise RequestRejected(_("Improving prompts is not set up on this bot."))
        if self.engine.closing:
            raise RequestRejected(_(RESTARTING))
        request = await self._validated(
            requester, prompt, model=model, size=size, seconds=seconds, reference=reference
        )
        fitted = None if reference is None else await self._fit(reference, request.size)
        await self._screen(request, fitted)
        limit = min(max_length, MAX_PROMPT)
        offer = PromptOffer(
            original=request.prompt,
            rewrite=None,
            model=request.model,
            size=request.size,
            seconds=request.seconds,
            estimated_cost=request.estimated_cost,
            max_length=limit,
        )
        day = self.today().isoformat()
        daily = self.settings.prompt_daily
        if not await self.engine.rewrites.take(requester.user_id, day, daily):
            tomorrow = day_bounds(self.engine.clock())[1]
            # TRANSLATORS: {n} is how many improved prompts a member may ask for a day.
            used_up = ngettext(
                "You have used your {n} prompt improvement for today.",
                "You have used your {n} prompt improvements for today.",
                daily,
            )
            problem = LimitReached(used_up, tomorrow, limit=Limit.REWRITES)
            return replace(offer, problem=problem)
        try:
            rewrite = await improver.improve(request.prompt, seconds=request.seconds, limit=limit)
        except PromptHelperUnavailable as exc:
            await self.engine.rewrites.give_back(requester.user_id, day)
            return replace(offer, problem=exc)
        try:
            # Checked like any prompt, with the same model, size, length and image.
            checked = await self._validated(
                requester,
                rewrite,
                model=request.model,
                size=request.size,
                seconds=request.seconds,
                reference=reference,
            )
            await self._screen(checked, fitted)
        except RequestRejected as exc:
            log.info("a rewrite for user %d was refused: %s", requester.user_id, exc)
            return replace(offer, problem=exc)
        return replace(offer, rewrite=checked.prompt)

    async def _start(
        self,
        request: VideoRequest,
        reply: ReplyOpener,
        fitted: bytes | None,
        *,
        bounded: bool = True,
        source_id: str | None = None,
        metadata: str | None = None,
        provider: str | None = None,
        spoiler: str | None = None,
    ) -> JobView:
        """Reserve, open the reply and queue a request that passed every check."""
        engine = self.engine
        requester = request.requester
        now = engine.clock()
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
            api_key_id=None if requester.key is None else requester.key.id,
            metadata=metadata,
            provider=provider or request.spec.provider,
            spoiler=spoiler,
        )

        async def reserve(conn: AsyncConnection | None) -> None:
            # In the queue before the first await: the backlog counts it at once.
            engine.dispatcher.hold(record.id, record.requester_id, record.created_at)
            try:
                await self._store.add(record, conn=conn)
            except BaseException:
                engine.dispatcher.withdraw(record.id)
                raise

        await engine.gate.admit(request, reserve, bounded=bounded)
        view = engine.workflow.view(record)
        try:
            handle = await reply.open(view)
            await self._store.note(
                record.id, reply_kind=handle.kind, reply=handle.public, reply_secret=handle.secret
            )
        except BaseException:
            await engine.withdraw(record.id, "the reply could not be made")
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
        engine.dispatcher.ready(started)
        return view.evolve(queue_position=await engine.dispatcher.place(record.id))

    async def _screen(self, request: VideoRequest, image: bytes | None) -> str | None:
        """The moderation check of a request that passed every other rule, before anything is
        reserved: None, or the spoiler-only category its result goes behind. Raises
        PromptFlagged or ModerationUnavailable (bot/service/moderation.py)."""
        moderation = self.engine.moderation
        if moderation is None:
            return None
        guild_id = request.requester.guild_id
        policy = None if guild_id is None else await self.engine.guilds.get(guild_id)
        # Outside a server (a DM) the operator's settings apply as they are.
        mode = "operator" if policy is None else policy.moderation
        try:
            return await moderation.screen(request.prompt, image, mode=mode)
        except PromptFlagged as exc:
            log.info(
                "a request of user %d refused by moderation: %s",
                request.requester.user_id,
                ", ".join(exc.categories),
            )
            raise

    async def _fit(self, reference: Upload, size: str) -> bytes:
        try:
            data = await reference.read()
        except (asyncio.CancelledError, RequestRejected):
            raise
        except Exception:
            log.info("reading the reference image failed", exc_info=True)
            raise RequestRejected(_("The reference image could not be fetched.")) from None
        try:
            # Decoding and resizing is CPU work: off the event loop, so acknowledgements go on.
            fitted = await fit_reference_off_loop(data, size)
        except ImageRejected as exc:
            raise RequestRejected(str(exc)) from None
        return fitted.data

    # -- follow-ups: retry, remix, extend, details, delete ---------------------------------------

    async def follow_up(
        self,
        kind: FollowUpKind,
        source_id: str,
        requester: Requester,
        *,
        reply: ReplyOpener,
        prompt: str | None = None,
        seconds: int | None = None,
    ) -> JobView:
        """A new job from a finished one, through the same checks, limits, queue and workflow.

        `retry` asks for the same video again (with the same reference image while it is
        kept); `remix` changes the finished video with a new prompt; `extend` continues it by
        `seconds`. The requester of the follow-up pays for it. Raises RequestRejected.
        """
        if self.engine.closing:
            raise RequestRejected(_(RESTARTING))
        source = await self._own_job(source_id, requester, FOLLOW_UP_OTHERS)
        if kind == "retry" and source.kind in (JobKind.REMIX, JobKind.EXTEND):
            # A remix or an extension tried again is that remix or extension again.
            parent = await self._store.get(source.source_id or "")
            if parent is None:
                raise RequestRejected(_(follow_ups.SOURCE_UNKNOWN))
            kind = "remix" if source.kind == JobKind.REMIX else "extend"
            prompt, seconds, source = source.prompt, source.seconds, parent
        request = self._follow_up_request(kind, source, requester, prompt, seconds)
        await self._admissible(request)
        fitted = await self._store.reference(source.id) if kind == "retry" else None
        spoiler = await self._screen(request, fitted)  # the follow-up's own prompt
        # A remix or extension goes to the provider that made its source, never elsewhere.
        provider = None if kind == "retry" else source.provider
        return await self._start(
            request, reply, fitted, source_id=source.id, provider=provider, spoiler=spoiler
        )

    def _follow_up_request(
        self,
        kind: FollowUpKind,
        source: JobRecord,
        requester: Requester,
        prompt: str | None,
        seconds: int | None,
    ) -> VideoRequest:
        if kind == "retry":
            return follow_ups.retry(self.catalogue, source, requester)
        return follow_ups.continuation(
            self.catalogue,
            kind,
            source,
            requester,
            prompt=prompt,
            seconds=seconds,
            now=self.engine.clock(),
        )

    async def check_follow_up(
        self, kind: FollowUpKind, source_id: str, requester: Requester
    ) -> JobSummary:
        """The source of a follow-up, once it is known it may be asked for (a front end's
        form opens only then); raises RequestRejected, SourceGone when it expired."""
        source = await self._own_job(source_id, requester, FOLLOW_UP_OTHERS)
        request = self._follow_up_request(kind, source, requester, None, None)
        await self._admissible(request)
        return source.summary()

    async def details(self, job_id: str, requester: Requester) -> JobDetails:
        """A job and the jobs it came from (newest first); raises RequestRejected unless the
        job is the requester's (or they manage its server)."""
        record = await self._own_job(job_id, requester, DETAILS_OF_OTHERS)
        lineage = await follow_ups.lineage(self._store, record)
        return JobDetails(record.summary(), tuple(r.summary() for r in lineage))

    async def delete(self, job_id: str, requester: Requester) -> str:
        """Delete a finished video: its files here and the provider's copy where the provider
        deletes; the job stays in the history as deleted. Returns what happened."""
        engine = self.engine
        record = await self._own_job(job_id, requester, DELETE_OTHERS)
        # DELIVERING: the video is in the reply, the state is being recorded this moment.
        if not record.state.is_final and record.state is not JobState.DELIVERING:
            raise RequestRejected(_("This video is still being made; stop it first."))
        if record.deleted_at is not None:
            return _("This video was already deleted.")
        await self._store.note(record.id, deleted_at=engine.clock())
        engine.files.remove(record.id)
        done = _("Deleted.")
        try:
            deletes = self.catalogue.get(record.model).delete
        except RequestRejected:
            deletes = False
        if record.provider_video_id is not None and deletes:
            try:
                await engine.providers.client(record.provider).delete(record.provider_video_id)
            except (VideosError, UnknownProviderError) as exc:
                log.info("job %s: the provider did not delete its copy: %s", record.id, exc)
                done = _("Deleted. The video service kept its own copy (it expires on its own).")
            else:
                done = _("Deleted. The video service's copy was deleted too.")
        log.info("job %s deleted by user %d", record.id, requester.user_id)
        return done

    async def _own_job(self, job_id: str, requester: Requester, others: str) -> JobRecord:
        """The requester's job (or one of their server's, for its admins); `others` is the
        refusal (an N_ message) for anyone else."""
        record = await self._store.get(job_id)
        if record is None:
            raise RequestRejected(_(UNKNOWN_JOB))
        if not _may_act_on(requester, record):
            raise RequestRejected(_(others))
        return record

    # -- cancel / stop following --------------------------------------------------------------

    async def cancel(self, job_id: str, requester: Requester) -> str:
        """Cancel a waiting job, or stop following one the provider has; returns what happened.

        The state change is a guarded transition made first; only when it succeeded is the
        job's task stopped, so a job that moved on meanwhile is never left without one.
        """
        engine = self.engine
        record = await self._store.get(job_id)
        if record is None:
            return _("That job is unknown.")
        if not _may_act_on(requester, record):
            return _("Only the member who asked for this video, or a server admin, can do that.")
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
                engine.dispatcher.withdraw(job_id)
                await self._tell_ended(record, JobState.CANCELLED, CANCELLED_MESSAGE)
                return _(CANCELLED_MESSAGE)
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
                sink = engine.sink_of(job_id)
                running_here = engine.workflow.is_running(job_id)
                await engine.workflow.stop(job_id)  # its end is announced as the task ends
                engine.dispatcher.stop_elsewhere(job_id)  # if another process runs it
                if not running_here:
                    engine.announce(job_id)  # the process running it lets go quietly
                engine.files.remove(job_id)
                view = self._ended_view(record, JobState.ABANDONED, STOPPED_MESSAGE)
                await engine.replies.tell_ended(record, view, sink)
                return _(STOPPED_MESSAGE)
        if record.state.is_final:
            return _("That video is already finished.")
        return _("That video is already done and being posted.")

    async def _tell_ended(self, record: JobRecord, state: JobState, message: str) -> None:
        view = self._ended_view(record, state, message)
        await self.engine.replies.tell_ended(record, view)

    def _ended_view(self, record: JobRecord, state: JobState, message: str) -> JobView:
        return self.engine.workflow.view(record).evolve(
            phase=Phase.FAILED, state=state, error=message, queue_position=None
        )

    # -- rules and usage ----------------------------------------------------------------------

    async def policy(self, guild_id: int | None) -> GuildPolicy:
        return await self.engine.gate.policy(guild_id)

    async def change_policy(
        self, guild_id: int, change: Callable[[GuildPolicy], GuildPolicy]
    ) -> tuple[GuildPolicy, GuildPolicy]:
        """Apply `change` to a server's rules in one transaction, so two admins changing them
        at once (in any process) both keep their change; returns (before, after)."""
        engine = self.engine
        before, after = await engine.guilds.update(guild_id, change)
        if after != before:
            engine.dispatcher.policy_changed(guild_id)  # other processes cached the old rules
        return before, after

    async def limits(self, guild_id: int | None) -> EffectiveLimits:
        """The limits a member runs under here; outside a server (a DM, a group DM), the
        operator's: a member's use there counts against the same daily limits."""
        return await self.engine.gate.limits(guild_id)

    async def usage(
        self, *, since: float, user_id: int | None = None, guild_id: int | None = None
    ) -> Usage:
        return await self.engine.usage.usage(since=since, user_id=user_id, guild_id=guild_id)

    async def settled_totals(self) -> tuple[Decimal, Decimal]:
        """(estimates, bills) of every job whose provider reported its bill (for /metrics)."""
        usage = await self.engine.usage.usage(since=0.0)
        return usage.estimated_settled, usage.billed_settled

    async def usage_by_member(self, *, guild_id: int, since: float) -> list[MemberUsage]:
        return await self.engine.usage.by_member(guild_id=guild_id, since=since)

    # -- jobs as front ends see them -----------------------------------------------------------

    async def job(self, job_id: str) -> JobSummary | None:
        record = await self._store.get(job_id)
        return None if record is None else record.summary()

    async def recent_jobs(self, user_id: int, limit: int = 10) -> list[JobSummary]:
        return [r.summary() for r in await self._store.recent_for(user_id, limit=limit)]

    async def jobs_page(
        self,
        requester_id: int,
        *,
        after: str | None,
        limit: int,
        order: Literal["asc", "desc"],
    ) -> tuple[list[JobSummary], bool]:
        """Up to `limit` of one requester's jobs after the job `after`, and whether more follow
        (a cursor that is not the requester's job starts from the beginning)."""
        cursor = await self._store.get(after) if after else None
        if cursor is not None and cursor.requester_id != requester_id:
            cursor = None
        records, more = await jobs_page(
            self.engine.database, requester_id, after=cursor, limit=limit, order=order
        )
        return [r.summary() for r in records], more

    def original_file(self, job_id: str) -> Path | None:
        """The kept original of a job (what a signed link serves), or None once it is gone."""
        return self.engine.retention.original_file(job_id)

    def thumbnail_file(self, job_id: str) -> Path | None:
        return self.engine.retention.thumbnail_file(job_id)

    def original_link(self, job: JobSummary) -> str | None:
        """A signed link to a finished job's kept original, while it is kept and the bot's web
        server is public (None otherwise): how a member reaches a video whose reply could not
        be posted (a DM refused, the reply deleted)."""
        settings = self.settings
        signer = self.link_signer
        if signer is None or settings.public_url is None or self.original_file(job.id) is None:
            return None
        kept_until = (job.finished_at or self.engine.clock()) + settings.keep_days * 86400
        return link_for(settings.public_url, signer, job.id, int(kept_until))

    async def reference_image(self, job_id: str) -> bytes | None:
        """A job's fitted reference image (what a reference link serves)."""
        return await self.engine.retention.reference_image(job_id)

    # -- providers ---------------------------------------------------------------------------

    def today(self) -> date:
        """The day by the service's clock (UTC): retirements are dated."""
        return datetime.fromtimestamp(self.engine.clock(), tz=UTC).date()

    def provider_health(self) -> list[ProviderHealth]:
        """Every provider some model uses, and whether its circuit breaker skips it now."""
        return self.engine.providers.health()

    def retirement_notes(self) -> list[str]:
        """A line per model that retires within 14 days or has retired, naming its successor
        ("veo-3.1-preview retires on 2026-10-22 (in 5 days); its successor is veo-3.1")."""
        today = self.today()
        notes = (spec.retirement_note(today) for spec, _ in self.catalogue.retiring(today))
        return [note for note in notes if note is not None]

    def callback_secret(self, provider: str) -> tuple[str, SecretStr] | None:
        """(dialect, webhook secret) of a provider that calls back; None for any other name."""
        if provider not in self.engine.providers:
            return None
        found = self.engine.provider_settings.get(provider)
        if found is None or found.webhook_secret is None:
            return None
        return found.dialect, found.webhook_secret

    async def first_time_event(self, provider: str, event_id: str) -> bool:
        """Record a provider's callback by its id; False when it was seen before (a replay,
        or the provider's own retry of one already acted on)."""
        return await self.engine.provider_events.first_time(provider, event_id, self.engine.clock())

    async def provider_event(self, provider: str, video_id: str) -> CallbackOutcome:
        """A verified callback says a provider's video moved on: wake whichever process
        follows its job to read the status now (the read is the truth, not the callback)."""
        record = await self._store.by_provider_video(provider, video_id)
        if record is None:
            return CallbackOutcome.UNKNOWN_JOB
        if record.state.is_final or record.state not in AT_PROVIDER:
            return CallbackOutcome.ENDED
        self.engine.nudge(record.id)
        return CallbackOutcome.MOVED

    async def store_answers(self, within: float = 3.0) -> bool:
        """Whether the store answers a read and a write within `within` seconds (health)."""
        return await self.engine.store_answers(within)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, *, resume: bool = True, spread: float | None = None) -> int:
        """Resume the unfinished jobs this process runs, then start the queue and the janitor;
        returns how many jobs were resumed."""
        return await self.engine.start(resume=resume, spread=spread)

    async def close(self, grace: float = 5.0) -> None:
        """Stop taking jobs, give in-flight steps a moment, then stop; states are stored."""
        await self.engine.close(grace)

    async def tidy(self) -> int:
        """Remove what no job needs any more (the janitor's round, run now)."""
        engine = self.engine
        return await engine.retention.tidy(engine.withdraw, engine.replies.live())


def _may_act_on(requester: Requester, record: JobRecord) -> bool:
    """A job is its requester's; a server's admins may act on the jobs made in their server."""
    if record.requester_id == requester.user_id:
        return True
    return requester.manages_guild and requester.guild_id == record.guild_id
