"""Jobs shared by several processes (bot/store/leases.py), on both databases.

Claims in acceptance order within the running limits, take-overs of leases that ran out, the
fence that stops a process whose lease was taken over, renewals, hand-backs, queue places,
and the spend gate's admission shared by two processes' worth of objects (separate pools on
one database). Time is a fake clock: nothing here waits for a lease to run out.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.catalogue import ModelSpec
from bot.domain import LimitReached, OperatorLimits, Requester, VideoRequest
from bot.guardrails.queue import JobQueue
from bot.guardrails.spending import SpendGate
from bot.store import Database, JobRecord, JobState, JobStore, open_database
from bot.store.guilds import GuildStore
from bot.store.jobs import Lease, StaleTransitionError
from bot.store.leases import LeaseStore
from bot.store.schema import jobs
from bot.store.usage import UsageStore
from tests.postgres_server import PostgresServer

NOW = 1_700_000_000.0  # 2023-11-14 22:13 UTC: the spend limits' day began hours ago
TTL = 30.0
GUILD = 1_234_567_890_123_456_789


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def job(
    job_id: str,
    created_at: float,
    *,
    user: int = 1,
    state: JobState = JobState.ACCEPTED,
    reply: str | None = '{"channel_id": 2}',
    cost: str = "0.40",
    **changes: object,
) -> JobRecord:
    values: dict[str, object] = {
        "id": job_id,
        "state": state,
        "prompt": "a fox",
        "model": "sora-2",
        "size": "720x1280",
        "seconds": 4,
        "cost": cost,
        "requester_id": user,
        "guild_id": GUILD,
        "created_at": created_at,
        "updated_at": created_at,
        "reply_kind": None if reply is None else "discord",
        "reply": reply,
    }
    values.update(changes)
    return JobRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    yield db
    await db.close()


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh PostgreSQL database, for the races that need separate pools on one server."""
    return await postgres_server.new_database()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def ids(claimed: list[tuple[JobRecord, Lease]]) -> list[str]:
    return [record.id for record, _ in claimed]


async def get(store: JobStore, job_id: str) -> JobRecord:
    record = await store.get(job_id)
    assert record is not None
    return record


async def occupying_per_user(database: Database) -> Counter[int]:
    """Jobs holding a provider slot, per member, read straight from the table."""
    async with database.engine.connect() as conn:
        rows = (
            await conn.execute(select(jobs.c.requester_id, jobs.c.state, jobs.c.lease_owner))
        ).all()
    final = {s.value for s in JobState if s.is_final}
    return Counter(
        int(user)
        for user, state, owner in rows
        if state not in final and (state != JobState.ACCEPTED.value or owner is not None)
    )


# -- claiming new jobs ------------------------------------------------------------------------


