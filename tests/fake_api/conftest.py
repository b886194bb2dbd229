"""Fixtures: an in-process fake Videos API on 127.0.0.1 and a raw aiohttp client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.fake_api import FakeSettings, FakeVideosServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeVideosServer]:
    async with FakeVideosServer(FakeSettings()) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
