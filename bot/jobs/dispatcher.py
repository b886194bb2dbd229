"""What the service asks of a dispatcher: the one protocol of the two ways jobs are run.

`InProcessDispatcher` (bot/jobs/in_process.py) runs the jobs of one process from an in-memory
index of the queue (SQLite, or any store used by one process). `SharedDispatcher`
(bot/jobs/shared.py) runs jobs claimed under leases from a queue that several processes share
through PostgreSQL. The service calls both the same way and never asks which one it has.
"""

from __future__ import annotations

from typing import Protocol

from bot.store import JobRecord


class Dispatcher(Protocol):
    """Grants provider slots to accepted jobs in acceptance order, within the running limits."""

    max_running: int
    paused: bool

    @property
    def owner(self) -> str | None:
        """This process's name on the leases it holds (None: no leases)."""

    @property
    def running(self) -> int:
        """Jobs this process runs now."""

    @property
    def waiting(self) -> int:
        """Jobs waiting for a slot (over every process when shared, as last counted)."""

    # -- a request's way in --------------------------------------------------------------------

    def hold(self, job_id: str, user_id: int, accepted_at: float) -> None:
        """A reservation: it counts in the queue at once, but cannot start before `ready`."""

    def ready(self, record: JobRecord) -> None:
        """The job has its reply: it may start (at once if a slot is free)."""

    def withdraw(self, job_id: str) -> None:
        """The job left the queue without starting (cancelled, withdrawn)."""

    async def place(self, job_id: str) -> int | None:
        """A waiting job's place in the queue (1 is next), or None once it started."""

    # -- a job's end ---------------------------------------------------------------------------

    def release(self, job_id: str) -> None:
        """A job this process ran ended (or was stopped): its slot is free."""

    def forget(self, job_id: str) -> None:
        """A job another process has now: only this process's books change."""

    def stop_elsewhere(self, job_id: str) -> None:
        """A member stopped a job: whichever process runs it stops its task."""

    def policy_changed(self, guild_id: int) -> None:
        """A server's rules changed here: processes that cached them read them again."""

    def wake_elsewhere(self, job_id: str) -> None:
        """A provider called back about a job another process follows: it reads it now."""

    # -- life cycle ----------------------------------------------------------------------------

    async def resume(self, *, spread: float | None = None) -> int:
        """After a start: take up the unfinished jobs this dispatcher is responsible for;
        returns how many."""

    def launch(self) -> None:
        """Start the loops (granting slots, showing queue places)."""

    async def close(self) -> None:
        """Stop granting slots; running jobs are the workflow's to finish or stop."""

    async def hand_back(self) -> None:
        """After the job tasks stopped: let other processes take this one's jobs at once."""
