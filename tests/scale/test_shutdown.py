"""SIGTERM: `run` and `worker` on PostgreSQL stop cleanly, their store closed to the end."""

from __future__ import annotations

from tests.discord_adapter.test_video_command import finished
from tests.scale.conftest import Cluster


async def test_run_and_worker_stop_cleanly_on_sigterm(cluster: Cluster) -> None:
    await cluster.start("run", "run", VIDEO_BOT_RUN_JOBS="false")
    await cluster.start("worker")
    it = await cluster.video("a lighthouse at dusk [duration=1]")
    await it.wait_for(finished, timeout=60)
    await cluster.wait_states(["delivered"])
    assert await cluster.stop("run") == 0
    assert await cluster.stop("worker") == 0
    # The shutdown a signal starts used to be cut short when the gateway had stopped: the
    # event loop ended while the store's connections were closing ("Exception closing
    # connection ... CancelledError").
    logs = cluster.log()
    assert "ERROR" not in logs, logs
    assert "Traceback" not in logs
