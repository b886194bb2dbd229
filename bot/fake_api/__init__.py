"""A fake server speaking the OpenAI Videos API in several real servers' dialects, and
OpenRouter's own video API (the `openrouter` dialect, under /api/v1).

For free dry runs (`video-bot fake-api`) and for the test-suite. It shares no code with the
client in bot.videos on purpose: it is an independent peer that the client is tested against.
Jobs progress over a fake clock; when one ends, the fake sends the callback its dialect would
(OpenRouter's signed `video.generation.*`, OpenAI's Standard Webhooks events) and records it in
`Stats.callbacks`.
"""

from .app import FakeVideosServer, serve_forever
from .settings import (
    DIALECTS,
    Dialect,
    FakeSettings,
    Fault,
    FaultEndpoint,
    FaultKind,
    OpenRouterModel,
)
from .state import (
    PROMPT_KEYWORDS,
    Callback,
    FakeState,
    FileInfo,
    ImageInput,
    Job,
    Keyword,
    RecordedRequest,
    Stats,
)

__all__ = [
    "DIALECTS",
    "PROMPT_KEYWORDS",
    "Callback",
    "Dialect",
    "FakeSettings",
    "FakeState",
    "FakeVideosServer",
    "Fault",
    "FaultEndpoint",
    "FaultKind",
    "FileInfo",
    "ImageInput",
    "Job",
    "Keyword",
    "OpenRouterModel",
    "RecordedRequest",
    "Stats",
    "serve_forever",
]
