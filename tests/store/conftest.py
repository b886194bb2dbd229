"""Every store test that takes `database_url` runs on SQLite and on a real PostgreSQL server.

Tests marked `sqlite_only` read or write the SQLite file itself and run on SQLite alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres_server import PostgresServer


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for a fresh, empty database (each call of open_database on it: the same one)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await server.new_database()
