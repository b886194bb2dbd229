"""The Videos API client: requests, tolerant models and typed errors."""

from bot.videos.client import CreateRequest, Poll, ReferenceImage, Timeouts, VideosClient
from bot.videos.errors import (
    AuthenticationError,
    BadRequestError,
    CapabilityMissingError,
    ContentError,
    ContentNotReadyError,
    ContentUnavailableError,
    CreateOutcomeUnknownError,
    EndpointNotVideosError,
    JobFailedError,
    JobLostError,
    JobTimeoutError,
    NetworkError,
    RateLimitedError,
    ServerError,
    VideosError,
)
from bot.videos.models import JobError, JobState, Video, VideoPage, normalise_status
from bot.videos.retry import RetryPolicy

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CapabilityMissingError",
    "ContentError",
    "ContentNotReadyError",
    "ContentUnavailableError",
    "CreateOutcomeUnknownError",
    "CreateRequest",
    "EndpointNotVideosError",
    "JobError",
    "JobFailedError",
    "JobLostError",
    "JobState",
    "JobTimeoutError",
    "NetworkError",
    "Poll",
    "RateLimitedError",
    "ReferenceImage",
    "RetryPolicy",
    "ServerError",
    "Timeouts",
    "Video",
    "VideoPage",
    "VideosClient",
    "VideosError",
    "normalise_status",
]
