"""The terminal's one progress line: redrawn in place on a terminal, a line per change in a pipe.

Between two status reads the elapsed time and the ETA still move on, so on a terminal the line
is also redrawn every second (`keep_ticking`); a pipe (a log file, CI) gets a new line only
when something the job reports changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.domain import JobView, Phase

_LABELS = {
    Phase.QUEUED: "queued",
    Phase.RUNNING: "generating",
    Phase.DOWNLOADING: "downloading",
    Phase.DELIVERED: "completed",
}
_WITH_ETA = (Phase.QUEUED, Phase.RUNNING)
_ERASE_LINE = "\r\x1b[2K"


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(progress: int | None, width: int = 24) -> str:
    """A bar of `width` cells; an unknown progress shows as an empty bar."""
    filled = 0 if progress is None else round(width * progress / 100)
    return "█" * filled + "░" * (width - filled)


def progress_line(
    phase: Phase,
    progress: int | None,
    elapsed: float,
    eta: float | None,
    note: str | None = None,
) -> str:
    """`generating ███░░ 40%  elapsed 0:10  ETA 0:50`, then the note if there is one."""
    label = _LABELS.get(phase, phase.value)
    percent = "  ?%" if progress is None else f"{progress:3d}%"
    line = f"{label:<11} {bar(progress)} {percent}  elapsed {format_duration(elapsed)}"
    if eta is not None and phase in _WITH_ETA:
        # Past the estimate the job is late, not done: say so rather than freeze at 0:00.
        line += f"  ETA {format_duration(eta)}" if eta >= 1 else "  ETA any moment"
    if note:
        line += f"  {note}"
    return line


class ProgressLine:
    """One job's progress line on `stream`, drawn from the job's last view and the clock."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.time) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._clock = clock
        self._view: JobView | None = None
        self._note: str | None = None
        self._drawn = ""  # on a terminal: the text on the line now
        self._printed: tuple[object, ...] | None = None  # in a pipe: what the last line showed

    def say(self, text: str) -> None:
        """A line of its own, kept above the progress line."""
        if self._tty:
            self._write(_ERASE_LINE + text + "\n")
            self._drawn = ""
            self._draw()
        else:
            self._write(text + "\n")

    def update(self, view: JobView) -> None:
        """The job changed (a status read, a new phase)."""
        if self._view is not None and view.phase is not self._view.phase:
            self._note = None  # a note belongs to the step it was made in
        self._view = view
        self._draw()

    def note(self, text: str | None) -> None:
        """Something to say after the figures until the phase changes, or None to stop."""
        self._note = text
        self._draw()

    def tick(self) -> None:
        """Redraw with the clock's time: elapsed and ETA move on without a status read."""
        self._draw()

    async def keep_ticking(
        self,
        *,
        every: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Tick every `every` seconds until cancelled."""
        while True:
            await sleep(every)
            self.tick()

    def done(self) -> None:
        """Leave the line as it is and move below it."""
        if self._tty and self._drawn:
            self._write("\n")
            self._drawn = ""

    def _draw(self) -> None:
        view = self._view
        if view is None or view.phase not in _LABELS:
            return
        now = self._clock()
        eta = None if view.eta_at is None else view.eta_at - now
        text = progress_line(view.phase, view.progress, now - view.started_at, eta, self._note)
        if self._tty:
            if text != self._drawn:
                self._write(_ERASE_LINE + text)
                self._drawn = text
            return
        shown = (view.phase, view.progress, self._note)
        if shown != self._printed:
            self._write(text + "\n")
            self._printed = shown

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
