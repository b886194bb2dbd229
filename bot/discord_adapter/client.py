"""The Bot subclass: owns the HTTP session, the Videos client and the job runner."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.catalogue import Catalogue
from bot.config import Settings
from bot.discord_adapter.buttons import JobButton
from bot.discord_adapter.command_sync import sync_if_changed
from bot.discord_adapter.presenter import DiscordPresenter
from bot.discord_adapter.tree import VideoCommandTree
from bot.engine import make_client, make_planner, open_session
from bot.guardrails.queue import Dispatcher
from bot.guardrails.spending import SpendGate
from bot.jobs.events import JobListener, ReplyAddress
from bot.jobs.runner import JobRunner
from bot.store import Database, JobRecord, JobStore, open_database
from bot.store.guilds import GuildStore
from bot.store.usage import UsageStore

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.video", "cogs.history", "cogs.admin")


class VideoBot(commands.Bot):
    """A Discord bot that turns prompts into videos."""

    def __init__(
        self,
        settings: Settings,
        *,
        demo: bool = False,
        serve: bool = True,
        database: Database | None = None,
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
        # False for one-shot commands (`video-bot sync`): no auto-sync, no job resumption.
        self._serve = serve
        self._session: aiohttp.ClientSession | None = None
        self._database: Database | None = database
        self._runner: JobRunner | None = None

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            raise RuntimeError("the bot is not set up yet")
        return self._runner

    @property
    def database(self) -> Database:
        if self._database is None:
            raise RuntimeError("the bot is not set up yet")
        return self._database

    @property
    def store(self) -> JobStore:
        if self._database is None:
            raise RuntimeError("the bot is not set up yet")
        return JobStore(self._database)

    def presenter_for(self, record: JobRecord) -> JobListener:
        """Rebuild the reply's presenter from a stored job (new or resumed)."""
        address = ReplyAddress(
            channel_id=record.channel_id,
            message_id=record.message_id,
            application_id=record.application_id,
            interaction_token=record.interaction_token,
            token_expires_at=record.token_expires_at,
            upload_limit=record.upload_limit or 10 * 1024 * 1024,
            interaction_id=record.interaction_id,
        )
        return DiscordPresenter(
            self, address, edit_interval=self.settings.edit_interval, demo=self.demo
        )

    async def setup_hook(self) -> None:
        # The store first: a database that cannot be written stops start-up before any work.
        if self._database is None:
            self._database = await open_database(self.settings.effective_database_url)
        self._session = open_session()
        client = make_client(self._session, self.settings)
        limits = self.settings.operator_limits()
        self._runner = JobRunner(
            client,
            JobStore(self._database),
            self.catalogue,
            listener_factory=self.presenter_for,
            work_dir=self.settings.data_dir / "downloads",
            planner_factory=lambda expected: make_planner(self.settings, expected),
            deadline=self.settings.job_deadline,
            max_download_bytes=self.settings.max_download_bytes,
            dispatcher=Dispatcher(limits.max_running, limits.max_per_user),
            gate=SpendGate(
                UsageStore(self._database), GuildStore(self._database), limits, time.time
            ),
        )
        self.add_dynamic_items(JobButton)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self._serve:
            await sync_if_changed(self.tree, self.settings.data_dir)
            await self._runner.resume()

    async def on_ready(self) -> None:
        log.info("logged in as %s in %d guild(s)", self.user, len(self.guilds))

    async def close(self) -> None:
        """Let running jobs settle and stop, then close Discord and the HTTP session."""
        if self._runner is not None:
            await self._runner.close()
        await super().close()
        if self._session is not None:
            await self._session.close()
        if self._database is not None:
            await self._database.close()
