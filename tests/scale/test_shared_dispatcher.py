"""What one process tells the others through PostgreSQL's NOTIFY: a server's new rules, and a
member's stop of a job another process runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot.domain import GuildPolicy
from bot.jobs.shared import SharedDispatcher
from bot.store import Database, JobRecord, open_database
from bot.store.guilds import GuildStore
from bot.store.jobs import JobStore, Lease
from bot.store.leases import LeaseStore
from tests.postgres_server import PostgresServer
from tests.store.test_leases import NOW, job

GUILD = 4242


@pytest.fixture
async def two_pools(postgres_server: PostgresServer) -> AsyncIterator[tuple[Database, Database]]:
    """Two processes' worth of connections to one fresh PostgreSQL database."""
    url = await postgres_server.new_database()
    first, second = await open_database(url), await open_database(url)
    yield first, second
    await first.close()
    await second.close()


def dispatcher(database: Database, **hooks: object) -> SharedDispatcher:
    url = database.engine.url.set(drivername="postgresql")

    def nothing(*_: object) -> None:
        return None

    async def no_stop(_job_id: str) -> None:
        return None

    async def no_show(_record: JobRecord, _place: int) -> None:
        return None

    return SharedDispatcher(
        LeaseStore(database),
        max_running=10,
        max_per_user=2,
        ttl=30,
        run_jobs=bool(hooks.get("run_jobs", False)),
        start=hooks.get("start", nothing),  # type: ignore[arg-type]
        stop=hooks.get("stop", no_stop),  # type: ignore[arg-type]
        show_position=no_show,
        listen_dsn=url.render_as_string(hide_password=False),
        on_policy=hooks.get("on_policy", nothing),  # type: ignore[arg-type]
    )


async def listening(*dispatchers: SharedDispatcher) -> None:
    """Until each has its LISTEN connection (it marks the queue changed once it has)."""
    for each in dispatchers:
        each.launch()
    await asyncio.sleep(0.5)  # the connections open; a notification before would be missed


async def test_new_rules_saved_in_one_process_are_read_fresh_in_another(
    two_pools: tuple[Database, Database],
) -> None:
    here, there = two_pools
    rules_here, rules_there = GuildStore(here), GuildStore(there)
    assert (await rules_there.get(GUILD)).user_daily_budget is None  # cached there now
    forgotten = asyncio.Event()

    def forget(guild_id: int) -> None:
        rules_there.forget(guild_id)
        forgotten.set()

    sender, receiver = dispatcher(here), dispatcher(there, on_policy=forget)
    try:
        await listening(sender, receiver)
        await rules_here.save(GUILD, GuildPolicy(user_daily_budget=Decimal("1.00")))
        sender.policy_changed(GUILD)
        await asyncio.wait_for(forgotten.wait(), 10)
        assert (await rules_there.get(GUILD)).user_daily_budget == Decimal("1.00")
    finally:
        await sender.close()
        await receiver.close()
        await sender.hand_back()
        await receiver.hand_back()


async def test_a_stop_in_one_process_ends_the_task_in_the_process_running_the_job(
    two_pools: tuple[Database, Database],
) -> None:
    here, there = two_pools
    await JobStore(here).add(job("running1", NOW))
    started: list[tuple[str, Lease]] = []
    stopped = asyncio.Event()

    async def stop(job_id: str) -> None:
        assert job_id == "running1"
        stopped.set()

    runner = dispatcher(
        there, run_jobs=True, start=lambda r, lease: started.append((r.id, lease)), stop=stop
    )
    member = dispatcher(here)
    try:
        await listening(runner, member)
        async with asyncio.timeout(10):
            while not started:  # noqa: ASYNC110 - the runner claims on its own
                await asyncio.sleep(0.05)
        assert runner.holds("running1")
        member.stop_elsewhere("running1")
        await asyncio.wait_for(stopped.wait(), 10)
        assert not runner.holds("running1")
    finally:
        await member.close()
        await runner.close()
        await member.hand_back()
        await runner.hand_back()
