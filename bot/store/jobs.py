"""Job records and their persisted state machine.

Each transition is committed before the side effect that depends on it, so after a crash the
state says what may have happened and the workflow knows what to do (bot/jobs/workflow.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import (
    UNFINISHED_STATES,
    Attempt,
    JobKind,
    JobState,
    JobSummary,
    ReplyHandle,
)
from bot.store.database import Database
from bot.store.schema import jobs, schema_version
from bot.videos import FailureKind

# Everything but the reference image: the listings and the queue never need its bytes.
WITHOUT_REFERENCE = [c for c in jobs.c if c.name != "reference"]


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One row of the jobs table."""

    id: str
    state: JobState
    prompt: str
    model: str
    size: str
    seconds: int
    cost: str
    requester_id: int
    created_at: float
    updated_at: float
    guild_id: int | None = None
    reference: bytes | None = None
    reply_kind: str | None = None
    reply: str | None = None
    reply_secret: str | None = None
    provider_video_id: str | None = None
    progress: int | None = None
    video_expires_at: float | None = None
    submitted_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    last_error: str | None = None
    kind: str | None = None
    source_id: str | None = None
    source_video_id: str | None = None
    deleted_at: float | None = None
    api_key_id: str | None = None
    metadata: str | None = None
    lease_owner: str | None = None
    lease_until: float | None = None
    lease_generation: int = 0
    shown_position: int | None = None
    provider: str = "default"
    billed_cost: str | None = None
    failure_kind: str | None = None
    earlier_attempts: str | None = None  # JSON: see attempts()
    spoiler: str | None = None  # why the result goes behind a spoiler; None: shown openly

    def __repr__(self) -> str:  # the reply's secret must never reach a log line
        return f"JobRecord(id={self.id!r}, state={self.state.value}, model={self.model!r})"

    @property
    def handle(self) -> ReplyHandle | None:
        """The front end's handle to the reply, as it gave it."""
        if self.reply_kind is None or self.reply is None:
            return None
        return ReplyHandle(self.reply_kind, self.reply, self.reply_secret)

    def summary(self, *, original_kept: bool = False) -> JobSummary:
        """The job as front ends may see it: no reply secret, no reference bytes."""
        handle = self.handle
        return JobSummary(
            id=self.id,
            state=self.state,
            prompt=self.prompt,
            model=self.model,
            size=self.size,
            seconds=self.seconds,
            cost=self.cost,
            requester_id=self.requester_id,
            guild_id=self.guild_id,
            created_at=self.created_at,
            kind=JobKind(self.kind or JobKind.GENERATE),
            source_id=self.source_id,
            provider_video_id=self.provider_video_id,
            progress=self.progress,
            video_expires_at=self.video_expires_at,
            finished_at=self.finished_at,
            last_error=self.last_error,
            deleted_at=self.deleted_at,
            api_key_id=self.api_key_id,
            metadata=self.metadata,
            reply=None if handle is None else ReplyHandle(handle.kind, handle.public),
            original_kept=original_kept,
            provider=self.provider,
            billed_cost=self.billed_cost,
            failure_kind=FailureKind(self.failure_kind) if self.failure_kind else None,
            attempts=self.attempts_made(),
            spoiler=self.spoiler,
        )

    def attempts_made(self) -> tuple[Attempt, ...]:
        """The earlier models tried before this one (fallbacks), oldest first."""
        if not self.earlier_attempts:
            return ()
        try:
            items = json.loads(self.earlier_attempts)
            return tuple(
                Attempt(
                    model=str(item["model"]),
                    provider=str(item["provider"]),
                    failure_kind=FailureKind(item["failure_kind"]),
                    cost=str(item["cost"]),
                    error=item.get("error"),
                    provider_video_id=item.get("provider_video_id"),
                    ended_at=float(item.get("ended_at", 0.0)),
                )
                for item in items
            )
        except (ValueError, KeyError, TypeError):
            return ()

    @classmethod
    def from_row(cls, row: Any) -> JobRecord:
        data: dict[str, Any] = dict(row._mapping)
        data["state"] = JobState(data["state"])
        known: dict[str, Any] = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        return cls(**known)

    def values(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["state"] = self.state.value
        return data


def _attempt_json(attempt: Attempt) -> dict[str, Any]:
    return {
        "model": attempt.model,
        "provider": attempt.provider,
        "failure_kind": attempt.failure_kind.value,
        "cost": attempt.cost,
        "error": attempt.error,
        "provider_video_id": attempt.provider_video_id,
        "ended_at": attempt.ended_at,
    }


def page_in_order(condition: Any, *, after: tuple[float, str] | None, limit: int) -> Any:
    """Jobs matching `condition` in (created_at, id) order, the page after `after` (keyset
    pagination: no page costs more than its own rows, however far in)."""
    query = select(*WITHOUT_REFERENCE).where(condition)
    if after is not None:
        created, job_id = after
        query = query.where(
            or_(
                jobs.c.created_at > created,
                and_(jobs.c.created_at == created, jobs.c.id > job_id),
            )
        )
    return query.order_by(jobs.c.created_at, jobs.c.id).limit(limit)


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to work on one job (bot/store/leases.py): whose it is, which claim made it."""

    owner: str
    generation: int


class StaleTransitionError(Exception):
    """The row was not in the expected state: someone else moved it on."""


class JobStore:
    """Reads and writes job records; each call is its own transaction."""

    def __init__(self, database: Database, clock: Any = time.time) -> None:
        self._database = database
        self._engine = database.engine
        self._clock = clock

    async def add(self, record: JobRecord, *, conn: AsyncConnection | None = None) -> None:
        """Store a new job (in `conn`'s transaction when given: an admission's)."""
        if conn is not None:
            await conn.execute(jobs.insert().values(**record.values()))
            return
        async with self._database.write() as own:
            await own.execute(jobs.insert().values(**record.values()))

    async def get(self, job_id: str) -> JobRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(jobs).where(jobs.c.id == job_id))).first()
        return None if row is None else JobRecord.from_row(row)

    async def drop_references(self, finished_before: float) -> int:
        """Forget the reference images of jobs that ended before `finished_before`."""
        statement = (
            update(jobs)
            .where(jobs.c.reference.is_not(None))
            .where(jobs.c.finished_at.is_not(None))
            .where(jobs.c.finished_at < finished_before)
            .values(reference=None)
        )
        async with self._database.write() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount or 0)

    async def reference(self, job_id: str) -> bytes | None:
        """The job's fitted reference image, if it has one."""
        query = select(jobs.c.reference).where(jobs.c.id == job_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else row.reference

    async def transition(
        self,
        job_id: str,
        to: JobState,
        *,
        expect: Iterable[JobState] | None = None,
        lease: Lease | None = None,
        **changes: Any,
    ) -> None:
        """Move a job to `to` (only from `expect` when given, only under `lease` when given)
        and commit before returning.

        A final state also clears the reply's secret: a token has no use after the job.
        """
        now = self._clock()
        values: dict[str, Any] = {"state": to.value, "updated_at": now, **changes}
        if to.is_final:
            values["finished_at"] = now
            values["reply_secret"] = None
        statement = update(jobs).where(jobs.c.id == job_id).values(**values)
        if expect is not None:
            statement = statement.where(jobs.c.state.in_([s.value for s in expect]))
        if lease is not None:  # the fence: a process whose lease was taken over writes nothing
            statement = statement.where(jobs.c.lease_owner == lease.owner).where(
                jobs.c.lease_generation == lease.generation
            )
        async with self._database.write() as conn:
            result = await conn.execute(statement)
        if result.rowcount != 1:
            raise StaleTransitionError(f"job {job_id} is not in {expect} under this lease")

    async def fall_back(
        self,
        record: JobRecord,
        *,
        model: str,
        provider: str,
        cost: str,
        attempt: Attempt,
        conn: AsyncConnection | None = None,
    ) -> JobRecord:
        """Move a job whose attempt ended (unbilled) to its next model, back to ACCEPTED, with
        that attempt added to its history; only from the state and lease it was read in."""
        history = [*(_attempt_json(a) for a in record.attempts_made()), _attempt_json(attempt)]
        now = self._clock()
        values: dict[str, Any] = {
            "state": JobState.ACCEPTED.value,
            "model": model,
            "provider": provider,
            "cost": cost,
            "earlier_attempts": json.dumps(history),
            "provider_video_id": None,
            "submitted_at": None,
            "progress": None,
            "attempts": 0,
            "last_error": None,
            "failure_kind": None,
            "billed_cost": None,
            "updated_at": now,
        }
        statement = (
            update(jobs)
            .where(jobs.c.id == record.id)
            .where(jobs.c.state == record.state.value)
            .where(jobs.c.lease_generation == record.lease_generation)
            .values(**values)
        )
        if conn is not None:
            result = await conn.execute(statement)
        else:
            async with self._database.write() as own:
                result = await own.execute(statement)
        if result.rowcount != 1:
            raise StaleTransitionError(f"job {record.id} moved on before its fallback")
        values["state"] = JobState.ACCEPTED
        return replace(record, **values)

    async def by_provider_video(self, provider: str, provider_video_id: str) -> JobRecord | None:
        """The job a provider's video id belongs to (a callback names only that id)."""
        query = (
            select(*WITHOUT_REFERENCE)
            .where(jobs.c.provider == provider)
            .where(jobs.c.provider_video_id == provider_video_id)
            .limit(1)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else JobRecord.from_row(row)

    async def note(self, job_id: str, **changes: Any) -> None:
        """Record details that are not a transition (progress, expiry)."""
        async with self._database.write() as conn:
            await conn.execute(
                update(jobs).where(jobs.c.id == job_id).values(updated_at=self._clock(), **changes)
            )

    async def is_adopted(self, provider_video_id: str) -> bool:
        """Whether some job already owns this provider id (reconciliation must not share)."""
        query = select(jobs.c.id).where(jobs.c.provider_video_id == provider_video_id).limit(1)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def unfinished(self) -> list[JobRecord]:
        """Every job that still needs work, oldest first (without reference images)."""
        query = (
            select(*WITHOUT_REFERENCE)
            .where(jobs.c.state.in_([s.value for s in UNFINISHED_STATES]))
            .order_by(jobs.c.created_at, jobs.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [JobRecord.from_row(r) for r in rows]

    async def unfinished_page(self, after: tuple[float, str] | None, limit: int) -> list[JobRecord]:
        """One page of unfinished jobs in (created_at, id) order, after `after`.

        Start-up reads the backlog a page at a time so that 10,000 waiting jobs never hold the
        event loop for long.
        """
        query = page_in_order(
            jobs.c.state.in_([s.value for s in UNFINISHED_STATES]), after=after, limit=limit
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [JobRecord.from_row(r) for r in rows]

    async def finished_with_files(
        self, states: Iterable[JobState], *, since: float | None = None
    ) -> list[tuple[str, float]]:
        """(id, finished_at) of final jobs in `states` (finished at `since` or later): the ones
        whose files may be kept."""
        query = select(jobs.c.id, jobs.c.finished_at).where(
            jobs.c.state.in_([s.value for s in states])
        )
        if since is not None:
            query = query.where(jobs.c.finished_at >= since)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(str(r.id), float(r.finished_at or 0)) for r in rows]

    async def recent(self, limit: int = 50) -> list[JobRecord]:
        query = select(*WITHOUT_REFERENCE).order_by(jobs.c.created_at.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [JobRecord.from_row(r) for r in rows]

    async def recent_for(self, user_id: int, limit: int = 10) -> list[JobRecord]:
        query = (
            select(*WITHOUT_REFERENCE)
            .where(jobs.c.requester_id == user_id)
            .order_by(jobs.c.created_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [JobRecord.from_row(r) for r in rows]

    async def ping(self) -> None:
        """A read of the jobs table and a write that changes nothing: raises when the store
        cannot be reached, read or written (a bare `SELECT 1` would not even open SQLite's
        file; a lock held by another process only shows on a write)."""
        async with self._engine.connect() as conn:
            await conn.execute(select(jobs.c.id).limit(1))
        async with self._database.write() as conn:
            await conn.execute(update(schema_version).values(version=schema_version.c.version))

    async def count_by_state(self) -> dict[str, int]:
        query = select(jobs.c.state, func.count()).group_by(jobs.c.state)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {str(state): int(count) for state, count in rows}

    async def add_many(self, records: Sequence[JobRecord]) -> None:
        """Bulk insert (benchmarks and imports)."""
        if not records:
            return
        async with self._database.write() as conn:
            await conn.execute(jobs.insert(), [r.values() for r in records])

    async def totals_by_state(self) -> dict[JobState, tuple[int, Decimal]]:
        """How many jobs each state holds and their summed cost (for /metrics): the bill where
        the provider reported one, else the estimate.

        The cost is a Decimal kept as text, which SQL cannot add exactly: the query groups by
        state and cost (a handful of distinct prices) and the sums are made here. States this
        version does not know are skipped; a cost that is not a finite number counts as 0.
        """
        money = func.coalesce(jobs.c.billed_cost, jobs.c.cost)
        query = select(jobs.c.state, money, func.count()).group_by(jobs.c.state, money)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        totals: dict[JobState, tuple[int, Decimal]] = {}
        for state_text, cost_text, count in rows:
            try:
                state = JobState(state_text)
            except ValueError:
                continue
            try:
                cost = Decimal(cost_text)
            except (InvalidOperation, TypeError, ValueError):
                cost = Decimal(0)
            if not cost.is_finite():
                cost = Decimal(0)
            jobs_so_far, spend_so_far = totals.get(state, (0, Decimal(0)))
            totals[state] = (jobs_so_far + int(count), spend_so_far + cost * int(count))
        return totals
