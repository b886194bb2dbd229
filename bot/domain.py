"""The engine's vocabulary, in one module every layer may import (it imports none of them).

Requests, the rules they run under, the persisted job states with the one billing rule, what a
front end is shown, and the opaque handle a front end uses to find its reply again. The layers
sit on top of this in one direction: store → guardrails → jobs → service → front ends.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from bot import i18n
from bot.catalogue import Catalogue, ModelSpec, RequestRejected
from bot.i18n import N_, _
from bot.videos import FAILURE_TEMPLATES, CreateRequest, FailureKind, ReferenceImage

MAX_PROMPT = 32000


def new_ref() -> str:
    """A job id (or an error's reference) that users quote and operators find in the log; 64
    random bits never collide in a bot's lifetime (8 hex characters did, at 10,000 jobs)."""
    return secrets.token_hex(8)


def day_bounds(now: float) -> tuple[float, float]:
    """Start of today and of tomorrow, UTC, as Unix seconds (limits reset at midnight UTC)."""
    today = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).date()
    start = datetime.datetime.combine(today, datetime.time(), tzinfo=datetime.UTC)
    return start.timestamp(), (start + datetime.timedelta(days=1)).timestamp()


# -- who asks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiKey:
    """A key the bot issued to a team's scripts (`video-bot api-key create`), without the key
    itself: only its hash is ever stored. Its jobs are asked for by its own member id."""

    id: str
    name: str
    guild_id: int
    channels: tuple[int, ...]
    daily_budget: Decimal | None
    member_id: int
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    def __repr__(self) -> str:
        return (
            f"ApiKey(id={self.id!r}, name={self.name!r}, guild_id={self.guild_id},"
            f" revoked={self.revoked_at is not None})"
        )

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


# The events a key's webhook endpoints may ask for: how each of its jobs ended.
WEBHOOK_EVENT_TYPES: tuple[str, ...] = ("video.completed", "video.failed")


@dataclass(frozen=True)
class WebhookEndpoint:
    """A URL of a key's that hears about the key's videos (the SDK's `client.webhooks`): the
    events it asked for, and the `whsec_...` secret they are signed with. The secret is kept
    to sign, and shown to the key only when the endpoint is made or its secret rotated."""

    id: str
    key_id: str
    name: str
    url: str
    event_types: tuple[str, ...]
    secret: str
    created_at: float
    updated_at: float
    # A rotation that kept the old secret for a day: until then, events are signed by both.
    previous_secret: str | None = None
    previous_secret_until: float | None = None

    def __repr__(self) -> str:  # the secrets (and the URL, which may hold a token) never
        return f"WebhookEndpoint(id={self.id!r}, key_id={self.key_id!r}, name={self.name!r})"

    def signing_secrets(self, now: float) -> tuple[str, ...]:
        """The secrets an event sent at `now` is signed with: the current one first."""
        until = self.previous_secret_until
        if self.previous_secret and until is not None and now < until:
            return (self.secret, self.previous_secret)
        return (self.secret,)

    @property
    def secret_hint(self) -> str:
        """The secret's last characters, for a script to tell which one it holds."""
        return f"whsec_****{self.secret[-4:]}"


@dataclass(frozen=True)
class Requester:
    """Who asks, and where: a member (or an API key's own member id) in a guild (None for the
    operator's terminal), with what the front end knows of the place and the member.

    Every way in (command, button, modal, context menu, API key) gives the service the same
    facts, so every one passes the same rules (bot/guardrails/access.py).
    """

    user_id: int
    guild_id: int | None
    # The channel asked from, plus its parents (a thread's channel, a channel's category).
    channel_ids: frozenset[int] = field(default_factory=frozenset)
    role_ids: frozenset[int] = field(default_factory=frozenset)
    manages_guild: bool = False
    key: ApiKey | None = None  # asked through the team API with this key
    # The channel asked from is age-restricted (Discord's "NSFW" flag): a server may allow
    # videos only there.
    age_restricted: bool = False


