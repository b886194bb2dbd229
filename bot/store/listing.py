"""Pages of one requester's jobs, newest or oldest first, for the bot's own Videos API."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import and_, or_, select

from bot.store.database import Database
from bot.store.jobs import JobRecord
from bot.store.schema import jobs

_LISTED = [c for c in jobs.c if c.name not in ("reference", "reply_secret")]


async def jobs_page(
    database: Database,
    requester_id: int,
    *,
    after: JobRecord | None,
    limit: int,
    order: Literal["asc", "desc"],
) -> tuple[list[JobRecord], bool]:
    """Up to `limit` jobs of `requester_id` after the cursor job, and whether more follow."""
    query = select(*_LISTED).where(jobs.c.requester_id == requester_id)
    if after is not None:
        if order == "desc":
            query = query.where(
                or_(
                    jobs.c.created_at < after.created_at,
                    and_(jobs.c.created_at == after.created_at, jobs.c.id < after.id),
                )
            )
        else:
            query = query.where(
                or_(
                    jobs.c.created_at > after.created_at,
                    and_(jobs.c.created_at == after.created_at, jobs.c.id > after.id),
                )
            )
    if order == "desc":
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
    else:
        query = query.order_by(jobs.c.created_at.asc(), jobs.c.id.asc())
    async with database.engine.connect() as conn:
        rows = (await conn.execute(query.limit(limit + 1))).all()
    records = [JobRecord.from_row(r) for r in rows]
    return records[:limit], len(records) > limit
