"""A hostile or broken provider: answers are bounded and typed, downloads are what they claim."""

from __future__ import annotations

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bot.fake_api import FakeVideosServer, Fault
from bot.videos import (
    AnswerTooLargeError,
    AuthenticationError,
    ContentError,
    CreateOutcomeUnknownError,
    CreateRequest,
    InvalidAnswerError,
    JobState,
    ServerError,
    Video,
    VideoPage,
    VideosClient,
    VideosError,
)
from bot.videos.client import redirect_refusal
from bot.videos.retry import poll_after, server_wait
from tests.videos.conftest import KEY, make_client

CREATE = "POST /v1/videos"
RETRIEVE = "GET /v1/videos/{video_id}"
CONTENT = "GET /v1/videos/{video_id}/content"


async def finished_job(client: VideosClient, fake: FakeVideosServer) -> str:
    video = await client.create(CreateRequest(prompt="x"))
    fake.advance(600)
    return video.id


# -- bounded answers -----------------------------------------------------------------------


async def test_a_huge_status_answer_is_refused_not_read(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.settings.faults = [Fault(endpoint="retrieve", kind="huge-body", size=50_000_000)]
    with pytest.raises(AnswerTooLargeError) as caught:
        await client.retrieve(video.id)
    assert isinstance(caught.value, ServerError)
    assert "too large" in caught.value.user_message
    assert fake.stats.count(RETRIEVE) == 1


async def test_a_huge_answer_without_content_length_is_cut_off(
    session: aiohttp.ClientSession,
) -> None:
    from aiohttp import web

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b'{"id": "video_1", "status": "queued", "pad": "')
        try:
            for _ in range(200):  # 50 MB if nobody stops reading
                await response.write(b"a" * 256 * 1024)
            await response.write(b'"}')
        except ConnectionError:
            pass
        return response

    app = web.Application()
    app.router.add_get("/v1/videos/{video_id}", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        client = make_client(session, f"http://127.0.0.1:{port}/v1")
        with pytest.raises(AnswerTooLargeError):
            await client.retrieve("video_1")
    finally:
        await runner.cleanup()


async def test_a_huge_create_answer_may_have_started_a_job(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.faults = [Fault(endpoint="create", kind="huge-body", size=50_000_000)]
    with pytest.raises(CreateOutcomeUnknownError):
        await client.create(CreateRequest(prompt="x"))
    assert fake.stats.count(CREATE) == 1


# -- typed answers -------------------------------------------------------------------------


async def test_absurd_numbers_in_a_status_read_count_as_missing(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.settings.faults = [Fault(endpoint="retrieve", kind="absurd-numbers")]
    seen = await client.retrieve(video.id)
    assert seen.id == video.id
    assert seen.state is JobState.QUEUED
    assert seen.progress is None
    assert (seen.created_at, seen.completed_at, seen.expires_at) == (None, None, None)
    assert seen.seconds is None


async def test_wrong_types_in_a_status_read_are_a_clear_error(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.settings.faults = [Fault(endpoint="retrieve", kind="wrong-types")]
    with pytest.raises(InvalidAnswerError) as caught:
        await client.retrieve(video.id)
    assert "sent something it should not" in caught.value.user_message


async def test_a_create_answer_with_an_id_keeps_the_job_whatever_else_is_wrong(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.faults = [Fault(endpoint="create", kind="wrong-types")]
    video = await client.create(CreateRequest(prompt="keep me"))
    assert video.id in fake.state.jobs
    assert video.state is JobState.QUEUED
    assert (video.progress, video.model, video.prompt, video.seconds) == (None, None, None, None)
    assert fake.stats.count(CREATE) == 1


async def test_a_create_answer_with_absurd_numbers_keeps_the_job(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.faults = [Fault(endpoint="create", kind="absurd-numbers")]
    video = await client.create(CreateRequest(prompt="x"))
    assert video.id in fake.state.jobs
    assert video.created_at is None


async def test_a_create_answer_without_an_id_may_have_started_a_job(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.faults = [Fault(endpoint="create", kind="no-id")]
    with pytest.raises(CreateOutcomeUnknownError):
        await client.create(CreateRequest(prompt="x"))
    assert fake.stats.count(CREATE) == 1
    assert len(fake.state.jobs) == 1


@pytest.mark.parametrize(
    "data",
    [
        {"id": "v", "status": "queued", "progress": {"a": 1}},
        {"id": "v", "status": "queued", "progress": True},
        {"id": "v", "status": "queued", "progress": 10**400},
        {"id": "v", "status": "queued", "created_at": 10**400},
        {"id": "v", "status": "queued", "created_at": 253_402_300_800},
        {"id": "v", "status": "queued", "expires_at": -5},
        {"id": "v", "status": "queued", "expires_at": "Infinity"},
        {"id": "v", "status": "queued", "seconds": float("nan")},
        {"id": "v", "status": "queued", "seconds": [4]},
        {"id": "v", "status": "queued", "model": {"n": 1}, "size": [1], "prompt": {}},
        {"id": "v", "status": "queued", "remixed_from_video_id": True},
        {"id": "v", "status": "failed", "error": {"code": {"x": 1}, "message": {"y": 2}}},
        {"id": "v", "status": "failed", "error": [1, 2]},
    ],
)
def test_absurd_fields_are_dropped_not_raised(data: dict[str, object]) -> None:
    video = Video.model_validate(data)
    assert video.id == "v"
    assert video.progress is None or 0 <= video.progress <= 100
    for stamp in (video.created_at, video.completed_at, video.expires_at):
        assert stamp is None
    assert video.seconds is None
    assert (video.model, video.size, video.prompt) == (None, None, None)
    assert video.remixed_from_video_id is None
    if video.error is not None:
        assert video.error.code is None or isinstance(video.error.code, str)
        assert video.error.message is None or isinstance(video.error.message, str)


@pytest.mark.parametrize("bad_id", [True, 1.5, "", {"id": 1}, None, "x" * 5000])
def test_an_unusable_id_is_a_validation_error(bad_id: object) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Video.model_validate({"id": bad_id, "status": "queued"})


def test_a_page_keeps_its_good_items_and_drops_the_broken_ones() -> None:
    page = VideoPage.model_validate(
        {
            "data": [{"id": "a", "status": "queued"}, {"status": "x"}, 7, {"id": "b", "status": 1}],
            "has_more": "yes",
            "last_id": {"x": 1},
        }
    )
    assert [v.id for v in page.data] == ["a"]
    assert page.has_more is False
    assert page.last_id is None


@pytest.mark.parametrize("value", ["inf", "1e400", "nan", "-inf", "Infinity"])
def test_non_finite_hints_are_ignored(value: str) -> None:
    headers = CIMultiDictProxy(
        CIMultiDict({"openai-poll-after-ms": value, "retry-after-ms": value})
    )
    assert poll_after(headers) is None
    assert server_wait(headers) is None


# -- secrets -------------------------------------------------------------------------------


async def test_a_key_echoed_in_an_error_never_reaches_the_caller(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.faults = [Fault(endpoint="create", kind="echo-key")]
    with pytest.raises(AuthenticationError) as caught:
        await client.create(CreateRequest(prompt="x"))
    for text in (str(caught.value), caught.value.user_message):
        assert KEY[:12] not in text
        assert KEY[-12:] not in text


async def test_a_key_echoed_in_a_failed_job_never_reaches_the_caller(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.settings.faults = [Fault(endpoint="retrieve", kind="echo-key")]
    seen = await client.retrieve(video.id)
    assert seen.state is JobState.FAILED
    assert seen.error is not None
    assert seen.error.message is not None
    assert KEY[:12] not in seen.error.message
    assert KEY[-12:] not in seen.error.message
    assert "redacted" in seen.error.message


# -- downloads -----------------------------------------------------------------------------


async def test_html_served_as_mp4_is_not_a_video(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="html-as-mp4")]
    with pytest.raises(ContentError, match="not a video"):
        await client.download(video_id, tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []
    assert fake.stats.count(CONTENT) == 1


async def test_a_redirect_to_link_local_is_refused_before_connecting(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    # The suite's guard would turn a connection to 169.254.169.254 into a network error.
    video_id = await finished_job(client, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="redirect-link-local", count=9)]
    with pytest.raises(ContentError, match="link-local"):
        await client.download(video_id, tmp_path / "v.mp4")
    assert fake.stats.count(CONTENT) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "location",
    ["ftp://files.example/v.mp4", "file:///etc/passwd", "http://[fe80::1]/v.mp4", "gopher://x/"],
)
async def test_a_redirect_to_a_forbidden_place_is_refused(
    client: VideosClient, fake: FakeVideosServer, tmp_path, location: str
) -> None:
    video_id = await finished_job(client, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="redirect", location=location)]
    with pytest.raises(ContentError, match="redirect"):
        await client.download(video_id, tmp_path / "v.mp4")
    assert fake.stats.count(CONTENT) == 1


async def test_a_redirect_to_an_html_page_is_not_a_video(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="redirect-html")]
    with pytest.raises(ContentError, match="not a video"):
        await client.download(video_id, tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


async def test_a_redirect_loop_is_cut_short(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="redirect-loop")]
    with pytest.raises(ContentError, match="redirects"):
        await client.download(video_id, tmp_path / "v.mp4")
    assert fake.stats.count(CONTENT) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_redirect_to_storage_on_the_same_private_network_is_followed(
    client: VideosClient, fake: FakeVideosServer, tmp_path, host: str
) -> None:
    video_id = await finished_job(client, fake)
    location = f"http://{host}:{fake.port}/_fake/blob/{{video_id}}"
    fake.settings.faults = [Fault(endpoint="content", kind="redirect", location=location)]
    out = tmp_path / "v.mp4"
    assert await client.download(video_id, out) == len(fake.asset_bytes())
    assert out.read_bytes() == fake.asset_bytes()


async def test_the_relative_default_redirect_is_followed(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="redirect")]
    out = tmp_path / "v.mp4"
    await client.download(video_id, out)
    assert out.read_bytes() == fake.asset_bytes()


@pytest.mark.parametrize(
    ("address", "base_private", "refused"),
    [
        ("169.254.169.254", True, True),
        ("fe80::1", True, True),
        ("::ffff:169.254.169.254", True, True),
        ("127.0.0.1", False, True),
        ("10.1.2.3", False, True),
        ("192.168.0.5", False, True),
        ("::1", False, True),
        ("0.0.0.0", True, True),
        ("224.0.0.1", True, True),
        ("127.0.0.1", True, False),
        ("10.1.2.3", True, False),
        ("93.184.215.14", False, False),
        ("2606:4700::1111", False, False),
    ],
)
def test_the_redirect_address_rule(address: str, base_private: bool, refused: bool) -> None:
    assert (redirect_refusal(address, base_private=base_private) is not None) is refused


def test_new_errors_are_videos_errors() -> None:
    assert issubclass(InvalidAnswerError, VideosError)
    assert issubclass(AnswerTooLargeError, InvalidAnswerError)
