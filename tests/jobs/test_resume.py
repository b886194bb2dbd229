"""The service on its own (no Discord): resuming stored jobs against the fake Videos API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import load_settings
from bot.domain import Delivery, JobView
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.jobs.workflow import EXPIRED_MESSAGE
from bot.service import build_service
from bot.store import JobRecord, JobState, JobStore, open_database
from bot.videos import CreateRequest, VideosClient


class RecordingReply:
    """A front end that remembers what it was told (the Discord presenter's stand-in)."""

    def __init__(self) -> None:
        self.failed: list[JobView] = []
        self.delivered: list[Delivery] = []
        self.done = asyncio.Event()

    async def show(self, view: JobView) -> None:
        pass

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        self.delivered.append(Delivery(delivery.path, delivery.size))
        self.done.set()

    async def fail(self, view: JobView) -> None:
        self.failed.append(view)
        self.done.set()

    async def already_delivered(self) -> bool:
        return False


async def resume_one(
    tmp_path: Path, record_changes: dict[str, Any], *, deadline: float = 3600
) -> tuple[RecordingReply, JobRecord | None, FakeVideosServer]:
    async with (
        FakeVideosServer(FakeSettings(default_duration=1.0)) as fake,
        aiohttp.ClientSession() as session,
    ):
        client = VideosClient(session, fake.base_url)
        video = await client.create(CreateRequest(prompt="a finished video"))
        fake.advance(10)
        settings = load_settings(
            openai_base_url=fake.base_url, data_dir=tmp_path, job_deadline=deadline
        )
        database = await open_database(settings.effective_database_url)
        store = JobStore(database)
        now = time.time()
        values: dict[str, Any] = {
            "id": "0badc0de0badc0de",
            "state": JobState.DOWNLOADING,
            "prompt": "a finished video",
            "model": "sora-2",
            "size": "720x1280",
            "seconds": 4,
            "cost": "0.40",
            "requester_id": 1,
            "reply_kind": "test",
            "reply": "{}",
            "created_at": now - 7200,
            "updated_at": now - 7200,
            "submitted_at": now - 7200,
            "provider_video_id": video.id,
            **record_changes,
        }
        await store.add(JobRecord(**values))
        reply = RecordingReply()
        service = build_service(settings, database, client, sinks={"test": lambda _h: reply})
        await service.start(spread=0)
        await asyncio.wait_for(reply.done.wait(), timeout=10)
        await service.close()
        stored = await store.get("0badc0de0badc0de")
        await database.close()
        return reply, stored, fake


async def test_a_download_link_that_expired_while_offline_is_reported(tmp_path: Path) -> None:
    reply, stored, _ = await resume_one(tmp_path, {"video_expires_at": time.time() - 60})
    assert reply.delivered == []
    assert [v.error for v in reply.failed] == [f"{EXPIRED_MESSAGE} (ref 0badc0de0badc0de)"]
    assert stored is not None
    assert stored.state is JobState.EXPIRED


async def test_a_download_still_valid_is_delivered_after_resume(tmp_path: Path) -> None:
    reply, stored, _ = await resume_one(tmp_path, {"video_expires_at": time.time() + 600})
    assert reply.failed == []
    assert len(reply.delivered) == 1
    assert stored is not None
    assert stored.state is JobState.DELIVERED
    # The original stays for its link (VIDEO_BOT_KEEP_DAYS), with its thumbnail.
    kept = sorted(p.name for p in (tmp_path / "downloads").iterdir())
    assert kept == ["0badc0de0badc0de.mp4", "0badc0de0badc0de.thumb.webp"]


async def test_a_job_resumed_long_after_its_deadline_is_read_and_delivered(
    tmp_path: Path,
) -> None:
    # Down for two hours with a one-hour deadline: the provider finished the video meanwhile.
    reply, stored, fake = await resume_one(
        tmp_path, {"state": JobState.RUNNING, "progress": 40}, deadline=3600
    )
    assert reply.failed == []
    assert len(reply.delivered) == 1
    assert stored is not None
    assert stored.state is JobState.DELIVERED
    assert fake.stats.count("GET /v1/videos/{video_id}") >= 1


async def test_a_job_still_running_after_its_deadline_is_read_then_timed_out(
    tmp_path: Path,
) -> None:
    async with FakeVideosServer(FakeSettings(default_duration=100_000.0)) as fake:
        async with aiohttp.ClientSession() as session:
            client = VideosClient(session, fake.base_url)
            video = await client.create(CreateRequest(prompt="slow [duration=100000]"))
        settings = load_settings(openai_base_url=fake.base_url, data_dir=tmp_path)
        database = await open_database(settings.effective_database_url)
        now = time.time()
        await JobStore(database).add(
            JobRecord(
                id="feedfacefeedface",
                state=JobState.RUNNING,
                prompt="slow",
                model="sora-2",
                size="720x1280",
                seconds=4,
                cost="0.40",
                requester_id=1,
                reply_kind="test",
                reply="{}",
                created_at=now - 7200,
                updated_at=now - 7200,
                submitted_at=now - 7200,
                provider_video_id=video.id,
            )
        )
        reply = RecordingReply()
        async with aiohttp.ClientSession() as session:
            service = build_service(
                settings,
                database,
                VideosClient(session, fake.base_url),
                sinks={"test": lambda _h: reply},
            )
            await service.start(spread=0)
            await asyncio.wait_for(reply.done.wait(), timeout=10)
            await service.close()
        stored = await JobStore(database).get("feedfacefeedface")
        await database.close()
    assert fake.stats.count("GET /v1/videos/{video_id}") == 1  # read once, then an honest verdict
    assert stored is not None
    assert stored.state is JobState.TIMED_OUT
    assert "may still finish" in (reply.failed[0].error or "")
