"""Downloads stream to disk with a size cap, a content check and retries."""

from __future__ import annotations

import pytest

from bot.fake_api import FakeVideosServer, Fault
from bot.videos import (
    ContentError,
    ContentNotReadyError,
    CreateRequest,
    VideosClient,
)


async def finished_job(client: VideosClient, fake: FakeVideosServer, prompt: str = "x") -> str:
    video = await client.create(CreateRequest(prompt=prompt))
    fake.advance(600)
    return video.id


async def test_a_large_video_streams_to_a_file_of_the_exact_size(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake, "big [bytes=5000000]")
    out = tmp_path / "big.mp4"
    seen: list[int] = []
    size = await client.download(video_id, out, on_progress=lambda done, _total: seen.append(done))
    assert size == out.stat().st_size == 5_000_000
    assert out.read_bytes().startswith(fake.asset_bytes()[:64])
    assert len(seen) > 5  # it arrived in chunks, not in one piece
    assert not (tmp_path / "big.mp4.part").exists()


async def test_over_the_cap_is_refused_and_leaves_no_file(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake, "big [bytes=3000000]")
    out = tmp_path / "big.mp4"
    with pytest.raises(ContentError):
        await client.download(video_id, out, max_bytes=1_000_000)
    assert list(tmp_path.iterdir()) == []


async def test_not_ready_yet(client: VideosClient, fake: FakeVideosServer, tmp_path) -> None:
    video = await client.create(CreateRequest(prompt="x"))
    with pytest.raises(ContentNotReadyError):
        await client.download(video.id, tmp_path / "v.mp4")


async def test_a_failing_download_is_retried_then_reported(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake, "x [download-fail]")
    with pytest.raises(ContentError):
        await client.download(video_id, tmp_path / "v.mp4")
    assert fake.stats.count("GET /v1/videos/{video_id}/content") == 4
    assert list(tmp_path.iterdir()) == []


async def test_a_reset_mid_download_is_retried(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="reset", count=1)]
    out = tmp_path / "v.mp4"
    await client.download(video_id, out)
    assert out.read_bytes() == fake.asset_bytes()


async def test_the_thumbnail_variant_is_an_image(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    video_id = await finished_job(client, fake)
    out = tmp_path / "thumb.webp"
    await client.download(video_id, out, variant="thumbnail")
    assert out.read_bytes()[:4] == b"RIFF"


async def test_a_gateway_that_drops_the_variant_is_caught(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    fake.settings.dialect = "litellm"
    video_id = await finished_job(client, fake)
    with pytest.raises(ContentError, match="instead of the media"):
        await client.download(video_id, tmp_path / "thumb.webp", variant="thumbnail")


async def test_main_video_is_asked_for_without_variant(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    fake.settings.dialect = "sglang"
    fake.settings.api_key = None
    video_id = await finished_job(client, fake)
    await client.download(video_id, tmp_path / "v.mp4")
    assert fake.stats.requests[-1].query == {}


async def test_a_cancel_during_a_back_off_leaves_no_partial_file(
    client: VideosClient, fake: FakeVideosServer, tmp_path
) -> None:
    import asyncio

    video_id = await finished_job(client, fake, "x [download-fail]")
    started = asyncio.Event()

    async def hang(_: float) -> None:
        started.set()
        await asyncio.Event().wait()

    client._sleep = hang
    task = asyncio.create_task(client.download(video_id, tmp_path / "v.mp4"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(tmp_path.iterdir()) == []
