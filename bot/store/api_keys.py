"""Keys the bot issues to teams' scripts, and the Idempotency-Key headers those scripts send.

A key is shown once, when it is made (`vbk_` + 43 URL-safe characters); the store keeps only
its sha256. Every check reads the store, so a revocation holds at once in every process.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import WEBHOOK_EVENT_TYPES, ApiKey
from bot.store.database import Database
from bot.store.fields import check_name, check_webhook_url
from bot.store.schema import api_keys, idempotency_keys
from bot.store.webhook_endpoints import insert_endpoint

KEY_PREFIX = "vbk_"
_KEY_SHAPE = re.compile(r"vbk_[A-Za-z0-9_-]{43}")
_ID_PREFIX = "key_"
# `last_used_at` is written at most this often per key (seconds): reads stay reads.
LAST_USED_RESOLUTION = 60.0
_MAX_ID = 2**63 - 1  # a BigInteger column
_MAX_IDEM_KEY = 255
# An Idempotency-Key claim still without its job after this many seconds was left by a request
# that died (its process killed between claim and attach, or a failure that skipped the
# release): the same request may take it over. A create only stores the job and posts its card
# (the provider is called later, by the dispatcher), normally well under a second; its longest
# waits are the store's (the SQLite writer queue gives up after 10 minutes) and the SDKs give
# up on a request after 10 minutes too. A claim taken over while its request still runs would
# make a second video, paid twice; a stuck one only answers 409 until then: so 15 minutes.
STALE_CLAIM_AFTER = 15 * 60.0


def hash_key(presented: str) -> str:
    """The sha256 (hex) the store keeps instead of the key."""
    return hashlib.sha256(presented.encode("utf-8")).hexdigest()


def looks_like_key(presented: object) -> bool:
    return isinstance(presented, str) and _KEY_SHAPE.fullmatch(presented) is not None


def key_from_row(row: Any) -> ApiKey:
    data = row._mapping
    budget = data["daily_budget"]
    return ApiKey(
        id=str(data["id"]),
        name=str(data["name"]),
        guild_id=int(data["guild_id"]),
        channels=tuple(int(c) for c in json.loads(data["channels"] or "[]")),
        daily_budget=None if budget is None else Decimal(budget),
        member_id=int(data["member_id"]),
        created_at=float(data["created_at"]),
        last_used_at=None if data["last_used_at"] is None else float(data["last_used_at"]),
        revoked_at=None if data["revoked_at"] is None else float(data["revoked_at"]),
    )


def _check_id(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        raise ValueError(f"{what} must be a positive integer (a Discord id), got {value!r}")
    return value


def _check_budget(budget: object) -> Decimal | None:
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, Decimal | int):
        raise ValueError("the daily budget must be a decimal amount")  # noqa: TRY004 - one error type for callers
    amount = Decimal(budget)
    if not amount.is_finite() or amount < 0:
        raise ValueError("the daily budget must be a finite amount of 0 or more")
    if len(str(amount)) > 20:
        raise ValueError("the daily budget has too many digits")
    return amount


def parse_budget(text: str) -> Decimal:
    """A budget as an operator types it (`5`, `12.50`); ValueError when it is not one."""
    try:
        amount = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"the daily budget must be a number, got {text!r}") from None
    return _check_budget(amount) or amount


def check_key_request(
    *,
    name: str,
    guild_id: int,
    channels: Sequence[int],
    webhook_url: str | None = None,
    daily_budget: Decimal | None = None,
) -> tuple[str, int, tuple[int, ...], str | None, Decimal | None]:
    """`create`'s arguments checked and normalised (name trimmed, channels deduplicated);
    ValueError with one line saying what is wrong. Callers may check before opening a store."""
    name = check_name(name)
    guild_id = _check_id(guild_id, "the guild id")
    if isinstance(channels, str | bytes):
        raise ValueError("channels must be a sequence of channel ids")  # noqa: TRY004 - one error type for callers
    wanted = tuple(dict.fromkeys(_check_id(c, "a channel id") for c in channels))
    url = None if webhook_url is None else check_webhook_url(webhook_url)
    return name, guild_id, wanted, url, _check_budget(daily_budget)


class ApiKeyStore:
    """Issues, checks, lists and revokes keys; each call is its own transaction."""

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self._database = database
        self._engine = database.engine
        self._clock = clock

    async def create(
        self,
        *,
        name: str,
        guild_id: int,
        channels: Sequence[int],
        webhook_url: str | None = None,
        daily_budget: Decimal | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key: its record and the key itself, which is never available again. With a
        `webhook_url`, the key's first webhook endpoint (every event) is made with it."""
        name, guild_id, wanted, webhook_url, budget = check_key_request(
            name=name,
            guild_id=guild_id,
            channels=channels,
            webhook_url=webhook_url,
            daily_budget=daily_budget,
        )
        for attempt in range(3):  # 48 random bits: a clash of ids is all but impossible
            secret_key = KEY_PREFIX + secrets.token_urlsafe(32)
            public = secrets.token_hex(6)
            if int(public, 16) == 0:
                continue  # the member id must be negative
            record = ApiKey(
                id=_ID_PREFIX + public,
                name=name,
                guild_id=guild_id,
                channels=wanted,
                daily_budget=budget,
                member_id=-int(public, 16),
                created_at=self._clock(),
                last_used_at=None,
                revoked_at=None,
            )
            values = {
                "id": record.id,
                "name": record.name,
                "key_hash": hash_key(secret_key),
                "guild_id": record.guild_id,
                "channels": json.dumps(list(record.channels)),
                "daily_budget": None if budget is None else str(budget),
                "member_id": record.member_id,
                "created_at": record.created_at,
                "last_used_at": None,
                "revoked_at": None,
            }
            try:
                async with self._database.write() as conn:
                    await conn.execute(api_keys.insert().values(**values))
                    if webhook_url is not None:
                        await insert_endpoint(
                            conn,
                            key_id=record.id,
                            name="key webhook",
                            url=webhook_url,
                            event_types=WEBHOOK_EVENT_TYPES,
                            now=record.created_at,
                        )
            except IntegrityError:
                if attempt == 2:
                    raise
                continue
            return record, secret_key
        raise RuntimeError("no free key id was found; try again")

    async def authenticate(self, presented: str) -> ApiKey | None:
        """The live key `presented` is, or None (not a key, unknown or revoked)."""
        if not looks_like_key(presented):
            return None
        digest = hash_key(presented)
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(api_keys).where(api_keys.c.key_hash == digest))
            ).first()
        if row is None or not hmac.compare_digest(str(row.key_hash), digest):
            return None
        key = key_from_row(row)
        if key.revoked:
            return None
        now = self._clock()
        if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
            stale = now - LAST_USED_RESOLUTION
            statement = (
                update(api_keys)
                .where(api_keys.c.id == key.id)
                .where(or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at <= stale))
                .values(last_used_at=now)
            )
            async with self._database.write() as conn:
                await conn.execute(statement)
            key = replace(key, last_used_at=now)
        return key

    async def get(self, key_id: str) -> ApiKey | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        return None if row is None else key_from_row(row)

    async def list(self) -> builtins.list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [key_from_row(r) for r in rows]

    async def revoke(self, key_id: str) -> bool:
        """Stop the key at once (a revoked key stays revoked); False when there is no such key."""
        statement = (
            update(api_keys)
            .where(api_keys.c.id == key_id)
            .values(revoked_at=func.coalesce(api_keys.c.revoked_at, self._clock()))
        )
        async with self._database.write() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)


