"""Table definitions (the current shape; migrations.py moves older databases to it)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("state", String(16), nullable=False, index=True),
    # What was asked.
    Column("prompt", Text, nullable=False),
    Column("model", String(100), nullable=False),
    Column("size", String(20), nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("cost", String(20), nullable=False),
    Column("reference", LargeBinary, nullable=True),
    # Follow-ups: how the job was made ("generate", "remix", "extend"; None: generate), from
    # which job (a retry, remix or extension of it) and that job's video at the provider.
    Column("kind", String(16), nullable=True),
    Column("source_id", String(32), nullable=True, index=True),
    Column("source_video_id", Text, nullable=True),
    # Who asked, for which community, and the front end's handle to its reply: opaque to the
    # engine, its secret part (tokens) kept apart and cleared when the job ends.
    Column("requester_id", BigInteger, nullable=False, index=True),
    Column("guild_id", BigInteger, nullable=True),
    Column("reply_kind", String(16), nullable=True),
    Column("reply", Text, nullable=True),
    Column("reply_secret", Text, nullable=True),
    # The provider's side.
    Column("provider_video_id", Text, nullable=True),
    Column("progress", Integer, nullable=True),
    Column("video_expires_at", Float, nullable=True),
    # Book-keeping (Unix seconds).
    Column("created_at", Float, nullable=False, index=True),
    Column("submitted_at", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    # When the requester (or an admin) deleted the delivered video; the row stays as history.
    Column("deleted_at", Float, nullable=True),
)

guild_settings = Table(
    "guild_settings",
    metadata,
    Column("guild_id", BigInteger, primary_key=True),
    # The policy as JSON: new settings need no migration, unknown ones are ignored.
    Column("data", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)
