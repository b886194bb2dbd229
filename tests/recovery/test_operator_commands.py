"""Operator-facing start-up and listing, as subprocesses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.recovery.conftest import World
from tests.recovery.test_crash_recovery import until_running, video
from tests.terminal.test_commands import video_bot


async def test_a_read_only_database_stops_start_up_before_discord_is_called(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    sqlite3.connect(path).close()
    env = {
        "DISCORD_TOKEN": "not-used",
        "DATABASE_URL": f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true",
    }
    result = await video_bot("run", env=env, cwd=tmp_path)
    assert result.code == 2
    assert "read-only" in result.stderr
    assert "Traceback" not in result.stderr
    assert "not-used" not in result.stderr


async def test_jobs_lists_unfinished_and_finished_jobs(world: World) -> None:
    await world.start_bot()
    await video(world, "quick one [duration=1]")
    await world.wait_states(["delivered"])
    await video(world, "slow one [duration=600]")
    await until_running(world, ["delivered"])
    assert await world.stop() == 0

    result = await video_bot(
        "jobs", env={"VIDEO_BOT_DATA_DIR": str(world.data_dir)}, cwd=world.data_dir
    )
    assert result.code == 0, result.stderr
    unfinished, finished = result.stdout.split("Recent finished jobs")
    assert "Unfinished jobs: 1" in unfinished
    assert "running" in unfinished
    assert "delivered" in finished
    assert "fake-token" not in result.stdout


async def test_run_demo_serves_videos_from_the_built_in_fake(world: World) -> None:
    world.env["OPENAI_BASE_URL"] = "https://api.openai.com/v1"  # ignored in demo mode
    await world.start_bot("--demo")
    it = await video(world, "a demo video [duration=1]")
    await it.wait_for(
        lambda i: i.original is not None and "Your video is ready" in str(i.original.embeds),
        timeout=30,
    )
    assert it.original is not None
    assert "nothing is billed" in str(it.original.embeds)
    assert it.original.attachments[0].data[4:8] == b"ftyp"  # a real MP4 from the demo fake
    assert world.videos.stats.count("POST /v1/videos") == 0  # the test's fake was not used
    assert await world.stop() == 0
