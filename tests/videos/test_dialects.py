"""The client and tracker work against every server dialect the field notes describe."""

from __future__ import annotations

import pytest

from bot.fake_api import FakeVideosServer
from bot.jobs.polling import PollPlanner
from bot.jobs.tracking import Update, track
from bot.videos import CreateRequest, JobFailedError, JobLostError, JobState, VideosClient

DIALECTS = ["openai", "sglang", "vllm_omni", "trtllm", "newapi", "litellm"]
PROGRESS_REPORTED = {"openai", "vllm_omni", "litellm"}


def request_for(dialect: str, prompt: str) -> CreateRequest:
    """What an operator's catalogue would send to each kind of server."""
    if dialect == "vllm_omni":
        return CreateRequest(prompt=prompt, size="1280x720", seconds="4")  # model left out
    if dialect == "trtllm":
        return CreateRequest(prompt=prompt, model="sora-2", size="1280x720", seconds="4.0")
    return CreateRequest(prompt=prompt, model="sora-2", size="1280x720", seconds="4")


async def follow(
    client: VideosClient, fake: FakeVideosServer, video_id: str, updates: list[Update]
) -> object:
    """Track a job on fake time: each sleep advances the fake's clock instead of waiting."""
    clock = [0.0]

    async def fake_sleep(seconds: float) -> None:
        clock[0] += seconds
        fake.advance(seconds)

    async def on_update(update: Update) -> None:
        updates.append(update)

    return await track(
        client,
        video_id,
        planner=PollPlanner(min_interval=0.5, max_interval=30, fixed_interval=2),
        deadline=600,
        on_update=on_update,
        clock=lambda: clock[0],
        sleep=fake_sleep,
        started_at=0.0,
    )


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest, fake: FakeVideosServer) -> str:
    fake.settings.dialect = request.param
    if request.param in ("sglang", "vllm_omni"):
        fake.settings.api_key = None  # these servers do not authenticate
    return str(request.param)


async def test_a_job_runs_to_a_playable_download(
    client: VideosClient, fake: FakeVideosServer, dialect: str, tmp_path
) -> None:
    created = await client.create(request_for(dialect, "a red kite over hills [duration=30]"))
    assert created.state in (JobState.QUEUED, JobState.RUNNING)
    updates: list[Update] = []
    finished = await follow(client, fake, created.id, updates)
    assert finished.state is JobState.COMPLETED  # type: ignore[attr-defined]
    assert updates[-1].state is JobState.COMPLETED
    assert all(u.progress is None or 0 <= u.progress <= 100 for u in updates)
    out = tmp_path / "video.mp4"
    size = await client.download(created.id, out)
    assert out.read_bytes() == fake.asset_bytes()
    assert size == len(fake.asset_bytes())
    # Polling stayed sparse: with progress a 30 s job takes a handful of reads; without it,
    # reads settle at the fixed interval (2 s here) rather than a 1 s hammer.
    reads = fake.stats.count("GET /v1/videos/{video_id}")
    assert reads <= (14 if dialect in PROGRESS_REPORTED else 22)


async def test_a_failed_job_surfaces_its_reason(
    client: VideosClient, fake: FakeVideosServer, dialect: str
) -> None:
    created = await client.create(request_for(dialect, "please [fail] [duration=20]"))
    with pytest.raises(JobFailedError) as caught:
        await follow(client, fake, created.id, [])
    assert not caught.value.refused


async def test_a_refusal_is_told_apart(client: VideosClient, fake: FakeVideosServer) -> None:
    created = await client.create(CreateRequest(prompt="something [refuse]"))
    with pytest.raises(JobFailedError) as caught:
        await follow(client, fake, created.id, [])
    assert caught.value.refused
    assert "content policy" in caught.value.user_message


async def test_a_job_lost_mid_way_is_reported(client: VideosClient, fake: FakeVideosServer) -> None:
    created = await client.create(CreateRequest(prompt="vanishing [lost] [duration=20]"))
    with pytest.raises(JobLostError):
        await follow(client, fake, created.id, [])


async def test_long_ids_survive_the_round_trip(
    client: VideosClient, fake: FakeVideosServer
) -> None:
    fake.settings.dialect = "newapi"
    created = await client.create(request_for("newapi", "x"))
    assert len(created.id) > 100
    assert (await client.retrieve(created.id)).id == created.id


async def test_server_poll_hint_is_honoured(client: VideosClient, fake: FakeVideosServer) -> None:
    fake.settings.poll_after_ms = 2500
    created = await client.create(CreateRequest(prompt="x"))
    poll = await client.poll(created.id)
    assert poll.poll_after == 2.5
