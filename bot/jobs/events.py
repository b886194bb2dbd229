"""What the engine tells a front end about a job, and the interface it tells it through."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from bot.jobs.request import VideoRequest


class Phase(StrEnum):
    """Where a job is, from the requester's point of view."""

    WAITING = "waiting"  # for a free slot in the bot's own scheduler
    SUBMITTING = "submitting"
    QUEUED = "queued"  # at the provider
    RUNNING = "running"
    DOWNLOADING = "downloading"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (Phase.DELIVERED, Phase.FAILED)


@dataclass(frozen=True)
class JobView:
    """A snapshot of one job for rendering; times are Unix seconds."""

    ref: str
    request: VideoRequest
    phase: Phase
    started_at: float
    progress: int | None = None
    eta_at: float | None = None
    video_id: str | None = None
    error: str | None = None
    refused: bool = False
    queue_position: int | None = None  # while waiting for a slot: 1 is next

    def evolve(self, **changes: object) -> JobView:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ReplyAddress:
    """Where a job's reply lives, enough to edit it without the original interaction."""

    channel_id: int
    message_id: int | None
    application_id: int | None
    interaction_token: str | None
    token_expires_at: float | None  # Unix seconds
    upload_limit: int
    interaction_id: int | None = None

    def __repr__(self) -> str:  # the token stays out of logs
        return f"ReplyAddress(channel_id={self.channel_id}, message_id={self.message_id})"


@dataclass(frozen=True)
class Delivery:
    """A downloaded video ready to post."""

    path: Path
    size: int


class JobListener(Protocol):
    """A front end following one job (the Discord presenter, a terminal, a test)."""

    async def show(self, view: JobView) -> None:
        """The job moved on; the listener decides whether it is worth showing."""

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        """Post the finished video; raising means it was not delivered."""

    async def fail(self, view: JobView) -> None:
        """Tell the requester the job ended without a video (`view.error` says why)."""

    async def already_delivered(self) -> bool:
        """After a crash mid-delivery: does the reply already carry the video?"""
