"""The job store: migrations, the state machine's guards, and clear errors."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from bot.store import JobRecord, JobState, JobStore, StoreError, open_database
from bot.store.jobs import StaleTransitionError
from bot.store.migrations import LATEST
from tests.store.raw import columns_and_indexes, run_sql, scalar


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def record(job_id: str = "abc12345", state: JobState = JobState.ACCEPTED) -> JobRecord:
    now = time.time()
    return JobRecord(
        id=job_id,
        state=state,
        prompt="a fox",
        model="sora-2",
        size="720x1280",
        seconds=4,
        cost="0.40",
        requester_id=1,
        created_at=now,
        updated_at=now,
        reply_kind="discord",
        reply='{"channel_id": 2}',
        reply_secret="secret-token",
    )


async def test_migrates_from_empty_and_round_trips(database_url: str) -> None:
    database = await open_database(database_url)
    store = JobStore(database)
    await store.add(record())
    loaded = await store.get("abc12345")
    assert loaded is not None
    assert loaded.state is JobState.ACCEPTED
    assert loaded.handle is not None
    assert loaded.handle.secret == "secret-token"
    assert "secret-token" not in repr(loaded)
    assert "secret-token" not in repr(loaded.handle)
    await database.close()
    assert await scalar(database_url, "SELECT version FROM schema_version") == LATEST


async def test_migrates_a_version_1_database(database_url: str) -> None:
    await run_sql(  # what version 1 created: no video_expires_at
        database_url,
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version VALUES (1)",
        (
            "CREATE TABLE jobs (id VARCHAR(32) PRIMARY KEY, state VARCHAR(16) NOT NULL,"
            " prompt TEXT NOT NULL, model VARCHAR(100) NOT NULL, size VARCHAR(20) NOT NULL,"
            " seconds INTEGER NOT NULL, cost VARCHAR(20) NOT NULL, reference BLOB,"
            " requester_id BIGINT NOT NULL, guild_id BIGINT, channel_id BIGINT NOT NULL,"
            " application_id BIGINT, interaction_id BIGINT, interaction_token TEXT,"
            " token_expires_at FLOAT, message_id BIGINT, upload_limit BIGINT,"
            " provider_video_id TEXT, progress INTEGER, created_at FLOAT NOT NULL,"
            " submitted_at FLOAT, updated_at FLOAT NOT NULL, finished_at FLOAT,"
            " attempts INTEGER NOT NULL, last_error TEXT)"
        ),
        (
            "INSERT INTO jobs (id, state, prompt, model, size, seconds, cost, requester_id,"
            " channel_id, created_at, updated_at, attempts) VALUES"
            " ('old1', 'running', 'p', 'sora-2', '720x1280', 4, '0.40', 1, 2, 1, 1, 0)"
        ),
    )
    database = await open_database(database_url)
    store = JobStore(database)
    (old,) = await store.unfinished()
    assert old.id == "old1"
    assert old.video_expires_at is None
    await store.transition("old1", JobState.DOWNLOADING, video_expires_at=123.0)
    assert (await store.get("old1")).video_expires_at == 123.0  # type: ignore[union-attr]
    await database.close()


async def test_transitions_are_guarded(database_url: str) -> None:
    database = await open_database(database_url)
    store = JobStore(database)
    await store.add(record())
    await store.transition("abc12345", JobState.SUBMITTING, expect=[JobState.ACCEPTED])
    with pytest.raises(StaleTransitionError):
        await store.transition("abc12345", JobState.SUBMITTING, expect=[JobState.ACCEPTED])
    await store.transition("abc12345", JobState.FAILED, last_error="x")
    assert await store.unfinished() == []
    final = await store.get("abc12345")
    assert final is not None
    assert final.finished_at is not None
    await database.close()


@pytest.mark.sqlite_only
async def test_a_read_only_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    (await open_database(url(path))).engine.sync_engine.dispose()
    read_only = f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    with pytest.raises(StoreError, match="read-only"):
        await open_database(read_only)


@pytest.mark.sqlite_only
async def test_a_locked_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    database = await open_database(url(path))
    await database.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=DELETE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            await open_database(url(path) + "?timeout=0.2")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_a_malformed_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="DATABASE_URL"):
        await open_database("not a url at all")


async def test_migrates_a_version_3_reply_address_into_an_opaque_handle(
    database_url: str,
) -> None:
    insert = (
        "INSERT INTO jobs (id, state, prompt, model, size, seconds, cost, requester_id,"
        " channel_id, message_id, application_id, interaction_token, upload_limit,"
        " created_at, updated_at, attempts) VALUES"
        " (:id, :state, 'p', 'sora-2', '720x1280', 4, '0.40', 1, 22, 33, 44, 'tok', 1000,"
        " 1, 1, 0)"
    )
    await run_sql(
        database_url,
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "INSERT INTO schema_version VALUES (3)",
        (
            "CREATE TABLE jobs (id VARCHAR(32) PRIMARY KEY, state VARCHAR(16) NOT NULL,"
            " prompt TEXT NOT NULL, model VARCHAR(100) NOT NULL, size VARCHAR(20) NOT NULL,"
            " seconds INTEGER NOT NULL, cost VARCHAR(20) NOT NULL, reference BLOB,"
            " requester_id BIGINT NOT NULL, guild_id BIGINT, channel_id BIGINT NOT NULL,"
            " application_id BIGINT, interaction_id BIGINT, interaction_token TEXT,"
            " token_expires_at FLOAT, message_id BIGINT, upload_limit BIGINT,"
            " provider_video_id TEXT, progress INTEGER, video_expires_at FLOAT,"
            " created_at FLOAT NOT NULL, submitted_at FLOAT, updated_at FLOAT NOT NULL,"
            " finished_at FLOAT, attempts INTEGER NOT NULL, last_error TEXT)"
        ),
        (
            "CREATE TABLE guild_settings (guild_id BIGINT PRIMARY KEY, data TEXT NOT NULL,"
            " updated_at FLOAT NOT NULL)"
        ),
        (insert, {"id": "live", "state": "running"}),
        (insert, {"id": "done", "state": "delivered"}),
    )
    database = await open_database(database_url)
    store = JobStore(database)
    live = await store.get("live")
    done = await store.get("done")
    await database.close()
    assert live is not None
    assert done is not None
    assert live.handle is not None
    assert live.handle.kind == "discord"
    assert '"channel_id": 22' in live.handle.public
    assert '"message_id": 33' in live.handle.public
    assert live.handle.secret == "tok"
    assert done.handle is not None
    assert done.handle.secret is None  # a finished job's token is not carried over
    columns, _ = await columns_and_indexes(database_url, "jobs")
    assert "interaction_token" not in columns
    assert "channel_id" not in columns


async def test_a_plain_postgresql_url_uses_asyncpg_and_errors_hide_the_password(
    tmp_path: Path,
) -> None:
    nowhere = f"postgresql://bot:hunter2secret@/videos?host={tmp_path}&port=1"
    with pytest.raises(StoreError, match="cannot") as caught:
        await open_database(nowhere)
    assert "hunter2secret" not in str(caught.value)
    assert "postgresql+asyncpg://bot:***@" in str(caught.value)


async def test_migrates_a_version_7_database_whose_jobs_resume_on_the_default_provider(
    database_url: str,
) -> None:
    database = await open_database(database_url)
    await database.close()
    await run_sql(  # back to what version 7 had: one provider, no bills, no callbacks
        database_url,
        "DROP INDEX ix_jobs_provider_video",
        "ALTER TABLE jobs DROP COLUMN provider",
        "ALTER TABLE jobs DROP COLUMN billed_cost",
        "ALTER TABLE jobs DROP COLUMN failure_kind",
        "ALTER TABLE jobs DROP COLUMN earlier_attempts",
        "DROP TABLE provider_events",
        "UPDATE schema_version SET version = 7",
        (
            "INSERT INTO jobs (id, state, prompt, model, size, seconds, cost, requester_id,"
            " created_at, updated_at, attempts, provider_video_id) VALUES"
            " ('old7', 'running', 'p', 'sora-2', '720x1280', 4, '0.40', 1, 1, 1, 1, 'video_7')"
        ),
    )
    database = await open_database(database_url)
    try:
        store = JobStore(database)
        old = await store.get("old7")
        assert old is not None
        assert old.provider == "default"  # OPENAI_BASE_URL's provider, as before
        assert old.billed_cost is None
        assert old.attempts_made() == ()
        found = await store.by_provider_video("default", "video_7")
        assert found is not None
        assert found.id == "old7"
    finally:
        await database.close()
    assert await scalar(database_url, "SELECT version FROM schema_version") == LATEST
    columns, indexes = await columns_and_indexes(database_url, "jobs")
    assert {"provider", "billed_cost", "failure_kind", "earlier_attempts"} <= columns
    assert "ix_jobs_provider_video" in indexes
