"""A small versioned migration runner: each step runs once, in order, in a transaction."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable

from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store.schema import (
    api_keys,
    guild_settings,
    idempotency_keys,
    jobs,
    metadata,
    prompt_rewrites,
    provider_events,
    schema_version,
    webhook_endpoints,
)

log = logging.getLogger(__name__)

Step = Callable[[AsyncConnection], Awaitable[None]]


async def _v1_jobs_table(conn: AsyncConnection) -> None:
    """Version 1: the jobs table as first released (without video_expires_at)."""
    await conn.run_sync(lambda sync: jobs.create(sync, checkfirst=True))
    if await _has_column(conn, "jobs", "video_expires_at"):
        # A fresh database gets the current table at once; later steps must tolerate that.
        return


async def _v2_video_expiry(conn: AsyncConnection) -> None:
    """Version 2: remember when the provider's download link expires."""
    if not await _has_column(conn, "jobs", "video_expires_at"):
        await conn.execute(text("ALTER TABLE jobs ADD COLUMN video_expires_at FLOAT"))


async def _v3_guild_settings(conn: AsyncConnection) -> None:
    """Version 3: per-guild guardrails set by admins."""
    await conn.run_sync(lambda sync: guild_settings.create(sync, checkfirst=True))


# The columns a reply address had before version 4; the Discord adapter reads the same keys
# from a handle's public JSON (bot/discord_adapter/reply.py), so old jobs resume unchanged.
_V3_REPLY_COLUMNS = (
    "channel_id",
    "message_id",
    "application_id",
    "interaction_id",
    "token_expires_at",
    "upload_limit",
)


async def _v4_opaque_reply(conn: AsyncConnection) -> None:
    """Version 4: the reply address becomes one opaque handle, its token kept apart."""
    if await _has_column(conn, "jobs", "reply"):
        return  # a fresh database was created with the current table
    await conn.execute(text("ALTER TABLE jobs ADD COLUMN reply_kind VARCHAR(16)"))
    await conn.execute(text("ALTER TABLE jobs ADD COLUMN reply TEXT"))
    await conn.execute(text("ALTER TABLE jobs ADD COLUMN reply_secret TEXT"))
    columns = ", ".join(_V3_REPLY_COLUMNS)
    rows = (
        await conn.execute(text(f"SELECT id, state, interaction_token, {columns} FROM jobs"))  # noqa: S608 - constant names
    ).all()
    finished = {"delivered", "failed", "refused", "lost", "cancelled"}
    for row in rows:
        mapping = row._mapping
        public = {name: mapping[name] for name in _V3_REPLY_COLUMNS if mapping[name] is not None}
        secret = None if mapping["state"] in finished else mapping["interaction_token"]
        await conn.execute(
            text(
                "UPDATE jobs SET reply_kind = 'discord', reply = :reply, reply_secret = :secret"
                " WHERE id = :id"
            ),
            {"reply": json.dumps(public), "secret": secret, "id": mapping["id"]},
        )
    for column in ("interaction_token", *_V3_REPLY_COLUMNS):
        await conn.execute(text(f"ALTER TABLE jobs DROP COLUMN {column}"))


async def _v5_follow_ups(conn: AsyncConnection) -> None:
    """Version 5: follow-ups (retry, remix, extend) keep their lineage; deleted videos."""
    for column, kind in (
        ("kind", "VARCHAR(16)"),
        ("source_id", "VARCHAR(32)"),
        ("source_video_id", "TEXT"),
        ("deleted_at", "FLOAT"),
    ):
        if not await _has_column(conn, "jobs", column):
            await conn.execute(text(f"ALTER TABLE jobs ADD COLUMN {column} {kind}"))
    await conn.execute(text("CREATE INDEX IF NOT EXISTS ix_jobs_source_id ON jobs (source_id)"))


async def _v6_api_keys(conn: AsyncConnection) -> None:
    """Version 6: keys issued to scripts (the HTTP API), their idempotency keys, and the key
    and caller's metadata on each job it asked for."""
    await conn.run_sync(lambda sync: api_keys.create(sync, checkfirst=True))
    await conn.run_sync(lambda sync: idempotency_keys.create(sync, checkfirst=True))
    for column, kind in (("api_key_id", "VARCHAR(32)"), ("metadata", "TEXT")):
        if not await _has_column(conn, "jobs", column):
            await conn.execute(text(f"ALTER TABLE jobs ADD COLUMN {column} {kind}"))
    await conn.execute(text("CREATE INDEX IF NOT EXISTS ix_jobs_api_key_id ON jobs (api_key_id)"))


