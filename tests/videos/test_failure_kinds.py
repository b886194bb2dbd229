"""Each row of the failure-kind tables: the errors a call raises, and the ways a job ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.fake_api import FakeVideosServer, Fault
from bot.videos import (
    DIALECTS,
    FAILURE_TABLES,
    AuthenticationError,
    BadRequestError,
    CapabilityMissingError,
    ContentError,
    ContentExpiredError,
    CreateOutcomeUnknownError,
    CreateRequest,
    EndpointNotVideosError,
    FailureKind,
    InvalidAnswerError,
    JobFailedError,
    JobLostError,
    JobTimeoutError,
    NetworkError,
    ProviderDialect,
    ProviderUnavailableError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    Video,
    VideosClient,
    VideosError,
    failure_kind,
)
from tests.videos.conftest import KEY, make_client
from tests.videos.test_dialects import follow
from tests.videos.wire import reply, serve

NEVER = FailureKind.NEVER_STARTED
UNKNOWN = FailureKind.UNKNOWN
INPUT = FailureKind.REFUSED_INPUT
OUTPUT = FailureKind.REFUSED_OUTPUT
PROVIDER = FailureKind.PROVIDER_ERROR


async def _no_sleep(_: float) -> None:
    """Retries are counted, not waited for."""


def answering(status: int, body: Any, **headers: str) -> Any:
    async def answer(request: web.Request, seen: object) -> web.Response:
        if isinstance(body, str):
            return web.Response(status=status, text=body, content_type="text/html")
        return reply(status, body, **headers)

    return answer


async def create_error(
    session: aiohttp.ClientSession,
    status: int,
    body: Any,
    dialect: ProviderDialect = "openai",
    **headers: str,
) -> VideosError:
    """The error a create raises when the server answers `status` with `body`."""
    async with serve(answering(status, body, **headers)) as server:
        client = VideosClient(
            session,
            server.url(),
            SecretStr(KEY),
            retry=RetryPolicy(max_retries=0),
            sleep=_no_sleep,
            dialect=dialect,
        )
        with pytest.raises(VideosError) as caught:
            await client.create(CreateRequest(prompt="x"))
    assert caught.value.operation == "create"
    assert caught.value.dialect == dialect
    return caught.value


# -- a create that never started a job -----------------------------------------------------------


async def test_a_create_that_never_left_never_started(
    session: aiohttp.ClientSession, unused_tcp_port: int
) -> None:
    client = make_client(session, f"http://127.0.0.1:{unused_tcp_port}/v1", retries=1)
    with pytest.raises(NetworkError) as caught:
        await client.create(CreateRequest(prompt="x"))
    assert failure_kind(caught.value) is NEVER


@pytest.mark.parametrize(
    ("status", "body", "error_type"),
    [
        (429, {"error": {"message": "quota exceeded"}}, RateLimitedError),
        (402, {"error": {"code": 402, "message": "Insufficient credits"}}, RateLimitedError),
        (401, {"error": {"message": "Incorrect API key provided"}}, AuthenticationError),
        (400, {"error": {"message": "size is not valid", "param": "size"}}, BadRequestError),
        (422, {"detail": [{"loc": ["body", "seconds"], "msg": "bad"}]}, BadRequestError),
        (404, "<html>nginx</html>", EndpointNotVideosError),
        (200, "<html>a web page</html>", EndpointNotVideosError),
    ],
)
async def test_a_create_refused_without_a_job_never_started(
    session: aiohttp.ClientSession, status: int, body: Any, error_type: type[VideosError]
) -> None:
    error = await create_error(session, status, body)
    assert type(error) is error_type
    assert failure_kind(error) is NEVER
    assert failure_kind(error).may_fall_back


async def test_a_missing_follow_up_route_never_started(session: aiohttp.ClientSession) -> None:
    async with serve(answering(404, {"error": {"message": "Not Found"}})) as server:
        client = make_client(session, server.url())
        with pytest.raises(CapabilityMissingError) as caught:
            await client.remix("video_1", "again")
    assert caught.value.operation == "remix"
    assert failure_kind(caught.value) is NEVER


def test_an_open_breaker_never_started() -> None:
    error = ProviderUnavailableError("circuit open")
    assert failure_kind(error) is NEVER
    assert "unavailable" in error.user_message


# -- a create refused for its content ------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        {"code": "sentinel_block", "message": "Your request was blocked."},
        {"code": "moderation_blocked", "message": "no"},
        {"code": "content_policy_violation", "message": "no"},
        {"code": "content_filter", "message": "no"},
        {
            "code": "ValidationException",
            "message": "This request has been blocked by our content filters.",
        },
        {"message": "The prompt did not pass our safety checks."},
        {"code": "invalid_request", "message": "request rejected: sentinel_block"},
    ],
)
async def test_a_create_refused_for_its_content_is_a_refused_input(
    session: aiohttp.ClientSession, error: dict[str, str]
) -> None:
    refused = await create_error(session, 400, {"error": error})
    assert isinstance(refused, BadRequestError)
    assert failure_kind(refused) is INPUT
    assert not failure_kind(refused).may_fall_back


async def test_openrouters_flagged_input_is_a_refusal_not_a_bad_key(
    session: aiohttp.ClientSession,
) -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Your chosen model requires moderation and your input was flagged",
        }
    }
    refused = await create_error(session, 403, body, dialect="openrouter")
    assert isinstance(refused, BadRequestError)
    assert failure_kind(refused) is INPUT
    # The openai dialect reads a 403 as the key's, as it always has.
    assert isinstance(await create_error(session, 403, body), AuthenticationError)


# -- a create that may have started a job ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {"error": {"message": "boom"}}),
        (502, "<html>bad gateway</html>"),
        (202, {"status": "queued"}),  # accepted, but without the job's id
    ],
)
async def test_a_create_without_a_clear_answer_is_unknown(
    session: aiohttp.ClientSession, status: int, body: Any
) -> None:
    error = await create_error(session, status, body)
    assert isinstance(error, CreateOutcomeUnknownError)
    assert failure_kind(error) is UNKNOWN
    assert not failure_kind(error).may_fall_back


async def test_a_create_that_hung_after_sending_is_unknown(
    session: aiohttp.ClientSession, fake: FakeVideosServer
) -> None:
    client = make_client(session, fake.base_url, timeout=0.5)
    fake.settings.faults = [Fault(endpoint="create", kind="create-then-hang", count=1, delay=5)]
    with pytest.raises(CreateOutcomeUnknownError) as caught:
        await client.create(CreateRequest(prompt="slow"))
    assert failure_kind(caught.value) is UNKNOWN


@pytest.mark.parametrize(
    "error",
    [
        CreateOutcomeUnknownError("no answer"),
        InvalidAnswerError("create: not a video"),
        ServerError("500: boom"),
        JobTimeoutError("too long"),
        JobLostError("video_1"),
        ContentError("download failed"),
        ContentExpiredError("410"),
        VideosError("something else"),
    ],
)
def test_errors_that_prove_nothing_are_unknown(error: VideosError) -> None:
    error.operation = "create"
    assert failure_kind(error) is UNKNOWN


# -- an error while following a job that exists ---------------------------------------------------


async def test_a_network_error_while_downloading_is_not_never_started(
    client: VideosClient, fake: FakeVideosServer, tmp_path: Path
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.advance(600)
    fake.settings.faults = [Fault(endpoint="content", kind="reset", count=9)]
    with pytest.raises(NetworkError) as caught:
        await client.download(video.id, tmp_path / "v.mp4")
    assert caught.value.operation == "download"
    assert failure_kind(caught.value) is UNKNOWN


async def test_a_rate_limit_on_a_status_read_is_not_never_started(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.settings.faults = [Fault(endpoint="retrieve", kind="429-no-retry-after", count=9)]
    with pytest.raises(RateLimitedError) as caught:
        await client.retrieve(video.id)
    assert caught.value.operation == "retrieve"
    assert failure_kind(caught.value) is UNKNOWN


def test_anything_that_is_not_a_videos_error_is_unknown() -> None:
    assert failure_kind(RuntimeError("a bug")) is UNKNOWN
    assert failure_kind(TimeoutError()) is UNKNOWN


# -- a job the provider reports ended -------------------------------------------------------------


def ended(status: str, error: Any = None) -> Video:
    return Video.model_validate({"id": "v", "status": status, "error": error})


@pytest.mark.parametrize(
    ("video", "kind"),
    [
        (ended("failed", {"code": "sentinel_block", "message": "blocked"}), INPUT),
        (ended("failed", {"code": "moderation_blocked", "message": "blocked"}), OUTPUT),
        (ended("failed", {"code": "SAFETY.INPUT.TEXT", "message": "x"}), INPUT),
        (ended("failed", {"code": "SAFETY.OUTPUT.IMAGE", "message": "x"}), OUTPUT),
        (ended("failed", {"code": 1026, "message": "x"}), INPUT),
        (ended("failed", "The output may contain sensitive information"), OUTPUT),
        (ended("failed", "Blocked by the provider's safety system"), OUTPUT),
        (ended("failed", {"code": "internal_error", "message": "GPU fell over"}), PROVIDER),
        (ended("failed"), PROVIDER),
        (ended("expired"), PROVIDER),
        (ended("cancelled"), PROVIDER),
        (ended("deleted"), UNKNOWN),
    ],
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_ended_job_has_its_kind(
    video: Video, kind: FailureKind, dialect: ProviderDialect
) -> None:
    error = JobFailedError.from_video(video, dialect=dialect)
    assert error.kind is kind
    assert failure_kind(error) is kind
    assert error.refused is kind.is_refusal
    expected_code = video.error.code if video.error and video.error.code else video.state.value
    assert error.code == expected_code
    if kind.is_refusal:
        assert "content policy" in error.user_message


def test_openrouters_string_errors_tell_a_flagged_output() -> None:
    video = ended("failed", "Generated content was flagged")
    assert JobFailedError.from_video(video, dialect="openrouter").kind is OUTPUT


def test_the_old_constructor_still_reads_a_kind() -> None:
    assert JobFailedError("sentinel_block", "no", refused=True).kind is INPUT
    assert JobFailedError("moderation_blocked", "no", refused=True).kind is OUTPUT
    assert JobFailedError(None, "it looked unsafe", refused=True).kind is OUTPUT
    assert JobFailedError("500", "gateway said no", refused=False).kind is PROVIDER
    assert JobFailedError("x", None, refused=False, kind=UNKNOWN).kind is UNKNOWN


async def test_the_tracker_raises_the_kind_with_no_change_of_its_own(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    refused = await client.create(CreateRequest(prompt="something [refuse]"))
    with pytest.raises(JobFailedError) as caught:
        await follow(client, fake, refused.id, [])
    assert (caught.value.kind, caught.value.refused) == (OUTPUT, True)
    failed = await client.create(CreateRequest(prompt="please [fail] [duration=20]"))
    with pytest.raises(JobFailedError) as caught:
        await follow(client, fake, failed.id, [])
    assert (caught.value.kind, caught.value.refused) == (PROVIDER, False)


# -- the tables themselves -------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_has_a_table_naming_every_error(dialect: ProviderDialect) -> None:
    table = FAILURE_TABLES[dialect]
    for error_type in (
        NetworkError,
        RateLimitedError,
        AuthenticationError,
        BadRequestError,
        EndpointNotVideosError,
        CapabilityMissingError,
        ProviderUnavailableError,
        CreateOutcomeUnknownError,
        InvalidAnswerError,
        JobTimeoutError,
        JobLostError,
        ContentError,
    ):
        assert error_type in table.errors
    assert {"failed", "cancelled", "expired"} <= set(table.ended)
    assert table.refusal_codes["sentinel_block"] is INPUT
    assert table.refusal_codes["moderation_blocked"] is OUTPUT
