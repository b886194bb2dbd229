"""A bot-side failure never costs a member their video; money is what the provider may bill.

The real bot between the fakes, with faults of the provider, of Discord and of the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain import JobState
from bot.fake_api import FakeSettings, Fault
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_guardrails import answered, button, refused_with, shows
from tests.discord_adapter.test_video_command import embed, embed_text, finished
from tests.fakes.discord import FakeInteraction
from tests.fakes.discord.server import uploads_video

WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"


@contextlib.asynccontextmanager
async def store_locked(path: Path) -> AsyncIterator[None]:
    """Another process holds the SQLite write lock for as long as the block runs."""
    release = threading.Event()
    locked = threading.Event()

    def hold_the_lock() -> None:
        conn = sqlite3.connect(path, timeout=30)
        conn.isolation_level = None
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(60)
        conn.execute("ROLLBACK")
        conn.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        await asyncio.to_thread(locked.wait, 10)
        yield
    finally:
        release.set()
        await asyncio.to_thread(holder.join)


def delivered_video(h: Harness, it: FakeInteraction) -> bool:
    message = it.final_message
    return (
        message is not None
        and [a.data for a in message.videos] == [h.videos.asset_bytes()]
        and embed(message)["title"] == "Your video is ready"
    )


async def test_stop_following_still_counts_against_the_daily_limit(tmp_path: Path) -> None:
    # The provider may finish (and bill) a job nobody follows: pressing "Stop following" after
    # each submission must not let a member with one video a day make five.
    async with running_harness(tmp_path, user_daily_count=1) as h:
        first = await h.video("forever [duration=6000]")
        await first.wait_for(lambda i: (b := button(i)) and b["label"] == "Stop following", 10)
        control = button(first)
        assert control is not None
        assert first.original is not None
        click = await h.discord.send_component_interaction(
            first.original, control["custom_id"], h.member
        )
        await answered(click)
        record = await h.final_record()
        assert record.state is JobState.ABANDONED

        second = await h.video("and another one")
        await answered(second)
        assert "1 of your 1 videos" in refused_with(second)
        assert h.creates == 1


async def test_content_not_ready_right_after_completion_is_fetched_again(tmp_path: Path) -> None:
    async with running_harness(tmp_path, content_wait=120) as h:
        h.videos.settings.faults = [Fault(endpoint="content", kind="404", count=2)]
        it = await h.video("a slow file [duration=1]")
        await it.wait_for(lambda i: delivered_video(h, i), timeout=30)
        assert (await h.final_record()).state is JobState.DELIVERED
        videos = [
            r
            for r in h.videos.stats.requests
            if r.route == "/v1/videos/{video_id}/content" and "variant" not in r.query
        ]
        assert len(videos) == 3  # two 404s, then the file


async def test_a_failed_upload_is_retried_and_never_refunded(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_daily_count=1) as h:
        h.discord.fail_requests("PATCH", WEBHOOK_MESSAGE, status=400, code=50035, with_files=True)
        it = await h.video("a kite over the dunes [duration=1]")
        await it.wait_for(lambda i: delivered_video(h, i), timeout=30)
        record = await h.final_record()
        assert record.state is JobState.DELIVERED
        uploads = [r for r in h.discord.requests if r.files and r.status == 200]
        assert len(uploads) == 1
        assert h.creates == 1
        h.discord.assert_spec_clean()


async def test_a_store_locked_for_a_while_delays_delivery_but_loses_nothing(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path, edit_interval=0.5) as h:
        it = await h.video("through the lock [duration=600]")
        await it.wait_for(lambda i: shows(i, "Generating") or shows(i, "Queued at"), timeout=10)
        async with store_locked(tmp_path / "video-bot.sqlite3"):
            h.videos.advance(600)  # finished: every next step writes to the locked store
            await it.wait_for(lambda i: shows(i, "Delivery delayed"), timeout=40)
        await it.wait_for(lambda i: delivered_video(h, i), timeout=60)
        assert (await h.final_record(within=20)).state is JobState.DELIVERED
        assert h.creates == 1


@pytest.mark.parametrize("gone", ["message", "channel", "bot removed"])
async def test_a_reply_that_is_gone_ends_undeliverable_with_the_file_kept(
    tmp_path: Path, gone: str
) -> None:
    async with running_harness(tmp_path, fake_settings=FakeSettings(default_duration=2)) as h:
        it = await h.video("nobody will see this [duration=600]")
        await it.wait_for(lambda i: shows(i, "Generating") or shows(i, "Queued at"), timeout=10)
        assert it.original is not None
        if gone == "message":
            h.discord.delete_message(it.original)
        elif gone == "channel":
            h.discord.delete_channel(h.channel)
        else:
            h.discord.remove_bot(h.guild)
        h.videos.advance(600)
        record = await h.final_record(within=30)
        assert record.state is JobState.UNDELIVERABLE
        kept = tmp_path / "downloads" / f"{record.id}.mp4"
        assert kept.read_bytes() == h.videos.asset_bytes()  # an operator can still send it on
        assert record.handle is not None
        assert record.handle.secret is None
        assert h.creates == 1


async def test_the_backlog_is_bounded_per_member(tmp_path: Path) -> None:
    async with running_harness(tmp_path, max_jobs_per_user=1, max_queued_per_user=1) as h:
        running = await h.video("first [duration=600]")
        await running.wait_for(lambda i: shows(i, "Generating") or shows(i, "Queued at"), 10)
        waiting = await h.video("second [duration=1]")
        await waiting.wait_for(lambda i: shows(i, "position 1"), timeout=10)
        third = await h.video("third")
        await answered(third)
        assert "already have 1 videos waiting" in refused_with(third)
        assert h.creates == 1


async def test_videos_shows_what_is_charged_and_what_was_refunded(tmp_path: Path) -> None:
    async with running_harness(tmp_path) as h:
        done = await h.video("a kite [duration=1]")
        await done.wait_for(finished, timeout=20)
        failed = await h.video("a crash [fail] [duration=1]")
        message = await failed.wait_for(finished, timeout=20)
        assert "could not generate" in embed_text(message)
        await h.final_record()
        it = await h.discord.send_interaction(
            "videos", [], guild=h.guild, channel=h.channel, member=h.member
        )
        await answered(it)
        data = it.callbacks[0].data
        assert data is not None
        text = str(data["embeds"])
        assert "Charged: $0.40" in text
        assert "Refunded: $0.40 (1 video)" in text
        assert "Unknown (may be billed): $0.00" in text


async def test_stopping_a_job_whose_create_is_in_flight_is_honest_and_counted(
    tmp_path: Path,
) -> None:
    # The create reached the provider but its answer has not come back: stopping it cannot
    # promise that nothing was sent, and its cost stays counted (as unknown).
    async with running_harness(tmp_path) as h:
        h.videos.settings.faults = [
            Fault(endpoint="create", kind="create-then-hang", count=1, delay=30)
        ]
        it = await h.video("in flight [duration=1]")
        await it.wait_for(lambda i: (b := button(i)) and b["label"] == "Stop following", 10)
        control = button(it)
        assert control is not None
        assert it.original is not None
        click = await h.discord.send_component_interaction(
            it.original, control["custom_id"], h.member
        )
        await answered(click)
        assert "may still finish" in refused_with(click)
        assert "nothing was sent" not in refused_with(click)
        record = await h.final_record()
        assert record.state is JobState.ABANDONED
        usage = await h.bot.service.usage(since=0)
        assert str(usage.unknown) == "0.40"
        assert str(usage.refunded) == "0.00"


async def test_a_disk_error_while_downloading_is_retried(tmp_path: Path) -> None:
    # Where the download should go is unusable for a while (a file in the way of the directory,
    # as a full or broken disk would be): the bot keeps trying and delivers once it can write.
    async with running_harness(tmp_path) as h:
        blocker = tmp_path / "downloads"
        blocker.write_bytes(b"in the way")
        it = await h.video("to a broken disk [duration=1]")
        await it.wait_for(lambda i: shows(i, "Delivery delayed"), timeout=30)
        blocker.unlink()
        await it.wait_for(lambda i: delivered_video(h, i), timeout=60)
        assert (await h.final_record()).state is JobState.DELIVERED
        assert h.creates == 1


async def test_a_store_failure_after_the_upload_never_undoes_the_delivered_video(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path) as h:
        h.discord.hold_responses("PATCH", WEBHOOK_MESSAGE, 1.0, with_video=True)
        it = await h.video("delivered, then trouble [duration=1]")
        await h.discord.wait_for(
            lambda: [r for r in h.discord.requests if uploads_video(r.files) and r.status == 200],
            timeout=30,
        )
        # While the upload's answer is held back, recording DELIVERED fails.
        async with store_locked(tmp_path / "video-bot.sqlite3"):
            await asyncio.sleep(7)  # past the store's 5 s busy timeout
        record = await h.final_record(within=30)
        assert record.state is JobState.DELIVERED
        assert delivered_video(h, it)  # the video is still in the reply
        assert len([r for r in h.discord.requests if r.files and r.status == 200]) == 1
