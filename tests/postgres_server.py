"""A throw-away PostgreSQL server for the tests, started from the installed binaries.

One server per test run: a data directory and a unix socket in a temp dir, no TCP port, no
durability (fsync off), trust authentication. PostgreSQL refuses to run as root, so as root
it runs as the `postgres` account (Debian's packages create it).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

REQUIRE_ENV = "VIDEO_BOT_REQUIRE_POSTGRES"


def find_bin_dir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres; None where PostgreSQL is absent."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="vb-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log = self.root / "server.log"
        self._run_as: list[str] = []
        self._counter = 0

    def _cmd(self, name: str, *args: str) -> list[str]:
        return [*self._run_as, str(self.bin_dir / name), *args]

    def start(self) -> None:
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root and no `postgres` account to run as") from None
            for path in (self.root, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]
        try:
            subprocess.run(
                self._cmd(
                    "initdb",
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ),
                cwd=self.root,
                capture_output=True,
                text=True,
                check=True,
            )
            options = (
                f"-c listen_addresses='' -k {self.socket_dir} -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB"
                " -c max_connections=200"
            )
            subprocess.run(
                self._cmd(
                    "pg_ctl",
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    options,
                ),
                cwd=self.root,
                capture_output=True,
                text=True,
                check=True,
            )
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text() if self.log.exists() else ""
            self.stop()
            raise RuntimeError(
                f"PostgreSQL did not start: {exc.stderr or exc.stdout}\n{log}"
            ) from None

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@/{database}?host={self.socket_dir}"

    async def new_database(self) -> str:
        """A fresh, empty database; its SQLAlchemy URL."""
        import asyncpg

        self._counter += 1
        name = f"test_{self._counter}"
        conn = await asyncpg.connect(
            host=str(self.socket_dir), user="postgres", database="postgres"
        )
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                subprocess.run(
                    self._cmd("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w"),
                    cwd=self.root,
                    capture_output=True,
                    check=True,
                )
        shutil.rmtree(self.root, ignore_errors=True)


def started() -> tuple[PostgresServer, float]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (no initdb, pg_ctl, postgres)")
    server = PostgresServer(bin_dir)
    begin = time.monotonic()
    server.start()
    return server, time.monotonic() - begin