class IdempotencyStore:
    """Idempotency-Key claims per API key: the first request wins, retries find its job.

    A claim is fenced by the time it was made: `attach` and `release` only touch the claim
    this store made, so a request that outlived its claim (taken over as stale) cannot
    overwrite or drop its successor's. Use one store per process (it remembers its claims).
    """

    def __init__(self, database: Database, clock: Callable[[], float] = time.time) -> None:
        self._database = database
        self._engine = database.engine
        self._clock = clock
        self._claimed_at: dict[tuple[str, str], float] = {}

    def _row(self, key_id: str, idem_key: str) -> Any:
        return and_(idempotency_keys.c.key_id == key_id, idempotency_keys.c.idem_key == idem_key)

    async def claim(
        self, key_id: str, idem_key: str, request_hash: str
    ) -> tuple[str, str | None] | None:
        """Claim `idem_key` for a request: None when it is new (go ahead, then `attach` or
        `release`); else the first request's (request_hash, job_id), job_id None while that
        request is still being made.

        A claim still without a job after STALE_CLAIM_AFTER seconds was left by a request
        that will never finish it: the same request (same hash) takes it over.
        """
        if not 1 <= len(idem_key) <= _MAX_IDEM_KEY:
            raise ValueError(f"an idempotency key must be 1 to {_MAX_IDEM_KEY} characters")
        now = self._clock()
        values = {
            "key_id": key_id,
            "idem_key": idem_key,
            "request_hash": request_hash,
            "job_id": None,
            "created_at": now,
        }
        # One guarded UPDATE: of concurrent claimers, only the first still finds it stale.
        take_over = (
            update(idempotency_keys)
            .where(self._row(key_id, idem_key))
            .where(idempotency_keys.c.job_id.is_(None))
            .where(idempotency_keys.c.request_hash == request_hash)
            .where(idempotency_keys.c.created_at < now - STALE_CLAIM_AFTER)
            .values(created_at=now)
        )
        for _ in range(5):  # a claim released between our insert and our read: try again
            async with self._database.write() as conn:
                won = await self._insert(conn, values)
                if not won:
                    won = (await conn.execute(take_over)).rowcount == 1
                if won:
                    self._claimed_at[(key_id, idem_key)] = now
                    return None
                query = select(idempotency_keys.c.request_hash, idempotency_keys.c.job_id).where(
                    self._row(key_id, idem_key)
                )
                row = (await conn.execute(query)).first()
            if row is not None:
                return str(row.request_hash), None if row.job_id is None else str(row.job_id)
        raise RuntimeError("the idempotency key could not be claimed; try again")

    async def _insert(self, conn: AsyncConnection, values: dict[str, Any]) -> bool:
        """Insert a new claim; False when there is one already (nothing is changed)."""
        dialect = self._engine.dialect.name
        if dialect == "sqlite":
            statement = sqlite_insert(idempotency_keys).values(**values)
            result = await conn.execute(statement.on_conflict_do_nothing())
            return bool(result.rowcount == 1)
        if dialect == "postgresql":
            pg_statement = (
                postgresql_insert(idempotency_keys)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(idempotency_keys.c.key_id)
            )
            return (await conn.execute(pg_statement)).first() is not None
        try:
            async with conn.begin_nested():
                await conn.execute(idempotency_keys.insert().values(**values))
        except IntegrityError:
            return False
        return True

    def _own(self, key_id: str, idem_key: str) -> Any:
        """The claim this store made (fenced by its time), or any claim without a job when
        this store made none (another instance's)."""
        mine = and_(self._row(key_id, idem_key), idempotency_keys.c.job_id.is_(None))
        claimed_at = self._claimed_at.pop((key_id, idem_key), None)
        if claimed_at is None:
            return mine
        return and_(mine, idempotency_keys.c.created_at == claimed_at)

    async def attach(self, key_id: str, idem_key: str, job_id: str) -> bool:
        """The claimed request made `job_id`: retries are answered with it. False when the
        claim is no longer this request's (taken over as stale, or already answered)."""
        async with self._database.write() as conn:
            result = await conn.execute(
                update(idempotency_keys).where(self._own(key_id, idem_key)).values(job_id=job_id)
            )
        return bool(result.rowcount)

    async def release(self, key_id: str, idem_key: str) -> None:
        """Drop a claim whose request was refused (no job made), so a retry may try again.
        A claim that already has its job, or that another request took over, is kept."""
        async with self._database.write() as conn:
            await conn.execute(delete(idempotency_keys).where(self._own(key_id, idem_key)))

    async def forget_before(self, cutoff: float) -> int:
        """Delete the records made before `cutoff` (Unix seconds), claims and answered ones
        alike; returns how many. The SDKs count on a key being remembered for 24 hours."""
        async with self._database.write() as conn:
            result = await conn.execute(
                delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
            )
        return int(result.rowcount or 0)
