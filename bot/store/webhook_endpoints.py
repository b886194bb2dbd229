"""A key's webhook endpoints: the URLs its job events are POSTed to, and their secrets.

Every read and write names the key as well as the endpoint: a key reaches only its own. The
signing secret is kept as it is (it must be, to sign); a rotation may keep the old one signing
for a day, so receivers can switch without missing an event.
"""

from __future__ import annotations

import base64
import builtins
import json
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import WEBHOOK_EVENT_TYPES, WebhookEndpoint
from bot.store.database import Database
from bot.store.fields import check_name, check_webhook_url
from bot.store.schema import api_keys, webhook_endpoints

ID_PREFIX = "we_"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# Each endpoint is a POST (with retries) for every video of the key: a few are plenty.
MAX_PER_KEY = 10
# How long a rotation that keeps the old secret lets it sign (the SDK's "24 hours").
KEEP_OLD_SECRET_FOR = 24 * 3600.0


class EndpointRefused(ValueError):  # noqa: N818 - a refusal, not a crash
    """A field of an endpoint is not acceptable, or the key has as many as it may: the
    message says why, `param` names the field (None: no one field)."""

    def __init__(self, message: str, *, param: str | None, code: str) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


def new_secret() -> str:
    """A signing secret in the Standard Webhooks shape: `whsec_` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def check_event_types(value: object) -> tuple[str, ...]:
    """The event types asked for, deduplicated in their order: at least one, each one the bot
    sends."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise EndpointRefused(
            "the event types must be a list of event type names",
            param="event_types",
            code="invalid_event_types",
        )
    wanted: list[str] = []
    for item in value:
        if not isinstance(item, str) or item not in WEBHOOK_EVENT_TYPES:
            shown = repr(item)[:60]
            raise EndpointRefused(
                f"the bot sends only {' and '.join(WEBHOOK_EVENT_TYPES)} events, not {shown}",
                param="event_types",
                code="invalid_event_types",
            )
        if item not in wanted:
            wanted.append(item)
    if not wanted:
        raise EndpointRefused(
            f"name at least one event type: {' or '.join(WEBHOOK_EVENT_TYPES)}",
            param="event_types",
            code="invalid_event_types",
        )
    return tuple(wanted)


def _field(check: Callable[[object], Any], value: object, param: str) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise EndpointRefused(str(exc), param=param, code=f"invalid_{param}") from None


def check_url(url: object) -> str:
    """A webhook URL as `check_webhook_url` has it; EndpointRefused naming `url`."""
    checked: str = _field(check_webhook_url, url, "url")
    return checked


def endpoint_from_row(row: Any) -> WebhookEndpoint:
    data = row._mapping
    until = data["previous_secret_until"]
    return WebhookEndpoint(
        id=str(data["id"]),
        key_id=str(data["key_id"]),
        name=str(data["name"]),
        url=str(data["url"]),
        event_types=tuple(str(e) for e in json.loads(data["event_types"])),
        secret=str(data["secret"]),
        created_at=float(data["created_at"]),
        updated_at=float(data["updated_at"]),
        previous_secret=data["previous_secret"],
        previous_secret_until=None if until is None else float(until),
    )


