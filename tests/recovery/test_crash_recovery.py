"""SIGKILL the real bot at each state of a job, restart it: one create, one delivery, no loss."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.fake_api import Fault
from tests.fakes.discord import FakeInteraction
from tests.recovery.conftest import World

WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"


async def video(world: World, prompt: str) -> FakeInteraction:
    return await world.discord.send_interaction(
        "video",
        [{"name": "prompt", "type": 3, "value": prompt}],
        guild=world.guild,
        channel=world.channel,
        member=world.member,
    )


def title(it: FakeInteraction) -> str:
    message = it.original
    if message is None or not message.embeds:
        return ""
    return str(message.embeds[0].get("title", ""))


async def until_running(world: World, others: list[str] | None = None) -> None:
    """The newest job is at the provider; move the fake past its queue phase to running."""
    before = others or []
    await world.wait_states([*before, "submitted"])
    world.videos.advance(100)
    await world.wait_states([*before, "running"])


async def until_created(world: World) -> None:
    """The create has reached the fake server (its answer may still be held back)."""
    async with asyncio.timeout(10):
        while world.videos.stats.count("POST /v1/videos") < 1:  # noqa: ASYNC110 - the fake's count
            await asyncio.sleep(0.02)


def arrange(world: World, state: str) -> str:
    """Make the job stop in `state` long enough to be killed there; return its prompt."""
    if state == "submitting":  # the create reached the server; its answer never comes back
        world.videos.settings.faults = [
            Fault(endpoint="create", kind="create-then-hang", count=1, delay=120)
        ]
        return "a storm over the sea [duration=1]"
    if state in ("submitted", "running"):
        return "a storm over the sea [duration=600]"
    if state == "downloading":
        world.videos.settings.faults = [Fault(endpoint="content", kind="slow", count=1, delay=120)]
        return "a storm over the sea [duration=1]"
    if state == "delivering":  # the upload is applied but its answer is held back
        world.discord.hold_responses("PATCH", WEBHOOK_MESSAGE, 120, with_video=True)
        return "a storm over the sea [duration=1]"
    raise AssertionError(state)


def release(world: World) -> None:
    world.videos.settings.faults = []
    world.discord.release_holds()
    world.videos.advance(3600)


@pytest.mark.parametrize(
    "state", ["submitting", "submitted", "running", "downloading", "delivering"]
)
async def test_killed_in_any_state_the_job_is_finished_exactly_once(
    world: World, state: str
) -> None:
    prompt = arrange(world, state)
    await world.start_bot()
    it = await video(world, prompt)
    if state == "running":
        await until_running(world)
    await world.wait_states([state])
    if state == "submitting":
        # SUBMITTING is committed just before the create leaves: killed in between, the job
        # never reached the server and is (rightly) failed and refunded, not resent.
        await until_created(world)
    if state == "delivering":
        await world.discord.wait_for(world.uploads, timeout=10)
    await world.kill()

    release(world)
    await world.start_bot()
    await world.wait_states(["delivered"], limit=40)
    await it.wait_for(lambda i: title(i) == "Your video is ready", timeout=10)

    assert world.videos.stats.count("POST /v1/videos") == 1, world.log()
    assert len(world.videos.state.jobs) == 1
    uploads: list[Any] = world.uploads()
    assert len(uploads) == 1
    assert uploads[0].files[0].data == world.videos.asset_bytes()
    assert it.original is not None
    assert it.original.attachments[0].data == world.videos.asset_bytes()
    # Beside the video, only its thumbnail.
    assert [a.filename for a in it.original.attachments[1:]] == ["thumbnail.webp"]
    assert "Traceback" not in world.log()
    world.discord.assert_spec_clean()
    assert await world.stop() == 0
    # Nothing left behind but the original and its thumbnail, kept for its link.
    downloads = world.data_dir / "downloads"
    assert sorted(p.name.split(".", 1)[1] for p in downloads.iterdir()) == ["mp4", "thumb.webp"]


async def test_a_job_waiting_for_a_slot_is_started_after_a_restart(world: World) -> None:
    world.env["VIDEO_BOT_MAX_CONCURRENT_JOBS"] = "1"
    await world.start_bot()
    first = await video(world, "the long one [duration=600]")
    await until_running(world)
    second = await video(world, "the next one [duration=1]")
    await world.wait_states(["running", "accepted"])
    await world.wait_replied()  # waiting for a slot, and its member told so
    await world.kill()

    world.videos.advance(600)
    await world.start_bot()
    await world.wait_states(["delivered", "delivered"], limit=40)
    for it in (first, second):
        await it.wait_for(lambda i: title(i) == "Your video is ready", timeout=10)
    assert world.videos.stats.count("POST /v1/videos") == 2
    assert len(world.uploads()) == 2


async def test_after_the_token_expired_the_restarted_bot_edits_through_the_channel(
    world: World,
) -> None:
    await world.start_bot()
    it = await video(world, "a very long take [duration=600]")
    await until_running(world)
    await world.kill()

    world.discord.advance(20 * 60)
    world.videos.advance(600)
    await world.start_bot()
    await world.wait_states(["delivered"], limit=40)
    await it.wait_for(lambda i: title(i) == "Your video is ready", timeout=10)
    late = [e for e in it.edits if e.at - it.created_at > 15 * 60]
    assert late
    assert all(e.via == "channel" for e in late)
    assert it.count_50027 <= 1  # the child's clock is not the fake's: at most one try
    assert it.original is not None
    assert it.original.attachments[0].data == world.videos.asset_bytes()
    # Beside the video, only its thumbnail.
    assert [a.filename for a in it.original.attachments[1:]] == ["thumbnail.webp"]


async def test_a_job_the_provider_lost_during_the_restart_is_reported_lost(world: World) -> None:
    await world.start_bot()
    it = await video(world, "forgotten [duration=600]")
    await until_running(world)
    await world.kill()

    world.videos.restart()
    await world.start_bot()
    await world.wait_states(["lost"], limit=30)
    await it.wait_for(lambda i: title(i) == "No video this time", timeout=10)
    assert it.original is not None
    assert "lost this job" in str(it.original.embeds[0])
    assert world.videos.stats.count("POST /v1/videos") == 1


async def test_sigterm_shuts_down_gracefully_and_the_job_continues_after(world: World) -> None:
    await world.start_bot()
    it = await video(world, "over the restart [duration=600]")
    await until_running(world)
    assert await world.stop() == 0
    assert list(world.states().values()) == ["running"]

    world.videos.advance(600)
    await world.start_bot()
    await world.wait_states(["delivered"], limit=40)
    await it.wait_for(lambda i: title(i) == "Your video is ready", timeout=10)
    assert world.videos.stats.count("POST /v1/videos") == 1


async def test_down_longer_than_the_deadline_the_finished_video_is_still_delivered(
    world: World,
) -> None:
    # The provider finished the video while the bot was down for longer than its deadline:
    # the job is read again on resume and delivered, not failed unread.
    world.env["VIDEO_BOT_JOB_DEADLINE"] = "4"
    await world.start_bot()
    it = await video(world, "a long night [duration=600]")
    await until_running(world)
    await world.kill()

    world.videos.advance(600)
    world.env["CLOCK_AHEAD"] = "10"  # to the restarted bot, it was down past the deadline
    await world.start_bot()
    await world.wait_states(["delivered"], limit=40)
    await it.wait_for(lambda i: title(i) == "Your video is ready", timeout=10)
    assert world.videos.stats.count("POST /v1/videos") == 1
    assert len(world.uploads()) == 1
