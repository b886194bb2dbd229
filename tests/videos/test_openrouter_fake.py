"""The openrouter dialect end to end against the fake server's strict OpenRouter (bot/fake_api):
a job with a first frame is made, followed, billed and downloaded; a follow-up continues it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import pytest
from PIL import Image
from pydantic import SecretStr

from bot.fake_api import FakeSettings, FakeVideosServer
from bot.videos import (
    CapabilityMissingError,
    CreateRequest,
    FailureKind,
    JobFailedError,
    JobState,
    ReferenceImage,
    RetryPolicy,
    Timeouts,
    VideosClient,
)
from tests.videos.test_dialects import follow

KEY = "sk-or-test-0123456789"
VEO = "google/veo-3.1"


async def _no_sleep(_: float) -> None:
    """Retries are counted, not waited for."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeVideosServer]:
    settings = FakeSettings(dialect="openrouter", api_key=KEY, default_duration=10.0)
    async with FakeVideosServer(settings) as server:
        yield server


@pytest.fixture
def client(session: aiohttp.ClientSession, fake: FakeVideosServer) -> VideosClient:
    return VideosClient(
        session,
        fake.base_url,
        SecretStr(KEY),
        timeouts=Timeouts(connect=2.0, request=5.0, download=30.0),
        retry=RetryPolicy(max_retries=2),
        sleep=_no_sleep,
        dialect="openrouter",
        provider="openrouter",
    )


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "navy").save(out, format="PNG")
    return out.getvalue()


async def test_a_job_with_a_first_frame_is_made_billed_and_downloaded(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    request = CreateRequest(
        prompt="a red kite over hills",
        model=VEO,
        size="1280x720",
        seconds="8",
        reference=ReferenceImage(png(1280, 720), "image/png"),
    )
    created = await client.create(request)
    assert created.state is JobState.QUEUED
    finished = await follow(client, fake, created.id, [])
    assert finished.state is JobState.COMPLETED  # type: ignore[attr-defined]
    assert finished.billed_cost == Decimal("3.04")  # type: ignore[attr-defined]
    out = tmp_path / "video.mp4"
    assert await client.download(created.id, out) == len(fake.asset_bytes())
    assert out.read_bytes() == fake.asset_bytes()
    content = fake.stats.requests[-1]
    assert content.query == {"index": "0"}


async def test_a_follow_up_continues_the_finished_job(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    first = await client.create(CreateRequest(prompt="a kite", model=VEO, seconds="4"))
    await follow(client, fake, first.id, [])
    remixed = await client.remix(first.id, "the kite at night", model=VEO)
    extended = await client.extend(first.id, "the kite lands", "8", model=VEO)
    assert remixed.id != first.id
    assert extended.id not in (first.id, remixed.id)
    bodies = [r.json_body for r in fake.stats.requests if r.method == "POST"]
    assert bodies[1:] == [
        {"model": VEO, "prompt": "the kite at night", "previous_job_id": first.id},
        {"model": VEO, "prompt": "the kite lands", "previous_job_id": first.id, "duration": 8},
    ]


async def test_a_refusal_is_a_refused_output(client: VideosClient, fake: FakeVideosServer) -> None:
    created = await client.create(CreateRequest(prompt="something [refuse]", model=VEO))
    with pytest.raises(JobFailedError) as caught:
        await follow(client, fake, created.id, [])
    assert caught.value.refused
    assert caught.value.kind is FailureKind.REFUSED_OUTPUT
    video = await client.retrieve(created.id)
    assert JobFailedError.from_video(video, dialect="openrouter").kind is FailureKind.REFUSED_OUTPUT


async def test_what_openrouter_has_not_got_never_reaches_it(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    for call in (
        client.list,
        lambda: client.delete("job-1"),
        lambda: client.download("job-1", tmp_path / "t.webp", variant="thumbnail"),
    ):
        with pytest.raises(CapabilityMissingError):
            await call()
    for probe in (client.probe_remix, client.probe_extensions, client.probe_delete):
        assert (await probe()).status == 501
    assert fake.stats.requests == []
