"""A worker killed or stalled in any state: another takes its jobs over within the lease, and
each job is created once at the provider and posted once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from bot.fake_api import Fault
from tests.discord_adapter.test_video_command import embed, finished
from tests.scale.conftest import LEASE_SECONDS, Cluster

WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
PROMPT = "a storm over the sea"


def arrange(cluster: Cluster, state: str) -> str:
    """Make the job stay in `state` long enough to stop its worker there; return its prompt."""
    if state == "submitting":  # the create reached the server; its answer never comes back
        cluster.videos.settings.faults = [
            Fault(endpoint="create", kind="create-then-hang", count=1, delay=120)
        ]
        return f"{PROMPT} [duration=1]"
    if state in ("submitted", "running"):
        return f"{PROMPT} [duration=600]"
    if state == "downloading":
        cluster.videos.settings.faults = [
            Fault(endpoint="content", kind="slow", count=1, delay=120)
        ]
        return f"{PROMPT} [duration=1]"
    if state == "delivering":  # the upload is applied but its answer is held back
        cluster.discord.hold_responses("PATCH", WEBHOOK_MESSAGE, 120, with_video=True)
        return f"{PROMPT} [duration=1]"
    raise AssertionError(state)


async def reach(cluster: Cluster, state: str) -> None:
    """Until the job is in `state` under the first worker's lease."""
    if state == "running":
        await cluster.wait_states(["submitted"])
        cluster.videos.advance(100)
    rows = await cluster.wait_states([state])
    assert rows[0]["lease_owner"] is not None
    if state == "submitting":
        # SUBMITTING is committed just before the create leaves: stopped in between, the job
        # never reached the server and is (rightly) failed and refunded, not resent.
        async with asyncio.timeout(10):
            while cluster.videos.stats.count("POST /v1/videos") < 1:  # noqa: ASYNC110 - the fake's count
                await asyncio.sleep(0.02)
    if state == "delivering":
        await cluster.discord.wait_for(cluster.uploads, timeout=10)


def release(cluster: Cluster) -> None:
    cluster.videos.settings.faults = []
    cluster.discord.release_holds()
    cluster.videos.advance(3600)


@pytest.mark.parametrize(
    "state", ["submitting", "submitted", "running", "downloading", "delivering"]
)
async def test_a_killed_workers_job_is_finished_once_by_another(
    cluster: Cluster, state: str
) -> None:
    await cluster.start("run", "run", VIDEO_BOT_RUN_JOBS="false")
    await cluster.start("first")
    it = await cluster.video(arrange(cluster, state))
    await reach(cluster, state)
    generation = (await cluster.rows())[0]["lease_generation"]
    await cluster.kill("first")
    release(cluster)

    await cluster.start("second")
    message = await it.wait_for(finished, timeout=60)
    assert embed(message)["title"] == "Your video is ready"
    rows = await cluster.wait_states(["delivered"])
    # Taken over: a new owner under a newer lease, after the old one ran out.
    assert rows[0]["lease_owner"].split(":")[1] == str(cluster.processes["second"].pid)
    assert rows[0]["lease_generation"] == generation + 1
    assert "took over job" in cluster.log("second")
    # Once at the provider, once in the channel.
    assert cluster.videos.stats.count("POST /v1/videos") == 1
    assert len(cluster.uploads()) == 1
    assert "Traceback" not in cluster.log()


@pytest.mark.parametrize("state", ["running", "downloading"])
async def test_a_stalled_worker_whose_lease_ran_out_cannot_post_afterwards(
    cluster: Cluster, state: str
) -> None:
    await cluster.start("run", "run", VIDEO_BOT_RUN_JOBS="false")
    await cluster.start("stalled")
    it = await cluster.video(arrange(cluster, state))
    await reach(cluster, state)
    cluster.pause("stalled")  # SIGSTOP: alive, holding its lease, doing nothing
    await asyncio.sleep(LEASE_SECONDS)
    await cluster.start("second")
    release(cluster)
    message = await it.wait_for(finished, timeout=60)
    assert embed(message)["title"] == "Your video is ready"
    await cluster.wait_states(["delivered"])

    cluster.resume("stalled")  # it wakes up believing it still has the job
    await asyncio.sleep(LEASE_SECONDS * 2)
    stalled = cluster.log("stalled")
    assert "lease" in stalled, stalled
    assert len(cluster.uploads()) == 1
    assert cluster.videos.stats.count("POST /v1/videos") == 1
    rows = await cluster.rows()
    assert rows[0]["lease_owner"].split(":")[1] == str(cluster.processes["second"].pid)
    assert "Traceback" not in cluster.log()