OPERATOR = Requester(user_id=0, guild_id=None)

FollowUpKind = Literal["retry", "remix", "extend"]


@dataclass(frozen=True)
class Upload:
    """A reference image as a front end received it: checked before its bytes are read."""

    content_type: str | None
    size: int
    filename: str
    read: Callable[[], Awaitable[bytes]]


class JobKind(StrEnum):
    """How a job makes its video."""

    GENERATE = "generate"  # from a prompt (and a reference image): /video, Retry
    REMIX = "remix"  # a finished video changed by a new prompt
    EXTEND = "extend"  # a finished video continued for more seconds


@dataclass(frozen=True)
class VideoRequest:
    """A request that passed validation: safe to send to the provider.

    A remix or an extension names the provider's video it starts from; an extension's
    `seconds` are the seconds it adds (what is billed).
    """

    prompt: str
    spec: ModelSpec
    size: str
    seconds: int
    requester: Requester
    reference: ReferenceImage | None = None
    kind: JobKind = JobKind.GENERATE
    source_video_id: str | None = None
    reference_url: str | None = None  # the reference on the bot's web server, for JSON creates

    @property
    def model(self) -> str:
        return self.spec.name

    @property
    def estimated_cost(self) -> Decimal:
        return self.spec.estimated_cost(self.size, self.seconds)

    def with_reference(self, reference: ReferenceImage | None) -> VideoRequest:
        return replace(self, reference=reference)

    def create_request(self) -> CreateRequest:
        """Exactly the fields the operator's catalogue says this server takes (for a remix or
        an extension: what the job it makes will look like, to recognise it in a listing)."""
        send_seconds = self.spec.send_seconds and self.kind is not JobKind.EXTEND
        return CreateRequest(
            prompt=self.prompt,
            model=self.spec.wire_model,
            size=self.size if self.spec.send_size else None,
            seconds=self.spec.seconds_on_wire(self.seconds) if send_seconds else None,
            reference=None if self.reference_url is not None else self.reference,
            reference_url=self.reference_url,
            size_as=self.spec.size_field,
        )


class SourceGone(RequestRejected):
    """The provider's copy of a source video has expired: only a Retry can help."""


def validate_request(
    catalogue: Catalogue,
    requester: Requester,
    prompt: str,
    *,
    model: str | None = None,
    size: str | None = None,
    seconds: int | None = None,
    today: datetime.date | None = None,
) -> VideoRequest:
    """Check everything that can be checked without the provider; raise RequestRejected.

    With `today`, a model past its retirement is refused, naming its successor."""
    text = prompt.strip()
    if not text:
        raise RequestRejected(_("The prompt is empty. Describe the video you want."))
    if len(text) > MAX_PROMPT:
        raise RequestRejected(
            _(
                "The prompt is too long ({length} characters; {limit} max).",
                length=i18n.number(len(text)),
                limit=i18n.number(MAX_PROMPT),
            )
        )
    spec, chosen_size, chosen_seconds = catalogue.resolve(model, size, seconds, today=today)
    return VideoRequest(text, spec, chosen_size, chosen_seconds, requester)


