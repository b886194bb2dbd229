"""The service's own costs stay small: a handful of store writes per job, whatever its length,
and no CPU-heavy work on the event loop (regression guards, no timing)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from bot.config import load_settings
from bot.domain import JobState, JobView, ReplyHandle, Requester, Upload
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.service import build_service
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
        service = build_service(
            settings,
            database,
            VideosClient(session, fake.base_url),
            sinks={"test": lambda _: reply},
        )
        await service.start(resume=False)
        await service.submit(Requester(1, 2), "a long walk", reply=Opener())
        await asyncio.wait_for(reply.done.wait(), timeout=30)
        async with asyncio.timeout(10):  # the reply has the video; the row follows at once
            while not (record := (await service.engine.store.recent(1))[0]).state.is_final:  # noqa: ASYNC110 - the row is written by the job, no event to await
                await asyncio.sleep(0.02)
        await service.close()
        await database.close()
    assert record.state is JobState.DELIVERED
    reads = fake.stats.count("GET /v1/videos/{video_id}")
    assert reads >= 4  # progress was read several times ...
    # ... and none of it was written: the row, its reply, then one write per state change.
    assert len(writes) <= 8, writes


async def test_fitting_a_large_reference_leaves_the_event_loop_free(tmp_path: Path) -> None:
    # 6,000 x 6,000 pixels (within every limit) take a good part of a second to decode and
    # scale: the service does it in its worker pool, so the loop keeps turning meanwhile.
    picture = io.BytesIO()
    Image.new("RGB", (6000, 6000), "teal").save(picture, format="PNG")
    data = picture.getvalue()
    opened = asyncio.Event()
    turns = 0

    class RecordingOpener:
        async def open(self, view: JobView) -> ReplyHandle:
            opened.set()
            return ReplyHandle("test", "{}")

    async def count_turns() -> None:
        nonlocal turns
        while not opened.is_set():
            turns += 1
            await asyncio.sleep(0)

    ticker: list[asyncio.Task[None]] = []

    async def read() -> bytes:
        ticker.append(asyncio.create_task(count_turns()))  # from here on, count loop turns
        return data

    async with FakeVideosServer(FakeSettings(default_duration=1.0)) as fake:
        settings = load_settings(openai_base_url=fake.base_url, data_dir=tmp_path)
        database = await open_database(settings.effective_database_url)
        async with aiohttp.ClientSession() as session:
            service = build_service(
                settings, database, VideosClient(session, fake.base_url), sinks={}
            )
            await service.submit(
                Requester(1, 2),
                "a teal field",
                reply=RecordingOpener(),
                size="1280x720",
                reference=Upload("image/png", len(data), "field.png", read),
            )
            await ticker[0]
            await service.close(grace=0)
        await database.close()
    # Fitting on the loop leaves at most a few hundred turns (the store's own waits) between
    # reading the picture and opening the reply; in the pool the loop turns hundreds of
    # thousands of times while the picture is scaled.
    assert turns > 10_000, turns
