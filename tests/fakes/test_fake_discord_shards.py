"""The fake Discord's sharding rules, on the raw wire (aiohttp) and with a real discord.py bot."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.gateway import GatewaySession, shard_of

TOKEN = "fake-token"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _identify(
    fake: FakeDiscord, http: aiohttp.ClientSession, shard: Any = None
) -> aiohttp.ClientWebSocketResponse:
    """Connect, read HELLO and IDENTIFY (with ``shard`` unless None) as a client would."""
    ws = await http.ws_connect(f"{fake.gateway_url}?v=10&encoding=json")
    hello = await ws.receive_json(timeout=5)
    assert hello["op"] == 10
    data: dict[str, Any] = {
        "token": TOKEN,
        "intents": 1,  # GUILDS
        "properties": {"os": "linux", "browser": "test", "device": "test"},
    }
    if shard is not None:
        data["shard"] = shard
    await ws.send_str(json.dumps({"op": 2, "d": data}))
    return ws


async def _closed_with(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    message = await ws.receive(timeout=5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await ws.close()
    return ws.close_code


def _events(session: GatewaySession, name: str) -> list[dict[str, Any]]:
    return [frame["d"] for frame in session.sent if frame["t"] == name]


async def test_gateway_bot_recommends_the_configured_shards(http: aiohttp.ClientSession) -> None:
    async with FakeDiscord(token=TOKEN, shards=3) as fake:
        url = f"{fake.rest_base}/gateway/bot"
        async with http.get(url, headers={"Authorization": f"Bot {TOKEN}"}) as resp:
            body = await resp.json()
    assert resp.status == 200
    assert body["shards"] == 3
    assert body["url"] == fake.gateway_url
    assert set(body["session_start_limit"]) == {
        "total",
        "remaining",
        "reset_after",
        "max_concurrency",
    }
    assert fake.response_violations == []


@pytest.mark.parametrize("shard", [[2, 2], [-1, 2], [0, 0], ["0", 2], [0], [True, 2], "0,2"])
async def test_an_invalid_shard_is_closed_with_4010(
    http: aiohttp.ClientSession, shard: Any
) -> None:
    async with FakeDiscord(token=TOKEN) as fake:
        ws = await _identify(fake, http, shard)
        assert await _closed_with(ws) == 4010
    assert fake.gateway_closes == [(4010, "Invalid shard.")]
    assert fake.gateway_sessions == []


@pytest.mark.parametrize("shard", [None, [0, 1]])
async def test_too_few_shards_are_closed_with_4011_when_sharding_is_required(
    http: aiohttp.ClientSession, shard: Any
) -> None:
    async with FakeDiscord(token=TOKEN, shards=2, sharding_required=True) as fake:
        ws = await _identify(fake, http, shard)
        assert await _closed_with(ws) == 4011
        assert fake.gateway_closes == [(4011, "Sharding required.")]
        # as many shards as Discord asks for, or more, are welcome
        for shard_id in range(3):
            ws = await _identify(fake, http, [shard_id, 3])
            await fake.wait_ready(sessions=shard_id + 1)
            await ws.close()


async def test_guilds_events_and_interactions_reach_only_their_shard(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeDiscord(token=TOKEN, shards=2) as fake:
        zero = fake.add_guild(name="Zero", on_shard=(0, 2))
        one = fake.add_guild(name="One", on_shard=(1, 2))
        assert (shard_of(zero.id, 2), shard_of(one.id, 2)) == (0, 1)
        general = fake.add_channel(one, name="general")
        alice = fake.add_member(one, name="alice")
        bob = fake.add_user("bob")
        sockets = [await _identify(fake, http, [i, 2]) for i in range(2)]
        await fake.wait_ready(sessions=2)
        first, second = fake.gateway_sessions
        assert (first.shard, second.shard) == ([0, 2], [1, 2])

        [ready] = _events(first, "READY")
        assert ready["shard"] == [0, 2]
        assert [g["id"] for g in ready["guilds"]] == [str(zero.id)]
        assert [g["id"] for g in _events(first, "GUILD_CREATE")] == [str(zero.id)]
        [ready] = _events(second, "READY")
        assert [g["id"] for g in ready["guilds"]] == [str(one.id)]
        assert [g["id"] for g in _events(second, "GUILD_CREATE")] == [str(one.id)]

        it = await fake.send_interaction("video", guild=one, channel=general, member=alice)
        dm = await fake.send_interaction("video", user=bob)
        assert [d["id"] for d in _events(second, "INTERACTION_CREATE")] == [str(it.id)]
        assert [d["id"] for d in _events(first, "INTERACTION_CREATE")] == [str(dm.id)]

        fake.delete_channel(general)  # a guild event: to the guild's shard only
        await fake.wait_for(lambda: bool(_events(second, "CHANNEL_DELETE")))
        assert _events(first, "CHANNEL_DELETE") == []
        for ws in sockets:
            await ws.close()


async def test_an_interaction_without_its_shard_connected_is_refused(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeDiscord(token=TOKEN, shards=2) as fake:
        fake.add_guild(name="Zero", on_shard=(0, 2))
        one = fake.add_guild(name="One", on_shard=(1, 2))
        fake.add_member(one, name="alice")
        fake.add_channel(one)
        ws = await _identify(fake, http, [0, 2])
        await fake.wait_ready()
        with pytest.raises(RuntimeError, match="no session on the fake gateway is the shard"):
            await fake.send_interaction("video", guild=one)
        await ws.close()


async def test_an_unsharded_bot_is_refused_and_an_auto_sharded_one_connects_every_shard() -> None:
    async with FakeDiscord(token=TOKEN, shards=2, sharding_required=True) as fake:
        guilds = [fake.add_guild(name=f"G{i}", on_shard=(i, 2)) for i in range(2)]
        fake.install()
        plain = commands.Bot(
            command_prefix="!", intents=discord.Intents.none(), guild_ready_timeout=0.1
        )
        try:
            with pytest.raises(discord.ConnectionClosed) as refused:
                await asyncio.wait_for(plain.start(TOKEN), 10)
        finally:
            await plain.close()
            fake.uninstall()
        assert refused.value.code == 4011

        sharded = commands.AutoShardedBot(
            command_prefix="!", intents=discord.Intents(guilds=True), guild_ready_timeout=0.1
        )
        async with fake.running(sharded, TOKEN, ready_timeout=20):
            await sharded.wait_until_ready()
            assert sharded.shard_count == 2
            assert sorted(sharded.shards) == [0, 1]
            assert {g.id: g.shard_id for g in sharded.guilds} == {
                g.id: i for i, g in enumerate(guilds)
            }
        assert [s.shard for s in fake.gateway_sessions] == [[0, 2], [1, 2]]
