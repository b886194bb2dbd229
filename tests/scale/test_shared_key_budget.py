"""An API key's daily budget across two `run` processes sharing one PostgreSQL database: the
budget is checked inside the spend gate's transaction, so concurrent creates sent to both
processes reserve only what it covers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal

import openai

from bot.service.keys import Keys
from bot.store import open_database
from tests.scale.conftest import Cluster


async def test_creates_sent_to_two_processes_at_once_spend_one_keys_budget_once(
    cluster: Cluster, unused_tcp_port_factory: Callable[[], int]
) -> None:
    """$0.50 a day on the key, $0.40 a video: four creates to each process at once, one made."""
    database = await open_database(cluster.database_url)
    try:
        _, secret = await Keys(database).create(
            name="nightly",
            guild_id=cluster.guild.id,
            channels=[cluster.channel.id],
            daily_budget=Decimal("0.50"),
        )
    finally:
        await database.close()
    ports = [unused_tcp_port_factory(), unused_tcp_port_factory()]
    for name, port in zip(("a", "b"), ports, strict=True):
        await cluster.start(name, "run", VIDEO_BOT_WEB_PORT=str(port))
    clients = [
        openai.AsyncOpenAI(api_key=secret, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
        for port in ports
    ]
    await asyncio.gather(*(_until_serving(client) for client in clients))
    results = await asyncio.gather(
        *(
            client.videos.create(prompt=f"render {n} [duration=1]")
            for n in range(4)
            for client in clients
        ),
        return_exceptions=True,
    )
    made = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(made) == 1, results
    assert len(refused) == 7, results
    assert {r.code for r in refused} == {"budget_exceeded"}
    await cluster.wait_states(["delivered"])
    assert cluster.videos.stats.count("POST /v1/videos") == 1
    for client in clients:
        await client.close()
    assert "Traceback" not in cluster.log()


async def _until_serving(client: openai.AsyncOpenAI) -> None:
    """The process's web server answers (it starts right after the gateway connects)."""
    async with asyncio.timeout(30):
        while True:
            try:
                await client.videos.list()
            except openai.APIConnectionError:
                await asyncio.sleep(0.1)
            else:
                return
