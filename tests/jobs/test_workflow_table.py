"""The workflow table, the billing rule, the queue index and the job files, as pure units."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.domain import (
    AT_PROVIDER,
    FINAL_STATES,
    UNFINISHED_STATES,
    Billing,
    JobState,
    billing,
    shown_position,
)
from bot.guardrails.queue import JobQueue
from bot.jobs.files import ORPHAN_AGE, JobFiles
from bot.jobs.workflow import STEPS


def test_every_unfinished_state_has_exactly_one_step_and_final_states_none() -> None:
    assert set(STEPS) == set(UNFINISHED_STATES)
    assert not set(STEPS) & FINAL_STATES
    assert AT_PROVIDER <= UNFINISHED_STATES


@pytest.mark.parametrize(
    ("state", "provider_id", "expected"),
    [
        (JobState.ACCEPTED, None, Billing.RESERVED),
        (JobState.RUNNING, "v", Billing.RESERVED),
        (JobState.DELIVERED, "v", Billing.CHARGED),
        (JobState.UNDELIVERABLE, "v", Billing.CHARGED),
        (JobState.TIMED_OUT, "v", Billing.CHARGED),
        (JobState.LOST, "v", Billing.CHARGED),
        (JobState.EXPIRED, "v", Billing.CHARGED),
        (JobState.ABANDONED, "v", Billing.CHARGED),
        (JobState.ABANDONED, None, Billing.UNKNOWN),  # stopped while the create was in flight
        (JobState.UNKNOWN, None, Billing.UNKNOWN),
        (JobState.FAILED, "v", Billing.REFUNDED),  # the provider's verdict
        (JobState.REFUSED, "v", Billing.REFUNDED),
        (JobState.CANCELLED, None, Billing.REFUNDED),  # never reached the provider
    ],
)
def test_money_is_what_the_provider_may_bill(
    state: JobState, provider_id: str | None, expected: Billing
) -> None:
    assert billing(state, provider_id) is expected


def test_every_state_has_a_billing() -> None:
    for state in JobState:
        assert billing(state, "v") in Billing


def test_shown_positions_are_exact_at_the_front_and_rounded_behind() -> None:
    assert [shown_position(p) for p in (1, 2, 10)] == [1, 2, 10]
    assert shown_position(14) == shown_position(11) == 10
    assert shown_position(1234) == 1000
    assert shown_position(9_876) == 10_000


def test_the_queue_keeps_acceptance_order_and_skips_members_at_their_limit() -> None:
    queue = JobQueue()
    queue.add("c", user_id=1, accepted_at=3.0)
    queue.add("a", user_id=1, accepted_at=1.0)
    queue.add("b", user_id=2, accepted_at=2.0)
    queue.add("held", user_id=3, accepted_at=0.5, held=True)
    assert [queue.position(j) for j in ("held", "a", "b", "c")] == [1, 2, 3, 4]
    assert queue.waiting_for(1) == 2
    # A held reservation counts but cannot start; member 1 is at their limit.
    assert queue.next_ready(lambda user: user != 1) == ("b", 2)
    assert queue.next_ready(lambda user: True) == ("a", 1)
    queue.release_hold("held")
    assert queue.next_ready(lambda user: True) == ("held", 3)
    assert queue.remove("a")
    assert not queue.remove("a")
    assert queue.position("c") == 3
    assert list(queue.positions()) == [("held", 1), ("b", 2), ("c", 3)]
    assert len(queue) == 3


def test_the_sweep_removes_old_files_no_job_refers_to(tmp_path: Path) -> None:
    files = JobFiles(tmp_path / "downloads")
    files.prepare()
    old = time.time() - ORPHAN_AGE - 60
    for name in ("orphan.mp4", "kept.mp4", "young.mp4"):
        (files.directory / name).write_bytes(b"x")
    for name in ("orphan.mp4", "kept.mp4"):
        os.utime(files.directory / name, (old, old))
    assert files.sweep({"kept"}) == 1
    assert sorted(p.name for p in files.directory.iterdir()) == ["kept.mp4", "young.mp4"]
    files.remove("kept")
    assert [p.name for p in files.directory.iterdir()] == ["young.mp4"]


async def test_reference_images_are_forgotten_keep_days_after_the_job(tmp_path: Path) -> None:
    from bot.store import JobRecord, JobStore, open_database

    database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'jobs.db'}")
    store = JobStore(database)
    now = time.time()
    for job_id, finished in (("old", now - 8 * 86400), ("recent", now - 86400)):
        await store.add(
            JobRecord(
                id=job_id,
                state=JobState.DELIVERED,
                prompt="p",
                model="sora-2",
                size="720x1280",
                seconds=4,
                cost="0.40",
                requester_id=1,
                created_at=finished,
                updated_at=finished,
                finished_at=finished,
                reference=b"picture",
            )
        )
    assert await store.drop_references(now - 7 * 86400) == 1
    assert await store.reference("old") is None
    assert await store.reference("recent") == b"picture"
    await database.close()