async def test_claim_new_takes_jobs_with_a_reply_in_acceptance_order(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many(
        [
            job("late", 300.0, user=1),
            job("tie-b", 200.0, user=2),
            job("first", 100.0, user=3),
            job("tie-a", 200.0, user=4),
            job("held", 50.0, user=5, reply=None),  # its reply is not made yet
        ]
    )
    claimed = await leases.claim_new("one", ttl=TTL, slots=3, max_running=10, max_per_user=5)
    assert ids(claimed) == ["first", "tie-a", "tie-b"]
    for record, lease in claimed:
        assert lease == Lease("one", 1)
        assert record.lease_owner == "one"
        assert record.lease_until == NOW + TTL
        assert record.lease_generation == 1
        stored = await get(store, record.id)
        assert (stored.lease_owner, stored.lease_until, stored.lease_generation) == (
            "one",
            NOW + TTL,
            1,
        )
        assert stored.state is JobState.ACCEPTED
    # The held job is never claimed until its reply exists; then it comes first.
    assert ids(await leases.claim_new("one", ttl=TTL, slots=5, max_running=10, max_per_user=5)) == [
        "late"
    ]
    assert (await get(store, "held")).lease_owner is None
    await store.note("held", reply_kind="discord", reply='{"channel_id": 2}')
    assert ids(await leases.claim_new("two", ttl=TTL, slots=5, max_running=10, max_per_user=5)) == [
        "held"
    ]
    assert await leases.claim_new("two", ttl=TTL, slots=5, max_running=10, max_per_user=5) == []
    assert await leases.claim_new("two", ttl=TTL, slots=0, max_running=10, max_per_user=5) == []


async def test_claim_new_counts_every_job_already_occupying_a_slot(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many(
        [
            job("running", 1.0, user=1, state=JobState.RUNNING),  # past the queue, no lease
            job("submitting", 2.0, user=2, state=JobState.SUBMITTING, lease_owner="x"),
            job("claimed", 3.0, user=3, lease_owner="x", lease_until=NOW + 5, lease_generation=1),
            job("done", 4.0, user=4, state=JobState.DELIVERED),  # ended: holds nothing
            job("gone", 5.0, user=5, state=JobState.CANCELLED),
            *(job(f"w{i}", 10.0 + i, user=10 + i) for i in range(5)),
        ]
    )
    # 3 occupy already: max_running 5 leaves 2, whatever `slots` asks.
    claimed = await leases.claim_new("one", ttl=TTL, slots=5, max_running=5, max_per_user=2)
    assert ids(claimed) == ["w0", "w1"]
    assert await leases.claim_new("one", ttl=TTL, slots=5, max_running=5, max_per_user=2) == []
    assert await leases.counts() == (3, 5)
    # A job that ends frees its slot for the next in line.
    await store.transition("running", JobState.DELIVERED)
    assert ids(await leases.claim_new("two", ttl=TTL, slots=5, max_running=5, max_per_user=2)) == [
        "w2"
    ]


async def test_a_member_at_the_limit_does_not_block_the_others_behind_them(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many(
        [
            job("a-running", 1.0, user=1, state=JobState.RUNNING),
            job("a1", 10.0, user=1),
            job("a2", 11.0, user=1),
            job("b1", 12.0, user=2),
            job("a3", 13.0, user=1),
            job("c1", 14.0, user=3),
            job("b2", 15.0, user=2),
            job("b3", 16.0, user=2),
        ]
    )
    claimed = await leases.claim_new("one", ttl=TTL, slots=10, max_running=10, max_per_user=2)
    # Member 1 had one running: one more (a1); member 2 two; member 3 one; FIFO otherwise.
    assert ids(claimed) == ["a1", "b1", "c1", "b2"]
    assert await leases.position("a2") == 1
    assert [r.id for r in await leases.waiting()] == ["a2", "a3", "b3"]
    # Once a member's job ends, their next one is the next in line.
    await store.transition("a-running", JobState.FAILED)
    assert ids(
        await leases.claim_new("two", ttl=TTL, slots=10, max_running=10, max_per_user=2)
    ) == ["a2"]


async def two_processes(url: str, database: Database) -> tuple[Database, Database]:
    """Two processes' worth of databases: on PostgreSQL two pools on one server; on SQLite,
    where one process is the rule (the lease store's docstring), one process's writer."""
    if database.engine.dialect.name == "postgresql":
        return await open_database(url), await open_database(url)
    return database, database


async def close_opened(pair: tuple[Database, Database], database: Database) -> None:
    for each in pair:
        if each is not database:
            await each.close()


async def test_two_owners_claiming_at_once_never_share_a_job_or_exceed_the_limits(
    database_url: str, database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    users = 5
    await store.add_many([job(f"j{i:02d}", 100.0 + i, user=i % users) for i in range(50)])
    pair = await two_processes(database_url, database)
    a, b = LeaseStore(pair[0], clock), LeaseStore(pair[1], clock)
    held: dict[str, tuple[str, Lease]] = {}
    try:
        for _ in range(40):
            left = 50 - len(held)
            if not left:
                break
            got_a, got_b = await asyncio.gather(
                a.claim_new("a", ttl=TTL, slots=5, max_running=10, max_per_user=3),
                b.claim_new("b", ttl=TTL, slots=5, max_running=10, max_per_user=3),
            )
            assert not set(ids(got_a)) & set(ids(got_b))
            for owner, got in (("a", got_a), ("b", got_b)):
                for record, lease in got:
                    assert record.id not in held, f"{record.id} claimed twice"
                    held[record.id] = (owner, lease)
            per_user = await occupying_per_user(database)
            assert sum(per_user.values()) <= 10
            assert max(per_user.values()) <= 3
            # Together they fill every slot the limits allow (10 of 5 members x 3), 5 each.
            waiting_users = {r.requester_id for r in await a.waiting()}
            if len(waiting_users) >= 4:
                assert sum(per_user.values()) == 10
            # Some jobs end (under their lease): their slots free for the next round.
            running = [
                (job_id, lease)
                for job_id, (_, lease) in held.items()
                if not (await get(store, job_id)).state.is_final
            ]
            for job_id, lease in running[::2]:
                await store.transition(job_id, JobState.DELIVERED, lease=lease)
            for job_id, lease in running[1::2]:  # sent: still occupying a slot
                await store.transition(job_id, JobState.RUNNING, lease=lease)
        assert len(held) == 50
        assert {owner for owner, _ in held.values()} == {"a", "b"}
    finally:
        await close_opened(pair, database)


async def test_claims_through_two_pools_at_once_on_postgresql(
    postgres_url: str, clock: Clock
) -> None:
    """Eight claims at once through two pools (two Database objects on one URL): only the
    advisory lock keeps the counts over every connection."""
    first = await open_database(postgres_url)
    second = await open_database(postgres_url)
    try:
        await JobStore(first, clock).add_many(
            [job(f"j{i:02d}", 100.0 + i, user=i % 4) for i in range(50)]
        )
        stores = [LeaseStore(first, clock), LeaseStore(second, clock)]
        calls = [
            stores[n % 2].claim_new(f"owner{n}", ttl=TTL, slots=3, max_running=10, max_per_user=3)
            for n in range(8)
        ]
        results = await asyncio.gather(*calls)
        claimed = [job_id for got in results for job_id in ids(got)]
        assert len(claimed) == len(set(claimed))
        assert len(claimed) == 10
        per_user = await occupying_per_user(first)
        assert sum(per_user.values()) == 10
        assert max(per_user.values()) <= 3
    finally:
        await first.close()
        await second.close()


async def test_a_waiting_job_being_written_elsewhere_is_not_skipped_on_postgresql(
    postgres_url: str, clock: Clock
) -> None:
    """The front of the queue while another process tells it its place (`mark_shown`, a
    short write on those rows): the claim must still take it first, not the job behind it.

    Claims are already one at a time under the advisory lock, so `SKIP LOCKED` on the waiting
    rows only ever skips rows some other, non-claiming write holds for a moment; skipping them
    starts a later job ahead of an earlier one (acceptance order broken)."""
    first = await open_database(postgres_url)
    second = await open_database(postgres_url)
    try:
        await JobStore(first, clock).add_many(
            [job("front", 1.0, user=1), job("behind", 2.0, user=2)]
        )
        leases = LeaseStore(second, clock)
        async with first.engine.connect() as conn:
            showing = await conn.begin()  # the positions round of another process, mid-write
            await conn.execute(update(jobs).where(jobs.c.id == "front").values(shown_position=1))
            claim = asyncio.create_task(
                leases.claim_new("a", ttl=TTL, slots=1, max_running=9, max_per_user=9)
            )
            await asyncio.wait({claim}, timeout=0.3)
            await showing.commit()
            claimed = await claim
        assert ids(claimed) == ["front"]
        assert await leases.position("behind") == 1
    finally:
        await first.close()
        await second.close()


async def test_adopt_unleased_takes_only_jobs_past_the_queue_that_nobody_holds(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many(
        [
            job("old-running", 1.0, state=JobState.RUNNING),  # left by a version without leases
            job("waiting", 2.0),
            job("held", 3.0, state=JobState.RUNNING, lease_owner="x", lease_until=NOW + 9),
            job("ended", 4.0, state=JobState.FAILED),
        ]
    )
    adopted = await leases.adopt_unleased("a", ttl=TTL, limit=9)
    assert ids(adopted) == ["old-running"]
    assert adopted[0][1] == Lease("a", 1)
    assert (await get(store, "old-running")).lease_until == NOW + TTL
    assert await leases.adopt_unleased("b", ttl=TTL, limit=9) == []
    assert (await get(store, "waiting")).lease_owner is None


# -- leases that ran out ----------------------------------------------------------------------


async def test_claim_expired_takes_over_only_leases_that_ran_out_and_fences_the_old_owner(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many(
        [
            job("claimed", 1.0, user=1),
            job("unleased", 2.0, user=2, state=JobState.RUNNING),  # no lease: adopt_unleased's
            job(
                "ended",
                3.0,
                user=3,
                state=JobState.DELIVERED,
                lease_owner="old",
                lease_until=NOW - 100,
                lease_generation=4,
            ),
        ]
    )
    ((_, claim),) = await leases.claim_new("a", ttl=TTL, slots=1, max_running=9, max_per_user=9)
    await store.transition("claimed", JobState.SUBMITTING, expect=[JobState.ACCEPTED], lease=claim)
    await store.add(job("later", 4.0, user=4))
    ((_, later),) = await leases.claim_new("a", ttl=TTL, slots=1, max_running=9, max_per_user=9)

    clock.now = NOW + TTL - 1  # both leases still live
    assert await leases.claim_expired("b", ttl=TTL, limit=10) == []
    clock.now = NOW + TTL  # not yet: a lease runs out after its `lease_until`
    assert await leases.claim_expired("b", ttl=TTL, limit=10) == []

    clock.now = NOW + TTL + 1
    taken = await leases.claim_expired("b", ttl=TTL, limit=10)
    assert ids(taken) == ["claimed", "later"]  # past the queue, and claimed but not sent
    for record, lease in taken:
        assert lease == Lease("b", 2)
        assert record.lease_until == clock.now + TTL
    assert (await get(store, "later")).state is JobState.ACCEPTED  # still to be sent
    assert (await get(store, "unleased")).lease_owner is None
    assert (await get(store, "ended")).lease_owner == "old"
    assert await leases.claim_expired("c", ttl=TTL, limit=10) == []  # b's leases are live

    # The fence: the paused owner's writes match nothing and change nothing.
    before = await get(store, "claimed")
    clock.now += 5
    with pytest.raises(StaleTransitionError):
        await store.transition("claimed", JobState.SUBMITTED, provider_video_id="v1", lease=claim)
    with pytest.raises(StaleTransitionError):
        await store.transition("later", JobState.SUBMITTING, lease=later)
    after = await get(store, "claimed")
    assert after == before
    assert (after.state, after.provider_video_id, after.updated_at) == (
        JobState.SUBMITTING,
        None,
        before.updated_at,
    )
    assert (await get(store, "later")).state is JobState.ACCEPTED
    # The new owner's lease moves them on.
    await store.transition("claimed", JobState.SUBMITTED, provider_video_id="v1", lease=taken[0][1])
    await store.transition("later", JobState.SUBMITTING, lease=taken[1][1])
    assert (await get(store, "claimed")).provider_video_id == "v1"
    assert (await get(store, "later")).state is JobState.SUBMITTING


async def test_claim_expired_takes_the_oldest_first_up_to_its_limit(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many(
        [
            job(f"r{i}", 10.0 - i, state=JobState.RUNNING, lease_owner="dead", lease_until=NOW - 1)
            for i in range(4)
        ]
    )
    assert ids(await leases.claim_expired("b", ttl=TTL, limit=2)) == ["r3", "r2"]
    assert ids(await leases.claim_expired("c", ttl=TTL, limit=0)) == []
    assert ids(await leases.claim_expired("c", ttl=TTL, limit=9)) == ["r1", "r0"]
    assert (await get(store, "r0")).lease_generation == 1


# -- heartbeats and hand-backs ----------------------------------------------------------------


async def test_renew_extends_held_leases_and_reports_the_lost_ones(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many([job(f"j{i}", float(i), user=i) for i in range(4)])
    claimed = await leases.claim_new("a", ttl=TTL, slots=4, max_running=9, max_per_user=9)
    held = {record.id: lease.generation for record, lease in claimed}
    lease_of = {record.id: lease for record, lease in claimed}
    for job_id in ("j0", "j1", "j2"):
        await store.transition(job_id, JobState.RUNNING, lease=lease_of[job_id])

    clock.now = NOW + TTL - 1  # the heartbeat, in time
    assert await leases.renew("a", held, ttl=TTL) == set()
    assert (await get(store, "j0")).lease_until == clock.now + TTL

    # j1 is stopped by a member meanwhile; j2's lease is taken over after a stall.
    await store.transition("j1", JobState.ABANDONED)
    await store.transition("j3", JobState.CANCELLED)
    clock.now += TTL + 1
    await store.note("j0", progress=50)  # unrelated writes change nothing
    assert await leases.renew("a", {"j0": held["j0"]}, ttl=TTL) == set()  # j0 renewed in time
    taken = await leases.claim_expired("b", ttl=TTL, limit=9)
    assert ids(taken) == ["j2"]
    b_until = (await get(store, "j2")).lease_until

    clock.now += 1
    assert await leases.renew("a", held, ttl=TTL) == {"j1", "j2", "j3"}
    assert (await get(store, "j0")).lease_until == clock.now + TTL
    assert (await get(store, "j2")).lease_until == b_until  # b's lease untouched
    assert (await get(store, "j2")).lease_owner == "b"
    assert await leases.renew("b", {"j2": taken[0][1].generation}, ttl=TTL) == set()
    assert await leases.renew("a", {}, ttl=TTL) == set()


async def test_renew_reports_a_job_retaken_by_the_same_owner_under_a_new_generation(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add(job("j", 1.0, state=JobState.RUNNING, lease_owner="a", lease_until=NOW - 1))
    ((_, lease),) = await leases.claim_expired("a", ttl=TTL, limit=1)
    assert lease.generation == 1
    # The old claim (generation 0) is not the lease held now.
    assert await leases.renew("a", {"j": 0}, ttl=TTL) == {"j"}
    assert await leases.renew("a", {"j": 1}, ttl=TTL) == set()


async def test_release_returns_unsent_jobs_to_their_place_and_expires_the_others(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many(
        [
            job("first", 1.0, user=1),
            job("sent", 2.0, user=2),
            job("third", 3.0, user=3),
            job("fourth", 4.0, user=4),
        ]
    )
    claimed = await leases.claim_new("a", ttl=TTL, slots=2, max_running=9, max_per_user=9)
    assert ids(claimed) == ["first", "sent"]
    lease_of = {record.id: lease for record, lease in claimed}
    await store.transition("sent", JobState.SUBMITTING, lease=lease_of["sent"])
    assert await leases.position("third") == 1

    assert await leases.release("someone-else", ["first", "sent"]) == 0
    assert await leases.release("a", ["first", "sent", "third"]) == 2  # "third" is not a's
    back = await get(store, "first")
    assert (back.state, back.lease_owner, back.lease_until) == (JobState.ACCEPTED, None, None)
    assert await leases.position("first") == 1  # its old place, ahead of later jobs
    assert await leases.position("third") == 2
    assert [r.id for r in await leases.waiting()] == ["first", "third", "fourth"]
    # Another owner claims it again, first in line; the fence still holds against a.
    again = await leases.claim_new("b", ttl=TTL, slots=1, max_running=9, max_per_user=9)
    assert ids(again) == ["first"]
    assert again[0][1] == Lease("b", 2)
    with pytest.raises(StaleTransitionError):
        await store.transition("first", JobState.SUBMITTING, lease=lease_of["first"])

    # The job past the queue is taken over at once, at the same moment.
    assert (await get(store, "sent")).lease_until == 0.0
    taken = await leases.claim_expired("b", ttl=TTL, limit=9)
    assert ids(taken) == ["sent"]
    assert taken[0][1] == Lease("b", 2)
    assert (await get(store, "sent")).state is JobState.SUBMITTING
    assert await leases.release("a", []) == 0


async def test_holds_is_true_and_renews_for_the_holder_only(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add(job("j", 1.0))
    ((_, lease),) = await leases.claim_new("a", ttl=TTL, slots=1, max_running=9, max_per_user=9)
    await store.transition("j", JobState.SUBMITTING, lease=lease)

    clock.now = NOW + 20
    assert await leases.holds("j", lease, ttl=TTL) is True
    assert (await get(store, "j")).lease_until == NOW + 20 + TTL
    assert await leases.holds("j", Lease("a", lease.generation + 1), ttl=TTL) is False
    assert await leases.holds("j", Lease("b", lease.generation), ttl=TTL) is False
    assert await leases.holds("missing", lease, ttl=TTL) is False

    clock.now = NOW + 20 + TTL + 1  # a stall: the lease ran out and b takes the job over
    ((_, new),) = await leases.claim_expired("b", ttl=TTL, limit=1)
    assert await leases.holds("j", lease, ttl=TTL) is False
    assert (await get(store, "j")).lease_until == clock.now + TTL  # not extended by a
    clock.now += 10
    assert await leases.holds("j", new, ttl=TTL) is True
    assert (await get(store, "j")).lease_until == clock.now + TTL


# -- the queue's places -----------------------------------------------------------------------


async def test_positions_and_waiting_follow_acceptance_order(
    database: Database, clock: Clock
) -> None:
    store = JobStore(database, clock)
    leases = LeaseStore(database, clock)
    await store.add_many(
        [
            job("e", 5.0, user=5),
            job("c", 3.0, user=3),
            job("a", 1.0, user=1),
            job("d2", 4.0, user=4),
            job("d1", 4.0, user=6),
            job("b", 2.0, user=2),
            job("running", 0.5, user=7, state=JobState.RUNNING),
            job("done", 0.1, user=8, state=JobState.DELIVERED),
        ]
    )
    order = ["a", "b", "c", "d1", "d2", "e"]
    assert [r.id for r in await leases.waiting()] == order
    assert [await leases.position(j) for j in order] == [1, 2, 3, 4, 5, 6]
    for other in ("running", "done", "missing"):
        assert await leases.position(other) is None
    # Pages continue after the last one seen, across equal times.
    first = await leases.waiting(limit=4)
    assert [r.id for r in first] == order[:4]
    rest = await leases.waiting(after=(first[-1].created_at, first[-1].id), limit=4)
    assert [r.id for r in rest] == order[4:]
    assert await leases.waiting(after=(rest[-1].created_at, rest[-1].id)) == []
    assert await leases.counts() == (6, 1)

    claimed = await leases.claim_new("a", ttl=TTL, slots=2, max_running=9, max_per_user=9)
    assert ids(claimed) == ["a", "b"]
    assert await leases.position("a") is None
    assert await leases.position("b") is None
    assert [await leases.position(j) for j in order[2:]] == [1, 2, 3, 4]
    assert [r.id for r in await leases.waiting()] == order[2:]
    assert await leases.counts() == (4, 3)

    await leases.mark_shown({"c": 1, "d1": 2})
    assert (await get(store, "c")).shown_position == 1
    assert (await get(store, "d1")).shown_position == 2
    assert (await get(store, "e")).shown_position is None
    await leases.mark_shown({})


async def test_exclusive_rounds_go_to_one_process_at_a_time(
    database_url: str, database: Database
) -> None:
    pair = await two_processes(database_url, database)
    a, b = LeaseStore(pair[0]), LeaseStore(pair[1])
    try:
        async with a.exclusive(7) as first:
            assert first is True
            if a.is_postgres:
                async with b.exclusive(7) as second:
                    assert second is False
                async with b.exclusive(8) as other:
                    assert other is True
        async with b.exclusive(7) as later:
            assert later is True
        await a.notify("")  # wakes the others on PostgreSQL; nothing to do on SQLite
        await b.notify("stop:j1")
    finally:
        await close_opened(pair, database)


# -- the spend gate over several processes ----------------------------------------------------

SPEC = ModelSpec(name="sora-2", sizes=("720x1280",), seconds=(4,), price_per_second=Decimal("0.1"))


def request(user: int) -> VideoRequest:
    return VideoRequest("a fox", SPEC, "720x1280", 4, Requester(user_id=user, guild_id=GUILD))


class Process:
    """One process's worth of admission: its own pool, stores, queue and gate."""

    def __init__(self, database: Database, operator: OperatorLimits, clock: Clock) -> None:
        self.database = database
        self.jobs = JobStore(database, clock)
        self.gate = SpendGate(
            UsageStore(database),
            GuildStore(database),
            operator,
            JobQueue(),  # this process's queue: empty, the backlog is in the store
            clock,
            shared=LeaseStore(database, clock),
        )
        self.clock = clock
        self.count = itertools.count()

    async def admit(self, user: int, name: str) -> str:
        async def reserve(conn: AsyncConnection | None) -> str:
            assert conn is not None  # the admission's transaction
            await asyncio.sleep(0.02)  # a slow insert: the other admission would slip in here
            record = job(name, self.clock(), user=user, reply=None)
            await self.jobs.add(record, conn=conn)
            return name

        return await self.gate.admit(request(user), reserve)


async def test_two_processes_racing_for_the_last_of_a_budget_admit_exactly_one(
    database_url: str, database: Database, clock: Clock
) -> None:
    """$1.00 a day, $0.60 spent, $0.40 a video: room for one more, never two."""
    operator = OperatorLimits(user_daily_budget=Decimal("1.00"))
    store = JobStore(database, clock)
    members = [101, 102, 103, 104, 105]
    await store.add_many(
        [
            job(f"spent{m}", NOW - 3600, user=m, state=JobState.DELIVERED, cost="0.60")
            for m in members
        ]
    )
    pair = await two_processes(database_url, database)
    one, two = Process(pair[0], operator, clock), Process(pair[1], operator, clock)
    try:
        for member in members:
            results = await asyncio.gather(
                one.admit(member, f"one{member}"),
                two.admit(member, f"two{member}"),
                return_exceptions=True,
            )
            passed = [r for r in results if isinstance(r, str)]
            refused = [r for r in results if isinstance(r, LimitReached)]
            assert len(passed) == 1, results
            assert len(refused) == 1, results
            assert "daily budget" in str(refused[0])
            mine = [r for r in await store.recent_for(member, limit=10) if r.id != f"spent{member}"]
            assert [r.id for r in mine] == passed
        usage = await UsageStore(database).usage(since=NOW - 86_400 / 2)
        assert usage.cost == Decimal("5.00")  # 5 x (0.60 + 0.40): never over a budget
    finally:
        await close_opened(pair, database)


async def test_admissions_through_two_pools_for_the_last_of_a_budget_admit_one_on_postgresql(
    postgres_url: str, clock: Clock
) -> None:
    """Six admissions at once through two pools (two Database objects on one URL) for one
    member whose budget leaves room for exactly one. PostgreSQL only: several processes share
    jobs through PostgreSQL alone (bot/cli.py refuses SQLite), and two writers on one SQLite
    file do not serialise the check and the insert."""
    first = await open_database(postgres_url)
    second = await open_database(postgres_url)
    try:
        operator = OperatorLimits(user_daily_budget=Decimal("1.00"))
        await JobStore(first, clock).add(
            job("spent", NOW - 60, user=7, state=JobState.DELIVERED, cost="0.60")
        )
        processes = [Process(first, operator, clock), Process(second, operator, clock)]
        results = await asyncio.gather(
            *(processes[n % 2].admit(7, f"try{n}") for n in range(6)),
            return_exceptions=True,
        )
        passed = [r for r in results if isinstance(r, str)]
        assert len(passed) == 1, results
        assert all(isinstance(r, LimitReached) for r in results if not isinstance(r, str))
        rows = await JobStore(first, clock).recent_for(7, limit=10)
        assert sorted(r.id for r in rows) == sorted(["spent", *passed])
    finally:
        await first.close()
        await second.close()


async def test_the_backlog_bound_counts_every_processs_waiting_jobs(
    database_url: str, database: Database, clock: Clock
) -> None:
    operator = OperatorLimits(max_queued=5, max_queued_per_user=2)
    pair = await two_processes(database_url, database)
    one, two = Process(pair[0], operator, clock), Process(pair[1], operator, clock)
    leases = LeaseStore(database, clock)
    try:
        await one.admit(1, "m1-a")
        clock.now += 1
        await two.admit(1, "m1-b")  # the other process's queue holds none of member 1's
        with pytest.raises(LimitReached, match="2 videos waiting"):
            await one.admit(1, "m1-c")
        with pytest.raises(LimitReached, match="2 videos waiting"):
            await two.admit(1, "m1-c")
        # Others still get in, until the whole queue is full.
        await two.admit(2, "m2-a")
        await one.admit(2, "m2-b")
        await two.admit(3, "m3-a")
        with pytest.raises(LimitReached, match="queue is full"):
            await one.admit(4, "m4-a")
        # A job that started no longer waits: room again, for its member and for the queue.
        await JobStore(database, clock).note("m1-a", reply_kind="discord", reply="{}")
        ((_, lease),) = await leases.claim_new("x", ttl=TTL, slots=1, max_running=9, max_per_user=9)
        await JobStore(database, clock).transition("m1-a", JobState.SUBMITTING, lease=lease)
        await one.admit(1, "m1-c")
        with pytest.raises(LimitReached):
            await two.admit(1, "m1-d")
    finally:
        await close_opened(pair, database)
