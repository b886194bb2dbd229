"""Durable job records: SQLAlchemy Core over SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

from bot.domain import JobState
from bot.store.api_keys import ApiKeyStore, IdempotencyStore
from bot.store.database import Database, StoreError, open_database
from bot.store.jobs import JobRecord, JobStore
from bot.store.provider_events import ProviderEvents

__all__ = [
    "ApiKeyStore",
    "Database",
    "IdempotencyStore",
    "JobRecord",
    "JobState",
    "JobStore",
    "ProviderEvents",
    "StoreError",
    "open_database",
]
