"""The real bot, started with `bot.start()`, between a fake Discord and a fake Videos API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from bot.discord_adapter.client import VideoBot
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.store import JobRecord
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.discord.records import FakeAttachment, FakeChannel, FakeGuild, FakeMember

STRING, INTEGER, ATTACHMENT = 3, 4, 11


@dataclass
class Harness:
    discord: FakeDiscord
    videos: FakeVideosServer
    bot: VideoBot
    guild: FakeGuild
    channel: FakeChannel
    member: FakeMember

    async def video(
        self,
        prompt: str,
        *,
        model: str | None = None,
        size: str | None = None,
        seconds: int | None = None,
        reference: FakeAttachment | None = None,
        upload_limit: int | None = None,
        member: FakeMember | None = None,
    ) -> FakeInteraction:
        """A member runs `/video` with these options."""
        options: list[dict[str, Any]] = [{"name": "prompt", "type": STRING, "value": prompt}]
        if model is not None:
            options.append({"name": "model", "type": STRING, "value": model})
        if size is not None:
            options.append({"name": "size", "type": STRING, "value": size})
        if seconds is not None:
            options.append({"name": "seconds", "type": INTEGER, "value": seconds})
        if reference is not None:
            options.append({"name": "reference", "type": ATTACHMENT, "value": str(reference.id)})
        return await self.discord.send_interaction(
            "video",
            options,
            guild=self.guild,
            channel=self.channel,
            member=member or self.member,
            attachments=[reference] if reference is not None else None,
            attachment_size_limit=upload_limit,
        )

    async def final_record(self, index: int = 0, within: float = 10.0) -> JobRecord:
        """The `index`-th newest job once it has reached a final state."""
        async with asyncio.timeout(within):
            while True:
                record = (await self.bot.service.engine.store.recent(index + 1))[index]
                if record.state.is_final:
                    return record
                await asyncio.sleep(0.02)

    @property
    def creates(self) -> int:
        return self.videos.stats.count("POST /v1/videos")


def bot_settings(videos: FakeVideosServer, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_base_url": videos.base_url,
        "openai_api_key": None,
        "data_dir": data_dir,
        "edit_interval": 0.5,
        "poll_min_interval": 0.1,
        "poll_max_interval": 0.5,
        "poll_fixed_interval": 0.3,
        "max_retries": 2,
        "connect_timeout": 2,
        "request_timeout": 5,
        # A file the fake never hands over ([download-fail]) is given up on quickly.
        "content_wait": 2,
        # The classic embed card, which most tests read; test_card_v2 asks for "v2".
        "card": "classic",
    }
    values.update(overrides)
    return load_settings(**values)


@contextlib.asynccontextmanager
async def running_harness(
    data_dir: Path,
    *,
    fake_settings: FakeSettings | None = None,
    demo: bool = False,
    app_id: int | None = None,
    guild_locale: str = "en-US",
    **overrides: Any,
) -> AsyncIterator[Harness]:
    async with (
        FakeVideosServer(fake_settings or FakeSettings(default_duration=2.0)) as videos,
        FakeDiscord(app_id=app_id) as discord_fake,
    ):
        guild = discord_fake.add_guild(name="Film Club", locale=guild_locale)
        channel = discord_fake.add_channel(guild, name="videos")
        member = discord_fake.add_member(guild, name="alice")
        settings = bot_settings(videos, data_dir, **overrides)
        bot = VideoBot(settings, demo=demo, guild_ready_timeout=0.1)
        async with discord_fake.running(bot):
            yield Harness(discord_fake, videos, bot, guild, channel, member)
