"""Durable job records: SQLAlchemy Core over SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from bot.domain import JobState
from bot.store.api_keys import ApiKeyStore, IdempotencyStore
from bot.store.database import Database, StoreError, open_database
from bot.store.jobs import JobRecord, JobStore
from bot.store.provider_events import ProviderEvents
from bot.store.webhook_endpoints import EndpointRefused, WebhookEndpointStore

__all__ = [
    "ApiKeyStore",
    "Database",
    "EndpointRefused",
    "IdempotencyStore",
    "JobRecord",
    "JobState",
    "JobStore",
    "ProviderEvents",
    "StoreError",
    "WebhookEndpointStore",
    "open_database",
]
