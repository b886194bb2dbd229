"""`video-bot jobs`: what the store holds, for operators."""

from __future__ import annotations

import datetime
from pathlib import Path

from bot.config import Settings
from bot.store import JobRecord, JobState, JobStore, open_database

_COLUMNS = ("job", "state", "model", "size", "secs", "created (UTC)", "provider id", "note")


def _when(unix: float) -> str:
    return datetime.datetime.fromtimestamp(unix, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _row(record: JobRecord, downloads: Path) -> tuple[str, ...]:
    provider = record.provider_video_id or "-"
    if len(provider) > 24:
        provider = provider[:21] + "..."
    note = (record.last_error or "").replace("\n", " ")[:60]
    if record.state is JobState.UNDELIVERABLE:
        # The member never got it: the file waits here (VIDEO_BOT_KEEP_DAYS) to be sent on.
        note = f"file kept: downloads/{record.id}.mp4"
    elif record.state is JobState.DELIVERED and (downloads / f"{record.id}.mp4").is_file():
        # Delivered (fitted, perhaps): the original as the provider made it is still here.
        note = f"original kept: downloads/{record.id}.mp4"
    return (
        record.id,
        record.state.value,
        record.model,
        record.size,
        str(record.seconds),
        _when(record.created_at),
        provider,
        note,
    )


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [_COLUMNS, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


async def list_jobs(settings: Settings, limit: int) -> str:
    database = await open_database(settings.effective_database_url)
    try:
        store = JobStore(database)
        unfinished = await store.unfinished()
        recent = [r for r in await store.recent(limit) if r.state.is_final]
        counts = await store.count_by_state()
    finally:
        await database.close()
    downloads = settings.data_dir / "downloads"
    parts = [f"Unfinished jobs: {len(unfinished)}"]
    if unfinished:
        parts.append(_table([_row(r, downloads) for r in unfinished]))
    parts.append(f"\nRecent finished jobs (last {limit}):")
    parts.append(_table([_row(r, downloads) for r in recent]) if recent else "(none)")
    summary = ", ".join(f"{state} {count}" for state, count in sorted(counts.items()))
    parts.append(f"\nAll jobs by state: {summary or 'none'}")
    return "\n".join(parts)
