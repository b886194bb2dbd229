"""Each member's prompt improvements of the day: one counter per member and UTC day, shared by
every process on the same database (the limit is the member's, across every server)."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.database import Database
from bot.store.schema import prompt_rewrites


class RewriteCounts:
    """Counts rewrites per (member, day); a member's earlier days are dropped as they ask."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._dialect = database.engine.dialect.name

    async def take(self, user_id: int, day: str, limit: int) -> bool:
        """Count one rewrite for the member on `day` unless `limit` are counted already;
        False then. One INSERT … ON CONFLICT DO UPDATE … WHERE count < limit: two requests
        racing for the last one (in any process) cannot both have it."""
        async with self._database.write() as conn:
            await conn.execute(
                delete(prompt_rewrites).where(
                    prompt_rewrites.c.user_id == user_id, prompt_rewrites.c.day != day
                )
            )
            return await self._count_one(conn, user_id, day, limit)

    async def _count_one(self, conn: AsyncConnection, user_id: int, day: str, limit: int) -> bool:
        values = {"user_id": user_id, "day": day, "count": 1}
        keys = [prompt_rewrites.c.user_id, prompt_rewrites.c.day]
        raised = {"count": prompt_rewrites.c.count + 1}
        below = prompt_rewrites.c.count < limit
        if self._dialect == "postgresql":
            pg_statement = (
                postgresql_insert(prompt_rewrites)
                .values(**values)
                .on_conflict_do_update(index_elements=keys, set_=raised, where=below)
                .returning(prompt_rewrites.c.count)
            )
            return (await conn.execute(pg_statement)).first() is not None
        statement = (
            sqlite_insert(prompt_rewrites)
            .values(**values)
            .on_conflict_do_update(index_elements=keys, set_=raised, where=below)
        )
        return bool((await conn.execute(statement)).rowcount == 1)

    async def give_back(self, user_id: int, day: str) -> None:
        """Uncount one rewrite that could not be made."""
        async with self._database.write() as conn:
            await conn.execute(
                update(prompt_rewrites)
                .where(
                    prompt_rewrites.c.user_id == user_id,
                    prompt_rewrites.c.day == day,
                    prompt_rewrites.c.count > 0,
                )
                .values(count=prompt_rewrites.c.count - 1)
            )

    async def used(self, user_id: int, day: str) -> int:
        """The rewrites counted for the member on `day`."""
        async with self._database.engine.connect() as conn:
            found = await conn.scalar(
                prompt_rewrites.select()
                .with_only_columns(prompt_rewrites.c.count)
                .where(prompt_rewrites.c.user_id == user_id, prompt_rewrites.c.day == day)
            )
        return int(found or 0)
