"""Starting the bot for real: `video-bot run [--demo]` and `video-bot sync`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

import discord

from bot import background
from bot.config import Settings
from bot.discord_adapter.client import VideoBot
from bot.discord_adapter.command_sync import sync_commands
from bot.service import open_store, settle_heap

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _demo_backend(settings: Settings, demo: bool) -> AsyncIterator[Settings]:
    """With --demo, a fake Videos API in this process stands in for the provider."""
    if not demo:
        yield settings
        return
    from bot.fake_api import FakeSettings, FakeVideosServer

    async with FakeVideosServer(FakeSettings(default_duration=30.0)) as fake:
        log.info("demo mode: fake Videos API at %s (nothing is billed)", fake.base_url)
        yield settings.model_copy(update={"openai_base_url": fake.base_url, "openai_api_key": None})


def _no_voice_warnings() -> None:
    """discord.py warns at start-up that voice needs PyNaCl and davey: the bot never joins a
    voice channel, so for it the two lines are noise above the first useful one."""
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


def _token(settings: Settings) -> str:
    assert settings.discord_token is not None  # noqa: S101 - the CLI checked
    return settings.discord_token.get_secret_value()


async def run_bot(settings: Settings, *, demo: bool = False) -> None:
    """Run until SIGINT/SIGTERM, then shut down gracefully."""
    # The database first: one that cannot be written stops start-up before Discord is called.
    store = await open_store(settings)
    async with _demo_backend(settings, demo) as effective:
        _no_voice_warnings()
        bot = VideoBot(effective, demo=demo, store=store)
        settle_heap()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for signum in signals:
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(
                    signum, lambda: background.spawn(bot.close(), name="close-on-signal")
                )
        try:
            async with bot:
                await bot.start(_token(settings))
            # A signal's shutdown is still closing the store when the gateway has stopped:
            # wait for all of it (the same shutdown) before the loop ends.
            await bot.close()
        finally:
            for signum in signals:
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(signum)


async def run_worker(settings: Settings) -> None:
    """`video-bot worker`: log in over REST (no gateway), run shared jobs until SIGINT/SIGTERM,
    then hand the leases back."""
    store = await open_store(settings)
    _no_voice_warnings()
    bot = VideoBot(settings.model_copy(update={"run_jobs": True}), worker=True, store=store)
    settle_heap()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stopping.set)
    async with bot:
        await bot.login(_token(settings))  # runs setup_hook: the service starts claiming
        log.info("worker %s is taking jobs", bot.service.lease_owner)
        await stopping.wait()
        log.info("worker stopping: finishing steps, handing its jobs back")


async def sync_now(settings: Settings, guild_id: int | None) -> int:
    """Log in over REST only, publish the commands, log out."""
    _no_voice_warnings()
    bot = VideoBot(settings, serve=False)
    async with bot:
        await bot.login(_token(settings))
        return await sync_commands(bot.tree, settings.data_dir, guild_id)


def login_error_message(error: discord.LoginFailure) -> str:
    del error  # its text is discord.py's, which may hint at the token
    return "Discord rejected DISCORD_TOKEN. Copy the bot token again from the developer portal."
