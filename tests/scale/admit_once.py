"""One process's admission for the spend-gate race (tests/scale/test_shared_limits.py).

Usage: python -m tests.scale.admit_once DATABASE_URL GO_FILE NAME
Opens the shared database as a bot process does, says "ready", waits for GO_FILE, then asks
the spend gate to admit one $0.40 video for member 7, storing it slowly (a 0.2 s pause inside
the admission's transaction, so that without the lock the other process would check in the
meantime). Prints "passed NAME" or "refused: <reason>".
"""

from __future__ import annotations

import asyncio
import sys
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.catalogue import ModelSpec
from bot.domain import JobState, LimitReached, OperatorLimits, Requester, VideoRequest
from bot.guardrails.queue import JobQueue
from bot.guardrails.spending import SpendGate
from bot.store import JobRecord, JobStore, open_database
from bot.store.guilds import GuildStore
from bot.store.leases import LeaseStore
from bot.store.usage import UsageStore

MEMBER = 7
GUILD = 99
SPEC = ModelSpec(name="sora-2", sizes=("720x1280",), seconds=(4,), price_per_second=Decimal("0.1"))
BUDGET = OperatorLimits(user_daily_budget=Decimal("1.00"))


def record(job_id: str, cost: str, state: JobState = JobState.ACCEPTED) -> JobRecord:
    now = time.time()
    return JobRecord(
        id=job_id,
        state=state,
        prompt="a fox",
        model="sora-2",
        size="720x1280",
        seconds=4,
        cost=cost,
        requester_id=MEMBER,
        guild_id=GUILD,
        created_at=now,
        updated_at=now,
    )


async def admit(url: str, go: Path, name: str) -> str:
    database = await open_database(url)
    try:
        store = JobStore(database)
        gate = SpendGate(
            UsageStore(database),
            GuildStore(database),
            BUDGET,
            JobQueue(),
            time.time,
            shared=LeaseStore(database),
        )

        async def reserve(conn: AsyncConnection | None) -> None:
            await asyncio.sleep(0.2)
            await store.add(record(name, "0.40"), conn=conn)

        print("ready", flush=True)
        while not go.exists():  # noqa: ASYNC110, ASYNC240 - the signal is a file
            await asyncio.sleep(0.001)
        request = VideoRequest("a fox", SPEC, "720x1280", 4, Requester(MEMBER, GUILD))
        try:
            await gate.admit(request, reserve)
        except LimitReached as exc:
            return f"refused: {exc}"
        return f"passed {name}"
    finally:
        await database.close()


if __name__ == "__main__":
    url, go_file, job_name = sys.argv[1:]
    print(asyncio.run(admit(url, Path(go_file), job_name)), flush=True)
