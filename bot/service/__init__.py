"""The service: what every front end calls, and the engine composed behind it.

Front ends (Discord, the HTTP API, the terminal) import from here and from bot.domain only:
`VideoService` (bot/service/facade.py) is the whole of what they may ask of the engine.
"""

from bot.service.facade import VideoService
from bot.service.keys import Keys, open_keys
from bot.service.replies import ReplyOpener, SinkBuilder
from bot.service.webhook_endpoints import EndpointRefused, WebhookEndpoints
from bot.service.wiring import (
    OpenStore,
    build_service,
    make_client,
    make_providers,
    open_service,
    open_session,
    open_store,
    settle_heap,
)
from bot.store import StoreError

__all__ = [
    "EndpointRefused",
    "Keys",
    "OpenStore",
    "ReplyOpener",
    "SinkBuilder",
    "StoreError",
    "VideoService",
    "WebhookEndpoints",
    "build_service",
    "make_client",
    "make_providers",
    "open_keys",
    "open_service",
    "open_session",
    "open_store",
    "settle_heap",
]