async def _v7_leases(conn: AsyncConnection) -> None:
    """Version 7: jobs shared by several processes are leased; the queue place shown."""
    for column, kind in (
        ("lease_owner", "VARCHAR(64)"),
        ("lease_until", "FLOAT"),
        ("lease_generation", "INTEGER NOT NULL DEFAULT 0"),
        ("shown_position", "INTEGER"),
    ):
        if not await _has_column(conn, "jobs", column):
            await conn.execute(text(f"ALTER TABLE jobs ADD COLUMN {column} {kind}"))
    await conn.execute(
        text("CREATE INDEX IF NOT EXISTS ix_jobs_state_created ON jobs (state, created_at)")
    )


async def _v8_providers(conn: AsyncConnection) -> None:
    """Version 8: several providers; billed costs, failure kinds and fallbacks; callbacks.

    Every job from before was made by OPENAI_BASE_URL's provider, now called "default": in-flight
    ones resume on it.
    """
    for column, kind in (
        ("provider", "VARCHAR(64) NOT NULL DEFAULT 'default'"),
        ("billed_cost", "VARCHAR(20)"),
        ("failure_kind", "VARCHAR(20)"),
        ("earlier_attempts", "TEXT"),
    ):
        if not await _has_column(conn, "jobs", column):
            await conn.execute(text(f"ALTER TABLE jobs ADD COLUMN {column} {kind}"))
    await conn.run_sync(lambda sync: provider_events.create(sync, checkfirst=True))
    await conn.execute(
        text(
            "CREATE INDEX IF NOT EXISTS ix_jobs_provider_video "
            "ON jobs (provider, provider_video_id)"
        )
    )


async def _v9_spoilers(conn: AsyncConnection) -> None:
    """Version 9: why a result goes behind a spoiler (moderation, a server's rule)."""
    if not await _has_column(conn, "jobs", "spoiler"):
        await conn.execute(text("ALTER TABLE jobs ADD COLUMN spoiler VARCHAR(100)"))


async def _v10_webhook_endpoints(conn: AsyncConnection) -> None:
    """Version 10: a key may have several webhook endpoints (the SDK's `client.webhooks`);
    the one webhook a key had (`api-key create --webhook-url`) becomes its first, with the same
    URL and secret and every event, as before."""
    await conn.run_sync(lambda sync: webhook_endpoints.create(sync, checkfirst=True))
    if not await _has_column(conn, "api_keys", "webhook_url"):
        return  # created without them
    rows = (
        await conn.execute(
            text(
                "SELECT id, webhook_url, webhook_secret, created_at FROM api_keys"
                " WHERE webhook_url IS NOT NULL"
            )
        )
    ).all()
    for row in rows:
        await conn.execute(
            webhook_endpoints.insert().values(
                id="we_" + secrets.token_hex(12),
                key_id=row.id,
                name="key webhook",
                url=row.webhook_url,
                event_types=json.dumps(["video.completed", "video.failed"]),
                secret=row.webhook_secret,
                previous_secret=None,
                previous_secret_until=None,
                created_at=row.created_at,
                updated_at=row.created_at,
            )
        )
    for column in ("webhook_url", "webhook_secret"):
        await conn.execute(text(f"ALTER TABLE api_keys DROP COLUMN {column}"))


async def _v11_prompt_rewrites(conn: AsyncConnection) -> None:
    """Version 11: each member's prompt improvements of the day (`/video improve`)."""
    await conn.run_sync(lambda sync: prompt_rewrites.create(sync, checkfirst=True))


MIGRATIONS: list[Step] = [
    _v1_jobs_table,
    _v2_video_expiry,
    _v3_guild_settings,
    _v4_opaque_reply,
    _v5_follow_ups,
    _v6_api_keys,
    _v7_leases,
    _v8_providers,
    _v9_spoilers,
    _v10_webhook_endpoints,
    _v11_prompt_rewrites,
]
LATEST = len(MIGRATIONS)


async def _has_column(conn: AsyncConnection, table: str, column: str) -> bool:
    def check(sync_conn: object) -> bool:
        return column in {c["name"] for c in inspect(sync_conn).get_columns(table)}

    return await conn.run_sync(check)


async def current_version(conn: AsyncConnection) -> int:
    await conn.run_sync(lambda sync: schema_version.create(sync, checkfirst=True))
    row = (await conn.execute(select(schema_version.c.version))).first()
    return 0 if row is None else int(row.version)


async def migrate(conn: AsyncConnection) -> int:
    """Bring the database to LATEST; returns the version it was at."""
    start = await current_version(conn)
    if start > LATEST:
        raise RuntimeError(f"the database is at version {start}, newer than this bot ({LATEST})")
    for version in range(start, LATEST):
        await MIGRATIONS[version](conn)
    if start != LATEST:
        # One line, not one per step: a new database is made in a single start-up line.
        if start == 0:
            log.info("database created at version %d", LATEST)
        else:
            log.info("database migrated from version %d to %d", start, LATEST)
        await conn.execute(schema_version.delete())
        await conn.execute(schema_version.insert().values(version=LATEST))
    return start


__all__ = ["LATEST", "MIGRATIONS", "current_version", "metadata", "migrate"]