# -- rules --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuildPolicy:
    """What a guild's admins set; None or empty means "no restriction" / "operator default"."""

    enabled: bool = True
    channels: frozenset[int] = field(default_factory=frozenset)  # empty: every channel
    roles: frozenset[int] = field(default_factory=frozenset)  # empty: every member
    models: frozenset[str] = field(default_factory=frozenset)  # empty: the whole catalogue
    max_seconds: int | None = None
    user_daily_count: int | None = None
    user_daily_budget: Decimal | None = None
    guild_daily_budget: Decimal | None = None
    # The prompt check before spending: "operator" (the operator's settings), "off" (not here)
    # or "strict" (the operator's spoiler-only categories refuse too).
    moderation: str = "operator"
    # Results behind a spoiler: "all", "flagged" (the provider marked it, or its prompt fell in
    # a spoiler-only category) or "off".
    spoilers: str = "flagged"
    # `/video` only in age-restricted channels.
    age_restricted_only: bool = False
    # Where one line per refusal and flagged result goes; None: nowhere.
    mod_log_channel: int | None = None
    # The result card's style, "v2" (Components V2) or "classic" (embeds); None: the operator's.
    card: str | None = None
    # The language of the server's public cards and mod-log lines, a Discord locale ("de",
    # "ja", …); None: the server's own Discord language. Private answers follow each member.
    language: str | None = None

    def evolve(self, **changes: Any) -> GuildPolicy:
        return replace(self, **changes)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("channels", "roles", "models"):
            data[key] = sorted(data[key])
        for key in ("user_daily_budget", "guild_daily_budget"):
            data[key] = None if data[key] is None else str(data[key])
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GuildPolicy:
        data = json.loads(text)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("channels", "roles"):
            known[key] = frozenset(int(v) for v in known.get(key, []))
        known["models"] = frozenset(str(v) for v in known.get("models", []))
        for key in ("user_daily_budget", "guild_daily_budget"):
            if known.get(key) is not None:
                known[key] = Decimal(known[key])
        return cls(**known)


@dataclass(frozen=True)
class OperatorLimits:
    """Operator-wide rules from configuration; guild settings can only tighten them."""

    allowed_guilds: frozenset[int] = field(default_factory=frozenset)  # empty: any guild
    user_daily_count: int | None = None
    user_daily_budget: Decimal | None = None
    guild_daily_budget: Decimal | None = None
    daily_budget: Decimal | None = None  # across every guild
    max_running: int = 50  # jobs at the provider at once
    max_per_user: int = 2  # one member's jobs at the provider at once (the rest wait)
    max_queued: int = 10_000  # jobs waiting for a slot, everyone together
    max_queued_per_user: int = 5  # one member's jobs waiting for a slot


@dataclass(frozen=True)
class EffectiveLimits:
    """The limits that apply to one request: the tighter of guild and operator."""

    user_daily_count: int | None
    user_daily_budget: Decimal | None
    guild_daily_budget: Decimal | None
    daily_budget: Decimal | None

    @property
    def any(self) -> bool:
        return any(
            value is not None
            for value in (
                self.user_daily_count,
                self.user_daily_budget,
                self.guild_daily_budget,
                self.daily_budget,
            )
        )


NO_LIMITS = EffectiveLimits(None, None, None, None)

_Limit = TypeVar("_Limit", int, Decimal)


def _tighter(a: _Limit | None, b: _Limit | None) -> _Limit | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def effective_limits(policy: GuildPolicy, operator: OperatorLimits) -> EffectiveLimits:
    return EffectiveLimits(
        user_daily_count=_tighter(policy.user_daily_count, operator.user_daily_count),
        user_daily_budget=_tighter(policy.user_daily_budget, operator.user_daily_budget),
        guild_daily_budget=_tighter(policy.guild_daily_budget, operator.guild_daily_budget),
        daily_budget=operator.daily_budget,
    )


def check_guild_policy(policy: GuildPolicy, request: VideoRequest) -> None:
    """Raise RequestRejected when the guild's admins do not allow this model or duration."""
    if policy.models and request.model not in policy.models:
        allowed = ", ".join(sorted(policy.models))
        # TRANSLATORS: {models} is a list of model names.
        raise RequestRejected(_("This server allows only these models: {models}.", models=allowed))
    if policy.max_seconds is not None and request.seconds > policy.max_seconds:
        raise RequestRejected(
            _(
                "This server allows videos of up to {seconds} s.",
                seconds=i18n.number(policy.max_seconds),
            )
        )


