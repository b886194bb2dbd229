"""`run_bot`, the start of `video-bot run`: a signal's shutdown is a kept, logged task."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot import background
from bot.config import load_settings
from bot.discord_adapter.launcher import run_bot
from bot.fake_api import FakeSettings, FakeVideosServer
from tests.fakes.discord import FakeDiscord


async def test_a_signal_closes_the_bot_through_a_kept_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[str] = []
    real_spawn = background.spawn

    def spawn(coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        spawned.append(name)
        return real_spawn(coroutine, name=name)

    monkeypatch.setattr(background, "spawn", spawn)
    async with FakeVideosServer(FakeSettings()) as videos, FakeDiscord() as fake:
        fake.add_guild(name="Night Shift")
        with fake.installed():
            settings = load_settings(
                discord_token="fake-token", openai_base_url=videos.base_url, data_dir=tmp_path
            )
            running = asyncio.create_task(run_bot(settings))
            await fake.wait_ready(timeout=30)
            assert not running.done()
            # SIGINT, not SIGTERM: were the handler missing, pytest would stop, not die.
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(running, timeout=30)
    assert "close-on-signal" in spawned
