"""Originals of delivered videos: kept KEEP_DAYS and within KEEP_MAX_GB (oldest go first), and
only ever served by job id from the downloads directory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.config import load_settings
from bot.service import VideoService, build_service
from bot.store import IdempotencyStore, JobRecord, JobState, JobStore, open_database
from bot.videos import VideosClient

NOW = 1_800_000_000.0
DAY = 86400.0
MIB = 1024 * 1024

MakeService = Callable[..., Any]


@pytest.fixture
async def make_service(tmp_path: Path) -> AsyncIterator[MakeService]:
    opened: list[Any] = []

    async def make(**settings: Any) -> tuple[VideoService, JobStore]:
        values = {
            # Nothing here talks to a provider: a closed port makes sure of it.
            "openai_base_url": "http://127.0.0.1:9/v1",
            "data_dir": tmp_path,
            **settings,
        }
        config = load_settings(**values)
        database = await open_database(config.effective_database_url)
        session = aiohttp.ClientSession()
        opened.extend([database, session])
        client = VideosClient(session, config.openai_base_url)
        service = build_service(config, database, client, sinks={}, clock=lambda: NOW)
        return service, JobStore(database)

    yield make
    for resource in opened:
        await resource.close()


async def delivered(
    service: VideoService, store: JobStore, job_id: str, *, days_ago: float, size: int
) -> Path:
    finished = NOW - days_ago * DAY
    await store.add(
        JobRecord(
            id=job_id,
            state=JobState.DELIVERED,
            prompt="p",
            model="sora-2",
            size="720x1280",
            seconds=4,
            cost="0.40",
            requester_id=1,
            created_at=finished - 60,
            updated_at=finished,
            finished_at=finished,
        )
    )
    service.engine.files.prepare()
    path = service.engine.files.video(job_id)
    path.write_bytes(b"\0" * size)
    # Downloaded when the job finished: old enough for the sweep of unreferenced files.
    os.utime(path, (finished, finished))
    return path


async def test_originals_are_kept_keep_days_then_removed(make_service: MakeService) -> None:
    service, store = await make_service(keep_days=7)
    recent = await delivered(service, store, "aaaaaaaaaaaaaaa1", days_ago=6.5, size=100)
    old = await delivered(service, store, "aaaaaaaaaaaaaaa2", days_ago=7.5, size=100)
    await service.tidy()
    assert recent.exists()
    assert not old.exists()
    assert service.original_file("aaaaaaaaaaaaaaa1") == recent
    assert service.original_file("aaaaaaaaaaaaaaa2") is None


async def test_beyond_the_space_budget_the_oldest_originals_go_first(
    make_service: MakeService,
) -> None:
    service, store = await make_service(keep_days=7, keep_max_gb=2.5 * MIB / 1024**3)
    oldest = await delivered(service, store, "bbbbbbbbbbbbbbb1", days_ago=3, size=MIB)
    middle = await delivered(service, store, "bbbbbbbbbbbbbbb2", days_ago=2, size=MIB)
    newest = await delivered(service, store, "bbbbbbbbbbbbbbb3", days_ago=1, size=MIB)
    kept = await service.engine.retention.trim_originals()
    assert sorted(kept) == ["bbbbbbbbbbbbbbb2", "bbbbbbbbbbbbbbb3"]
    assert not oldest.exists()
    assert middle.exists()
    assert newest.exists()


async def test_a_link_names_a_job_never_a_path(make_service: MakeService, tmp_path: Path) -> None:
    service, store = await make_service()
    await delivered(service, store, "ccccccccccccccc1", days_ago=0, size=10)
    (tmp_path / "secret.mp4").write_bytes(b"not for you")
    for job_id in ("../secret", "..", "CCCCCCCCCCCCCCC1", "ccccccccccccccc1.fit", ""):
        assert service.original_file(job_id) is None
    assert service.original_file("ccccccccccccccc1") is not None


async def test_without_retention_a_delivery_promises_no_original(
    make_service: MakeService,
) -> None:
    service, _ = await make_service(keep_days=0)
    assert service.engine.retention.original_for("ddddddddddddddd1", 5) is None
    service, _ = await make_service(keep_days=7, web_port=8080, public_url="https://v.example")
    original = service.engine.retention.original_for("ddddddddddddddd1", 5)
    assert original is not None
    assert original.kept_until == NOW + 7 * DAY
    assert original.link is not None
    assert original.link.startswith("https://v.example/v/ddddddddddddddd1.mp4?exp=")


async def test_the_janitor_forgets_idempotency_keys_after_a_day(make_service: MakeService) -> None:
    """The OpenAI SDKs assume an Idempotency-Key lives 24 hours: past that, it goes."""
    service, store = await make_service()
    key, _ = await service.keys.create(name="ci", guild_id=1, channels=[2])
    database = service.engine.database

    for idem, age in (("old", 2 * DAY), ("young", DAY / 2)):
        earlier = IdempotencyStore(database, clock=lambda age=age: NOW - age)
        await earlier.claim(key.id, idem, "f")
        await earlier.attach(key.id, idem, f"job-{idem}")
    await service.tidy()
    # A forgotten key is claimed afresh; a remembered one answers with its first job.
    assert await service.keys.claim(key.id, "old", "f") is None
    assert await service.keys.claim(key.id, "young", "f") == ("f", "job-young")
    del store
