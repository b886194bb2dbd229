"""A server's rules changed by two admins at once, through two processes' connections: each
change is read, applied and written in one transaction, so neither is lost."""

from __future__ import annotations

import asyncio

from bot.domain import GuildPolicy
from bot.store import open_database
from bot.store.guilds import GuildStore

GUILD = 42


async def test_changes_made_at_once_through_two_connections_are_all_kept(
    database_url: str,
) -> None:
    first, second = await open_database(database_url), await open_database(database_url)
    try:
        stores = [GuildStore(first), GuildStore(second)]

        async def allow(channel: int) -> None:
            store = stores[channel % 2]
            await store.update(GUILD, lambda p: p.evolve(channels=p.channels | {channel}))

        await asyncio.gather(*(allow(channel) for channel in range(1, 21)))
        stores[0].forget(GUILD)
        assert (await stores[0].get(GUILD)).channels == frozenset(range(1, 21))
    finally:
        await first.close()
        await second.close()


async def test_an_update_says_what_it_changed_and_a_no_change_writes_nothing(
    database_url: str,
) -> None:
    database = await open_database(database_url)
    try:
        store = GuildStore(database)
        before, after = await store.update(GUILD, lambda p: p.evolve(enabled=False))
        assert (before.enabled, after.enabled) == (True, False)
        same_before, same_after = await store.update(GUILD, lambda p: p)
        assert same_before == same_after == GuildPolicy(enabled=False)
    finally:
        await database.close()