class Limit(StrEnum):
    """Which limit a refused request ran into."""

    QUEUE = "queue"  # the bot's backlog, or the member's share of it
    MEMBER_COUNT = "member_count"
    MEMBER_BUDGET = "member_budget"
    GUILD_BUDGET = "guild_budget"
    DAILY_BUDGET = "daily_budget"  # the operator's, across every server
    KEY_BUDGET = "key_budget"  # an API key's own daily budget
    REWRITES = "rewrites"  # a member's prompt improvements of the day (nothing is spent)


class LimitReached(RequestRejected):
    """A request would exceed a limit; the text says which and what is used.

    `resets_at` (Unix seconds) is when the limit resets, if it does; each front end writes that
    time its own way (a Discord timestamp, an ISO date), so it is not part of the text.
    """

    def __init__(self, text: str, resets_at: float | None = None, *, limit: Limit) -> None:
        super().__init__(text)
        self.resets_at = resets_at
        self.limit = limit


class Refusal(StrEnum):
    """Why a requester may not make videos where they asked."""

    OTHER_SERVER = "other_server"  # the operator does not allow this server
    NOT_IN_SERVER = "not_in_server"  # the operator allows servers only (a DM)
    TURNED_OFF = "turned_off"  # the server's admins turned the bot off
    CHANNEL = "channel"  # not one of the server's channels for videos
    ROLE = "role"  # the member holds none of the server's roles for videos
    AGE_RESTRICTED = "age_restricted"  # the server allows videos in age-restricted channels only


_REFUSALS = {
    Refusal.OTHER_SERVER: N_("This bot is not available in this server."),
    Refusal.NOT_IN_SERVER: N_("This bot works only in the servers its operator allows."),
    Refusal.TURNED_OFF: N_("The video bot is turned off in this server."),
    Refusal.CHANNEL: N_("Videos cannot be made in this channel."),
    Refusal.ROLE: N_("Videos in this server are for members with certain roles only."),
    Refusal.AGE_RESTRICTED: N_(
        "In this server, videos can be made in age-restricted channels only."
    ),
}


class NotAllowed(RequestRejected):
    """The operator's or the server's rules refuse this requester here.

    The reason is data (`refusal`, and the channels or roles that would do); each front end
    words it its own way (Discord mentions, plain text for the API). `str()` is a plain default.
    """

    def __init__(
        self,
        refusal: Refusal,
        *,
        channels: frozenset[int] = frozenset(),
        roles: frozenset[int] = frozenset(),
        can_enable: bool = False,
    ) -> None:
        super().__init__(_(_REFUSALS[refusal]))
        self.refusal = refusal
        self.channels = channels
        self.roles = roles
        self.can_enable = can_enable


# What a moderation category is called in a refusal, where its own name does not read as words
# ("sexual", "illicit"); a subcategory ("self-harm/intent", "violence/graphic") goes by its
# category's name, except where that would hide what it is.
# The other categories of OpenAI's moderation model are listed with their own name, so that
# they are translated too; a category no list knows is shown as the server named it.
_PLAIN_CATEGORIES = {
    # TRANSLATORS: moderation categories, shown as "This prompt was flagged for: violence."
    "sexual": N_("sexual content"),
    "sexual/minors": N_("sexual content involving minors"),
    "illicit": N_("illicit activity"),
    "harassment": N_("harassment"),
    "hate": N_("hate"),
    "self-harm": N_("self-harm"),
    "violence": N_("violence"),
}


def plain_category(category: str) -> str:
    """A moderation category in plain words, in the reader's language: "self-harm/intent" is
    "self-harm"."""
    known = _PLAIN_CATEGORIES.get(category)
    if known is not None:
        return _(known)
    main = category.partition("/")[0]
    known = _PLAIN_CATEGORIES.get(main)
    return _(known) if known is not None else main.replace("_", " ")


