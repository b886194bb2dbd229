"""Background tasks are kept until they end, and a failure is logged with the task's name."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest

from bot import background


async def test_a_spawned_task_is_kept_until_it_ends_even_if_nobody_holds_it() -> None:
    done = asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0)
        gc.collect()  # a task only the event loop knew of could be collected here
        done.set()

    before = background.running()
    background.spawn(work(), name="unheld")  # the caller drops the task at once
    assert background.running() == before + 1
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0)
    assert background.running() == before


async def test_a_failure_is_logged_with_the_tasks_name(caplog: pytest.LogCaptureFixture) -> None:
    async def fail() -> None:
        raise RuntimeError("the disk is full")

    task = background.spawn(fail(), name="trim-originals")
    with caplog.at_level(logging.ERROR, logger="bot.background"):
        await asyncio.wait([task])
        await asyncio.sleep(0)
    (record,) = [r for r in caplog.records if r.name == "bot.background"]
    assert "trim-originals" in record.getMessage()
    assert record.exc_info is not None
    assert "the disk is full" in str(record.exc_info[1])


async def test_a_cancelled_task_is_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    task = background.spawn(asyncio.sleep(60), name="janitor")
    task.cancel()
    with caplog.at_level(logging.ERROR, logger="bot.background"):
        await asyncio.wait([task])
        await asyncio.sleep(0)
    assert not [r for r in caplog.records if r.name == "bot.background"]
