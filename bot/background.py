"""Background tasks that are never lost: every task the bot starts goes through `spawn`.

asyncio keeps only a weak reference to a task, so a task nobody holds can be collected
mid-flight, and an exception nobody retrieves is reported late or not at all. `spawn` keeps
each task in a set until it ends and logs its failure, with the task's name, when it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# The tasks started with `spawn` and not yet done (a task drops out of it when it ends).
_RUNNING: set[asyncio.Task[Any]] = set()


def spawn(coroutine: Coroutine[Any, Any, _T], *, name: str) -> asyncio.Task[_T]:
    """Start `coroutine` as a task that is kept until it ends; its failure is logged."""
    task = asyncio.get_running_loop().create_task(coroutine, name=name)
    _RUNNING.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[Any]) -> None:
    _RUNNING.discard(task)
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("background task %s failed", task.get_name(), exc_info=error)


def running() -> int:
    """How many spawned tasks have not ended (for tests and shutdown logs)."""
    return len(_RUNNING)
