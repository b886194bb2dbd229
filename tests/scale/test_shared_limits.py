"""Two `run` processes, each on its own Discord shard, share one member's limits."""

from __future__ import annotations

import asyncio
import sys

from bot.domain import JobState
from tests.discord_adapter.test_guardrails import answered, refused_with
from tests.discord_adapter.test_video_command import embed, finished
from tests.scale.conftest import REPO, Cluster


async def test_two_processes_racing_for_the_last_of_a_budget_admit_exactly_one(
    cluster: Cluster,
) -> None:
    """$0.40 a day per member, a video costs $0.40: one member asks in two servers at once,
    each server on a shard of its own process. Exactly one of the two is made."""
    fake = cluster.discord
    places = []
    user_id = cluster.member.id
    for shard in (0, 1):
        guild = fake.add_guild(name=f"Shard {shard}", on_shard=(shard, 2))
        channel = fake.add_channel(guild, name="renders")
        places.append((guild, channel, fake.add_member(guild, user_id, name="bob")))
    budget = {"VIDEO_BOT_USER_DAILY_BUDGET": "0.40"}
    await cluster.start("shard0", "run", "--shard-count", "2", "--shard-ids", "0", **budget)
    await cluster.start("shard1", "run", "--shard-count", "2", "--shard-ids", "1", **budget)

    both = await asyncio.gather(
        *(
            fake.send_interaction(
                "video",
                [{"name": "prompt", "type": 3, "value": f"a kite over the dunes {n} [duration=1]"}],
                guild=guild,
                channel=channel,
                member=member,
            )
            for n, (guild, channel, member) in enumerate(places)
        )
    )
    for it in both:
        await answered(it)
    made = [it for it in both if it.response_type == 5]
    refused = [it for it in both if it.response_type == 4]
    assert len(made) == 1, [it.response_type for it in both]
    assert len(refused) == 1
    assert "daily budget" in refused_with(refused[0])
    message = await made[0].wait_for(finished, timeout=60)
    assert embed(message)["title"] == "Your video is ready"
    await cluster.wait_states(["delivered"])
    assert cluster.videos.stats.count("POST /v1/videos") == 1
    assert "Traceback" not in cluster.log()


async def test_the_spend_gate_admits_one_of_two_processes_for_the_last_040(
    cluster: Cluster,
) -> None:
    """Two OS processes on one PostgreSQL database ask for member 7's last $0.40 at the same
    moment, each storing its job slowly: exactly one passes, and one job is stored."""
    from bot.store import JobStore, open_database
    from tests.scale.admit_once import record

    database = await open_database(cluster.database_url)
    try:
        await JobStore(database).add(record("spent", "0.60", JobState.DELIVERED))
    finally:
        await database.close()
    go = cluster.data_dir / "go"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.scale.admit_once",
            cluster.database_url,
            str(go),
            name,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for name in ("one", "two")
    ]
    for process in processes:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"ready\n"
    go.touch()
    outputs = [(await asyncio.wait_for(p.communicate(), 30))[0].decode().strip() for p in processes]
    passed = [o for o in outputs if o.startswith("passed")]
    refused = [o for o in outputs if o.startswith("refused")]
    assert len(passed) == 1, outputs
    assert len(refused) == 1, outputs
    assert "daily budget" in refused[0]
    rows = await cluster.rows()
    assert sorted(r["id"] for r in rows) == sorted(["spent", passed[0].split()[1]])