class PromptFlagged(RequestRejected):
    """The moderation check flagged the prompt (or its reference image) in categories that
    refuse it here; nothing was reserved or sent.

    `categories` are the moderation server's own names ("violence", "self-harm/intent"), for
    a front end's log of refusals; `str()` names them in plain words, once each.
    """

    def __init__(self, categories: tuple[str, ...]) -> None:
        plain = tuple(dict.fromkeys(plain_category(c) for c in categories))
        # TRANSLATORS: {categories} is a list of moderation categories ("violence, hate").
        super().__init__(
            _("This prompt was flagged for: {categories}.", categories=", ".join(plain))
        )
        self.categories = categories
        self.plain = plain


class ModerationUnavailable(RequestRejected):
    """The moderation check could not be made and the operator refuses unchecked prompts
    (`VIDEO_BOT_MODERATION_FAIL=closed`); nothing was reserved or sent."""

    def __init__(self) -> None:
        super().__init__(_("The safety check is unavailable right now; try again later."))


# -- improving a prompt before spending -----------------------------------------------------------


class PromptHelperUnavailable(Exception):  # noqa: N818 - a verdict on the helper, not a crash
    """The chat server that improves prompts gave no usable rewrite (down, an error, a timeout,
    an empty answer); the member's own prompt stays usable. `str()` is for the log."""


@dataclass(frozen=True)
class PromptOffer:
    """A prompt checked like a request (nothing reserved or sent) and its rewrite, for the
    member to choose from: the rewrite, their own, or nothing.

    `rewrite` is None when there is none to offer; `problem` says why: PromptHelperUnavailable,
    LimitReached (the member's rewrites of the day are used up) or the RequestRejected the
    rewrite met (the moderation check flagged it). The estimate is the same for either prompt.
    """

    original: str
    rewrite: str | None
    model: str
    size: str
    seconds: int
    estimated_cost: Decimal
    max_length: int  # the longest prompt the member may send (an edited rewrite included)
    problem: Exception | None = None


# -- jobs ---------------------------------------------------------------------------------------


class JobState(StrEnum):
    """A job's persisted state; see bot/jobs/workflow.py for the step that leaves each one."""

    ACCEPTED = "accepted"  # stored and reserved; nothing sent to the provider yet
    SUBMITTING = "submitting"  # the create may have been sent: never send it again blindly
    SUBMITTED = "submitted"  # the provider gave us its id
    RUNNING = "running"
    DOWNLOADING = "downloading"
    DELIVERING = "delivering"  # the upload may have happened: read the reply back first
    # Final states.
    DELIVERED = "delivered"
    UNDELIVERABLE = "undeliverable"  # made and fetched, but the reply is gone: file kept
    FAILED = "failed"  # the provider said so (or never received the request)
    REFUSED = "refused"  # the provider refused the prompt
    CANCELLED = "cancelled"  # withdrawn before anything reached the provider
    ABANDONED = "abandoned"  # the member stopped following it; the provider may finish it
    TIMED_OUT = "timed_out"  # not finished by the deadline; the provider may finish it
    LOST = "lost"  # the provider forgot the job
    EXPIRED = "expired"  # made, but the file could not be fetched (link expired, unavailable)
    UNKNOWN = "unknown"  # the create was never confirmed nor found

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        JobState.DELIVERED,
        JobState.UNDELIVERABLE,
        JobState.FAILED,
        JobState.REFUSED,
        JobState.CANCELLED,
        JobState.ABANDONED,
        JobState.TIMED_OUT,
        JobState.LOST,
        JobState.EXPIRED,
        JobState.UNKNOWN,
    }
)
UNFINISHED_STATES = frozenset(set(JobState) - FINAL_STATES)
# The provider may hold a job in these states: a cancel is "stop following", not a withdrawal.
AT_PROVIDER = frozenset({JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING})


