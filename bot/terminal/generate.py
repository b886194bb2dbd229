"""`video-bot generate`: one video from the terminal, through the same service as the bot."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.catalogue import RequestRejected
from bot.config import Settings
from bot.domain import (
    OPERATOR,
    Delivery,
    JobView,
    Phase,
    ReplyHandle,
    VideoRequest,
    validate_request,
)
from bot.media.images import ImageRejected, fit_reference
from bot.service.facade import Upload, VideoService
from bot.service.wiring import make_client, open_session
from bot.store import open_database
from bot.terminal.progress import progress_line
from bot.videos import JobState as ProviderState

TERMINAL = "terminal"


class GenerateError(Exception):
    """A one-line reason the command failed."""


@dataclass(frozen=True)
class GenerateOptions:
    prompt: str
    out: Path
    model: str | None = None
    size: str | None = None
    seconds: int | None = None
    reference: Path | None = None


class _Display:
    """Redraws one line on a terminal; prints a line per change when piped."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._last = ""

    def show(self, text: str, *, key: str) -> None:
        if self._tty:
            self._stream.write("\r\x1b[2K" + text)
            self._stream.flush()
        elif key != self._last:
            self._stream.write(text + "\n")
            self._stream.flush()
        self._last = key

    def done(self) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()


def build_request(settings: Settings, options: GenerateOptions) -> VideoRequest:
    """Validate everything before anything is opened or sent (a bad request costs nothing)."""
    try:
        request = validate_request(
            settings.catalogue(),
            OPERATOR,
            options.prompt,
            model=options.model,
            size=options.size,
            seconds=options.seconds,
        )
    except RequestRejected as exc:
        raise GenerateError(str(exc)) from None
    if options.reference is not None:
        try:
            data = options.reference.read_bytes()
        except OSError as exc:
            raise GenerateError(f"cannot read {options.reference}: {exc.strerror}") from None
        try:
            request = request.with_reference(fit_reference(data, request.size))
        except ImageRejected as exc:
            raise GenerateError(str(exc)) from None
    return request


class _TerminalReply:
    """The terminal's reply: the output file, and a progress line on the terminal."""

    def __init__(self, display: _Display, out: Path) -> None:
        self._display = display
        self._out = out
        self.ended = asyncio.Event()
        self.error: str | None = None
        self.size = 0
        self._announced: str | None = None

    async def open(self, view: JobView) -> ReplyHandle:
        del view
        return ReplyHandle(TERMINAL, json.dumps({"out": str(self._out)}))

    async def show(self, view: JobView) -> None:
        if view.video_id and view.video_id != self._announced:
            self._announced = view.video_id
            self._display.show(f"created job {view.video_id}", key="created")
        states = {
            Phase.QUEUED: ProviderState.QUEUED,
            Phase.RUNNING: ProviderState.RUNNING,
            Phase.DOWNLOADING: ProviderState.COMPLETED,
        }
        state = states.get(view.phase)
        if state is None:
            return
        elapsed = time.time() - view.started_at
        eta = None if view.eta_at is None else max(0.0, view.eta_at - time.time())
        text = progress_line(state, view.progress, elapsed, eta)
        self._display.show(text, key=f"{state}:{view.progress}")

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        del view
        self._out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(delivery.path, self._out)
        self.size = delivery.size
        self.ended.set()

    async def fail(self, view: JobView) -> None:
        self.error = view.error or "The job failed."
        self.ended.set()

    async def already_delivered(self) -> bool:
        return False


async def generate(
    settings: Settings, options: GenerateOptions, stream: TextIO = sys.stderr
) -> int:
    """Create, follow and download one video through the engine's own workflow.

    The operator's own terminal: no guild rules or limits, and a throwaway job store.
    """
    request = build_request(settings, options)
    display = _Display(stream)
    reply = _TerminalReply(display, options.out)
    reference = request.reference
    upload = (
        None
        if reference is None
        else Upload(
            reference.content_type, len(reference.data), "reference", _bytes(reference.data)
        )
    )
    with tempfile.TemporaryDirectory(prefix="video-bot-") as scratch:
        local = settings.model_copy(update={"data_dir": Path(scratch), "database_url": None})
        database = await open_database(local.effective_database_url)
        try:
            async with open_session() as session:
                service = VideoService(
                    local,
                    database,
                    make_client(session, local),
                    sinks={TERMINAL: lambda _handle: reply},
                )
                await service.start(resume=False)
                try:
                    await service.submit(
                        OPERATOR,
                        request.prompt,
                        reply=reply,
                        model=request.model,
                        size=request.size,
                        seconds=request.seconds,
                        reference=upload,
                        bounded=False,
                    )
                    await reply.ended.wait()
                finally:
                    await service.close(grace=0)
        except RequestRejected as exc:
            raise GenerateError(str(exc)) from None
        finally:
            display.done()
            await database.close()
    if reply.error is not None:
        raise GenerateError(reply.error)
    return reply.size


def _bytes(data: bytes) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        return data

    return read
