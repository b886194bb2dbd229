"""After a create with no answer: find the job the server made for it, if it made one."""

from __future__ import annotations

from typing import Protocol

from bot.videos import CapabilityMissingError, CreateRequest, Video, VideosClient

# A job created this long before our request was sent cannot be ours (clock skew allowance).
SKEW = 120.0
MAX_PAGES = 5


class AdoptedIds(Protocol):
    async def is_adopted(self, provider_video_id: str) -> bool: ...


def _matches(video: Video, request: CreateRequest, since: float) -> bool:
    if video.prompt is not None and video.prompt != request.prompt:
        return False
    if video.prompt is None:
        return False  # nothing to recognise it by: adopting a stranger's job would be worse
    if request.model and video.model and not video.model.startswith(request.model):
        return False
    if request.size and video.size and video.size != request.size:
        return False
    if request.seconds and video.seconds and video.seconds != request.seconds.removesuffix(".0"):
        return False
    return video.created_at is None or video.created_at >= since - SKEW


async def find_created_job(
    client: VideosClient, request: CreateRequest, *, since: float, store: AdoptedIds
) -> tuple[Video | None, bool]:
    """(the job, whether the server could be searched at all).

    Returns the oldest matching job no other record has adopted, searching the newest pages
    of `GET /videos`. (None, False) when the server cannot list jobs.
    """
    after: str | None = None
    candidates: list[Video] = []
    try:
        for _ in range(MAX_PAGES):
            page = await client.list(limit=100, after=after, order="desc")
            candidates += [v for v in page.data if _matches(v, request, since)]
            oldest = page.data[-1].created_at if page.data else None
            if not page.has_more or not page.data or (oldest is not None and oldest < since - SKEW):
                break
            after = page.last_id or page.data[-1].id
    except CapabilityMissingError:
        return None, False
    candidates.sort(key=lambda v: v.created_at or 0)
    for video in candidates:
        if not await store.is_adopted(video.id):
            return video, True
    return None, True