class Billing(StrEnum):
    """What a job counts as against the limits and in the usage reports."""

    RESERVED = "reserved"  # still in flight: counts, as what it is expected to cost
    CHARGED = "charged"  # the provider made it, or may have: counts
    UNKNOWN = "unknown"  # a create that may have reached the provider, never confirmed: counts
    REFUNDED = "refunded"  # never reached the provider, or the provider reported it failed


# Money is what the provider may bill. Refunds only for requests that provably never reached the
# provider (cancelled while queued; a create the provider rejected or, after a lost answer, that
# its job list shows it never made) and for jobs the provider itself reported failed or refused
# (OpenAI did not bill those). Everything else counts, including jobs the bot stopped waiting for.
REFUNDED_STATES = frozenset({JobState.FAILED, JobState.REFUSED, JobState.CANCELLED})


def billing(
    state: JobState, provider_video_id: str | None, billed_cost: str | None = None
) -> Billing:
    """The one billing rule (the usage queries in bot/store/usage.py mirror it in SQL).

    A refusal is refunded unless the provider billed it (a bill recorded on the job: a video
    made and then withheld by the provider's safety filter)."""
    if state is JobState.REFUSED and billed_cost is not None:
        return Billing.CHARGED
    if state in REFUNDED_STATES:
        return Billing.REFUNDED
    if not state.is_final:
        return Billing.RESERVED
    if state is JobState.UNKNOWN or (state is JobState.ABANDONED and provider_video_id is None):
        return Billing.UNKNOWN
    return Billing.CHARGED


@dataclass(frozen=True)
class Attempt:
    """One model's try at a job that then fell back to the next model in its chain."""

    model: str
    provider: str
    failure_kind: FailureKind
    cost: str  # the attempt's own reservation (refunded: it never started or the provider failed)
    error: str | None = None
    provider_video_id: str | None = None
    ended_at: float = 0.0


class CallbackOutcome(StrEnum):
    """What a verified provider callback did (counted per provider on /metrics)."""

    MOVED = "moved"  # the job's owner was woken to read its status now
    ENDED = "ended"  # the job had already ended: nothing to do
    UNKNOWN_JOB = "unknown_job"  # no job of this provider has that video id


@dataclass(frozen=True)
class ProviderHealth:
    """One provider as /healthz and doctor report it."""

    name: str
    dialect: str
    base_url: str
    # Set while the circuit breaker skips the provider (Unix seconds).
    down_until: float | None = None
    consecutive_failures: int = 0
    calls_back: bool = False

    @property
    def down(self) -> bool:
        return self.down_until is not None


@dataclass(frozen=True)
class Usage:
    """Videos, seconds and estimated cost over a period, split the way billing() splits them.

    `videos`, `seconds` and `cost` are what counts against the limits (reserved, charged and
    unknown together); refunded jobs are reported apart.
    """

    videos: int = 0
    seconds: int = 0
    cost: Decimal = Decimal(0)
    charged: Decimal = Decimal(0)
    reserved: Decimal = Decimal(0)
    unknown: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    refunded_videos: int = 0
    # Jobs whose provider reported what it billed: their estimates, and the bills. `cost` and
    # the buckets above already count the bill for them.
    estimated_settled: Decimal = Decimal(0)
    billed_settled: Decimal = Decimal(0)
    # Jobs the provider refused for their content: the prompt or image, or what it made.
    refused_input: int = 0
    refused_output: int = 0


@dataclass(frozen=True)
class MemberUsage:
    user_id: int
    usage: Usage


