"""What the store holds, for the operator's terminal (`video-bot jobs`)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.domain import JobSummary
from bot.jobs.files import JobFiles
from bot.store import JobRecord, JobStore, open_database


@dataclass(frozen=True)
class JobsReport:
    """The unfinished jobs, the most recent finished ones, and how many jobs are in each state."""

    unfinished: list[JobSummary]
    recent: list[JobSummary]
    counts: dict[str, int]


async def jobs_report(settings: Settings, limit: int) -> JobsReport:
    """Read the configured store once (raises StoreError with a one-line reason)."""
    files = JobFiles(settings.data_dir / "downloads")

    def summary(record: JobRecord) -> JobSummary:
        return record.summary(original_kept=files.video(record.id).is_file())

    database = await open_database(settings.effective_database_url)
    try:
        store = JobStore(database)
        unfinished = await store.unfinished()
        recent = [r for r in await store.recent(limit) if r.state.is_final]
        counts = await store.count_by_state()
    finally:
        await database.close()
    return JobsReport([summary(r) for r in unfinished], [summary(r) for r in recent], counts)
