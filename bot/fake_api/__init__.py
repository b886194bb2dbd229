"""A fake server speaking the OpenAI Videos API in several real servers' dialects.

For free dry runs (`video-bot fake-api`) and for the test-suite. It shares no code with the
client in bot.videos on purpose: it is an independent peer that the client is tested against.
"""

from .app import FakeVideosServer, serve_forever
from .settings import DIALECTS, Dialect, FakeSettings, Fault, FaultEndpoint, FaultKind
from .state import PROMPT_KEYWORDS, FakeState, FileInfo, Job, Keyword, RecordedRequest, Stats

__all__ = [
    "DIALECTS",
    "PROMPT_KEYWORDS",
    "Dialect",
    "FakeSettings",
    "FakeState",
    "FakeVideosServer",
    "Fault",
    "FaultEndpoint",
    "FaultKind",
    "FileInfo",
    "Job",
    "Keyword",
    "RecordedRequest",
    "Stats",
    "serve_forever",
]
