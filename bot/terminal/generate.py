"""`video-bot generate`: one video from the terminal, through the same service as the bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp
import yarl

from bot.background import spawn
from bot.catalogue import RequestRejected
from bot.config import Settings
from bot.domain import OPERATOR, Delivery, JobView, Phase, ReplyHandle, Upload
from bot.media.images import sniff_image_type
from bot.observability.redaction import strip_url_credentials
from bot.service import open_service
from bot.terminal.progress import ProgressLine
from bot.terminal.unreachable import why_unreachable

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


def read_reference(path: Path | None) -> Upload | None:
    """The reference image file as an upload (the service checks and fits it)."""
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise GenerateError(f"cannot read {path}: {exc.strerror}") from None
    return Upload(sniff_image_type(data), len(data), path.name, _bytes(data))


class _TerminalReply:
    """The terminal's reply: the output file, and a progress line on the terminal."""

    def __init__(self, line: ProgressLine, out: Path) -> None:
        self._line = line
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
            self._line.say(f"created job {view.video_id}")
        self._line.update(view)

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        self._out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(delivery.path, self._out)
        self.size = delivery.size
        self._line.update(view.evolve(phase=Phase.DELIVERED, progress=100))
        self.ended.set()

    async def fail(self, view: JobView) -> None:
        self.error = view.error or "The job failed."
        self.ended.set()

    async def already_delivered(self) -> bool:
        return False


class _Wire:
    """What the terminal learns from the HTTP exchanges themselves (aiohttp's tracing): each
    attempt at downloading the video, and whether the server could be connected to at all.
    The job's view tells neither: a download retried inside a step is no change of the job."""

    def __init__(self, line: ProgressLine) -> None:
        self._line = line
        self._downloads = 0
        self._trouble: str | None = None  # what went wrong with the last download attempt
        self.unreachable: aiohttp.ClientConnectorError | None = None  # since the last answer

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._started)
        config.on_request_end.append(self._answered)
        config.on_request_exception.append(self._failed)
        return config

    async def _started(
        self, _s: aiohttp.ClientSession, _c: object, params: aiohttp.TraceRequestStartParams
    ) -> None:
        if not _is_download(params.method, params.url):
            return
        self._downloads += 1
        if self._downloads > 1:
            why = f"; the last one got {self._trouble}" if self._trouble else ""
            self._line.note(f"retrying the download (attempt {self._downloads}{why})")

    async def _answered(
        self, _s: aiohttp.ClientSession, _c: object, params: aiohttp.TraceRequestEndParams
    ) -> None:
        self.unreachable = None
        if _is_download(params.method, params.url) and params.response.status >= 400:
            self._trouble = f"HTTP {params.response.status}"

    async def _failed(
        self, _s: aiohttp.ClientSession, _c: object, params: aiohttp.TraceRequestExceptionParams
    ) -> None:
        error = params.exception
        if isinstance(error, aiohttp.ClientConnectorError):
            self.unreachable = error
        if not _is_download(params.method, params.url):
            return
        if isinstance(error, aiohttp.ClientConnectorError):
            self._trouble = why_unreachable(error)
        elif isinstance(error, TimeoutError):
            self._trouble = "no answer in time"
        else:
            self._trouble = "a broken connection"


def _is_download(method: str, url: yarl.URL) -> bool:
    """GET /videos/{id}/content for the video itself (not its thumbnail)."""
    if method != "GET" or not url.path.endswith("/content"):
        return False
    return url.query.get("variant", "video") == "video"


async def generate(
    settings: Settings, options: GenerateOptions, stream: TextIO = sys.stderr
) -> int:
    """Create, follow and download one video through the engine's own workflow.

    The operator's own terminal: no guild rules or limits, and a throwaway job store.
    """
    reference = read_reference(options.reference)
    line = ProgressLine(stream)
    reply = _TerminalReply(line, options.out)
    wire = _Wire(line)
    with tempfile.TemporaryDirectory(prefix="video-bot-") as scratch:
        local = settings.model_copy(update={"data_dir": Path(scratch), "database_url": None})
        try:
            async with open_service(
                local,
                sinks={TERMINAL: lambda _handle: reply},
                resume=False,
                trace_configs=[wire.trace()],
            ) as service:
                # Checked by the service before anything is sent: a bad request costs nothing.
                await service.submit(
                    OPERATOR,
                    options.prompt,
                    reply=reply,
                    model=options.model,
                    size=options.size,
                    seconds=options.seconds,
                    reference=reference,
                    bounded=False,
                )
                async with _ticking(line):
                    await reply.ended.wait()
        except RequestRejected as exc:
            raise GenerateError(str(exc)) from None
        finally:
            line.done()
    if reply.error is not None and wire.unreachable is not None:
        url = strip_url_credentials(settings.openai_base_url)
        raise GenerateError(
            f"the Videos API at {url} cannot be reached ({why_unreachable(wire.unreachable)}); "
            "is its server running? Check OPENAI_BASE_URL."
        )
    if reply.error is not None:
        raise GenerateError(reply.error)
    return reply.size


@contextlib.asynccontextmanager
async def _ticking(line: ProgressLine) -> AsyncIterator[None]:
    """The line redrawn every second meanwhile: elapsed and ETA move between status reads."""
    task = spawn(line.keep_ticking(), name="terminal-progress")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _bytes(data: bytes) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        return data

    return read
