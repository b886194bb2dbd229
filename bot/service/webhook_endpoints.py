"""A key's webhook endpoints as the team API manages them (the SDK's `client.webhooks`).

Every call names the key that asks, and a key reaches only its own endpoints. Which endpoints
hear of an event is decided here (`listening`); signing and sending it is the HTTP front end's
(bot/http/webhooks.py), which also judges where a URL leads.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable

from bot.domain import WebhookEndpoint
from bot.store import Database, EndpointRefused, WebhookEndpointStore
from bot.store.webhook_endpoints import check_url

__all__ = ["EndpointRefused", "WebhookEndpoints"]


class WebhookEndpoints:
    """Make, read, change, rotate and delete a key's endpoints; EndpointRefused for a field
    that is not acceptable."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self._store = WebhookEndpointStore(database, clock)
        self._clock = clock

    @staticmethod
    def check_url(url: object) -> str:
        """The URL, if it is one events may be POSTed to (http or https, naming a host);
        where it leads is the sender's to judge."""
        return check_url(url)

    async def create(
        self, key_id: str, *, name: object, url: object, event_types: object
    ) -> WebhookEndpoint:
        """A new endpoint and its new secret (the only time, with `rotate`, it is shown)."""
        return await self._store.create(key_id, name=name, url=url, event_types=event_types)

    async def get(self, key_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        return await self._store.get(key_id, endpoint_id)

    async def page(
        self, key_id: str, *, after: WebhookEndpoint | None, limit: int
    ) -> tuple[builtins.list[WebhookEndpoint], bool]:
        """The key's endpoints after `after`, newest first, and whether more follow."""
        return await self._store.page(key_id, after=after, limit=limit)

    async def list(self, key_id: str) -> builtins.list[WebhookEndpoint]:
        """Every endpoint of the key, oldest first."""
        return await self._store.of_key(key_id)

    async def update(
        self,
        key_id: str,
        endpoint_id: str,
        *,
        name: object = None,
        url: object = None,
        event_types: object = None,
    ) -> WebhookEndpoint | None:
        """Change the fields given (None: unchanged); None when the key has no such endpoint."""
        return await self._store.update(
            key_id, endpoint_id, name=name, url=url, event_types=event_types
        )

    async def rotate(
        self, key_id: str, endpoint_id: str, *, keep_old: bool = False
    ) -> WebhookEndpoint | None:
        """A new secret; the old one signs no more (or, `keep_old`, for one more day)."""
        return await self._store.rotate(key_id, endpoint_id, keep_old=keep_old)

    async def delete(self, key_id: str, endpoint_id: str) -> bool:
        return await self._store.delete(key_id, endpoint_id)

    async def listening(self, key_id: str, event_type: str) -> builtins.list[WebhookEndpoint]:
        """The key's endpoints that asked for `event_type`: each is sent the event."""
        return [e for e in await self._store.of_key(key_id) if event_type in e.event_types]

    def now(self) -> float:
        """The clock secrets' overlap is judged by."""
        return self._clock()
