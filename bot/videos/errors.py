"""What can go wrong when talking to a Videos API server, as a small typed hierarchy.

Every error carries `user_message`: a short sentence safe to show a Discord member or a terminal
user (no secrets, no raw exception text). Details for operators go to the log.

A `user_message` is English: it is stored with the job that ended on it and shown later, to
whoever reads the card, in their language (bot.domain.failure_text). The messages are marked
for the catalogues here; those with a detail in them are written from FAILURE_TEMPLATES, which
is how a card reads them back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.i18n import N_
from bot.videos.refusals import FailureKind, end_kind, ended_kind

if TYPE_CHECKING:
    from bot.videos.models import Video

# TRANSLATORS: {detail} is the video service's own words (English, as it sent them).
REFUSED_REQUEST = N_("The video service refused the request: {detail}")
# TRANSLATORS: {seconds} is a number of seconds.
RATE_LIMITED_FOR = N_("The video service is busy (rate limited). Try again in about {seconds} s.")
# TRANSLATORS: {message} is the video service's own words (English, as it sent them).
REFUSED_PROMPT_SAID = N_(
    "The video service refused this prompt under its content policy. It said: {message}"
)
# TRANSLATORS: {message} is the video service's own words (English, as it sent them).
FAILED_SAID = N_("The video service could not generate this video. It said: {message}")
# TRANSLATORS: {capability} is an operation of the video service ("remix", "extensions").
NOT_SUPPORTED = N_("The video service does not support {capability}.")
# The user messages with a detail in them: a stored one is read back by these.
FAILURE_TEMPLATES = (
    REFUSED_REQUEST,
    RATE_LIMITED_FOR,
    REFUSED_PROMPT_SAID,
    FAILED_SAID,
    NOT_SUPPORTED,
)


class VideosError(Exception):
    """Base of every Videos API failure.

    A VideosClient stamps what it raises with the `operation` that failed ("create",
    "retrieve", "download", ...), its `dialect` and its `provider` name: failure_kind() needs
    to know whether an error came from a call that starts a job.
    """

    user_message = N_("The video service failed.")
    operation: str | None = None
    dialect: str = "openai"  # the client's ProviderDialect (bot/videos/dialects.py)
    provider: str | None = None

    def __init__(self, detail: str = "", *, user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message is not None:
            self.user_message = user_message


class AuthenticationError(VideosError):
    """The server rejected the API key (401/403, or a key error dressed as 400/500)."""

    user_message = N_("The video service rejected the bot's API key. An operator needs to fix it.")


class BadRequestError(VideosError):
    """The server rejected the request itself; `param` names the field when it says so.

    `code` is the error code the server gave (a content refusal has one, e.g. sentinel_block);
    `status` 0 means the client refused the request before sending it.
    """

    def __init__(
        self,
        detail: str,
        *,
        param: str | None = None,
        status: int = 400,
        code: str | None = None,
    ) -> None:
        self.param = param
        self.status = status
        self.code = code
        super().__init__(
            detail,
            user_message=REFUSED_REQUEST.format(detail=detail)
            if detail
            else N_("The video service refused the request."),
        )


class RateLimitedError(VideosError):
    """429: `retry_after` seconds when the server said; None may mean an exhausted quota."""

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        if retry_after is None:
            message = N_("The video service is rate limiting the bot or its quota is used up.")
        else:
            message = RATE_LIMITED_FOR.format(seconds=max(1, round(retry_after)))
        super().__init__(detail, user_message=message)


class ServerError(VideosError):
    """5xx that did not clear up with retries."""

    user_message = N_("The video service is having trouble right now. Try again later.")

    def __init__(self, detail: str = "", *, status: int = 500) -> None:
        self.status = status
        super().__init__(detail)


class InvalidAnswerError(ServerError):
    """The server answered something the protocol does not allow (wrong types, missing fields)."""

    user_message = N_("The video service sent something it should not. Try again later.")

    def __init__(self, detail: str = "", *, status: int = 200) -> None:
        super().__init__(detail, status=status)


class AnswerTooLargeError(InvalidAnswerError):
    """An API answer (status, JSON or error body) larger than the client agrees to read."""

    user_message = N_("The video service sent an answer too large to read. Try again later.")


class NetworkError(VideosError):
    """The server could not be reached, or the connection broke, after retries."""

    user_message = N_("The video service cannot be reached right now.")


class CreateOutcomeUnknownError(VideosError):
    """A create may have reached the server but no answer came back; never retry blindly."""

    user_message = N_(
        "The video service did not confirm the request, so it may or may not have started "
        "(and may be billed). The bot did not retry, to avoid paying twice."
    )


class JobFailedError(VideosError):
    """The job ended in `failed` (or cancelled/expired) on the server.

    `kind` says why, in the terms fallback decides by; left out, it is read from `code` and
    `message` by the dialect's table (bot/videos/failures.py), `refused` deciding whether the
    job was refused at all. `JobFailedError.from_video` builds one from the ended job itself.
    """

    def __init__(
        self,
        code: str | None,
        message: str | None,
        *,
        refused: bool,
        kind: FailureKind | None = None,
        dialect: str = "openai",
    ) -> None:
        self.code = code
        self.message = message
        self.refused = refused
        self.dialect = dialect
        self.kind = (
            kind
            if kind is not None
            else ended_kind(code, message, refused=refused, dialect=dialect)
        )
        if message:
            said = REFUSED_PROMPT_SAID if refused else FAILED_SAID
            user = said.format(message=message[:300])
        elif refused:
            user = N_("The video service refused this prompt under its content policy.")
        else:
            user = N_("The video service could not generate this video.")
        super().__init__(f"job failed: code={code} message={message}", user_message=user)

    @classmethod
    def from_video(cls, video: Video, *, dialect: str = "openai") -> JobFailedError:
        """The error for a job the provider reports ended without a video (failed, cancelled,
        expired, deleted), its kind read by the dialect's table."""
        error = video.error
        kind = end_kind(
            video.state.value,
            error.code if error else None,
            error.message if error else None,
            dialect,
        )
        return cls(
            error.code if error and error.code else video.state.value,
            error.message if error else None,
            refused=kind.is_refusal,
            kind=kind,
            dialect=dialect,
        )


