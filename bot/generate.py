"""`video-bot generate`: one video from the terminal, through the same engine as the bot."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.catalogue import RequestRejected
from bot.config import Settings
from bot.engine import make_client, make_planner, open_session
from bot.images import ImageRejected, fit_reference
from bot.jobs.request import Requester, validate_request
from bot.jobs.tracking import Update, track
from bot.progress_bar import progress_line
from bot.videos import CreateRequest, EndpointNotVideosError, VideosError

# The terminal has no Discord identity; the engine's request type still wants one.
_TERMINAL = Requester(user_id=0, guild_id=None, channel_id=0)


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


def build_request(settings: Settings, options: GenerateOptions) -> CreateRequest:
    """Validate everything before any call to the provider (a bad request costs nothing)."""
    try:
        request = validate_request(
            settings.catalogue(),
            _TERMINAL,
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
    return request.create_request()


async def generate(
    settings: Settings, options: GenerateOptions, stream: TextIO = sys.stderr
) -> int:
    """Create, follow and download one video; return the number of bytes written."""
    request = build_request(settings, options)
    display = _Display(stream)
    try:
        async with open_session() as session:
            client = make_client(session, settings)
            video = await client.create(request)
            display.show(f"created job {video.id}", key="created")

            async def on_update(update: Update) -> None:
                text = progress_line(update.state, update.progress, update.elapsed, update.eta)
                display.show(text, key=f"{update.state}:{update.progress}")

            finished = await track(
                client,
                video.id,
                planner=make_planner(settings),
                deadline=settings.job_deadline,
                on_update=on_update,
                started_at=time.monotonic(),
            )
            display.done()
            options.out.parent.mkdir(parents=True, exist_ok=True)
            return await client.download(
                finished.id, options.out, max_bytes=settings.max_download_bytes
            )
    except EndpointNotVideosError as exc:
        display.done()
        raise GenerateError(exc.hint) from None
    except VideosError as exc:
        display.done()
        raise GenerateError(exc.user_message) from None
