"""Jobs shared by several processes: claimed under leases, fenced by a lease generation.

A process works on a job only while it holds the job's lease: `lease_owner` is the process,
`lease_until` when the lease runs out unless renewed (the heartbeat), `lease_generation` a
number every claim raises. Every write a leased workflow makes carries its owner and
generation (`Lease`), so once another process has taken a job over, a process that was merely
paused cannot move it on, create it again at the provider or deliver it again: its write
matches no row (a StaleTransitionError) and it stops.

Claims run in one transaction each. New jobs are claimed in acceptance order under a
transaction-scoped advisory lock, because the running limits (overall and per member) are
counts over every process's jobs that `FOR UPDATE SKIP LOCKED` alone cannot keep; the rows
themselves are still selected `FOR UPDATE SKIP LOCKED`. Jobs whose lease ran out are taken
over with `FOR UPDATE SKIP LOCKED` alone: they already count as running. On SQLite, where one
process is the rule, the database's single writer gives the same order (the lock clauses are
PostgreSQL's; SQLAlchemy leaves them out there).
"""

from __future__ import annotations

import contextlib
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import UNFINISHED_STATES, JobState
from bot.store.database import Database
from bot.store.jobs import WITHOUT_REFERENCE, JobRecord, Lease, page_in_order
from bot.store.schema import jobs

# PostgreSQL advisory lock keys: one for claiming new jobs, one for admissions (the spend
# check and reservation), one for the round that tells waiting replies their place.
CLAIM_LOCK = zlib.crc32(b"video-bot:claim")
ADMISSION_LOCK = zlib.crc32(b"video-bot:admission")
POSITIONS_LOCK = zlib.crc32(b"video-bot:positions")
# Woken by NOTIFY: a job is ready, a slot freed, a job was stopped ("stop:<id>").
CHANNEL = "video_bot_jobs"

_UNFINISHED = [s.value for s in UNFINISHED_STATES]
_PAST_QUEUE = [s.value for s in UNFINISHED_STATES if s is not JobState.ACCEPTED]
# How many of the oldest waiting jobs one claim looks at for a member still under the limit.
_CLAIM_WINDOW = 500


def occupying() -> Any:
    """Jobs that hold a provider slot: past the queue, or claimed and about to be sent."""
    return and_(
        jobs.c.state.in_(_UNFINISHED),
        or_(jobs.c.state != JobState.ACCEPTED.value, jobs.c.lease_owner.is_not(None)),
    )


