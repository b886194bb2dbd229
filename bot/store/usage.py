"""What was spent: usage is read from the jobs themselves.

A job's cost counts from the moment it is accepted (the reservation) and stops counting when
it fails, is refused, lost or cancelled (the refund): no separate ledger to drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Numeric, and_, cast, func, select

from bot.store.database import Database
from bot.store.jobs import JobState
from bot.store.schema import jobs

REFUNDED = (JobState.FAILED, JobState.REFUSED, JobState.LOST, JobState.CANCELLED)
IN_FLIGHT = (
    JobState.ACCEPTED,
    JobState.SUBMITTING,
    JobState.SUBMITTED,
    JobState.RUNNING,
    JobState.DOWNLOADING,
    JobState.DELIVERING,
)


@dataclass(frozen=True)
class Usage:
    """Videos, seconds and estimated cost over a period."""

    videos: int = 0
    seconds: int = 0
    cost: Decimal = Decimal(0)


@dataclass(frozen=True)
class MemberUsage:
    user_id: int
    usage: Usage


def _charged(since: float) -> list[object]:
    return [
        jobs.c.created_at >= since,
        jobs.c.state.not_in([s.value for s in REFUNDED]),
    ]


class UsageStore:
    """Sums over the jobs table."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    async def usage(
        self, *, since: float, user_id: int | None = None, guild_id: int | None = None
    ) -> Usage:
        conditions = _charged(since)
        if user_id is not None:
            conditions.append(jobs.c.requester_id == user_id)
        if guild_id is not None:
            conditions.append(jobs.c.guild_id == guild_id)
        query = select(
            func.count(),
            func.coalesce(func.sum(jobs.c.seconds), 0),
            func.coalesce(func.sum(cast(jobs.c.cost, Numeric(12, 4))), 0),
        ).where(and_(*conditions))  # type: ignore[arg-type]
        async with self._engine.connect() as conn:
            count, seconds, cost = (await conn.execute(query)).one()
        return Usage(int(count), int(seconds), Decimal(str(cost)).quantize(Decimal("0.01")))

    async def by_member(self, *, guild_id: int, since: float) -> list[MemberUsage]:
        conditions = [*_charged(since), jobs.c.guild_id == guild_id]
        query = (
            select(
                jobs.c.requester_id,
                func.count(),
                func.coalesce(func.sum(jobs.c.seconds), 0),
                func.coalesce(func.sum(cast(jobs.c.cost, Numeric(12, 4))), 0),
            )
            .where(and_(*conditions))  # type: ignore[arg-type]
            .group_by(jobs.c.requester_id)
            .order_by(func.count().desc())
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            MemberUsage(
                int(user), Usage(int(n), int(s), Decimal(str(c)).quantize(Decimal("0.01")))
            )
            for user, n, s, c in rows
        ]

    async def in_flight(self, *, user_id: int | None = None) -> int:
        query = select(func.count()).where(jobs.c.state.in_([s.value for s in IN_FLIGHT]))
        if user_id is not None:
            query = query.where(jobs.c.requester_id == user_id)
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
