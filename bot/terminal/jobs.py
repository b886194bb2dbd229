"""`video-bot jobs`: what the store holds, for operators."""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from bot.config import Settings
from bot.domain import JobState, JobSummary
from bot.service.reports import jobs_report

_COLUMNS = (
    "job",
    "state",
    "model",
    "size",
    "secs",
    "created (UTC)",
    "provider",
    "provider id",
    "money",
    "note",
)
_CENT = Decimal("0.01")


def _when(unix: float) -> str:
    return datetime.datetime.fromtimestamp(unix, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _dollars(amount: str) -> str:
    """Dollars to the cent ("$0.40"), or finer as the provider billed them ("$0.3612")."""
    try:
        value = Decimal(amount)
        if value == value.quantize(_CENT):
            return f"${value:.2f}"
        return f"${value.normalize():f}"
    except (InvalidOperation, ValueError):
        return amount


def _money(record: JobSummary) -> str:
    """The estimate, and what the provider billed once it said so."""
    estimate = f"est. {_dollars(record.cost)}"
    if record.billed_cost is None:
        return estimate
    return f"{estimate} → billed {_dollars(record.billed_cost)}"


def _models(record: JobSummary) -> str:
    """The model, after the ones tried before it when the job fell back ("wan → veo")."""
    return " → ".join([*(a.model for a in record.attempts), record.model])


def _row(record: JobSummary) -> tuple[str, ...]:
    video = record.provider_video_id or "-"
    if len(video) > 24:
        video = video[:21] + "..."
    note = (record.last_error or "").replace("\n", " ")[:60]
    if record.state is JobState.UNDELIVERABLE:
        # The member never got it: the file waits here (VIDEO_BOT_KEEP_DAYS) to be sent on.
        note = f"file kept: downloads/{record.id}.mp4"
    elif record.state is JobState.DELIVERED and record.original_kept:
        # Delivered (fitted, perhaps): the original as the provider made it is still here.
        note = f"original kept: downloads/{record.id}.mp4"
    return (
        record.id,
        record.state.value,
        _models(record),
        record.size,
        str(record.seconds),
        _when(record.created_at),
        record.provider,
        video,
        _money(record),
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
    report = await jobs_report(settings, limit)
    parts = [f"Unfinished jobs: {len(report.unfinished)}"]
    if report.unfinished:
        parts.append(_table([_row(r) for r in report.unfinished]))
    parts.append(f"\nRecent finished jobs (last {limit}):")
    parts.append(_table([_row(r) for r in report.recent]) if report.recent else "(none)")
    summary = ", ".join(f"{state} {count}" for state, count in sorted(report.counts.items()))
    parts.append(f"\nAll jobs by state: {summary or 'none'}")
    return "\n".join(parts)
