"""Per-guild guardrail settings, as admins set them with /video-admin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.domain import GuildPolicy
from bot.store.database import Database
from bot.store.schema import guild_settings

# A policy read from the store is trusted this long. Changes made through this process show at
# once (write-through); changes made by another process sharing the store, within this time.
POLICY_LIFETIME = 30.0
# Guilds whose policy is cached at once; the least recently read are dropped beyond it.
POLICY_CACHE_SIZE = 10_000


class GuildStore:
    """Reads and writes GuildPolicy rows; a guild never configured gets the defaults."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.monotonic) -> None:
        self._database = database
        self._engine = database.engine
        self._cache: dict[int, tuple[float, GuildPolicy]] = database.guild_policies
        self._reads: dict[int, asyncio.Future[GuildPolicy]] = database.guild_policy_reads
        self._clock = clock

    async def get(self, guild_id: int) -> GuildPolicy:
        cached = self._cache.pop(guild_id, None)
        if cached is not None and self._clock() - cached[0] < POLICY_LIFETIME:
            self._cache[guild_id] = cached  # most recently read last
            return cached[1]
        # One read per guild at a time: a burst of commands from one server (its cache just
        # expired) waits for the same read instead of queueing a read each for the pool.
        reading = self._reads.get(guild_id)
        if reading is None:
            # Awaited by every reader of this guild (not background work).
            reading = self._reads[guild_id] = asyncio.ensure_future(self._read(guild_id))
        return await asyncio.shield(reading)

    async def _read(self, guild_id: int) -> GuildPolicy:
        me = self._reads.get(guild_id)
        try:
            query = select(guild_settings.c.data).where(guild_settings.c.guild_id == guild_id)
            async with self._engine.connect() as conn:
                row = (await conn.execute(query)).first()
            policy = GuildPolicy() if row is None else GuildPolicy.from_json(row.data)
            if self._reads.get(guild_id) is me:  # not saved or forgotten meanwhile
                self._remember(guild_id, policy)
            return policy
        finally:
            if self._reads.get(guild_id) is me:
                del self._reads[guild_id]

    async def update(
        self, guild_id: int, change: Callable[[GuildPolicy], GuildPolicy]
    ) -> tuple[GuildPolicy, GuildPolicy]:
        """Read, change and write a guild's policy in one transaction; returns (before, after).

        The row is created first if missing and then read under a row lock (PostgreSQL's
        FOR UPDATE; SQLite's writes are serialised already), so two changes at once, from
        any processes, are applied one after the other and neither is lost.
        """
        self._reads.pop(guild_id, None)
        self._cache.pop(guild_id, None)
        async with self._database.write() as conn:
            await conn.execute(self._insert_missing(guild_id))
            query = (
                select(guild_settings.c.data)
                .where(guild_settings.c.guild_id == guild_id)
                .with_for_update()
            )
            row = (await conn.execute(query)).one()
            before = GuildPolicy.from_json(row.data)
            after = change(before)
            if after != before:
                await conn.execute(
                    guild_settings.update()
                    .where(guild_settings.c.guild_id == guild_id)
                    .values(data=after.to_json(), updated_at=time.time())
                )
        self._remember(guild_id, after)
        return before, after

    def _insert_missing(self, guild_id: int) -> Any:
        values = {"guild_id": guild_id, "data": GuildPolicy().to_json(), "updated_at": time.time()}
        dialect = self._engine.dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        return (
            insert(guild_settings)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[guild_settings.c.guild_id])
        )

    async def save(self, guild_id: int, policy: GuildPolicy) -> None:
        self._reads.pop(guild_id, None)
        self._cache.pop(guild_id, None)
        await self._write(guild_id, policy)
        self._remember(guild_id, policy)

    def forget(self, guild_id: int) -> None:
        """Drop the cached policy (another process changed it): the next read is fresh."""
        self._reads.pop(guild_id, None)
        self._cache.pop(guild_id, None)

    def _remember(self, guild_id: int, policy: GuildPolicy) -> None:
        self._cache[guild_id] = (self._clock(), policy)
        while len(self._cache) > POLICY_CACHE_SIZE:
            del self._cache[next(iter(self._cache))]

    async def _write(self, guild_id: int, policy: GuildPolicy) -> None:
        values = {"guild_id": guild_id, "data": policy.to_json(), "updated_at": time.time()}
        async with self._database.write() as conn:
            dialect = self._engine.dialect.name
            if dialect in ("sqlite", "postgresql"):
                insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
                statement = insert(guild_settings).values(**values)
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=[guild_settings.c.guild_id],
                        set_={"data": values["data"], "updated_at": values["updated_at"]},
                    )
                )
                return
            updated = await conn.execute(
                guild_settings.update()
                .where(guild_settings.c.guild_id == guild_id)
                .values(data=values["data"], updated_at=values["updated_at"])
            )
            if updated.rowcount == 0:
                await conn.execute(guild_settings.insert().values(**values))
