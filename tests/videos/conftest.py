"""Fixtures: the fake Videos API on 127.0.0.1 and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr

from bot.fake_api import FakeSettings, FakeVideosServer
from bot.videos import RetryPolicy, Timeouts, VideosClient

KEY = "sk-test-0123456789abcdef"


@pytest.fixture
async def fake() -> AsyncIterator[FakeVideosServer]:
    async with FakeVideosServer(FakeSettings(api_key=KEY, default_duration=10.0)) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


async def _no_sleep(_: float) -> None:
    """Retries wait in real code; the tests count them instead of waiting."""


def make_client(
    session: aiohttp.ClientSession,
    base_url: str,
    *,
    key: str | None = KEY,
    retries: int = 3,
    timeout: float = 5.0,
) -> VideosClient:
    return VideosClient(
        session,
        base_url,
        SecretStr(key) if key else None,
        timeouts=Timeouts(connect=2.0, request=timeout, download=30.0),
        retry=RetryPolicy(max_retries=retries),
        sleep=_no_sleep,
    )


@pytest.fixture
def client(session: aiohttp.ClientSession, fake: FakeVideosServer) -> VideosClient:
    return make_client(session, fake.base_url)
