"""Plain SQL against a test database, whichever it is: to build an older schema by hand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine


async def run_sql(url: str, *statements: str | tuple[str, dict[str, Any]]) -> None:
    """Run the statements in one transaction; BLOB is spelled BYTEA on PostgreSQL."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                sql, params = statement if isinstance(statement, tuple) else (statement, {})
                if engine.dialect.name == "postgresql":
                    sql = sql.replace(" BLOB", " BYTEA")
                await conn.execute(text(sql), params)
    finally:
        await engine.dispose()


async def scalar(url: str, sql: str) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


async def columns_and_indexes(url: str, table: str) -> tuple[set[str], set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: (
                    {c["name"] for c in inspect(sync).get_columns(table)},
                    {str(i["name"]) for i in inspect(sync).get_indexes(table)},
                )
            )
    finally:
        await engine.dispose()
