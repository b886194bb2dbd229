"""track() with the real planner against the fake Videos API, on the fake's clock.

Every sleep of the tracker advances the fake's clock instead of waiting, so these tests are
not timing-based: they check how many status reads a job costs and how late its completion
is seen, with and without the server's `openai-poll-after-ms` hint.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.fake_api import FakeSettings, FakeVideosServer
from bot.jobs.polling import PollPlanner
from bot.jobs.tracking import Update, track
from bot.videos import CreateRequest, JobState, RetryPolicy, Timeouts, VideosClient

RETRIEVE = "GET /v1/videos/{video_id}"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def follow(
    session: aiohttp.ClientSession, duration: float, hint_ms: int | None
) -> tuple[int, float, list[Update]]:
    """Create one job of `duration` s and track it; (status reads, lag after completion)."""
    settings = FakeSettings(default_duration=duration, poll_after_ms=hint_ms)
    async with FakeVideosServer(settings) as fake:
        client = VideosClient(
            session,
            fake.base_url,
            timeouts=Timeouts(connect=2, request=5, download=10),
            retry=RetryPolicy(max_retries=0),
        )

        async def fake_sleep(seconds: float) -> None:
            fake.advance(seconds)

        updates: list[Update] = []

        async def on_update(update: Update) -> None:
            updates.append(update)

        submitted = fake.state.now()
        created = await client.create(CreateRequest(prompt="a lighthouse at dusk"))
        finished = await track(
            client,
            created.id,
            planner=PollPlanner(min_interval=0.5, max_interval=30.0, fixed_interval=5.0),
            deadline=3600,
            on_update=on_update,
            clock=fake.state.now,
            sleep=fake_sleep,
            started_at=submitted,
        )
        assert finished.state is JobState.COMPLETED
        job = fake.state.jobs[created.id]
        lag = fake.state.now() - (job.started + job.duration)
        return fake.stats.count(RETRIEVE), lag, updates


@pytest.mark.parametrize("hint_ms", [None, 1000])
@pytest.mark.parametrize(("duration", "most_reads"), [(20.0, 4), (45.0, 6), (120.0, 10)])
async def test_a_job_costs_few_reads_and_is_seen_within_a_second(
    session: aiohttp.ClientSession, duration: float, most_reads: int, hint_ms: int | None
) -> None:
    reads, lag, updates = await follow(session, duration, hint_ms)
    assert 0 <= lag <= 1.0
    assert reads <= most_reads
    sdk = math.ceil(duration) + 1  # one read at once, then one a second
    assert reads * 5 <= sdk
    assert updates[-1].state is JobState.COMPLETED


async def test_the_first_read_waits_for_the_first_ramp_step(
    session: aiohttp.ClientSession,
) -> None:
    _, _, updates = await follow(session, 60.0, None)
    assert updates[0].elapsed >= 2.5  # the create answer was the first look
    assert updates[0].state is JobState.QUEUED
    # Once running, the estimate counts from the running phase: the ETA is close to the truth.
    running = [u for u in updates if u.state is JobState.RUNNING and u.eta is not None]
    assert running
    last = running[-1]
    assert last.eta is not None
    assert abs(last.elapsed + last.eta - 60.0) <= 3.0
