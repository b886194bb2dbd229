"""`video-bot worker`: jobs accepted by `run` are made and posted by another process."""

from __future__ import annotations

from tests.discord_adapter.test_video_command import embed, finished
from tests.scale.conftest import Cluster


async def test_a_worker_makes_and_posts_the_videos_run_accepts(cluster: Cluster) -> None:
    await cluster.start("run", "run", VIDEO_BOT_RUN_JOBS="false")
    await cluster.start("worker")
    it = await cluster.video("a lighthouse at dusk [duration=1]")
    message = await it.wait_for(finished, timeout=60)
    assert embed(message)["title"] == "Your video is ready"
    rows = await cluster.wait_states(["delivered"])
    assert rows[0]["lease_owner"].split(":")[1] == str(cluster.processes["worker"].pid)
    assert len(cluster.uploads()) == 1
    assert cluster.videos.stats.count("POST /v1/videos") == 1
    assert "provider video" not in cluster.log("run")
    assert "Traceback" not in cluster.log()
    cluster.discord.assert_spec_clean()
