"""The openrouter dialect on the wire: what a create, a follow-up and a download send, how
statuses and bills read, and what is never sent because OpenRouter has no such thing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from bot.fake_api import FakeVideosServer
from bot.terminal.doctor import judge_probe, judge_thumbnail_without_video
from bot.videos import (
    BadRequestError,
    CapabilityMissingError,
    CreateRequest,
    JobState,
    ReferenceImage,
    RetryPolicy,
    Timeouts,
    VideosClient,
)
from bot.videos.dialects import openrouter_create_body, resolution_of
from tests.videos.conftest import KEY
from tests.videos.wire import MP4, MiniOpenRouter, Server, serve

URL = "https://cdn.example.invalid/frames/first.png"
CALLBACK = "https://bot.example.invalid/hooks/openrouter"


async def _no_sleep(_: float) -> None:
    """Retries are counted, not waited for."""


@pytest.fixture
async def mini() -> AsyncIterator[tuple[MiniOpenRouter, Server]]:
    api = MiniOpenRouter()
    async with serve(api) as server:
        yield api, server


@pytest.fixture
def openrouter(session: aiohttp.ClientSession, mini: tuple[MiniOpenRouter, Server]) -> VideosClient:
    return VideosClient(
        session,
        mini[1].url("/api/v1"),
        SecretStr(KEY),
        timeouts=Timeouts(connect=2.0, request=5.0, download=30.0),
        retry=RetryPolicy(max_retries=2),
        sleep=_no_sleep,
        dialect="openrouter",
        provider="openrouter",
    )


# -- create ---------------------------------------------------------------------------------------


async def test_a_create_sends_duration_size_a_data_url_frame_and_the_callback(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server]
) -> None:
    image = b"\x89PNG\r\n\x1a\n" + bytes(64)
    request = CreateRequest(
        prompt="a red kite",
        model="google/veo-3.1",
        size="1280x720",
        seconds="8",
        reference=ReferenceImage(image, "image/png"),
        callback_url=CALLBACK,
    )
    video = await openrouter.create(request)
    (seen,) = mini[1].seen
    assert (seen.method, seen.path) == ("POST", "/api/v1/videos")
    assert seen.content_type == "application/json"
    data_url = "data:image/png;base64," + base64.b64encode(image).decode()
    assert seen.json == {
        "model": "google/veo-3.1",
        "prompt": "a red kite",
        "duration": 8,
        "size": "1280x720",
        "frame_images": [
            {"type": "image_url", "image_url": {"url": data_url}, "frame_type": "first_frame"}
        ],
        "callback_url": CALLBACK,
    }
    assert isinstance(seen.json["duration"], int)
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    # The 202 answer {id, polling_url, status: "pending"} is a queued job.
    assert (video.id, video.state) == ("job-1", JobState.QUEUED)


async def test_a_reference_url_goes_as_the_first_frame_and_unset_fields_stay_out(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server]
) -> None:
    await openrouter.create(CreateRequest(prompt="from a URL", seconds="4.0", reference_url=URL))
    await openrouter.create(CreateRequest(prompt="bare"))
    first, second = (seen.json for seen in mini[1].seen)
    assert first == {
        "prompt": "from a URL",
        "duration": 4,
        "frame_images": [
            {"type": "image_url", "image_url": {"url": URL}, "frame_type": "first_frame"}
        ],
    }
    assert second == {"prompt": "bare"}
    assert all(seen.content_type == "application/json" for seen in mini[1].seen)


@pytest.mark.parametrize("seconds", ["4.5", "four", "nan", "-4"])
async def test_seconds_that_are_not_whole_are_refused_before_sending(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server], seconds: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await openrouter.create(CreateRequest(prompt="x", seconds=seconds))
    assert caught.value.param == "duration"
    assert caught.value.operation == "create"
    assert mini[1].seen == []


async def test_the_openai_dialect_never_sends_the_callback_url(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    await client.create(CreateRequest(prompt="json", reference_url=URL, callback_url=CALLBACK))
    await client.create(CreateRequest(prompt="multipart", seconds="4", callback_url=CALLBACK))
    as_json, multipart = fake.stats.requests[-2:]
    assert as_json.json_body == {"prompt": "json", "input_reference": {"image_url": URL}}
    assert multipart.form == {"prompt": "multipart", "seconds": "4"}


def test_an_empty_callback_url_is_refused() -> None:
    with pytest.raises(ValueError, match="callback"):
        CreateRequest(prompt="x", callback_url=" ")


# -- status, bill, content ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("pending", JobState.QUEUED),
        ("in_progress", JobState.RUNNING),
        ("completed", JobState.COMPLETED),
        ("failed", JobState.FAILED),
        ("cancelled", JobState.CANCELLED),
        ("expired", JobState.EXPIRED),
    ],
)
async def test_every_status_maps_to_a_state(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server], status: str, state: JobState
) -> None:
    video = await openrouter.create(CreateRequest(prompt="x"))
    mini[0].jobs[video.id]["status"] = status
    seen = await openrouter.retrieve(video.id)
    assert seen.state is state
    assert mini[1].seen[-1].path == f"/api/v1/videos/{video.id}"
    assert state.is_terminal is (status not in ("pending", "in_progress"))


async def test_a_failed_jobs_error_is_a_bare_string(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server]
) -> None:
    video = await openrouter.create(CreateRequest(prompt="x"))
    mini[0].jobs[video.id].update(status="failed", error="Provider returned an error")
    seen = await openrouter.retrieve(video.id)
    assert seen.error is not None
    assert (seen.error.code, seen.error.message) == (None, "Provider returned an error")
    assert not seen.is_refused


async def test_usage_cost_is_the_bill(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server]
) -> None:
    video = await openrouter.create(CreateRequest(prompt="x"))
    assert video.billed_cost is None
    mini[0].jobs[video.id].update(
        status="completed",
        usage={"cost": 0.5, "is_byok": False},
        unsigned_urls=["https://openrouter.ai/api/v1/videos/job-1/content?index=0"],
    )
    seen = await openrouter.retrieve(video.id)
    assert seen.billed_cost == Decimal("0.5")


async def test_the_content_is_asked_for_by_index_never_by_variant(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server], tmp_path: Path
) -> None:
    video = await openrouter.create(CreateRequest(prompt="x"))
    out = tmp_path / "v.mp4"
    assert await openrouter.download(video.id, out) == len(MP4)
    assert await openrouter.download(video.id, out, variant="video") == len(MP4)
    assert out.read_bytes() == MP4
    for seen in mini[1].seen[1:]:
        assert (seen.path, seen.query) == (f"/api/v1/videos/{video.id}/content", {"index": "0"})
    answer = await openrouter.probe_content(video.id)
    assert (answer.status, answer.content_type) == (200, "video/mp4")
    assert mini[1].seen[-1].query == {"index": "0"}


# -- what OpenRouter has not got: never sent -----------------------------------------------------


@pytest.mark.parametrize("variant", ["thumbnail", "spritesheet"])
async def test_an_image_variant_is_missing_and_not_asked_for(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server], tmp_path, variant: str
) -> None:
    with pytest.raises(CapabilityMissingError) as caught:
        await openrouter.download("job-1", tmp_path / "t.webp", variant=variant)
    assert caught.value.capability == variant
    assert mini[1].seen == []
    assert list(tmp_path.iterdir()) == []
    answer = await openrouter.probe_content("job-1", variant)
    assert judge_thumbnail_without_video(answer).support == "no"
    assert mini[1].seen == []


async def test_list_and_delete_are_missing_and_not_sent(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server]
) -> None:
    with pytest.raises(CapabilityMissingError) as listed:
        await openrouter.list()
    with pytest.raises(CapabilityMissingError) as deleted:
        await openrouter.delete("job-1")
    assert (listed.value.capability, deleted.value.capability) == ("list", "delete")
    assert mini[1].seen == []


async def test_the_doctors_probes_read_not_served_and_send_nothing(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server]
) -> None:
    for probe in (openrouter.probe_remix, openrouter.probe_extensions, openrouter.probe_delete):
        answer = await probe()
        assert answer.status == 501
        assert answer.video_id is None
        assert judge_probe(answer).support == "no"
    assert mini[1].seen == []


# -- remix and extend: a create naming previous_job_id --------------------------------------------


async def test_remix_and_extend_create_from_the_previous_job(
    openrouter: VideosClient, mini: tuple[MiniOpenRouter, Server]
) -> None:
    remixed = await openrouter.remix("job-7", "now at night", model="google/veo-3.1")
    extended = await openrouter.extend("job-7", "and then rain", "8", model="google/veo-3.1")
    bare = await openrouter.remix("job-7", "no model")
    first, second, third = mini[1].seen
    assert {(s.method, s.path, s.content_type) for s in mini[1].seen} == {
        ("POST", "/api/v1/videos", "application/json")
    }
    assert first.json == {
        "model": "google/veo-3.1",
        "prompt": "now at night",
        "previous_job_id": "job-7",
    }
    assert second.json == {
        "model": "google/veo-3.1",
        "prompt": "and then rain",
        "previous_job_id": "job-7",
        "duration": 8,
    }
    assert third.json == {"prompt": "no model", "previous_job_id": "job-7"}
    assert [v.state for v in (remixed, extended, bare)] == [JobState.QUEUED] * 3


async def test_the_openai_dialect_keeps_its_follow_up_routes(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    fake.advance(600)
    await client.remix(video.id, "again", model="ignored")
    await client.extend(video.id, "more", "4", model="ignored")
    remix, extend = fake.stats.requests[-2:]
    assert (remix.route, remix.json_body) == ("/v1/videos/{video_id}/remix", {"prompt": "again"})
    assert (extend.route, extend.json_body) == (
        "/v1/videos/extensions",
        {"video": {"id": video.id}, "prompt": "more", "seconds": "4"},
    )


def test_an_unknown_dialect_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="dialect"):
        VideosClient(None, "http://x", dialect="sora")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1280x720", ("720p", "16:9")),
        ("720x1280", ("720p", "9:16")),
        ("854x480", ("480p", "16:9")),
        ("1920x1080", ("1080p", "16:9")),
        ("720x720", ("720p", "1:1")),
    ],
)
def test_a_size_becomes_a_resolution_and_the_nearest_aspect_ratio(
    size: str, expected: tuple[str, str]
) -> None:
    assert resolution_of(size) == expected


def test_a_model_without_exact_sizes_is_sent_a_resolution_and_an_aspect_ratio() -> None:
    body = openrouter_create_body(
        CreateRequest(prompt="p", model="alibaba/wan-2.6", size="854x480", size_as="resolution")
    )
    assert body["resolution"] == "480p"
    assert body["aspect_ratio"] == "16:9"
    assert "size" not in body
