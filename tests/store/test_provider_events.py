"""Provider callbacks seen: the first delivery of an event wins, once, across processes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.store import Database, ProviderEvents, open_database
from bot.store.provider_events import MAX_EVENT_ID, stored_event_id
from tests.store.raw import scalar

NOW = 1_800_000_000.0


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    yield db
    await db.close()


async def test_an_event_is_new_once_per_provider(database: Database) -> None:
    events = ProviderEvents(database)
    assert await events.first_time("openrouter", "gen_1-completed", NOW) is True
    assert await events.first_time("openrouter", "gen_1-completed", NOW + 5) is False
    # The same id from another provider is another event; another status of the video too.
    assert await events.first_time("default", "gen_1-completed", NOW) is True
    assert await events.first_time("openrouter", "gen_1-failed", NOW) is True


async def test_processes_racing_for_one_event_let_exactly_one_win(
    database_url: str, database: Database
) -> None:
    # Three processes on the same database (each its own engines), each told of the same
    # event several times at once, as a provider retrying a slow answer would.
    others = [await open_database(database_url) for _ in range(2)]
    try:
        stores = [ProviderEvents(db) for db in (database, *others)]
        results = await asyncio.gather(
            *(store.first_time("openrouter", "evt_race", NOW) for store in stores * 4)
        )
    finally:
        for db in others:
            await db.close()
    assert sorted(results) == [False] * 11 + [True]


async def test_a_very_long_event_id_is_kept_as_its_digest(
    database_url: str, database: Database
) -> None:
    events = ProviderEvents(database)
    long_id = "k" * 5000
    assert await events.first_time("openrouter", long_id, NOW) is True
    assert await events.first_time("openrouter", long_id, NOW) is False
    assert await events.first_time("openrouter", long_id + "x", NOW) is True
    assert stored_event_id("k" * MAX_EVENT_ID) == "k" * MAX_EVENT_ID
    assert len(stored_event_id(long_id)) <= MAX_EVENT_ID
    widest = await scalar(database_url, "SELECT MAX(LENGTH(event_id)) FROM provider_events")
    assert widest <= MAX_EVENT_ID


async def test_forget_before_drops_old_events_which_are_then_new_again(
    database: Database,
) -> None:
    events = ProviderEvents(database)
    assert await events.first_time("openrouter", "old", NOW - 90_000)
    assert await events.first_time("openrouter", "older", NOW - 100_000)
    assert await events.first_time("openrouter", "recent", NOW - 60)
    assert await events.forget_before(NOW - 86_400) == 2
    assert await events.forget_before(NOW - 86_400) == 0
    assert await events.first_time("openrouter", "recent", NOW) is False
    assert await events.first_time("openrouter", "old", NOW) is True
