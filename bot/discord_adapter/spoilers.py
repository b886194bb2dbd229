"""Whether a result goes behind a spoiler: the server's mode, applied when it is delivered.

The service marks a job it wants hidden (`JobView.spoiler`: a moderation category, or
"provider" when the video service flagged it); the server's admins choose the mode with
`/video-admin spoilers`. The mode is read at delivery, so a change applies to videos still
being made.
"""

from __future__ import annotations

from typing import Final

ALL: Final = "all"  # every result behind a spoiler
FLAGGED: Final = "flagged"  # the results the service flagged (the default; DMs)
OFF: Final = "off"  # never
MODES: Final = (ALL, FLAGGED, OFF)

SERVER: Final = "server"  # the reason when it is the server's own mode, not a flag
PROVIDER: Final = "provider"  # the video service flagged the result


def is_flag(reason: str | None) -> bool:
    """A reason moderators hear of: a moderation category or the provider's flag, not the
    server's own "every video" mode."""
    return reason is not None and reason != SERVER


def spoiler_reason(mode: str, flagged: str | None) -> str | None:
    """Why the result goes behind a spoiler under `mode`, or None: shown openly.

    An unknown mode (a newer version's, read by an older one) counts as the default.
    """
    if mode == OFF:
        return None
    if mode == ALL:
        return flagged or SERVER
    return flagged if is_flag(flagged) else None
