"""Opening the database: URL, engine, migrations, and clear errors when it cannot be used."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from bot.store.migrations import migrate

log = logging.getLogger(__name__)


class _DriverCallFilter(logging.Filter):
    """aiosqlite logs each call it runs, arguments and all (tokens, whole reference images).

    Its DEBUG lines keep the name of the call and lose the arguments; SQLAlchemy's own lines
    (with `hide_parameters=True`) say which statement ran.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_call_name(a) for a in args)
        return True


class _RowFilter(logging.Filter):
    """SQLAlchemy logs every row read at DEBUG; rows hold tokens and images: hidden too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Row %r":
            record.args = ("[row hidden]",)
        return True


def _call_name(value: object) -> object:
    if isinstance(value, functools.partial):
        value = value.func
    if callable(value):
        return f"<{getattr(value, '__qualname__', type(value).__name__)}>"
    if isinstance(value, BaseException):
        return value
    return "<value>"


def _quiet_the_logs() -> None:
    """Values never reach a log line; `hide_parameters=True` on the engines does the rest."""
    for name, kind in (("aiosqlite", _DriverCallFilter), ("sqlalchemy.engine.Engine", _RowFilter)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, kind) for f in logger.filters):
            logger.addFilter(kind())


# PostgreSQL advisory lock held while the schema is migrated (any number; ours alone).
_MIGRATION_LOCK = 0x76696462


class StoreError(Exception):
    """The database cannot be opened or written; the message says what to do."""


class Database:
    """The engines of one process; everything else borrows them.

    `engine` serves reads. Writes go through `write()`: on SQLite, one connection used by one
    writer at a time (SQLite has a single writer anyway; several pooled connections fighting
    for its lock is what made "database is locked" and pool time-outs under load), on
    PostgreSQL the same pool as reads.
    """

    def __init__(self, engine: AsyncEngine, writer: AsyncEngine | None = None) -> None:
        self.engine = engine
        self._writer = writer or engine
        self._write_lock = asyncio.Lock() if writer is not None else None
        # Guild policies are read on every command and change rarely: a short-lived,
        # write-through cache (bot/store/guilds.py) keeps the acknowledgement fast under load.
        self.guild_policies: dict[int, Any] = {}
        self.guild_policy_reads: dict[int, Any] = {}  # reads under way, shared by their callers

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction for writing, committed when the block ends."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self._writer.begin() as conn:
            yield conn

    async def close(self) -> None:
        await self.engine.dispose()
        if self._writer is not self.engine:
            await self._writer.dispose()


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (`video-bot jobs`) work while the bot writes; busy_timeout waits out
    # short locks instead of failing at once.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def open_database(url: str, *, migrate_schema: bool = True) -> Database:
    """Connect, apply migrations and prove the database is writable."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError("DATABASE_URL is not a valid database URL") from None
    if parsed.drivername in ("postgresql", "postgres"):
        # A plain postgresql:// URL (as hosting services hand them out): the async driver.
        parsed = parsed.set(drivername="postgresql+asyncpg")
    is_sqlite = parsed.get_backend_name() == "sqlite"
    where = parsed.render_as_string(hide_password=True)
    _quiet_the_logs()
    if is_sqlite and parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    writer: AsyncEngine | None = None
    if is_sqlite:
        # Readers run side by side (WAL); the one writer connection is used in turn.
        engine = create_async_engine(
            parsed, pool_size=8, max_overflow=24, pool_timeout=120, hide_parameters=True
        )
        writer = create_async_engine(
            parsed, pool_size=1, max_overflow=0, pool_timeout=600, hide_parameters=True
        )
        for each in (engine, writer):
            event.listen(each.sync_engine, "connect", _sqlite_pragmas)
    else:
        try:
            # Hundreds of running jobs write now and then, and admissions must not queue
            # behind them for a connection: a larger pool than SQLAlchemy's 5 + 10.
            engine = create_async_engine(
                parsed,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=30,
                pool_timeout=120,
                hide_parameters=True,
            )
        except (ImportError, NoSuchModuleError) as exc:
            hint = (
                " (pip install 'video-bot[postgres]')"
                if parsed.get_backend_name() == "postgresql"
                else ""
            )
            raise StoreError(f"no driver for the database {where}: {exc}{hint}") from None
    try:
        async with (writer or engine).begin() as conn:
            if not is_sqlite:
                # Several processes starting on one fresh database: one migrates, the others
                # wait for it and find the work done.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            if migrate_schema:
                await migrate(conn)
            # A write that is rolled back: a read-only file or a held lock fails here, at start.
            await conn.execute(text("UPDATE schema_version SET version = version"))
    except (OperationalError, DBAPIError, OSError) as exc:
        await engine.dispose()
        if writer is not None:
            await writer.dispose()
        raise StoreError(_explain(exc, where)) from None
    return Database(engine, writer)


def _explain(exc: BaseException, where: str) -> str:
    detail = str(getattr(exc, "orig", exc)).lower()
    if "readonly" in detail or "read-only" in detail or "read only" in detail:
        return f"the database {where} is read-only: give the bot write access to it"
    if "locked" in detail or "busy" in detail:
        return f"the database {where} is locked by another process (is another bot running?)"
    if "unable to open" in detail or "no such file" in detail or "permission" in detail:
        return f"the database {where} cannot be opened: check the path and permissions"
    return f"the database {where} cannot be used: {detail[:200]}"
