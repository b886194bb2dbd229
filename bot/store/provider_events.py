"""Provider callbacks already acted on: a replayed event, or the provider's own retry of one, is
recognised by its id and does nothing twice, whichever process receives it."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.database import Database
from bot.store.schema import provider_events

# The column's width. Event ids are chosen by the sender; a longer one is kept as its digest.
MAX_EVENT_ID = 255


def stored_event_id(event_id: str) -> str:
    """The id as the table keeps it: itself, or "sha256:<hex>" when it does not fit."""
    if len(event_id) <= MAX_EVENT_ID:
        return event_id
    return "sha256:" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()


class ProviderEvents:
    """Records the ids of the callbacks received, one row per (provider, event id)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._dialect = database.engine.dialect.name

    async def first_time(self, provider: str, event_id: str, now: float) -> bool:
        """Record the event; False when it was recorded before (a replay), by any process.

        One INSERT … ON CONFLICT DO NOTHING: of two deliveries racing, exactly one wins.
        """
        values = {"provider": provider, "event_id": stored_event_id(event_id), "received_at": now}
        async with self._database.write() as conn:
            return await self._insert(conn, values)

    async def _insert(self, conn: AsyncConnection, values: dict[str, Any]) -> bool:
        if self._dialect == "sqlite":
            statement = sqlite_insert(provider_events).values(**values).on_conflict_do_nothing()
            return bool((await conn.execute(statement)).rowcount == 1)
        if self._dialect == "postgresql":
            pg_statement = (
                postgresql_insert(provider_events)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(provider_events.c.provider)
            )
            return (await conn.execute(pg_statement)).first() is not None
        try:
            async with conn.begin_nested():
                await conn.execute(provider_events.insert().values(**values))
        except IntegrityError:
            return False
        return True

    async def forget_before(self, cutoff: float) -> int:
        """Delete the events received before `cutoff` (Unix seconds); returns how many.

        A day is plenty: a callback's signed timestamp older than a few minutes is refused as
        stale anyway, so an older id can never be replayed past the signature check.
        """
        async with self._database.write() as conn:
            result = await conn.execute(
                delete(provider_events).where(provider_events.c.received_at < cutoff)
            )
        return int(result.rowcount or 0)