@dataclass(frozen=True)
class JobSummary:
    """One job as front ends list and report it (`/videos`, Details, the team API, `video-bot
    jobs`): what was asked, where it stands, what it came from. Never the reply's secret nor
    the reference image's bytes."""

    id: str
    state: JobState
    prompt: str
    model: str
    size: str
    seconds: int
    cost: str
    requester_id: int
    guild_id: int | None
    created_at: float
    kind: JobKind = JobKind.GENERATE
    source_id: str | None = None  # the job this one was retried, remixed or extended from
    provider_video_id: str | None = None
    progress: int | None = None
    video_expires_at: float | None = None  # the provider's copy, for remixes and extensions
    finished_at: float | None = None
    last_error: str | None = None
    deleted_at: float | None = None
    api_key_id: str | None = None
    metadata: str | None = None  # the team API's metadata, as JSON
    reply: ReplyHandle | None = None  # without its secret: where the reply is
    original_kept: bool = False  # the original file is still on the bot's host
    provider: str = "default"  # the catalogue's provider of `model`
    billed_cost: str | None = None  # what the provider reported it billed, when it did
    failure_kind: FailureKind | None = None  # why it ended without a video, when it did
    attempts: tuple[Attempt, ...] = ()  # earlier models tried, oldest first (fallbacks)
    # Why the result goes behind a spoiler (a moderation category, "server", "provider").
    spoiler: str | None = None

    @property
    def counted_cost(self) -> str:
        """The money the job counts as: the bill where known, else the estimate."""
        return self.billed_cost if self.billed_cost is not None else self.cost

    @property
    def delivered(self) -> bool:
        return self.state in (JobState.DELIVERED, JobState.UNDELIVERABLE)


@dataclass(frozen=True)
class JobDetails:
    """A job and its lineage: the jobs it was retried, remixed or extended from, newest first."""

    job: JobSummary
    lineage: tuple[JobSummary, ...]


# -- replies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplyHandle:
    """Where a front end's reply lives, opaque to the engine.

    `public` says where the reply is (a Discord channel and message, a terminal's output file)
    and may be logged or listed; `secret` holds what must never be (an interaction token): the
    engine stores it apart, never logs it, and clears it when the job ends.
    """

    kind: str  # which front end made it: "discord", "terminal", ...
    public: str
    secret: str | None = None

    def __repr__(self) -> str:
        shown = "***" if self.secret else None
        return f"ReplyHandle(kind={self.kind!r}, public={self.public!r}, secret={shown})"


class Phase(StrEnum):
    """Where a job is, from the requester's point of view."""

    WAITING = "waiting"  # for a free slot in the bot's own queue
    SUBMITTING = "submitting"
    QUEUED = "queued"  # at the provider
    RUNNING = "running"
    DOWNLOADING = "downloading"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (Phase.DELIVERED, Phase.FAILED)


STATE_PHASE = {
    JobState.ACCEPTED: Phase.WAITING,
    JobState.SUBMITTING: Phase.SUBMITTING,
    JobState.SUBMITTED: Phase.QUEUED,
    JobState.RUNNING: Phase.RUNNING,
    JobState.DOWNLOADING: Phase.DOWNLOADING,
    JobState.DELIVERING: Phase.DELIVERING,
    JobState.DELIVERED: Phase.DELIVERED,
}


@dataclass(frozen=True)
class JobView:
    """A snapshot of one job for rendering; times are Unix seconds."""

    ref: str
    request: VideoRequest
    phase: Phase
    started_at: float
    state: JobState = JobState.ACCEPTED
    progress: int | None = None
    eta_at: float | None = None
    video_id: str | None = None
    error: str | None = None
    refused: bool = False
    queue_position: int | None = None  # while waiting for a slot: 1 is next
    delayed: bool = False  # a step of the bot's own keeps failing; it is being retried
    thumbnail: Path | None = None  # a still of the finished video, once it is downloaded
    source_link: str | None = None  # a follow-up's source, as its front end links to it
    requested_by: str | None = None  # who asked, when not a member (an API key's name)
    # The models tried before `request.model` that could not make it (fallbacks), oldest
    # first: the reply says "made by veo — wan was unavailable".
    fell_back_from: tuple[str, ...] = ()
    # Why the result goes behind a spoiler ("server", a moderation category, "provider");
    # None: shown openly.
    spoiler: str | None = None

    def evolve(self, **changes: Any) -> JobView:
        return replace(self, **changes)


