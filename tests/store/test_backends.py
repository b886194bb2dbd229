"""The rest of the store on both databases: guild policies, usage sums, job queries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.domain import GuildPolicy
from bot.store import Database, JobRecord, JobState, JobStore, open_database
from bot.store.guilds import GuildStore
from bot.store.usage import UsageStore

BIG_ID = 1_234_567_890_123_456_789  # Discord ids need 64 bits


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    yield db
    await db.close()


def record(job_id: str, state: JobState, cost: str, **changes: object) -> JobRecord:
    values: dict[str, object] = {
        "id": job_id,
        "state": state,
        "prompt": "a fox",
        "model": "sora-2",
        "size": "720x1280",
        "seconds": 4,
        "cost": cost,
        "requester_id": BIG_ID,
        "guild_id": BIG_ID,
        "created_at": 100.0,
        "updated_at": 100.0,
    }
    values.update(changes)
    return JobRecord(**values)  # type: ignore[arg-type]


async def test_guild_policies_are_saved_and_replaced(database: Database) -> None:
    store = GuildStore(database)
    assert await store.get(BIG_ID) == GuildPolicy()
    await store.save(BIG_ID, GuildPolicy(max_seconds=8, channels=frozenset({BIG_ID})))
    await store.save(BIG_ID, GuildPolicy(max_seconds=12, user_daily_budget=Decimal("1.50")))
    fresh = GuildStore(Database(database.engine))  # no cache: read from the table
    policy = await fresh.get(BIG_ID)
    assert policy.max_seconds == 12
    assert policy.user_daily_budget == Decimal("1.50")
    assert policy.channels == frozenset()


async def test_usage_sums_exactly_per_member(database: Database) -> None:
    jobs = JobStore(database)
    await jobs.add_many(
        [
            record("a1", JobState.DELIVERED, "0.10"),
            record("a2", JobState.DELIVERED, "0.20"),
            record("a3", JobState.FAILED, "0.40"),
            record("k1", JobState.RUNNING, "1.20", requester_id=-12345),
            record("old", JobState.DELIVERED, "9.99", created_at=1.0),
        ]
    )
    usage = UsageStore(database)
    total = await usage.usage(since=50, guild_id=BIG_ID)
    assert total.videos == 3
    assert total.seconds == 12
    assert total.cost == Decimal("1.50")
    assert total.charged == Decimal("0.30")
    assert total.reserved == Decimal("1.20")
    assert total.refunded == Decimal("0.40")
    members = await usage.by_member(guild_id=BIG_ID, since=50.5)
    assert [(m.user_id, m.usage.cost) for m in members] == [
        (BIG_ID, Decimal("0.30")),
        (-12345, Decimal("1.20")),
    ]
    assert await usage.waiting() == 0


async def test_usage_counts_a_cost_that_is_no_number_as_zero(database: Database) -> None:
    await JobStore(database).add_many(
        [
            record("a1", JobState.DELIVERED, "0.50"),
            record("a2", JobState.DELIVERED, "n/a"),
            record("a3", JobState.DELIVERED, ""),
        ]
    )
    total = await UsageStore(database).usage(since=0)
    assert total.videos == 3
    assert total.cost == Decimal("0.50")


async def test_job_queries(database: Database) -> None:
    jobs = JobStore(database)
    await jobs.add(record("r1", JobState.ACCEPTED, "0.40", reference=b"\x00\xffimage"))
    await jobs.add(record("r2", JobState.RUNNING, "0.40", created_at=100.0))
    await jobs.add(record("r3", JobState.DELIVERED, "0.40", created_at=200.0, finished_at=300.0))
    assert await jobs.reference("r1") == b"\x00\xffimage"
    page = await jobs.unfinished_page(None, 1)
    assert [j.id for j in page] == ["r1"]
    page = await jobs.unfinished_page((page[0].created_at, page[0].id), 10)
    assert [j.id for j in page] == ["r2"]
    assert [j.id for j in await jobs.recent_for(BIG_ID, limit=1)] == ["r3"]
    assert await jobs.finished_with_files([JobState.DELIVERED], since=250) == [("r3", 300.0)]
    assert await jobs.count_by_state() == {"accepted": 1, "running": 1, "delivered": 1}
    await jobs.transition("r1", JobState.FAILED, last_error="x")
    assert await jobs.drop_references(finished_before=10**10) == 1
    assert await jobs.reference("r1") is None
    await jobs.ping()
