"""A reference image by URL (a JSON create), expired content, and the doctor's probes."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from bot.fake_api import FakeVideosServer
from bot.videos import (
    PROBE_VIDEO_ID,
    BadRequestError,
    ContentExpiredError,
    ContentNotReadyError,
    CreateOutcomeUnknownError,
    CreateRequest,
    ReferenceImage,
    VideosClient,
)
from tests.contracts.openai.validator import violations

URL = "https://cdn.example.invalid/frames/first.png"


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(out, format="PNG")
    return out.getvalue()


# --- CreateRequest.reference_url ---------------------------------------------------------------


async def test_a_reference_url_sends_a_json_create_that_conforms_to_the_spec(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    request = CreateRequest(
        prompt="from a URL", model="sora-2", size="1280x720", seconds="8", reference_url=URL
    )
    video = await client.create(request)
    recorded = fake.stats.requests[-1]
    assert recorded.content_type == "application/json"
    assert recorded.json_body == {
        "prompt": "from a URL",
        "model": "sora-2",
        "size": "1280x720",
        "seconds": "8",
        "input_reference": {"image_url": URL},
    }
    assert recorded.form is None
    assert violations(recorded) == []
    job = fake.job(video.id)
    assert job is not None
    assert job.reference_url == URL
    assert fake.stats.image_urls == [URL]


async def test_a_json_create_sends_only_the_fields_that_are_set(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    await client.create(CreateRequest(prompt="bare", reference_url=URL))
    recorded = fake.stats.requests[-1]
    assert recorded.json_body == {"prompt": "bare", "input_reference": {"image_url": URL}}
    assert violations(recorded) == []


async def test_without_a_url_the_create_stays_multipart(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    reference = ReferenceImage(png(720, 1280), "image/png")
    await client.create(CreateRequest(prompt="with a file", reference=reference))
    await client.create(CreateRequest(prompt="no reference"))
    for recorded in fake.stats.requests[-2:]:
        assert recorded.content_type == "multipart/form-data"
        assert recorded.json_body is None
        assert violations(recorded) == []
    assert fake.stats.requests[-2].files["input_reference"].width == 720
    assert fake.stats.image_urls == []


def test_create_request_stays_frozen_and_hashable() -> None:
    request = CreateRequest(prompt="x", reference_url=URL)
    assert hash(request) == hash(CreateRequest(prompt="x", reference_url=URL))
    assert request.is_json
    assert not CreateRequest(prompt="x").is_json
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.reference_url = "https://elsewhere.invalid/"  # type: ignore[misc]
    assert {request: 1}[CreateRequest(prompt="x", reference_url=URL)] == 1


def test_a_file_and_a_url_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        CreateRequest(prompt="x", reference=ReferenceImage(b"png", "image/png"), reference_url=URL)
    with pytest.raises(ValueError, match="empty"):
        CreateRequest(prompt="x", reference_url="  ")


async def test_a_multipart_only_server_refuses_the_json_create(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.dialect = "vllm_omni"
    with pytest.raises(BadRequestError):
        await client.create(CreateRequest(prompt="x", reference_url=URL))
    assert fake.stats.creates == 0


async def test_litellm_breaking_on_a_json_reference_is_an_unknown_outcome(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    # A create's 500 may hide a started job: the client never retries it.
    fake.settings.dialect = "litellm"
    with pytest.raises(CreateOutcomeUnknownError):
        await client.create(CreateRequest(prompt="x", reference_url=URL))
    assert fake.stats.count("POST /v1/videos") == 1
    assert fake.stats.creates == 0


async def test_a_bad_url_is_a_bad_request_naming_the_field(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await client.create(CreateRequest(prompt="x", reference_url="file:///etc/passwd"))
    assert caught.value.param == "input_reference.image_url"
    assert fake.stats.creates == 0


# --- expired content -------------------------------------------------------------------------


async def test_expired_content_is_its_own_error_and_not_retried(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    fake.settings.expire_after = 60
    video = await client.create(CreateRequest(prompt="x"))
    fake.advance(10)  # done (10 s jobs here), 0 s into its 60 s
    finished = await client.retrieve(video.id)
    assert finished.completed_at is not None
    assert finished.expires_at == finished.completed_at + 60
    fake.advance(60)
    with pytest.raises(ContentExpiredError) as caught:
        await client.download(video.id, tmp_path / "v.mp4")
    assert not isinstance(caught.value, ContentNotReadyError)
    assert fake.stats.count("GET /v1/videos/{video_id}/content") == 1
    assert "expired" in caught.value.user_message


# --- probes ------------------------------------------------------------------------------------


async def test_probes_name_a_missing_video_and_start_nothing(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    for probe in (client.probe_remix, client.probe_extensions, client.probe_delete):
        answer = await probe()
        assert answer.status == 404
        assert answer.code == "video_not_found"
        assert answer.param == "video_id"
        assert PROBE_VIDEO_ID in (answer.message or "")
        assert answer.video_id is None
    recorded = fake.stats.requests
    assert [f"{r.method} {r.route}" for r in recorded] == [
        "POST /v1/videos/{video_id}/remix",
        "POST /v1/videos/extensions",
        "DELETE /v1/videos/{video_id}",
    ]
    assert all(violations(r) == [] for r in recorded)
    assert fake.stats.creates == 0


async def test_probes_see_a_missing_route(client: VideosClient, fake: FakeVideosServer) -> None:
    fake.settings.dialect = "newapi"
    answer = await client.probe_remix()
    assert (answer.status, answer.message, answer.content_type) == (
        404,
        "404 page not found",
        "text/plain",
    )
    fake.settings.dialect = "trtllm"
    answer = await client.probe_delete()
    assert (answer.status, answer.message) == (405, "Method Not Allowed")


async def test_probe_content_reads_the_type_but_not_the_media(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.dialect = "litellm"
    video = await client.create(CreateRequest(prompt="huge [bytes=200000000] [duration=1]"))
    fake.advance(1)
    answer = await client.probe_content(video.id, "thumbnail")
    assert (answer.status, answer.content_type) == (200, "video/mp4")
    assert answer.message is None
    fake.settings.dialect = "openai"
    answer = await client.probe_content(video.id, "thumbnail")
    assert (answer.status, answer.content_type) == (200, "image/webp")
    answer = await client.probe_content("video_missing", "thumbnail")
    assert (answer.status, answer.code) == (404, "video_not_found")
