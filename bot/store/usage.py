"""What was spent: usage is read from the jobs themselves, split by the one billing rule.

A job's cost counts from the moment it is accepted (the reservation). Whether it keeps counting
when it ends is `bot.domain.billing`: no separate ledger to drift.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, and_, case, cast, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from bot.domain import (
    REFUNDED_STATES,
    UNFINISHED_STATES,
    Billing,
    JobState,
    MemberUsage,
    Usage,
)
from bot.store.database import Database
from bot.store.schema import jobs
from bot.videos import FailureKind

_CENT = Decimal("0.01")


class _Amount(FunctionElement[Decimal]):
    """A cost kept as text, as a number; text that is no number counts as 0.

    SQLite's CAST already reads such text as 0; PostgreSQL's raises, so it checks first.
    """

    type = Numeric(12, 4)
    inherit_cache = True
    name = "amount"


@compiles(_Amount)
def _amount_default(element: _Amount, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = element.clauses
    return compiler.process(cast(text, Numeric(12, 4)), **kw)


@compiles(_Amount, "postgresql")
def _amount_postgresql(element: _Amount, compiler: SQLCompiler, **kw: Any) -> str:
    (text,) = element.clauses
    number: ColumnElement[Decimal] = case(
        (text.regexp_match(r"^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)\s*$"), cast(text, Numeric(12, 4))),
        else_=literal(Decimal(0), Numeric(12, 4)),
    )
    return compiler.process(number, **kw)


# billing() in SQL: the same rule, evaluated by the database for every row.
_BUCKET = case(
    (
        and_(jobs.c.state == JobState.REFUSED.value, jobs.c.billed_cost.is_not(None)),
        literal(Billing.CHARGED.value),
    ),
    (jobs.c.state.in_([s.value for s in REFUNDED_STATES]), literal(Billing.REFUNDED.value)),
    (jobs.c.state.in_([s.value for s in UNFINISHED_STATES]), literal(Billing.RESERVED.value)),
    (jobs.c.state == JobState.UNKNOWN.value, literal(Billing.UNKNOWN.value)),
    (
        and_(jobs.c.state == JobState.ABANDONED.value, jobs.c.provider_video_id.is_(None)),
        literal(Billing.UNKNOWN.value),
    ),
    else_=literal(Billing.CHARGED.value),
)


# A job's money: what its provider reported billing, where it did; else the estimate.
_COUNTED = _Amount(func.coalesce(jobs.c.billed_cost, jobs.c.cost))
_SETTLED_ESTIMATE = case((jobs.c.billed_cost.is_not(None), _Amount(jobs.c.cost)), else_=0)
_SETTLED_BILL = case((jobs.c.billed_cost.is_not(None), _Amount(jobs.c.billed_cost)), else_=0)
_REFUSED_INPUT = case((jobs.c.failure_kind == FailureKind.REFUSED_INPUT.value, 1), else_=0)
_REFUSED_OUTPUT = case((jobs.c.failure_kind == FailureKind.REFUSED_OUTPUT.value, 1), else_=0)


def _usage(rows: list[tuple[Any, ...]]) -> Usage:
    """Fold (bucket, videos, seconds, cost, settled estimate, settled bill) rows into one."""
    costs: dict[str, Decimal] = defaultdict(Decimal)
    videos = seconds = refunded_videos = 0
    estimated_settled = billed_settled = Decimal(0)
    refused_input = refused_output = 0
    for bucket, count, secs, cost, *more in rows:
        amount = Decimal(str(cost or 0))
        costs[bucket] += amount
        if more and bucket != Billing.REFUNDED.value:
            estimated_settled += Decimal(str(more[0] or 0))
            billed_settled += Decimal(str(more[1] or 0))
        if len(more) >= 4:
            refused_input += int(more[2] or 0)
            refused_output += int(more[3] or 0)
        if bucket == Billing.REFUNDED.value:
            refunded_videos += int(count)
        else:
            videos += int(count)
            seconds += int(secs or 0)
    counted = costs[Billing.RESERVED] + costs[Billing.CHARGED] + costs[Billing.UNKNOWN]
    return Usage(
        videos=videos,
        seconds=seconds,
        cost=counted.quantize(_CENT),
        charged=costs[Billing.CHARGED].quantize(_CENT),
        reserved=costs[Billing.RESERVED].quantize(_CENT),
        unknown=costs[Billing.UNKNOWN].quantize(_CENT),
        refunded=costs[Billing.REFUNDED].quantize(_CENT),
        refunded_videos=refunded_videos,
        estimated_settled=estimated_settled.quantize(_CENT),
        billed_settled=billed_settled.quantize(_CENT),
        refused_input=refused_input,
        refused_output=refused_output,
    )


class UsageStore:
    """Sums over the jobs table."""

    def __init__(self, database: Database) -> None:
        self._engine = database.engine

    def _totals(self, *group: Any) -> Any:
        return select(
            *group,
            _BUCKET.label("bucket"),
            func.count(),
            func.coalesce(func.sum(jobs.c.seconds), 0),
            func.coalesce(func.sum(_COUNTED), 0),
            func.coalesce(func.sum(_SETTLED_ESTIMATE), 0),
            func.coalesce(func.sum(_SETTLED_BILL), 0),
            func.coalesce(func.sum(_REFUSED_INPUT), 0),
            func.coalesce(func.sum(_REFUSED_OUTPUT), 0),
        )

    async def usage(
        self,
        *,
        since: float,
        user_id: int | None = None,
        guild_id: int | None = None,
        conn: AsyncConnection | None = None,
    ) -> Usage:
        conditions = [jobs.c.created_at >= since]
        if user_id is not None:
            conditions.append(jobs.c.requester_id == user_id)
        if guild_id is not None:
            conditions.append(jobs.c.guild_id == guild_id)
        query = self._totals().where(and_(*conditions)).group_by(_BUCKET)
        rows = await self._rows(query, conn)
        return _usage([tuple(r) for r in rows])

    async def _rows(self, query: Any, conn: AsyncConnection | None) -> list[Any]:
        """Run a read in `conn` (an admission's transaction) or on a pooled connection."""
        if conn is not None:
            return list((await conn.execute(query)).all())
        async with self._engine.connect() as own:
            return list((await own.execute(query)).all())

    async def by_member(self, *, guild_id: int, since: float) -> list[MemberUsage]:
        query = (
            self._totals(jobs.c.requester_id)
            .where(and_(jobs.c.created_at >= since, jobs.c.guild_id == guild_id))
            .group_by(jobs.c.requester_id, _BUCKET)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        per_member: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        for user, *totals in rows:
            per_member[int(user)].append(tuple(totals))
        members = [MemberUsage(user, _usage(r)) for user, r in per_member.items()]
        return sorted(members, key=lambda m: (-m.usage.videos, m.user_id))

    async def waiting(
        self, *, user_id: int | None = None, conn: AsyncConnection | None = None
    ) -> int:
        """Jobs accepted but not yet sent to the provider (the bot's own queue)."""
        query = select(func.count()).where(jobs.c.state == JobState.ACCEPTED.value)
        if user_id is not None:
            query = query.where(jobs.c.requester_id == user_id)
        rows = await self._rows(query, conn)
        return int(rows[0][0])
