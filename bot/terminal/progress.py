"""A one-line text progress display for the terminal front end."""

from __future__ import annotations

from bot.videos import JobState

_LABELS = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "generating",
    JobState.COMPLETED: "completed",
}


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(progress: int | None, width: int = 24) -> str:
    """A bar of `width` cells; an unknown progress shows as an empty bar."""
    filled = 0 if progress is None else round(width * progress / 100)
    return "█" * filled + "░" * (width - filled)


def progress_line(state: JobState, progress: int | None, elapsed: float, eta: float | None) -> str:
    label = _LABELS.get(state, state.value)
    percent = "  ?%" if progress is None else f"{progress:3d}%"
    line = f"{label:<10} {bar(progress)} {percent}  elapsed {format_duration(elapsed)}"
    if eta is not None and state is not JobState.COMPLETED:
        line += f"  ETA {format_duration(eta)}"
    return line
