"""A key's webhook endpoints in the store, on SQLite and PostgreSQL: scoped to their key, keyset
pages, guarded updates, rotations with an overlap, the cap under concurrency, and version 10
moving each key's one webhook into a row."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.store import ApiKeyStore, Database, EndpointRefused, WebhookEndpointStore, open_database
from bot.store.migrations import LATEST
from bot.store.webhook_endpoints import KEEP_OLD_SECRET_FOR, MAX_PER_KEY
from tests.store.raw import columns_and_indexes, run_sql, scalar

BOTH = ("video.completed", "video.failed")


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


async def new_key(database: Database, name: str = "ci") -> str:
    key, _ = await ApiKeyStore(database).create(name=name, guild_id=42, channels=[7])
    return key.id


async def test_an_endpoint_is_made_read_and_listed_within_its_key_only(database: Database) -> None:
    clock = Clock()
    store = WebhookEndpointStore(database, clock)
    mine, theirs = await new_key(database), await new_key(database, "other")
    made = await store.create(
        mine,
        name="  ci  ",
        url="https://hooks.example.org/v",
        event_types=["video.failed", "video.completed", "video.failed"],
    )
    assert made.id.startswith("we_")
    assert len(made.id) == 3 + 24
    assert made.name == "ci"
    assert made.event_types == ("video.failed", "video.completed")
    assert made.secret.startswith("whsec_")
    assert made.created_at == made.updated_at == clock.now
    assert made.signing_secrets(clock.now) == (made.secret,)
    assert await store.get(mine, made.id) == made
    assert await store.of_key(mine) == [made]

    # Another key finds nothing of it, and can change nothing of it.
    assert await store.get(theirs, made.id) is None
    assert await store.of_key(theirs) == []
    assert await store.page(theirs, after=None, limit=10) == ([], False)
    assert await store.update(theirs, made.id, name="taken") is None
    assert await store.rotate(theirs, made.id, keep_old=False) is None
    assert await store.delete(theirs, made.id) is False
    assert await store.get(mine, made.id) == made

    assert await store.delete(mine, made.id) is True
    assert await store.get(mine, made.id) is None
    assert await store.delete(mine, made.id) is False


async def test_pages_are_newest_first_and_follow_the_cursor(database: Database) -> None:
    clock = Clock()
    store = WebhookEndpointStore(database, clock)
    key = await new_key(database)
    made = []
    for n in range(5):
        clock.now += 1 if n != 3 else 0  # two made in the same instant: the id breaks the tie
        made.append(
            await store.create(key, name=f"h{n}", url="http://h.example/", event_types=BOTH)
        )
    newest_first = sorted(made, key=lambda e: (e.created_at, e.id), reverse=True)
    first, more = await store.page(key, after=None, limit=2)
    assert (first, more) == (newest_first[:2], True)
    second, more = await store.page(key, after=first[-1], limit=2)
    assert (second, more) == (newest_first[2:4], True)
    last, more = await store.page(key, after=second[-1], limit=2)
    assert (last, more) == (newest_first[4:], False)


async def test_an_update_changes_what_is_given_and_moves_updated_at_only_on_a_change(
    database: Database,
) -> None:
    clock = Clock()
    store = WebhookEndpointStore(database, clock)
    key = await new_key(database)
    made = await store.create(key, name="ci", url="http://h.example/a", event_types=BOTH)
    clock.now += 60
    same = await store.update(key, made.id, name="ci", event_types=list(BOTH))
    assert same == made  # nothing changed: updated_at stays
    clock.now += 60
    changed = await store.update(
        key, made.id, url="http://h.example/b", event_types=["video.failed"]
    )
    assert changed is not None
    assert (changed.name, changed.url, changed.event_types) == (
        "ci",
        "http://h.example/b",
        ("video.failed",),
    )
    assert changed.updated_at == clock.now
    assert changed.created_at == made.created_at
    assert changed.secret == made.secret
    assert await store.get(key, made.id) == changed


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"url": "ftp://h.example/"}, "url"),
        ({"url": "http://"}, "url"),
        ({"url": "http://h.example:99999/"}, "url"),
        ({"url": "http://h.example/a b"}, "url"),
        ({"url": 5}, "url"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"event_types": []}, "event_types"),
        ({"event_types": "video.completed"}, "event_types"),
        ({"event_types": ["video.completed", "batch.completed"]}, "event_types"),
        ({"event_types": [None]}, "event_types"),
    ],
)
async def test_bad_fields_are_refused_and_nothing_changes(
    database: Database, fields: dict[str, object], param: str
) -> None:
    store = WebhookEndpointStore(database)
    key = await new_key(database)
    values: dict[str, object] = {"name": "ci", "url": "http://h.example/", "event_types": BOTH}
    with pytest.raises(EndpointRefused) as refused:
        await store.create(key, **{**values, **fields})
    assert refused.value.param == param
    assert await store.of_key(key) == []
    made = await store.create(key, **values)
    with pytest.raises(EndpointRefused) as again:
        await store.update(key, made.id, **fields)
    assert again.value.param == param
    assert await store.get(key, made.id) == made


async def test_a_rotation_replaces_the_secret_or_keeps_the_old_one_for_a_day(
    database: Database,
) -> None:
    clock = Clock()
    store = WebhookEndpointStore(database, clock)
    key = await new_key(database)
    made = await store.create(key, name="ci", url="http://h.example/", event_types=BOTH)
    clock.now += 10
    rotated = await store.rotate(key, made.id, keep_old=False)
    assert rotated is not None
    assert rotated.secret not in (made.secret, "")
    assert rotated.signing_secrets(clock.now) == (rotated.secret,)
    assert rotated.updated_at == clock.now

    kept = await store.rotate(key, made.id, keep_old=True)
    assert kept is not None
    assert kept.previous_secret == rotated.secret
    assert kept.signing_secrets(clock.now) == (kept.secret, rotated.secret)
    later = clock.now + KEEP_OLD_SECRET_FOR
    assert kept.signing_secrets(later - 1) == (kept.secret, rotated.secret)
    assert kept.signing_secrets(later) == (kept.secret,)
    assert await store.get(key, made.id) == kept

    dropped = await store.rotate(key, made.id, keep_old=False)
    assert dropped is not None
    assert dropped.previous_secret is None
    assert dropped.signing_secrets(clock.now) == (dropped.secret,)


async def test_concurrent_creates_never_pass_the_cap(database: Database) -> None:
    store = WebhookEndpointStore(database)
    key, other = await new_key(database), await new_key(database, "other")

    async def one(n: int) -> str:
        try:
            await store.create(key, name=f"h{n}", url="http://h.example/", event_types=BOTH)
        except EndpointRefused as exc:
            return exc.code
        return "made"

    answers = await asyncio.gather(*(one(n) for n in range(MAX_PER_KEY + 5)))
    assert sorted(answers) == ["made"] * MAX_PER_KEY + ["too_many_webhook_endpoints"] * 5
    assert len(await store.of_key(key)) == MAX_PER_KEY
    # The cap is per key.
    await store.create(other, name="h", url="http://h.example/", event_types=BOTH)


async def test_migrating_version_9_makes_each_keys_webhook_an_endpoint(database_url: str) -> None:
    database = await open_database(database_url)
    keys = ApiKeyStore(database)
    hooked, _ = await keys.create(name="hooked", guild_id=1, channels=[2])
    plain, _ = await keys.create(name="plain", guild_id=1, channels=[2])
    await database.close()
    await run_sql(  # back to version 9: a key's one webhook in its own row
        database_url,
        "DROP TABLE webhook_endpoints",
        "ALTER TABLE api_keys ADD COLUMN webhook_url TEXT",
        "ALTER TABLE api_keys ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT 'whsec_unused'",
        (
            "UPDATE api_keys SET webhook_url = :url, webhook_secret = :secret WHERE id = :id",
            {"url": "https://hooks.example.org/v", "secret": "whsec_b2xk", "id": hooked.id},
        ),
        "UPDATE schema_version SET version = 9",
    )
    database = await open_database(database_url)
    try:
        store = WebhookEndpointStore(database)
        (endpoint,) = await store.of_key(hooked.id)
        assert endpoint.url == "https://hooks.example.org/v"
        assert endpoint.secret == "whsec_b2xk"
        assert endpoint.event_types == BOTH
        assert endpoint.created_at == endpoint.updated_at == hooked.created_at
        assert endpoint.id.startswith("we_")
        assert await store.of_key(plain.id) == []
        assert await ApiKeyStore(database).get(hooked.id) == hooked
    finally:
        await database.close()
    assert await scalar(database_url, "SELECT version FROM schema_version") == LATEST
    columns, _ = await columns_and_indexes(database_url, "api_keys")
    assert not {"webhook_url", "webhook_secret"} & columns
    _, indexes = await columns_and_indexes(database_url, "webhook_endpoints")
    assert "ix_webhook_endpoints_key_id" in indexes


async def test_a_fresh_database_has_the_same_tables_as_a_migrated_one(database_url: str) -> None:
    database = await open_database(database_url)
    await database.close()
    columns, indexes = await columns_and_indexes(database_url, "webhook_endpoints")
    assert columns == {
        "id",
        "key_id",
        "name",
        "url",
        "event_types",
        "secret",
        "previous_secret",
        "previous_secret_until",
        "created_at",
        "updated_at",
    }
    assert "ix_webhook_endpoints_key_id" in indexes
    key_columns, _ = await columns_and_indexes(database_url, "api_keys")
    assert not {"webhook_url", "webhook_secret"} & key_columns
