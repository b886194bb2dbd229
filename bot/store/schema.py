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
    # Jobs asked for through the HTTP API: the key that asked, and the caller's own metadata
    # (JSON), given back as it came.
    Column("api_key_id", String(32), nullable=True, index=True),
    Column("metadata", Text, nullable=True),
    # Shared jobs (bot/store/leases.py): the process working on the job, until when its lease
    # runs, and the lease's generation, raised by every claim: a write of an older generation
    # is refused (the fence that keeps a paused process from acting on a job taken over).
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("lease_generation", Integer, nullable=False, default=0, server_default="0"),
    # The queue place the waiting reply shows, so any process can tell it when it changes.
    Column("shown_position", Integer, nullable=True),
    # Several providers (version 8): the catalogue provider of `model` (jobs from before have
    # "default", OPENAI_BASE_URL's); what the provider reported it billed (a Decimal as text);
    # why the job ended without a video; the earlier models tried (JSON list, oldest first).
    Column("provider", String(64), nullable=False, default="default", server_default="default"),
    Column("billed_cost", String(20), nullable=True),
    Column("failure_kind", String(20), nullable=True),
    Column("earlier_attempts", Text, nullable=True),
    # Why the result goes behind a spoiler (version 9): "server" (its mode is "all"), a
    # moderation category the operator lists as spoiler-only, or "provider" (it flagged the
    # result); None: shown openly.
    Column("spoiler", String(100), nullable=True),
)

# Provider callbacks already acted on (bot/store/provider_events.py): a replayed event, or the
# provider's own retry of one, is recognised by its id and does nothing twice.
provider_events = Table(
    "provider_events",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("event_id", String(255), primary_key=True),
    Column("received_at", Float, nullable=False, index=True),
)

guild_settings = Table(
    "guild_settings",
    metadata,
    Column("guild_id", BigInteger, primary_key=True),
    # The policy as JSON: new settings need no migration, unknown ones are ignored.
    Column("data", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Keys the bot issues to teams' scripts (bot/store/api_keys.py): only the key's sha256 is kept.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # public: "key_" + 12 hex
    Column("name", String(100), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("guild_id", BigInteger, nullable=False),
    Column("channels", Text, nullable=False),  # JSON list of channel ids
    Column("daily_budget", String(20), nullable=True),  # a Decimal as text; None: no limit
    # The member this key counts as in budgets: negative, so never a Discord user id.
    Column("member_id", BigInteger, nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

# Where a key's job events are POSTed (bot/store/webhook_endpoints.py; version 10, which moved
# each key's one webhook_url and webhook_secret here).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(32), primary_key=True),  # public: "we_" + 24 hex
    Column("key_id", String(32), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", Text, nullable=False),  # JSON list, e.g. ["video.completed"]
    # The signing secret (`whsec_...`), kept to sign; after a rotation that keeps the old one
    # for a day, the old one and until when it still signs.
    Column("secret", Text, nullable=False),
    Column("previous_secret", Text, nullable=True),
    Column("previous_secret_until", Float, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Idempotency-Key headers seen per API key: the first request's hash and the job it made.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("idem_key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("job_id", String(32), nullable=True),  # None: the first request is being made
    Column("created_at", Float, nullable=False, index=True),
)

# Prompt improvements per member and UTC day (bot/store/rewrites.py; version 11): one row per
# member who asked, counted in one statement, so processes sharing PostgreSQL share the limit.
prompt_rewrites = Table(
    "prompt_rewrites",
    metadata,
    Column("user_id", BigInteger, primary_key=True),
    Column("day", String(10), primary_key=True),  # "2026-05-17"
    Column("count", Integer, nullable=False),
)
