"""Following one job on the server until it completes, fails or is lost."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.jobs.polling import PollPlanner
from bot.videos import (
    FailureKind,
    JobFailedError,
    JobState,
    JobTimeoutError,
    NetworkError,
    RateLimitedError,
    ServerError,
    Video,
    VideosClient,
)

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Update:
    """What a front end needs to show after one status read."""

    video: Video
    elapsed: float
    eta: float | None

    @property
    def state(self) -> JobState:
        return self.video.state

    @property
    def progress(self) -> int | None:
        return self.video.progress


OnUpdate = Callable[[Update], Awaitable[None]]


async def track(
    client: VideosClient,
    video_id: str,
    *,
    planner: PollPlanner,
    deadline: float,
    on_update: OnUpdate,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    started_at: float | None = None,
    max_consecutive_errors: int = 5,
    wake: asyncio.Event | None = None,
) -> Video:
    """Poll until the job completes and return it; raise a VideosError otherwise.

    The job is always read at least once, even when it is already past its deadline (a bot
    that was offline longer than the deadline still finds the videos finished meanwhile), and
    once more exactly at the deadline before JobTimeoutError. A job submitted just now is first
    read after the planner's initial delay (its create answer was the first look); each read
    tells the planner whether the provider has started running the job, so that the speed is
    measured from the running phase only.
    Transient trouble (5xx, network, 429) is tolerated for a few rounds beyond the client's
    own retries, because a long job should not die of one bad minute at the provider.
    `wake`, set by a provider's callback, cuts the current wait short: the status is read at
    once (the callback is only a hint; the read is the truth).
    """

    async def pause(seconds: float) -> None:
        if wake is None:
            await sleep(seconds)
            return
        if wake.is_set():
            wake.clear()
            return
        napping = asyncio.ensure_future(sleep(seconds))
        woken = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({napping, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (napping, woken):
                if not waiter.done():
                    waiter.cancel()
            await asyncio.gather(napping, woken, return_exceptions=True)
        wake.clear()

    start = clock() if started_at is None else started_at
    planner.started_at = planner.started_at or start
    ends = start + deadline
    errors = 0
    # The create call's answer was the first look at a fresh job: the first read waits for the
    # planner's first step after submission (a job submitted long ago is read at once).
    first = min(planner.initial_delay(clock()), ends - clock())
    if first > 0:
        await pause(first)
    while True:
        sent = clock()
        try:
            poll = await client.poll(video_id)
        except (ServerError, NetworkError, RateLimitedError) as exc:
            errors += 1
            if errors > max_consecutive_errors or clock() >= ends:
                if isinstance(exc, ServerError):
                    # Gateways (LiteLLM) report a failed job as a lasting 5xx on its status.
                    # Not proof that the job ended, nor that it was never made: no fallback.
                    raise JobFailedError(
                        str(exc.status),
                        _server_said(exc),
                        refused=False,
                        kind=FailureKind.UNKNOWN,
                    ) from exc
                raise
            wait = exc.retry_after if isinstance(exc, RateLimitedError) else None
            log.warning("status of %s unavailable (%s); round %d", video_id, exc, errors)
            await pause(min(wait or planner.fixed_interval, planner.max_interval))
            continue
        errors = 0
        video = poll.video
        now = clock()
        if video.state is JobState.COMPLETED:
            await on_update(Update(video, now - start, 0.0))
            return video
        if video.state.is_terminal:
            raise JobFailedError.from_video(video, dialect=client.dialect)
        if now >= ends:
            raise JobTimeoutError(f"{video_id} not finished after {deadline:.0f}s")
        planner.observe(
            now,
            video.progress,
            poll.poll_after,
            running=video.state is not JobState.QUEUED,
            sent=sent,
        )
        remaining = planner.remaining(now)
        await on_update(Update(video, now - start, max(0.0, remaining) if remaining else None))
        delay = planner.next_delay(now)
        # The last read lands on the deadline itself, not somewhere before it.
        await pause(max(0.0, min(delay, ends - now)))


def _server_said(error: ServerError) -> str:
    return str(error).split(": ", 1)[-1]