async def test_a_worker_stopped_cleanly_hands_its_jobs_over_at_once(cluster: Cluster) -> None:
    """SIGTERM: the worker gives its leases back as it stops; with leases of a minute, the
    next worker finishes the job long before the old lease would have run out."""
    minute = {"VIDEO_BOT_LEASE_SECONDS": "60"}
    await cluster.start("run", "run", VIDEO_BOT_RUN_JOBS="false", **minute)
    await cluster.start("first", **minute)
    it = await cluster.video(f"{PROMPT} [duration=600]")
    await reach(cluster, "submitted")
    assert await cluster.stop("first") == 0
    assert "handed 1 job(s) back" in cluster.log("first")
    await cluster.start("second", **minute)
    cluster.videos.advance(3600)
    message = await it.wait_for(finished, timeout=30)  # well within the minute
    assert embed(message)["title"] == "Your video is ready"
    await cluster.wait_states(["delivered"], limit=30)
    assert cluster.videos.stats.count("POST /v1/videos") == 1
    assert len(cluster.uploads()) == 1
    assert "Traceback" not in cluster.log()


@pytest.mark.parametrize(
    ("state", "attempts"),
    [
        ("accepted", 0),  # claimed; the worker died before the SUBMITTING commit
        ("submitting", 1),  # committed; the worker died before its create left
    ],
)
async def test_a_job_whose_worker_died_before_its_create_left_is_sent_once(
    cluster: Cluster, state: str, attempts: int
) -> None:
    """Between its claim and its create a worker holds a job for milliseconds (under load,
    longer: the create can wait for a connection), too short to kill it there on cue. The row
    is left as such a worker leaves it, its lease soon running out: the provider has no such
    job, so the next owner sends it, once."""
    await cluster.start("run", "run", VIDEO_BOT_RUN_JOBS="false")
    it = await cluster.video(f"{PROMPT} [duration=1]")
    await cluster.wait_states(["accepted"])
    async with cluster.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET state = :state, attempts = :attempts, "
                "lease_owner = 'dead-host:4242:abcdef', lease_generation = 1, "
                "lease_until = EXTRACT(EPOCH FROM now()) + :ttl"
            ),
            {"state": state, "attempts": attempts, "ttl": LEASE_SECONDS},
        )
    await cluster.start("worker")
    message = await it.wait_for(finished, timeout=60)
    assert embed(message)["title"] == "Your video is ready"
    rows = await cluster.wait_states(["delivered"])
    assert rows[0]["lease_owner"].split(":")[1] == str(cluster.processes["worker"].pid)
    assert rows[0]["lease_generation"] == 2
    assert rows[0]["attempts"] == attempts + 1
    if state == "submitting":
        assert "never received it; sending it now" in cluster.log("worker")
    assert cluster.videos.stats.count("POST /v1/videos") == 1
    assert len(cluster.uploads()) == 1
    assert "Traceback" not in cluster.log()


async def test_a_create_that_may_have_left_is_never_sent_again(cluster: Cluster) -> None:
    """The worker passed its last check before the create (which records that the create may
    leave) and died. The provider lists no such job (it may have lost it): the next owner does
    not send it again, since the provider may have made, and billed, the first."""
    await cluster.start("run", "run", VIDEO_BOT_RUN_JOBS="false")
    await cluster.video(f"{PROMPT} [duration=1]")
    await cluster.wait_states(["accepted"])
    async with cluster.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET state = 'submitting', attempts = 1, "
                "submitted_at = EXTRACT(EPOCH FROM now()), "
                "lease_owner = 'dead-host:4242:abcdef', lease_generation = 1, "
                "lease_until = EXTRACT(EPOCH FROM now()) + :ttl"
            ),
            {"ttl": LEASE_SECONDS},
        )
    await cluster.start("worker")
    await cluster.wait_states(["failed"])
    assert cluster.videos.stats.count("POST /v1/videos") == 0
    assert "sending it now" not in cluster.log("worker")
    assert "Traceback" not in cluster.log()
