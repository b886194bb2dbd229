"""Writes are few: progress changes the reply, not the store (a regression guard, no timing)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import load_settings
from bot.domain import JobState, JobView, ReplyHandle, Requester
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.service import VideoService
from bot.store import open_database
from bot.videos import VideosClient
from tests.jobs.test_resume import RecordingReply


class Opener:
    async def open(self, view: JobView) -> ReplyHandle:
        return ReplyHandle("test", "{}")


async def test_one_job_costs_a_handful_of_store_writes_however_long_it_runs(
    tmp_path: Path,
) -> None:
    async with (
        FakeVideosServer(FakeSettings(default_duration=4.0)) as fake,
        aiohttp.ClientSession() as session,
    ):
        settings = load_settings(
            openai_base_url=fake.base_url,
            data_dir=tmp_path,
            poll_min_interval=0.1,
            poll_max_interval=0.2,
            poll_fixed_interval=0.2,
        )
        database = await open_database(settings.effective_database_url)
        writes: list[str] = []
        original = database.write

        @contextlib.asynccontextmanager
        async def counted() -> AsyncIterator[Any]:
            writes.append("write")
            async with original() as conn:
                yield conn

        database.write = counted  # type: ignore[method-assign]
        reply = RecordingReply()
        service = VideoService(
            settings,
            database,
            VideosClient(session, fake.base_url),
            sinks={"test": lambda _: reply},
        )
        await service.start(resume=False)
        await service.submit(Requester(1, 2), "a long walk", reply=Opener())
        await asyncio.wait_for(reply.done.wait(), timeout=30)
        async with asyncio.timeout(10):  # the reply has the video; the row follows at once
            while not (record := (await service.store.recent(1))[0]).state.is_final:  # noqa: ASYNC110 - the row is written by the job, no event to await
                await asyncio.sleep(0.02)
        await service.close()
        await database.close()
    assert record.state is JobState.DELIVERED
    reads = fake.stats.count("GET /v1/videos/{video_id}")
    assert reads >= 4  # progress was read several times ...
    # ... and none of it was written: the row, its reply, then one write per state change.
    assert len(writes) <= 8, writes
