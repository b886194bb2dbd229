"""The Bot subclass: owns the HTTP session, the Videos client and the job runner."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.catalogue import Catalogue
from bot.config import Settings
from bot.discord_adapter.command_sync import sync_if_changed
from bot.discord_adapter.tree import VideoCommandTree
from bot.engine import make_client, make_planner, open_session
from bot.jobs.runner import JobRunner

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.video",)


class VideoBot(commands.Bot):
    """A Discord bot that turns prompts into videos."""

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = False,
        sync_on_start: bool = True,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=VideoCommandTree,
            help_command=None,
            **options,
        )
        self.settings = settings
        self.catalogue: Catalogue = settings.catalogue()
        self.demo = demo
        self._sync_on_start = sync_on_start
        self._session: aiohttp.ClientSession | None = None
        self._runner: JobRunner | None = None

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            raise RuntimeError("the bot is not set up yet")
        return self._runner

    async def setup_hook(self) -> None:
        self._session = open_session()
        client = make_client(self._session, self.settings)
        self._runner = JobRunner(
            client,
            work_dir=self.settings.data_dir / "downloads",
            planner_factory=lambda expected: make_planner(self.settings, expected),
            deadline=self.settings.job_deadline,
            max_download_bytes=self.settings.max_download_bytes,
            limit=self.settings.max_concurrent_jobs,
        )
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self._sync_on_start:
            await sync_if_changed(self.tree, self.settings.data_dir)

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d guild(s)", self.user, len(self.guilds))

    async def close(self) -> None:
        """Let running jobs settle and stop, then close Discord and the HTTP session."""
        if self._runner is not None:
            await self._runner.close()
        await super().close()
        if self._session is not None:
            await self._session.close()
