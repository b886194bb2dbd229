"""JobStore.totals_by_state: jobs and summed estimated cost per state, for /metrics."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import text

from bot.store import JobRecord, JobState, JobStore, open_database


def record(job_id: str, state: JobState, cost: str) -> JobRecord:
    return JobRecord(
        id=job_id,
        state=state,
        prompt="a fox",
        model="sora-2",
        size="720x1280",
        seconds=4,
        cost=cost,
        requester_id=1,
        created_at=1.0,
        updated_at=1.0,
    )


async def test_counts_and_sums_exactly_per_state(database_url: str) -> None:
    database = await open_database(database_url)
    store = JobStore(database)
    try:
        assert await store.totals_by_state() == {}
        await store.add_many(
            [
                record("a1", JobState.DELIVERED, "0.10"),
                record("a2", JobState.DELIVERED, "0.10"),
                record("a3", JobState.DELIVERED, "0.20"),
                record("b1", JobState.RUNNING, "1.20"),
                record("c1", JobState.CANCELLED, "0.40"),
                record("c2", JobState.CANCELLED, "0.40"),
                record("c3", JobState.CANCELLED, "0.40"),
            ]
        )
        totals = await store.totals_by_state()
    finally:
        await database.close()
    # Decimal sums: 0.1 + 0.1 + 0.2 is exactly 0.4, and 3 x 0.40 exactly 1.20.
    assert totals == {
        JobState.DELIVERED: (3, Decimal("0.40")),
        JobState.RUNNING: (1, Decimal("1.20")),
        JobState.CANCELLED: (3, Decimal("1.20")),
    }
    assert all(isinstance(cost, Decimal) for _, cost in totals.values())


async def test_unknown_states_are_skipped_and_bad_costs_count_as_zero(database_url: str) -> None:
    database = await open_database(database_url)
    store = JobStore(database)
    try:
        await store.add_many(
            [record("a1", JobState.FAILED, "0.50"), record("a2", JobState.FAILED, "0.25")]
        )
        # Rows a newer version (or a hand edit) may have left behind.
        async with database.write() as conn:
            await conn.execute(text("UPDATE jobs SET state = 'from_the_future' WHERE id = 'a2'"))
        await store.add_many(
            [record("b1", JobState.LOST, "n/a"), record("b2", JobState.LOST, "NaN")]
        )
        await store.add(record("b3", JobState.LOST, "2"))
        totals = await store.totals_by_state()
    finally:
        await database.close()
    assert totals == {
        JobState.FAILED: (1, Decimal("0.50")),
        JobState.LOST: (3, Decimal("2")),
    }
