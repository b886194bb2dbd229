"""The team API's keys, their webhook endpoints and Idempotency-Keys, as front ends use them.

Keys are issued by the operator (`video-bot api-key create`) and presented by scripts; the
store keeps only their hashes. An Idempotency-Key is claimed before a create and answered
with the same job when a script sends the same request again. A key's webhook endpoints are
`webhooks` (bot/service/webhook_endpoints.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal

from bot.config import Settings
from bot.domain import ApiKey
from bot.service.webhook_endpoints import WebhookEndpoints
from bot.store import ApiKeyStore, Database, IdempotencyStore, open_database
from bot.store.api_keys import check_key_request, parse_budget

__all__ = ["Keys", "check_key_request", "open_keys", "parse_budget"]


class Keys:
    """Issue, check and revoke keys; their webhook endpoints; remember what each
    Idempotency-Key answered."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self._keys = ApiKeyStore(database, clock)
        self._idempotency = IdempotencyStore(database, clock)
        self.webhooks = WebhookEndpoints(database, clock)

    async def authenticate(self, presented: str) -> ApiKey | None:
        """The live key presented (revoked or unknown: None); read fresh every time, so a
        revocation holds at once in every process."""
        return await self._keys.authenticate(presented)

    async def get(self, key_id: str) -> ApiKey | None:
        return await self._keys.get(key_id)

    async def create(
        self,
        *,
        name: str,
        guild_id: int,
        channels: Sequence[int],
        webhook_url: str | None = None,
        daily_budget: Decimal | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key: its record and the key itself, which is never available again. With
        a `webhook_url`, its first webhook endpoint (every event; `webhooks.list`)."""
        return await self._keys.create(
            name=name,
            guild_id=guild_id,
            channels=channels,
            webhook_url=webhook_url,
            daily_budget=daily_budget,
        )

    async def list(self) -> list[ApiKey]:
        return await self._keys.list()

    async def revoke(self, key_id: str) -> bool:
        return await self._keys.revoke(key_id)

    async def claim(
        self, key_id: str, idempotency_key: str, fingerprint: str
    ) -> tuple[str, str | None] | None:
        """None when this request is the first with this key; else (the fingerprint of the
        first request, its job id once it has one)."""
        return await self._idempotency.claim(key_id, idempotency_key, fingerprint)

    async def attach(self, key_id: str, idempotency_key: str, job_id: str) -> None:
        await self._idempotency.attach(key_id, idempotency_key, job_id)

    async def release(self, key_id: str, idempotency_key: str) -> None:
        await self._idempotency.release(key_id, idempotency_key)


@contextlib.asynccontextmanager
async def open_keys(settings: Settings) -> AsyncIterator[Keys]:
    """The keys of the configured store, for the operator's terminal."""
    database = await open_database(settings.effective_database_url)
    try:
        yield Keys(database)
    finally:
        await database.close()
