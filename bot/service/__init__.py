"""The service: what every front end calls, and the composition of the engine behind it."""

from bot.service.facade import (
    FollowUpKind,
    JobDetails,
    ReplyOpener,
    SourceGone,
    Upload,
    VideoService,
    new_ref,
)

__all__ = [
    "FollowUpKind",
    "JobDetails",
    "ReplyOpener",
    "SourceGone",
    "Upload",
    "VideoService",
    "new_ref",
]
