"""API keys and idempotency claims: only hashes stored, revocation at once, atomic claims."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain import ApiKey
from bot.store import (
    ApiKeyStore,
    Database,
    IdempotencyStore,
    JobRecord,
    JobState,
    JobStore,
    WebhookEndpointStore,
    open_database,
)
from bot.store.api_keys import STALE_CLAIM_AFTER
from bot.store.migrations import LATEST
from tests.store.raw import columns_and_indexes, run_sql, scalar


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await open_database(database_url)
    yield db
    await db.close()


async def make(store: ApiKeyStore, **changes: object) -> tuple[ApiKey, str]:
    arguments: dict[str, object] = {"name": "render farm", "guild_id": 42, "channels": [7, 8]}
    arguments.update(changes)
    return await store.create(**arguments)  # type: ignore[arg-type]


async def test_create_returns_the_key_once_and_authenticates_it(database: Database) -> None:
    clock = Clock()
    store = ApiKeyStore(database, clock=clock)
    key, plaintext = await make(
        store, webhook_url="https://hooks.example.com/v", daily_budget=Decimal("5.50")
    )
    assert plaintext.startswith("vbk_")
    assert len(plaintext) == 4 + 43
    assert key.id.startswith("key_")
    assert len(key.id) == 4 + 12
    int(key.id[4:], 16)
    assert key.member_id == -int(key.id[4:], 16)
    assert key.member_id < 0
    assert key.channels == (7, 8)
    assert key.daily_budget == Decimal("5.50")
    assert key.created_at == clock.now
    assert key.last_used_at is None

    found = await store.authenticate(plaintext)
    assert found is not None
    assert found.id == key.id
    assert found.channels == (7, 8)
    assert found.daily_budget == Decimal("5.50")
    assert found.last_used_at == clock.now
    assert await store.get(key.id) == replace(key, last_used_at=clock.now)
    # The webhook URL became the key's first endpoint, made with it, for every event.
    (hook,) = await WebhookEndpointStore(database).of_key(key.id)
    assert hook.url == "https://hooks.example.com/v"
    assert hook.event_types == ("video.completed", "video.failed")
    assert hook.created_at == key.created_at
    assert hook.secret.startswith("whsec_")
    assert len(base64.b64decode(hook.secret.removeprefix("whsec_"))) == 24


async def test_repr_shows_no_secret(database: Database) -> None:
    key, plaintext = await make(ApiKeyStore(database), webhook_url="https://h.example/t?tok=abc")
    (hook,) = await WebhookEndpointStore(database).of_key(key.id)
    shown = repr(key) + str(key) + repr(hook) + str(hook)
    assert hook.secret not in shown
    assert plaintext not in shown
    assert "tok=abc" not in shown
    assert key.id in shown


async def test_two_keys_differ(database: Database) -> None:
    store = ApiKeyStore(database)
    (one, key_one), (two, key_two) = await make(store), await make(store)
    assert key_one != key_two
    assert one.id != two.id
    assert one.member_id != two.member_id
    assert (await store.authenticate(key_one)).id == one.id  # type: ignore[union-attr]
    assert (await store.authenticate(key_two)).id == two.id  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "vbk_",
        "sk-abcdef",
        "vbk_" + "A" * 42,
        "vbk_" + "A" * 44,
        "vbk_" + "A" * 42 + "!",
        "VBK_" + "A" * 43,
        " vbk_" + "A" * 43,
        "vbk_" + "A" * 43,  # well shaped but never issued
    ],
)
async def test_anything_else_is_refused(database: Database, presented: str) -> None:
    store = ApiKeyStore(database)
    await make(store)
    assert await store.authenticate(presented) is None


async def test_a_key_one_character_off_is_refused(database: Database) -> None:
    store = ApiKeyStore(database)
    _, plaintext = await make(store)
    last = plaintext[-1]
    other = plaintext[:-1] + ("A" if last != "A" else "B")
    assert await store.authenticate(other) is None
    assert await store.authenticate(plaintext) is not None


async def test_revoke_takes_effect_at_once_for_another_process(database_url: str) -> None:
    first, second = await open_database(database_url), await open_database(database_url)
    try:
        issuing, serving = ApiKeyStore(first), ApiKeyStore(second)
        key, plaintext = await make(issuing)
        assert await serving.authenticate(plaintext) is not None
        assert await issuing.revoke(key.id) is True
        assert await serving.authenticate(plaintext) is None
        revoked = await serving.get(key.id)
        assert revoked is not None
        assert revoked.revoked_at is not None
        # Revoking again keeps the first time; an unknown id is reported.
        assert await issuing.revoke(key.id) is True
        again = await serving.get(key.id)
        assert again is not None
        assert again.revoked_at == revoked.revoked_at
        assert await issuing.revoke("key_000000000000") is False
    finally:
        await first.close()
        await second.close()


async def test_list_shows_every_key_oldest_first(database: Database) -> None:
    clock = Clock()
    store = ApiKeyStore(database, clock=clock)
    assert await store.list() == []
    one, _ = await make(store, name="one")
    clock.now += 1
    await make(store, name="two", channels=[])
    await store.revoke(one.id)
    listed = await store.list()
    assert [k.name for k in listed] == ["one", "two"]
    assert listed[0].revoked_at is not None
    assert listed[1].channels == ()
    assert await store.get("key_nothere0000") is None


async def test_last_used_is_written_at_most_once_a_minute(database: Database) -> None:
    clock = Clock()
    store = ApiKeyStore(database, clock=clock)
    key, plaintext = await make(store)
    await store.authenticate(plaintext)
    first = clock.now
    clock.now += 30
    await store.authenticate(plaintext)
    stored = await store.get(key.id)
    assert stored is not None
    assert stored.last_used_at == first
    clock.now += 31
    await store.authenticate(plaintext)
    stored = await store.get(key.id)
    assert stored is not None
    assert stored.last_used_at == clock.now


def every_byte_of(folder: Path, prefix: str) -> bytes:
    """The database file and any journal or WAL beside it."""
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith(prefix))


@pytest.mark.sqlite_only
async def test_only_the_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "hash.db"
    database = await open_database(url(path))
    key, plaintext = await make(ApiKeyStore(database), webhook_url="https://h.example/v")
    (hook,) = await WebhookEndpointStore(database).of_key(key.id)
    await database.close()
    with sqlite3.connect(path) as conn:
        (stored,) = conn.execute("SELECT key_hash FROM api_keys").fetchone()
    assert stored == hashlib.sha256(plaintext.encode()).hexdigest()
    raw = every_byte_of(tmp_path, "hash.db")
    assert plaintext.encode() not in raw
    assert plaintext.removeprefix("vbk_").encode() not in raw
    assert hook.secret.encode() in raw  # the signing secret must be kept to sign


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\nb"}, "control"),
        ({"guild_id": 0}, "guild"),
        ({"guild_id": -5}, "guild"),
        ({"guild_id": True}, "guild"),
        ({"guild_id": 2**63}, "guild"),
        ({"channels": [1, 0]}, "channel"),
        ({"channels": [-1]}, "channel"),
        ({"channels": "123"}, "channel"),
        ({"webhook_url": "ftp://example.com/x"}, "http"),
        ({"webhook_url": "https://"}, "http"),
        ({"webhook_url": "example.com/hook"}, "http"),
        ({"webhook_url": "https://example.com/a b"}, "spaces"),
        ({"webhook_url": ""}, "URL"),
        ({"daily_budget": Decimal(-1)}, "budget"),
        ({"daily_budget": Decimal("NaN")}, "budget"),
        ({"daily_budget": Decimal("Infinity")}, "budget"),
        ({"daily_budget": 1.5}, "budget"),
    ],
)
async def test_bad_requests_are_refused_and_nothing_is_stored(
    database: Database, changes: dict[str, object], needle: str
) -> None:
    store = ApiKeyStore(database)
    with pytest.raises(ValueError, match=needle):
        await make(store, **changes)
    assert await store.list() == []


async def test_channels_are_deduplicated_and_a_zero_budget_is_allowed(database: Database) -> None:
    store = ApiKeyStore(database)
    key, _ = await make(store, channels=[3, 3, 1], daily_budget=Decimal(0), name="  trimmed ")
    assert key.channels == (3, 1)
    assert key.daily_budget == Decimal(0)
    assert key.name == "trimmed"
    assert await store.get(key.id) == key


# --- idempotency ---------------------------------------------------------------------------------


async def test_claim_attach_and_replay(database: Database) -> None:
    store = IdempotencyStore(database, clock=Clock())
    assert await store.claim("key_a", "retry-1", "h1") is None
    assert await store.claim("key_a", "retry-1", "h1") == ("h1", None)
    await store.attach("key_a", "retry-1", "job1")
    assert await store.claim("key_a", "retry-1", "h2") == ("h1", "job1")
    # Another key's header of the same name is its own.
    assert await store.claim("key_b", "retry-1", "h9") is None


async def test_release_lets_a_retry_try_again_but_keeps_a_made_job(database: Database) -> None:
    store = IdempotencyStore(database)
    assert await store.claim("key_a", "r", "h1") is None
    await store.release("key_a", "r")
    assert await store.claim("key_a", "r", "h2") is None
    await store.attach("key_a", "r", "job2")
    await store.release("key_a", "r")
    assert await store.claim("key_a", "r", "h3") == ("h2", "job2")


async def test_forget_before_drops_the_records_older_than_the_cutoff(database: Database) -> None:
    clock = Clock(1000.0)
    store = IdempotencyStore(database, clock=clock)
    await store.claim("key_a", "done", "h")
    await store.attach("key_a", "done", "job1")
    await store.claim("key_b", "stuck", "h")
    clock.now = 1500.0
    await store.claim("key_a", "at-the-cutoff", "h")
    clock.now = 2000.0
    await store.claim("key_a", "new", "h")
    assert await store.forget_before(1500.0) == 2
    assert await store.forget_before(1500.0) == 0
    assert await store.claim("key_a", "done", "h2") is None  # a new request under an old key
    assert await store.claim("key_b", "stuck", "h2") is None
    assert await store.claim("key_a", "at-the-cutoff", "h2") == ("h", None)
    assert await store.claim("key_a", "new", "h2") == ("h", None)


async def test_a_stale_claim_without_a_job_is_taken_over_by_the_same_request(
    database: Database,
) -> None:
    clock = Clock()
    store = IdempotencyStore(database, clock=clock)
    assert await store.claim("key_a", "r", "h1") is None  # and its process dies here
    clock.now += STALE_CLAIM_AFTER
    assert await store.claim("key_a", "r", "h1") == ("h1", None)  # not stale yet
    clock.now += 1
    assert await store.claim("key_a", "r", "h2") == ("h1", None)  # another request: not it
    assert await store.claim("key_a", "r", "h1") is None  # the same request: taken over
    assert await store.claim("key_a", "r", "h1") == ("h1", None)  # and fresh again
    clock.now += STALE_CLAIM_AFTER / 2
    assert await store.claim("key_a", "r", "h1") == ("h1", None)  # counted from the takeover
    await store.attach("key_a", "r", "job1")
    clock.now += 100 * STALE_CLAIM_AFTER
    assert await store.claim("key_a", "r", "h1") == ("h1", "job1")  # a made job is never stale


async def test_a_taken_over_claim_no_longer_answers_to_its_first_claimer(
    database: Database,
) -> None:
    clock = Clock()
    slow, retry = IdempotencyStore(database, clock=clock), IdempotencyStore(database, clock=clock)
    for idem in ("attach", "release"):
        assert await slow.claim("key_a", idem, "h") is None
    clock.now += STALE_CLAIM_AFTER + 1
    for idem in ("attach", "release"):
        assert await retry.claim("key_a", idem, "h") is None
    # The slow first request ends after all: it neither overwrites nor drops the retry's claim.
    assert await slow.attach("key_a", "attach", "job_slow") is False
    await slow.release("key_a", "release")
    assert await retry.claim("key_a", "attach", "h") == ("h", None)
    assert await retry.claim("key_a", "release", "h") == ("h", None)
    assert await retry.attach("key_a", "attach", "job_retry") is True
    assert await slow.claim("key_a", "attach", "h") == ("h", "job_retry")


async def test_concurrent_takeovers_of_a_stale_claim_let_exactly_one_through(
    database_url: str,
) -> None:
    first, second = await open_database(database_url), await open_database(database_url)
    try:
        clock = Clock()
        stores = [IdempotencyStore(first, clock=clock), IdempotencyStore(second, clock=clock)]
        for round_ in range(10):
            idem = f"stuck-{round_}"
            assert await stores[round_ % 2].claim("key_a", idem, "h") is None
            clock.now += STALE_CLAIM_AFTER + 1
            answers = await asyncio.gather(
                *(stores[i % 2].claim("key_a", idem, "h") for i in range(8))
            )
            assert [a for a in answers if a is None] == [None], answers
            assert all(a in (None, ("h", None)) for a in answers), answers
    finally:
        await first.close()
        await second.close()


async def test_concurrent_claims_let_exactly_one_through(database_url: str) -> None:
    first, second = await open_database(database_url), await open_database(database_url)
    try:
        stores = [IdempotencyStore(first), IdempotencyStore(second)]
        for round_ in range(20):
            idem = f"race-{round_}"
            answers = await asyncio.gather(
                *(stores[i % 2].claim("key_a", idem, f"h{i}") for i in range(8))
            )
            winners = [i for i, a in enumerate(answers) if a is None]
            assert len(winners) == 1, answers
            losers = [a for a in answers if a is not None]
            assert all(a == (f"h{winners[0]}", None) for a in losers)
    finally:
        await first.close()
        await second.close()


async def test_a_claim_needs_a_sane_key(database: Database) -> None:
    store = IdempotencyStore(database)
    with pytest.raises(ValueError, match="idempotency key"):
        await store.claim("key_a", "", "h")
    with pytest.raises(ValueError, match="idempotency key"):
        await store.claim("key_a", "x" * 256, "h")


# --- the jobs table's new columns and the migration --------------------------------------------


async def test_jobs_keep_the_api_key_and_metadata(database: Database) -> None:
    now = time.time()
    jobs = JobStore(database)
    await jobs.add(
        JobRecord(
            id="job_api1",
            state=JobState.ACCEPTED,
            prompt="p",
            model="sora-2",
            size="720x1280",
            seconds=4,
            cost="0.40",
            requester_id=-12345,
            created_at=now,
            updated_at=now,
            api_key_id="key_0123456789ab",
            metadata='{"team": "blue"}',
        )
    )
    loaded = await jobs.get("job_api1")
    assert loaded is not None
    assert loaded.api_key_id == "key_0123456789ab"
    assert loaded.metadata == '{"team": "blue"}'


async def test_migrates_a_version_5_database(database_url: str) -> None:
    database = await open_database(database_url)
    await database.close()
    await run_sql(  # back to what version 5 had
        database_url,
        "DROP INDEX ix_jobs_api_key_id",
        "ALTER TABLE jobs DROP COLUMN api_key_id",
        "ALTER TABLE jobs DROP COLUMN metadata",
        "DROP TABLE api_keys",
        "DROP TABLE idempotency_keys",
        "UPDATE schema_version SET version = 5",
        (
            "INSERT INTO jobs (id, state, prompt, model, size, seconds, cost, requester_id,"
            " created_at, updated_at, attempts) VALUES"
            " ('old5', 'running', 'p', 'sora-2', '720x1280', 4, '0.40', 1, 1, 1, 0)"
        ),
    )
    database = await open_database(database_url)
    try:
        old = await JobStore(database).get("old5")
        assert old is not None
        assert old.api_key_id is None
        assert old.metadata is None
        store = ApiKeyStore(database)
        _, plaintext = await make(store)
        assert await store.authenticate(plaintext) is not None
        assert await IdempotencyStore(database).claim("k", "i", "h") is None
    finally:
        await database.close()
    assert await scalar(database_url, "SELECT version FROM schema_version") == LATEST
    _, indexes = await columns_and_indexes(database_url, "jobs")
    assert "ix_jobs_api_key_id" in indexes