# How a job's end is stored (`last_error`) and shown: why, and the job's id for the operator.
# The text is stored in English (the team API and the terminal read it as it is); a card shows
# it in its reader's language through `failure_text`.
_WITH_REF = re.compile(r"(?P<message>.*) \(ref (?P<ref>[0-9A-Za-z_-]+)\)", re.DOTALL)


def with_ref(message: str, ref: str) -> str:
    """A job's end as stored: "The video took too long; … (ref 0badc0de0badc0de)"."""
    return f"{message} (ref {ref})"


def failure_text(stored: str) -> str:
    """A job's stored (English) end, in the current reader's language: a fixed message by its
    catalogue entry, a message with a detail in it (a provider's words, a number) by the
    template it was written from (bot.videos.FAILURE_TEMPLATES), the provider's own words left
    as they are. Anything the catalogues do not know is shown as stored."""
    if i18n.current() == i18n.ENGLISH:
        return stored
    found = _WITH_REF.fullmatch(stored)
    if found is None:
        return _translated_failure(stored)
    # TRANSLATORS: why a job ended without a video, and its id ("ref") for the operator.
    return _(
        "{message} (ref {ref})",
        message=_translated_failure(found["message"]),
        ref=found["ref"],
    )


def _translated_failure(message: str) -> str:
    exact = i18n.translation_of(message, i18n.current())
    if exact is not None:
        return exact
    for template, pattern in _failure_patterns():
        matched = pattern.fullmatch(message)
        if matched is not None:
            params = matched.groupdict()
            if "seconds" in params and params["seconds"].isdigit():
                params["seconds"] = i18n.number(int(params["seconds"]))
            return _(template, **params)
    return message


@functools.cache
def _failure_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Each template as a pattern that reads its placeholders back out of a stored text."""
    patterns = []
    for template in FAILURE_TEMPLATES:
        parts = re.split(r"\{([a-z_]+)\}", template)
        regex = "".join(
            re.escape(part) if index % 2 == 0 else f"(?P<{part}>.*?)"
            for index, part in enumerate(parts)
        )
        patterns.append((template, re.compile(regex, re.DOTALL)))
    return tuple(patterns)


def shown_position(position: int) -> int:
    """A queue position as a reader needs it: exact near the front, rounded further back.

    Replies are edited only when this changes, so 10,000 waiting jobs do not each get an edit
    whenever the queue moves by one.
    """
    if position <= 10:
        return position
    if position <= 100:
        return round(position, -1)
    if position <= 1000:
        return round(position, -2)
    return round(position, -3)


@dataclass(frozen=True)
class Original:
    """Where the original of a delivered video can still be had, and until when.

    `link` is a signed URL on the bot's own web server when members can reach it; without one
    the file waits on the bot's host (`video-bot jobs` shows it) for the operator.
    """

    size: int
    kept_until: float
    link: str | None = None


@dataclass(frozen=True)
class Delivery:
    """A downloaded video ready to post."""

    path: Path
    size: int
    thumbnail: Path | None = None
    original: Original | None = None


class ReplyGone(Exception):  # noqa: N818 - a verdict on the reply, not a crash
    """The reply can no longer be reached (message or channel deleted, the bot removed)."""


class ReplySink(Protocol):
    """A front end following one job through its reply (Discord, a terminal, a test).

    Raising ReplyGone means the reply is gone for good; any other exception is a passing
    failure that the workflow retries.
    """

    async def show(self, view: JobView) -> None:
        """The job moved on; the sink decides whether it is worth showing."""

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        """Post the finished video; raising means it was not delivered."""

    async def fail(self, view: JobView) -> None:
        """Tell the requester the job ended without a video (`view.error` says why)."""

    async def already_delivered(self) -> bool:
        """After a crash mid-delivery: does the reply already carry the video?"""
