"""`video-bot jobs` shows each job's provider, its estimate and bill, and its fallbacks."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bot.domain import JobState
from bot.store import JobRecord, JobStore, open_database
from tests.terminal.test_commands import video_bot_here


async def store_jobs(data_dir: Path, *records: JobRecord) -> None:
    database = await open_database(f"sqlite+aiosqlite:///{data_dir / 'video-bot.sqlite3'}")
    try:
        store = JobStore(database)
        for record in records:
            await store.add(record)
    finally:
        await database.close()


def job(job_id: str, state: JobState, **changes: object) -> JobRecord:
    now = time.time()
    values: dict[str, object] = {
        "id": job_id,
        "state": state,
        "prompt": "a lighthouse at dusk",
        "model": "sora-2",
        "size": "1280x720",
        "seconds": 4,
        "cost": "0.40",
        "requester_id": 1,
        "created_at": now,
        "updated_at": now,
        "finished_at": now if state.is_final else None,
        **changes,
    }
    return JobRecord(**values)  # type: ignore[arg-type]


def row_of(stdout: str, job_id: str) -> str:
    (line,) = [line for line in stdout.splitlines() if line.startswith(job_id)]
    return line


async def test_jobs_shows_the_provider_the_estimate_and_the_bill(tmp_path: Path) -> None:
    await store_jobs(
        tmp_path,
        job("job-billed", JobState.DELIVERED, provider="router", billed_cost="0.36"),
        job("job-estimate", JobState.DELIVERED),
        job("job-fraction", JobState.DELIVERED, provider="router", billed_cost="0.3612"),
        job("job-waiting", JobState.RUNNING, provider="router", cost="1.2"),
    )
    result = await video_bot_here("jobs", env={"VIDEO_BOT_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.code == 0, result.stderr
    header = result.stdout.splitlines()[1]
    for column in ("model", "provider", "provider id", "money", "note"):
        assert column in header, header
    billed = row_of(result.stdout, "job-billed")
    assert "router" in billed
    assert "est. $0.40 → billed $0.36" in billed
    estimate = row_of(result.stdout, "job-estimate")
    assert "default" in estimate
    assert "est. $0.40" in estimate
    assert "billed" not in estimate
    assert "est. $0.40 → billed $0.3612" in row_of(result.stdout, "job-fraction")
    unfinished, finished = result.stdout.split("Recent finished jobs")
    assert "Unfinished jobs: 1" in unfinished
    assert "est. $1.20" in row_of(unfinished, "job-waiting")
    assert "job-billed" in finished


async def test_a_job_that_fell_back_shows_the_models_it_tried(tmp_path: Path) -> None:
    earlier = [
        {
            "model": "wan",
            "provider": "router",
            "failure_kind": "never_started",
            "cost": "0.50",
            "error": "the provider is down",
            "provider_video_id": None,
            "ended_at": time.time(),
        }
    ]
    await store_jobs(
        tmp_path,
        job(
            "job-fell-back",
            JobState.DELIVERED,
            model="veo",
            provider="vertex",
            provider_video_id="video_123",
            billed_cost="0.38",
            earlier_attempts=json.dumps(earlier),
        ),
    )
    result = await video_bot_here("jobs", env={"VIDEO_BOT_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.code == 0, result.stderr
    line = row_of(result.stdout, "job-fell-back")
    cells = [cell for cell in line.split("  ") if cell.strip()]
    assert [c.strip() for c in cells[:3]] == ["job-fell-back", "delivered", "wan → veo"]
    assert "vertex" in line
    assert "video_123" in line
    assert "est. $0.40 → billed $0.38" in line
    assert "All jobs by state: delivered 1" in result.stdout