class LeaseStore:
    """Claims, renewals and releases of job leases; each call is one transaction."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self._database = database
        self._engine = database.engine
        self._clock = clock

    @property
    def is_postgres(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    async def _advisory_lock(self, conn: AsyncConnection, key: int) -> None:
        if self.is_postgres:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})

    @contextlib.asynccontextmanager
    async def exclusive(self, key: int) -> AsyncIterator[bool]:
        """Whether this process may do a round only one process should do at a time (the
        lock is held until the block ends); always yes on SQLite (one process)."""
        if not self.is_postgres:
            yield True
            return
        async with self._engine.begin() as conn:
            result = await conn.execute(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}
            )
            yield bool(result.scalar_one())

    @contextlib.asynccontextmanager
    async def open_transaction(self) -> AsyncIterator[AsyncConnection]:
        """A plain write transaction (an admission with no money to race for)."""
        async with self._database.write() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def admission(self) -> AsyncIterator[AsyncConnection]:
        """One transaction under the admission lock: the spend check and the reservation made
        in it cannot interleave with another process's."""
        async with self._database.write() as conn:
            await self._advisory_lock(conn, ADMISSION_LOCK)
            yield conn

    async def claim_new(
        self, owner: str, *, ttl: float, slots: int, max_running: int, max_per_user: int
    ) -> list[tuple[JobRecord, Lease]]:
        """Claim up to `slots` waiting jobs in acceptance order, within the running limits
        counted over every process."""
        if slots <= 0:
            return []
        now = self._clock()
        async with self._database.write() as conn:
            await self._advisory_lock(conn, CLAIM_LOCK)
            rows = (
                await conn.execute(
                    select(jobs.c.requester_id, func.count())
                    .where(occupying())
                    .group_by(jobs.c.requester_id)
                )
            ).all()
            per_user: Counter[int] = Counter({int(user): int(count) for user, count in rows})
            free = min(slots, max_running - sum(per_user.values()))
            if free <= 0:
                return []
            full = [user for user, count in per_user.items() if count >= max_per_user]
            # Claims are one at a time (the lock above): the candidates are read without
            # locking the whole window, and only the chosen rows are locked below.
            candidates = (
                await conn.execute(
                    select(jobs.c.id, jobs.c.requester_id)
                    .where(jobs.c.state == JobState.ACCEPTED.value)
                    .where(jobs.c.lease_owner.is_(None))
                    .where(jobs.c.reply.is_not(None))  # without its reply yet: held
                    .where(jobs.c.requester_id.not_in(full))
                    .order_by(jobs.c.created_at, jobs.c.id)
                    .limit(_CLAIM_WINDOW)
                )
            ).all()
            chosen: list[str] = []
            for job_id, user in candidates:
                if len(chosen) >= free:
                    break
                if per_user[int(user)] < max_per_user:
                    per_user[int(user)] += 1
                    chosen.append(str(job_id))
            if not chosen:
                return []
            # Locked in id order, like every statement here that locks several rows (no
            # deadlock), and not SKIP LOCKED: a row locked for a moment (its shown place being
            # written) is waited for rather than passed over by the job behind it. A job
            # cancelled meanwhile no longer matches and is not taken.
            locked = (
                (
                    await conn.execute(
                        select(jobs.c.id)
                        .where(jobs.c.id.in_(chosen))
                        .where(jobs.c.state == JobState.ACCEPTED.value)
                        .where(jobs.c.lease_owner.is_(None))
                        .order_by(jobs.c.id)
                        .with_for_update()
                    )
                )
                .scalars()
                .all()
            )
            return await self._take(conn, [str(i) for i in locked], owner, now + ttl)

    async def claim_expired(
        self, owner: str, *, ttl: float, limit: int
    ) -> list[tuple[JobRecord, Lease]]:
        """Take over jobs whose lease ran out (their process died or stalled), oldest first."""
        if limit <= 0:
            return []
        now = self._clock()
        async with self._database.write() as conn:
            ids = (
                (
                    await conn.execute(
                        select(jobs.c.id)
                        .where(occupying())
                        .where(jobs.c.lease_until < now)
                        .order_by(jobs.c.created_at, jobs.c.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            return await self._take(conn, [str(i) for i in ids], owner, now + ttl)

    async def adopt_unleased(
        self, owner: str, *, ttl: float, limit: int
    ) -> list[tuple[JobRecord, Lease]]:
        """Jobs past the queue that no process holds (left by a version without leases)."""
        async with self._database.write() as conn:
            ids = (
                (
                    await conn.execute(
                        select(jobs.c.id)
                        .where(jobs.c.state.in_(_PAST_QUEUE))
                        .where(jobs.c.lease_owner.is_(None))
                        .order_by(jobs.c.created_at, jobs.c.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            return await self._take(conn, [str(i) for i in ids], owner, self._clock() + ttl)

    @staticmethod
    async def _lock_in_order(conn: AsyncConnection, condition: Any) -> list[str]:
        """Lock the matching rows in id order before a statement changes several of them:
        two transactions that lock rows in the same order cannot deadlock."""
        ids = (
            (
                await conn.execute(
                    select(jobs.c.id).where(condition).order_by(jobs.c.id).with_for_update()
                )
            )
            .scalars()
            .all()
        )
        return [str(i) for i in ids]

    async def _take(
        self, conn: AsyncConnection, ids: list[str], owner: str, until: float
    ) -> list[tuple[JobRecord, Lease]]:
        if not ids:
            return []
        await conn.execute(
            update(jobs)
            .where(jobs.c.id.in_(ids))
            .values(
                lease_owner=owner,
                lease_until=until,
                lease_generation=jobs.c.lease_generation + 1,
            )
        )
        rows = (
            await conn.execute(
                select(*WITHOUT_REFERENCE)
                .where(jobs.c.id.in_(ids))
                .order_by(jobs.c.created_at, jobs.c.id)
            )
        ).all()
        records = [JobRecord.from_row(r) for r in rows]
        return [(r, Lease(owner, r.lease_generation)) for r in records]

    async def renew(self, owner: str, held: dict[str, int], *, ttl: float) -> set[str]:
        """Extend the leases this process holds; returns the jobs whose lease it lost (taken
        over, or the job ended elsewhere, e.g. stopped by a member)."""
        if not held:
            return set()
        async with self._database.write() as conn:
            mine = await self._lock_in_order(
                conn,
                and_(
                    jobs.c.id.in_(list(held)),
                    jobs.c.lease_owner == owner,
                    jobs.c.state.in_(_UNFINISHED),
                ),
            )
            rows = (
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(mine))
                    .values(lease_until=self._clock() + ttl)
                    .returning(jobs.c.id, jobs.c.lease_generation)
                )
            ).all()
        kept = {str(job_id) for job_id, generation in rows if held.get(str(job_id)) == generation}
        return set(held) - kept

    async def release(self, owner: str, job_ids: Iterable[str]) -> int:
        """Give leases back at once (a clean shutdown): another process need not wait for
        them to run out. A job not yet sent goes back to the queue, in its place."""
        ids = list(job_ids)
        if not ids:
            return 0
        async with self._database.write() as conn:
            ids = await self._lock_in_order(
                conn, and_(jobs.c.id.in_(ids), jobs.c.lease_owner == owner)
            )
            back = await conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(ids))
                .where(jobs.c.lease_owner == owner)
                .where(jobs.c.state == JobState.ACCEPTED.value)
                .values(lease_owner=None, lease_until=None)
            )
            expired = await conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(ids))
                .where(jobs.c.lease_owner == owner)
                .where(jobs.c.state.in_(_PAST_QUEUE))
                .values(lease_until=0.0)
            )
        return int(back.rowcount or 0) + int(expired.rowcount or 0)

    async def holds(self, job_id: str, lease: Lease, *, ttl: float, sending: bool = False) -> bool:
        """Whether `lease` is still the job's lease, renewed for a full term when it is:
        checked right before an act that must happen once (the create, the delivery).

        `sending`: the create leaves right after, so `submitted_at` records that it may have
        (a takeover sends again only a create known never to have left).
        """
        now = self._clock()
        values: dict[str, float] = {"lease_until": now + ttl}
        if sending:
            values["submitted_at"] = now
        async with self._database.write() as conn:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .where(jobs.c.lease_owner == lease.owner)
                .where(jobs.c.lease_generation == lease.generation)
                .values(**values)
            )
        return result.rowcount == 1

    async def notify(self, payload: str = "") -> None:
        """Wake the processes waiting for work (PostgreSQL's NOTIFY; nothing on SQLite)."""
        if not self.is_postgres:
            return
        async with self._database.write() as conn:
            await conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": CHANNEL, "payload": payload},
            )

    async def waiting(
        self, *, after: tuple[float, str] | None = None, limit: int = 1000
    ) -> list[JobRecord]:
        """The queue: waiting jobs with their reply, in acceptance order, a page at a time."""
        waiting = and_(
            jobs.c.state == JobState.ACCEPTED.value,
            jobs.c.lease_owner.is_(None),
            jobs.c.reply.is_not(None),
        )
        query = page_in_order(waiting, after=after, limit=limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [JobRecord.from_row(r) for r in rows]

    async def position(self, job_id: str) -> int | None:
        """A waiting job's place in the queue (1 = next), or None when it is not waiting."""
        me = (
            select(jobs.c.created_at, jobs.c.id)
            .where(jobs.c.id == job_id)
            .where(jobs.c.state == JobState.ACCEPTED.value)
            .where(jobs.c.lease_owner.is_(None))
            .subquery()
        )
        waiting = and_(
            jobs.c.state == JobState.ACCEPTED.value,
            jobs.c.lease_owner.is_(None),
            jobs.c.reply.is_not(None),
        )
        ahead = (
            select(func.count())
            .select_from(jobs)
            .where(waiting)
            .where(
                or_(
                    jobs.c.created_at < me.c.created_at,
                    and_(jobs.c.created_at == me.c.created_at, jobs.c.id < me.c.id),
                )
            )
            .scalar_subquery()
        )
        # One read: no row when the job is not waiting (started, ended, unknown).
        query = select(ahead).select_from(me)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else int(row[0]) + 1

    async def still_waiting(self, job_ids: list[str]) -> set[str]:
        """Which of these jobs are still waiting (not started, not ended), in one read."""
        if not job_ids:
            return set()
        query = (
            select(jobs.c.id)
            .where(jobs.c.id.in_(job_ids))
            .where(jobs.c.state == JobState.ACCEPTED.value)
            .where(jobs.c.lease_owner.is_(None))
        )
        async with self._engine.connect() as conn:
            return {str(i) for i in (await conn.execute(query)).scalars()}

    async def queued(self, conn: AsyncConnection, *, user_id: int) -> tuple[int, int]:
        """Jobs waiting for a slot, not yet claimed by any process: everyone's and one
        member's (the backlog bounds), in one read."""
        query = (
            select(
                func.count(),
                func.coalesce(func.sum(case((jobs.c.requester_id == user_id, 1), else_=0)), 0),
            )
            .where(jobs.c.state == JobState.ACCEPTED.value)
            .where(jobs.c.lease_owner.is_(None))
        )
        everyone, mine = (await conn.execute(query)).one()
        return int(everyone), int(mine)

    async def mark_shown(self, shown: dict[str, int]) -> None:
        """Remember the places the waiting replies now show (one statement; its rows locked
        in id order like every statement here that changes several rows: no deadlock)."""
        if not shown:
            return
        async with self._database.write() as conn:
            ids = await self._lock_in_order(
                conn,
                and_(jobs.c.id.in_(list(shown)), jobs.c.state == JobState.ACCEPTED.value),
            )
            if ids:
                await conn.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(ids))
                    .values(shown_position=case({i: shown[i] for i in ids}, value=jobs.c.id))
                )

    async def counts(self) -> tuple[int, int]:
        """(waiting, running) over every process."""
        async with self._engine.connect() as conn:
            waiting = (
                await conn.execute(
                    select(func.count())
                    .where(jobs.c.state == JobState.ACCEPTED.value)
                    .where(jobs.c.lease_owner.is_(None))
                )
            ).scalar_one()
            running = (await conn.execute(select(func.count()).where(occupying()))).scalar_one()
        return int(waiting), int(running)