class JobLostError(VideosError):
    """A job we created is unknown to the server now (it restarted or dropped it)."""

    def __init__(self, video_id: str) -> None:
        self.video_id = video_id
        super().__init__(
            f"video {video_id} is unknown to the server",
            user_message=N_("The video service lost this job (it no longer knows about it)."),
        )


class JobTimeoutError(VideosError):
    """The job did not finish before the bot's deadline."""

    user_message = N_("The video took too long; the bot stopped waiting for it.")


class EndpointNotVideosError(VideosError):
    """The base URL does not serve the Videos API at all."""

    def __init__(self, base_url: str, *, retired_openai: bool) -> None:
        self.retired_openai = retired_openai
        if retired_openai:
            hint = (
                "OpenAI retired its own Videos API and the sora-2 models on 2026-09-24. "
                "Point OPENAI_BASE_URL at a compatible server (LiteLLM, SGLang, vLLM-Omni, ...)."
            )
        else:
            hint = (
                f"{base_url} does not serve the OpenAI Videos API (/videos). "
                "Check OPENAI_BASE_URL (it usually ends in /v1)."
            )
        super().__init__(
            hint, user_message=N_("The bot's video service is not configured correctly.")
        )
        self.hint = hint


class CapabilityMissingError(VideosError):
    """An optional operation (list, delete, remix, extensions) is not served."""

    def __init__(self, capability: str) -> None:
        self.capability = capability
        super().__init__(
            f"server does not support {capability}",
            user_message=NOT_SUPPORTED.format(capability=capability),
        )


class ProviderUnavailableError(VideosError):
    """The provider failed too often in a row: its circuit breaker is open and no job is sent.

    Nothing reached the provider, so nothing was started or billed.
    """

    user_message = N_("The video service is unavailable right now; try again in a minute.")

    def __init__(self, detail: str = "", *, opened_until: float | None = None) -> None:
        self.opened_until = opened_until
        super().__init__(detail)


class ContentError(VideosError):
    """The finished video could not be downloaded (too large, wrong type, not available)."""

    user_message = N_("The video was generated but could not be downloaded.")


class ContentNotReadyError(ContentError):
    """The server has no content for the job yet (404/400/409 while finishing)."""


class ContentExpiredError(ContentError):
    """410: the server kept the video for a while (`expires_at`) and has let it go."""

    user_message = N_("The video service no longer keeps this video (its download expired).")


class ContentUnavailableError(ContentError):
    """The content answered 429 or 5xx through every retry: trouble that may pass."""
