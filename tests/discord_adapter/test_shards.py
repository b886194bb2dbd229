"""Discord's shards: the real bot connects as many as Discord asks for, or the ones a `run`
process is given, and answers the interactions of its shards' guilds (over the wire)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.discord_adapter.client import VideoBot
from bot.fake_api import FakeSettings, FakeVideosServer
from tests.discord_adapter.harness import STRING, bot_settings
from tests.discord_adapter.test_video_command import embed, finished
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.discord.gateway import GatewaySession, shard_of
from tests.fakes.discord.records import FakeChannel, FakeGuild, FakeMember
from tests.recovery.conftest import World
from tests.terminal.test_commands import video_bot

Place = tuple[FakeGuild, FakeChannel, FakeMember]


def _places(fake: FakeDiscord, shards: int) -> list[Place]:
    """A guild with a channel and a member on each of ``shards`` shards, in shard order."""
    places = []
    for shard_id in range(shards):
        guild = fake.add_guild(name=f"Shard {shard_id}", on_shard=(shard_id, shards))
        assert shard_of(guild.id, shards) == shard_id
        channel = fake.add_channel(guild, name="videos")
        places.append((guild, channel, fake.add_member(guild, name=f"member-{shard_id}")))
    return places


async def _video(fake: FakeDiscord, place: Place, prompt: str) -> FakeInteraction:
    guild, channel, member = place
    options: list[dict[str, Any]] = [{"name": "prompt", "type": STRING, "value": prompt}]
    return await fake.send_interaction(
        "video", options, guild=guild, channel=channel, member=member
    )


def _session_of(fake: FakeDiscord, it: FakeInteraction) -> GatewaySession:
    """The gateway session the interaction was dispatched on."""
    [session] = [
        s
        for s in fake.gateway_sessions
        if any(f["t"] == "INTERACTION_CREATE" and f["d"]["id"] == str(it.id) for f in s.sent)
    ]
    return session


async def test_one_process_connects_the_shards_discord_asks_for_and_answers_on_each(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    async with (
        FakeVideosServer(FakeSettings(default_duration=1.0)) as videos,
        FakeDiscord(shards=2, sharding_required=True) as fake,
    ):
        places = _places(fake, 2)
        settings = bot_settings(videos, tmp_path, web_port=unused_tcp_port)
        assert settings.shard_count is None  # nothing configured: Discord's 2
        bot = VideoBot(settings, guild_ready_timeout=0.1)
        async with fake.running(bot, ready_timeout=30):
            await bot.wait_until_ready()
            assert bot.shard_count == 2
            assert sorted(bot.shards) == [0, 1]
            assert {g.id: g.shard_id for g in bot.guilds} == {
                guild.id: i for i, (guild, _, _) in enumerate(places)
            }
            its = [
                await _video(fake, p, f"a lighthouse {i} [duration=1]")
                for i, p in enumerate(places)
            ]
            for it in its:
                message = await it.wait_for(finished, timeout=20)
                assert embed(message)["title"] == "Your video is ready"
            url = f"http://127.0.0.1:{unused_tcp_port}/healthz"
            async with aiohttp.ClientSession() as http, http.get(url) as resp:
                assert resp.status == 200, await resp.text()  # gateway: both shards are up
        assert [s.shard for s in fake.gateway_sessions] == [[0, 2], [1, 2]]
        assert [_session_of(fake, it).shard for it in its] == [[0, 2], [1, 2]]
        assert all(len(it.callbacks) == 1 for it in its)
        fake.assert_spec_clean()
        assert fake.unexpected_requests == []


def _jobs_by_guild(data_dir: Path) -> list[int]:
    path = data_dir / "video-bot.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
        return [row[0] for row in conn.execute("SELECT guild_id FROM jobs ORDER BY created_at")]


@pytest.fixture
async def split_world(tmp_path: Path) -> AsyncIterator[tuple[World, list[Place]]]:
    async with (
        FakeVideosServer(FakeSettings(default_duration=1.0)) as videos,
        FakeDiscord(shards=2, sharding_required=True) as fake,
    ):
        places = _places(fake, 2)
        guild, channel, member = places[0]
        world = World(fake, videos, guild, channel, member, tmp_path / "data")
        try:
            yield world, places
        finally:
            for process in world.others:
                if process.returncode is None:
                    process.kill()
                    await process.wait()


async def test_two_run_processes_each_answer_the_guilds_of_their_shard(
    split_world: tuple[World, list[Place]], tmp_path: Path
) -> None:
    world, places = split_world
    fake = world.discord
    data_dirs = [tmp_path / "shard-0", tmp_path / "shard-1"]
    for data_dir in data_dirs:
        data_dir.mkdir()
    await world.start_other(data_dirs[0], "--shard-count", "2", "--shard-ids", "0")
    await world.start_other(data_dirs[1], "--shard-count", "2", "--shard-ids", "1")
    assert [s.shard for s in fake.gateway_sessions] == [[0, 2], [1, 2]]

    its = [await _video(fake, p, f"a harbour {i} [duration=1]") for i, p in enumerate(places)]
    for it, data_dir in zip(its, data_dirs, strict=True):
        message = await it.wait_for(finished, timeout=30)
        assert embed(message)["title"] == "Your video is ready", (data_dir / "bot.log").read_text()

    # Each guild's /video reached the process of its shard, and only that one answered it.
    assert [_session_of(fake, it).shard for it in its] == [[0, 2], [1, 2]]
    assert _jobs_by_guild(data_dirs[0]) == [places[0][0].id]
    assert _jobs_by_guild(data_dirs[1]) == [places[1][0].id]
    assert all(len(it.callbacks) == 1 for it in its)
    assert world.videos.stats.count("POST /v1/videos") == 2
    fake.assert_spec_clean()


@pytest.mark.parametrize(
    ("options", "env", "needle"),
    [
        (["--shard-ids", "0"], {}, "--shard-ids needs --shard-count"),
        (["--shard-count", "2", "--shard-ids", "2"], {}, "shard 2 does not exist"),
        (["--shard-count", "two"], {}, "--shard-count must be a number"),
        (["--shard-count", "0"], {}, "--shard-count must be a number"),
        (["--shard-count", "2", "--shard-ids", "0,x"], {}, "--shard-ids must be shard numbers"),
        (["--shard-count", "2", "--shard-ids", "1,1"], {}, "lists shard 1 twice"),
        (["--shard-ids", "3"], {"VIDEO_BOT_SHARD_COUNT": "2"}, "VIDEO_BOT_SHARD_COUNT=2"),
        (
            ["--shard-count", "2"],
            {"VIDEO_BOT_SHARD_COUNT": "4", "VIDEO_BOT_SHARD_IDS": "3"},
            "VIDEO_BOT_SHARD_IDS: shard 3 does not exist with --shard-count 2",
        ),
    ],
)
async def test_bad_shard_options_are_one_line_errors(
    tmp_path: Path, options: list[str], env: dict[str, str], needle: str
) -> None:
    env = {"DISCORD_TOKEN": "fake-token", **env}
    result = await video_bot("run", *options, env=env, cwd=tmp_path)
    assert result.code == 2
    assert needle in result.stderr
    assert result.stderr.startswith("video-bot run: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


async def test_good_shard_options_get_past_the_checks(tmp_path: Path) -> None:
    result = await video_bot("run", "--shard-count", "4", "--shard-ids", "2, 3", cwd=tmp_path)
    assert result.code == 2
    assert "DISCORD_TOKEN is not set" in result.stderr  # the next thing `run` needs
