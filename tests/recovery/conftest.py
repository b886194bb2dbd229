"""A real bot process between the fakes, that tests kill and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.fake_api import FakeSettings, FakeVideosServer
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord.records import FakeChannel, FakeGuild, FakeMember

REPO = Path(__file__).resolve().parents[2]


@dataclass
class World:
    discord: FakeDiscord
    videos: FakeVideosServer
    guild: FakeGuild
    channel: FakeChannel
    member: FakeMember
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    others: list[asyncio.subprocess.Process] = field(default_factory=list)

    def environment(self, data_dir: Path) -> dict[str, str]:
        """A bot process's environment: pointed at the fakes, its data in ``data_dir``."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith("VIDEO_BOT_")}
        environment.update(
            {
                "DISCORD_TOKEN": "fake-token",
                "OPENAI_BASE_URL": self.videos.base_url,
                "OPENAI_API_KEY": "",
                "VIDEO_BOT_DATA_DIR": str(data_dir),
                "VIDEO_BOT_EDIT_INTERVAL": "0.5",
                "VIDEO_BOT_CARD": "classic",  # the embed card these tests read
                "VIDEO_BOT_POLL_MIN_INTERVAL": "0.1",
                "VIDEO_BOT_POLL_MAX_INTERVAL": "0.5",
                "VIDEO_BOT_POLL_FIXED_INTERVAL": "0.3",
                "VIDEO_BOT_LOG_LEVEL": "INFO",
                **self.env,
            }
        )
        return environment

    async def start_bot(self, *options: str) -> None:
        environment = self.environment(self.data_dir)
        log = (self.data_dir / f"bot-{self.starts}.log").open("wb")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.recovery.bot_process",
            self.discord.rest_base,
            self.discord.gateway_url,
            *options,
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=log,
        )
        self.starts += 1
        await self.discord.wait_ready(timeout=30, sessions=self.starts)

    async def start_other(
        self, data_dir: Path, *options: str, sessions: int = 1
    ) -> asyncio.subprocess.Process:
        """One more `video-bot run` beside `start_bot`'s, with its own existing data directory
        (a SQLite file is one process's; its log is ``data_dir/bot.log``) and options, once
        its ``sessions`` (one per shard) are ready. The fixture kills it at the end."""
        before = self.discord.ready_count
        log = (data_dir / "bot.log").open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.recovery.bot_process",
            self.discord.rest_base,
            self.discord.gateway_url,
            *options,
            cwd=REPO,
            env=self.environment(data_dir),
            stdout=log,
            stderr=log,
        )
        self.others.append(process)
        await self.discord.wait_ready(timeout=30, sessions=before + sessions)
        return process

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        return await asyncio.wait_for(self.process.wait(), timeout=30)

    def states(self) -> dict[str, str]:
        path = self.data_dir / "video-bot.sqlite3"
        if not path.exists():
            return {}
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return dict(conn.execute("SELECT id, state FROM jobs ORDER BY created_at").fetchall())

    async def wait_states(self, wanted: list[str], limit: float = 30) -> dict[str, str]:
        """Until the jobs (in creation order) are in exactly these states.

        The database belongs to another process, so there is no event to wait on: re-read it.
        """
        async with asyncio.timeout(limit):
            while list(self.states().values()) != wanted:  # noqa: ASYNC110 - see above
                await asyncio.sleep(0.05)
        return self.states()

    async def wait_replied(self, limit: float = 30) -> None:
        """Until every job has its reply stored: the bot answered, so someone waits for it (a
        job killed before that is cancelled on restart, nobody having been told of it)."""

        def unreplied() -> int:
            path = self.data_dir / "video-bot.sqlite3"
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
                return int(
                    conn.execute("SELECT COUNT(*) FROM jobs WHERE reply IS NULL").fetchone()[0]
                )

        async with asyncio.timeout(limit):
            while unreplied():  # noqa: ASYNC110 - another process's database, as above
                await asyncio.sleep(0.05)

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.data_dir.glob("bot-*.log"))
        )

    def uploads(self) -> list[object]:
        """Every successful request that carried a file: a delivery of a video."""
        return [
            r
            for r in self.discord.requests
            if r.status == 200 and any(f.filename.endswith(".mp4") for f in r.files)
        ]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with (
        FakeVideosServer(FakeSettings(default_duration=2.0)) as videos,
        FakeDiscord() as discord_fake,
    ):
        guild = discord_fake.add_guild(name="Night Shift")
        channel = discord_fake.add_channel(guild, name="renders")
        member = discord_fake.add_member(guild, name="bob")
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        state = World(discord_fake, videos, guild, channel, member, data_dir)
        try:
            yield state
        finally:
            if state.process is not None and state.process.returncode is None:
                state.process.kill()
                await state.process.wait()
            for process in state.others:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