async def insert_endpoint(
    conn: AsyncConnection,
    *,
    key_id: str,
    name: str,
    url: str,
    event_types: tuple[str, ...],
    now: float,
) -> WebhookEndpoint:
    """Insert a new endpoint (fields already checked) in the caller's transaction."""
    endpoint = WebhookEndpoint(
        id=ID_PREFIX + secrets.token_hex(12),  # 96 random bits: never a clash
        key_id=key_id,
        name=name,
        url=url,
        event_types=event_types,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    await conn.execute(
        webhook_endpoints.insert().values(
            id=endpoint.id,
            key_id=key_id,
            name=name,
            url=url,
            event_types=json.dumps(list(event_types)),
            secret=endpoint.secret,
            previous_secret=None,
            previous_secret_until=None,
            created_at=now,
            updated_at=now,
        )
    )
    return endpoint


class WebhookEndpointStore:
    """Makes, reads, changes and deletes one key's endpoints; each call is its own transaction."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self._database = database
        self._engine = database.engine
        self._clock = clock

    @staticmethod
    def _one(key_id: str, endpoint_id: str) -> Any:
        return and_(webhook_endpoints.c.key_id == key_id, webhook_endpoints.c.id == endpoint_id)

    async def create(
        self, key_id: str, *, name: object, url: object, event_types: object
    ) -> WebhookEndpoint:
        """A new endpoint with a new secret; EndpointRefused for a bad field, or when the key
        has MAX_PER_KEY already."""
        checked_name = _field(check_name, name, "name")
        checked_url = check_url(url)
        types = check_event_types(event_types)
        async with self._database.write() as conn:
            # The key's row is locked (PostgreSQL; SQLite has one writer): concurrent creates
            # are counted one after the other and never pass the cap together.
            locked = select(api_keys.c.id).where(api_keys.c.id == key_id).with_for_update()
            if (await conn.execute(locked)).first() is None:
                raise EndpointRefused("there is no such key", param=None, code="invalid_api_key")
            count = select(func.count()).where(webhook_endpoints.c.key_id == key_id)
            if int((await conn.execute(count)).scalar_one()) >= MAX_PER_KEY:
                raise EndpointRefused(
                    f"a key has at most {MAX_PER_KEY} webhook endpoints; delete one first",
                    param=None,
                    code="too_many_webhook_endpoints",
                )
            return await insert_endpoint(
                conn,
                key_id=key_id,
                name=checked_name,
                url=checked_url,
                event_types=types,
                now=self._clock(),
            )

    async def get(self, key_id: str, endpoint_id: str) -> WebhookEndpoint | None:
        query = select(webhook_endpoints).where(self._one(key_id, endpoint_id))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else endpoint_from_row(row)

    async def of_key(self, key_id: str) -> builtins.list[WebhookEndpoint]:
        """Every endpoint of the key, oldest first (at most MAX_PER_KEY)."""
        query = (
            select(webhook_endpoints)
            .where(webhook_endpoints.c.key_id == key_id)
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [endpoint_from_row(r) for r in rows]

    async def page(
        self, key_id: str, *, after: WebhookEndpoint | None, limit: int
    ) -> tuple[builtins.list[WebhookEndpoint], bool]:
        """Up to `limit` of the key's endpoints after the cursor, newest first, and whether
        more follow."""
        table = webhook_endpoints
        query = select(table).where(table.c.key_id == key_id)
        if after is not None:
            query = query.where(
                or_(
                    table.c.created_at < after.created_at,
                    and_(table.c.created_at == after.created_at, table.c.id < after.id),
                )
            )
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found = [endpoint_from_row(r) for r in rows]
        return found[:limit], len(found) > limit

    async def update(
        self,
        key_id: str,
        endpoint_id: str,
        *,
        name: object = None,
        url: object = None,
        event_types: object = None,
    ) -> WebhookEndpoint | None:
        """Change the fields given (None: unchanged); `updated_at` moves only when one really
        changes. None when the key has no such endpoint."""
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = _field(check_name, name, "name")
        if url is not None:
            changes["url"] = check_url(url)
        if event_types is not None:
            changes["event_types"] = json.dumps(list(check_event_types(event_types)))
        async with self._database.write() as conn:
            query = select(webhook_endpoints).where(self._one(key_id, endpoint_id))
            row = (await conn.execute(query.with_for_update())).first()
            if row is None:
                return None
            current = row._mapping
            changes = {k: v for k, v in changes.items() if current[k] != v}
            if changes:
                changes["updated_at"] = self._clock()
                await conn.execute(
                    update(webhook_endpoints)
                    .where(self._one(key_id, endpoint_id))
                    .values(**changes)
                )
                row = (await conn.execute(query)).first()
        return endpoint_from_row(row)

    async def rotate(
        self, key_id: str, endpoint_id: str, *, keep_old: bool
    ) -> WebhookEndpoint | None:
        """A new secret; the old one stops signing at once, or in KEEP_OLD_SECRET_FOR seconds
        when `keep_old`. None when the key has no such endpoint."""
        now = self._clock()
        old = webhook_endpoints.c.secret  # SET reads the row as it was before the update
        statement = (
            update(webhook_endpoints)
            .where(self._one(key_id, endpoint_id))
            .values(
                secret=new_secret(),
                previous_secret=old if keep_old else None,
                previous_secret_until=now + KEEP_OLD_SECRET_FOR if keep_old else None,
                updated_at=now,
            )
        )
        async with self._database.write() as conn:
            if (await conn.execute(statement)).rowcount != 1:
                return None
            query = select(webhook_endpoints).where(self._one(key_id, endpoint_id))
            row = (await conn.execute(query)).first()
        return None if row is None else endpoint_from_row(row)

    async def delete(self, key_id: str, endpoint_id: str) -> bool:
        """Remove the endpoint; False when the key has no such endpoint."""
        async with self._database.write() as conn:
            result = await conn.execute(
                delete(webhook_endpoints).where(self._one(key_id, endpoint_id))
            )
        return bool(result.rowcount)


__all__ = [
    "KEEP_OLD_SECRET_FOR",
    "MAX_PER_KEY",
    "EndpointRefused",
    "WebhookEndpointStore",
    "check_event_types",
    "check_url",
    "insert_endpoint",
    "new_secret",
]
