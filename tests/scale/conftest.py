"""Several real bot processes (`run`, `worker`) sharing one PostgreSQL database and the fakes."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.fake_api import FakeSettings, FakeVideosServer
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.discord.records import FakeChannel, FakeGuild, FakeMember
from tests.postgres_server import PostgresServer

REPO = Path(__file__).resolve().parents[2]
# Short leases, so that takeovers happen within a test; nothing depends on how fast.
LEASE_SECONDS = 2.0


@dataclass
class Cluster:
    discord: FakeDiscord
    videos: FakeVideosServer
    guild: FakeGuild
    channel: FakeChannel
    member: FakeMember
    data_dir: Path
    database_url: str
    engine: AsyncEngine
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    sessions: int = 0

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("VIDEO_BOT_")}
        environment.update(
            {
                "DISCORD_TOKEN": "fake-token",
                "OPENAI_BASE_URL": self.videos.base_url,
                "OPENAI_API_KEY": "",
                "DATABASE_URL": self.database_url,
                "VIDEO_BOT_DATA_DIR": str(self.data_dir),
                "VIDEO_BOT_LEASE_SECONDS": str(LEASE_SECONDS),
                "VIDEO_BOT_EDIT_INTERVAL": "0.5",
                "VIDEO_BOT_CARD": "classic",  # the embed card these tests read
                "VIDEO_BOT_POLL_MIN_INTERVAL": "0.1",
                "VIDEO_BOT_POLL_MAX_INTERVAL": "0.5",
                "VIDEO_BOT_POLL_FIXED_INTERVAL": "0.3",
                "VIDEO_BOT_LOG_LEVEL": "INFO",
                **self.env,
                **extra,
            }
        )
        return environment

    async def start(
        self, name: str, command: str = "worker", *options: str, sessions: int = 1, **env: str
    ) -> None:
        """Start `video-bot COMMAND` as `name`; returns once it takes part (a `run` is
        connected to the gateway, a worker says it takes jobs)."""
        log_path = self.data_dir / f"{name}.log"
        log = log_path.open("ab")
        self.processes[name] = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.scale.process",
            self.discord.rest_base,
            self.discord.gateway_url,
            command,
            *options,
            cwd=REPO,
            env=self.environment(env),
            stdout=log,
            stderr=log,
        )
        if command == "run":
            self.sessions += sessions
            await self.discord.wait_ready(timeout=30, sessions=self.sessions)
            return
        async with asyncio.timeout(30):
            while "is taking jobs" not in log_path.read_text(errors="replace"):
                if self.processes[name].returncode is not None:
                    raise AssertionError(f"{name} exited:\n{self.log(name)}")
                await asyncio.sleep(0.05)

    async def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        await process.wait()

    def pause(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGCONT)

    async def stop(self, name: str) -> int:
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(process.wait(), timeout=30)

    async def rows(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT id, state, lease_owner, lease_generation, attempts, last_error "
                    "FROM jobs ORDER BY created_at, id"
                )
            )
            return [dict(r._mapping) for r in result]

    async def states(self) -> list[str]:
        return [str(r["state"]) for r in await self.rows()]

    async def wait_states(self, wanted: list[str], limit: float = 60) -> list[dict[str, Any]]:
        """Until the jobs (in creation order) are in exactly these states."""
        try:
            async with asyncio.timeout(limit):
                while await self.states() != wanted:  # noqa: ASYNC110 - other processes write
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"states {await self.rows()} != {wanted}\n{self.log()}") from None
        return await self.rows()

    def log(self, name: str | None = None) -> str:
        names = [name] if name else sorted(self.processes)
        return "\n".join(
            f"--- {n}\n" + (self.data_dir / f"{n}.log").read_text(errors="replace") for n in names
        )

    def uploads(self) -> list[object]:
        """Every successful request that carried a video: a delivery."""
        return [
            r
            for r in self.discord.requests
            if r.status == 200 and any(f.filename.endswith(".mp4") for f in r.files)
        ]

    async def video(self, prompt: str, member: FakeMember | None = None) -> FakeInteraction:
        return await self.discord.send_interaction(
            "video",
            [{"name": "prompt", "type": 3, "value": prompt}],
            guild=self.guild,
            channel=self.channel,
            member=member or self.member,
        )


@pytest.fixture
async def cluster(tmp_path: Path, postgres_server: PostgresServer) -> AsyncIterator[Cluster]:
    url = await postgres_server.new_database()
    engine = create_async_engine(url)
    async with (
        FakeVideosServer(FakeSettings(default_duration=2.0)) as videos,
        FakeDiscord() as discord_fake,
    ):
        guild = discord_fake.add_guild(name="Night Shift")
        channel = discord_fake.add_channel(guild, name="renders")
        member = discord_fake.add_member(guild, name="bob")
        data_dir = tmp_path / "data"
        data_dir.mkdir()
        state = Cluster(discord_fake, videos, guild, channel, member, data_dir, url, engine)
        try:
            yield state
        finally:
            for process in state.processes.values():
                if process.returncode is None:
                    process.send_signal(signal.SIGCONT)
                    process.kill()
                    await process.wait()
            await engine.dispose()
