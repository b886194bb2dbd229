"""The job runner on its own: resuming stored jobs against the fake Videos API."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from bot.catalogue import default_catalogue
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.jobs.events import Delivery, JobView
from bot.jobs.polling import PollPlanner
from bot.jobs.runner import EXPIRED_MESSAGE, JobRunner
from bot.store import JobRecord, JobState, JobStore, open_database
from bot.videos import CreateRequest, VideosClient


class RecordingFrontEnd:
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
    tmp_path: Path, record_changes: dict[str, object]
) -> tuple[RecordingFrontEnd, JobRecord | None]:
    async with (
        FakeVideosServer(FakeSettings(default_duration=1.0)) as fake,
        aiohttp.ClientSession() as session,
    ):
        client = VideosClient(session, fake.base_url)
        video = await client.create(CreateRequest(prompt="a finished video"))
        fake.advance(10)
        database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
        store = JobStore(database)
        now = time.time()
        values: dict[str, object] = {
            "id": "0badc0de",
            "state": JobState.DOWNLOADING,
            "prompt": "a finished video",
            "model": "sora-2",
            "size": "720x1280",
            "seconds": 4,
            "cost": "0.40",
            "requester_id": 1,
            "channel_id": 2,
            "message_id": 3,
            "created_at": now - 7200,
            "updated_at": now - 7200,
            "submitted_at": now - 7200,
            "provider_video_id": video.id,
            **record_changes,
        }
        await store.add(JobRecord(**values))  # type: ignore[arg-type]
        front_end = RecordingFrontEnd()
        runner = JobRunner(
            client,
            store,
            default_catalogue(),
            listener_factory=lambda _record: front_end,
            work_dir=tmp_path / "downloads",
            planner_factory=lambda _expected: PollPlanner(),
            deadline=3600,
            max_download_bytes=10_000_000,
        )
        await runner.resume(spread=0)
        await asyncio.wait_for(front_end.done.wait(), timeout=10)
        await runner.close()
        stored = await store.get("0badc0de")
        await database.close()
        return front_end, stored


async def test_a_download_link_that_expired_while_offline_is_reported(tmp_path: Path) -> None:
    front_end, stored = await resume_one(tmp_path, {"video_expires_at": time.time() - 60})
    assert front_end.delivered == []
    assert [v.error for v in front_end.failed] == [EXPIRED_MESSAGE]
    assert stored is not None
    assert stored.state is JobState.FAILED


async def test_a_download_still_valid_is_delivered_after_resume(tmp_path: Path) -> None:
    front_end, stored = await resume_one(tmp_path, {"video_expires_at": time.time() + 600})
    assert front_end.failed == []
    assert len(front_end.delivered) == 1
    assert stored is not None
    assert stored.state is JobState.DELIVERED
