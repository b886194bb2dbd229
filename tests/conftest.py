"""Suite-wide guards: nothing in the tests may leave this machine."""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.postgres_server import REQUIRE_ENV, PostgresServer, started

# Read at import: `_clean_environment` below hides VIDEO_BOT_* variables from each test.
_REQUIRE_POSTGRES = os.environ.get(REQUIRE_ENV) == "1"

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(host: Any) -> bool:
    if host in (None, "localhost", "", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host if isinstance(host, str) else host.decode()).is_loopback
    except ValueError:
        return False


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local(host):
        raise OSError(f"tests must not resolve {host!r}: no network outside 127.0.0.1")
    return _real_getaddrinfo(host, *args, **kwargs)


def _check_address(address: Any) -> None:
    if isinstance(address, tuple) and not _is_local(address[0]):
        raise OSError(f"tests must not connect to {address!r}: no network outside 127.0.0.1")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(address)
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(address)
    return _real_connect_ex(self, address)


# -- ports for the servers a test starts on a number of its choosing ------------------------------

# pytest-asyncio's `unused_tcp_port` asks the kernel for a free port and lets it go: one in the
# ephemeral range, which the kernel may hand to any other socket (a fake bound to port 0, any
# outgoing connection of six workers) before the test binds it: "address already in use", now
# and then. Ours come from below that range, where the kernel never picks, in a block per
# xdist worker, so only our own picks could meet, and never across workers.
_PORT_BLOCK = 1000
_FIRST_PORT = 20_000  # the ephemeral range starts at 32768 on Linux
_next_port = itertools.count()


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3"; unset without xdist
    return int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0


def _free_port() -> int:
    base = _FIRST_PORT + _worker_index() * _PORT_BLOCK
    for _ in range(_PORT_BLOCK):
        port = base + next(_next_port) % _PORT_BLOCK
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # a server of an earlier test still holds it
            return port
    raise RuntimeError(f"no free port in {base}-{base + _PORT_BLOCK - 1}")


@pytest.fixture
def unused_tcp_port() -> int:
    return _free_port()


@pytest.fixture
def unused_tcp_port_factory() -> Callable[[], int]:
    return _free_port


# -- the parallel run (pytest-xdist, `-n` in pyproject's addopts) ------------------------------

# Modules whose module-scoped fixtures are costly (clips encoded with ffmpeg): each goes whole to
# one worker, which makes its fixtures once; every other test is handed out on its own. (An
# `xdist_group` mark with `--dist loadgroup` would say the same, but with pytest 9.2 that grouping
# silently does nothing: pytest-dev/pytest-xdist#1386.)
ONE_WORKER_MODULES = frozenset({"tests/media/test_encoding.py", "tests/media/test_fit_large.py"})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """For `--dist load` (the default with `-n`): load balancing, test by test, but for
    ``ONE_WORKER_MODULES``. The largest units (those modules) are handed out first."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER_MODULES else nodeid

    return Scheduling(config, log)


@pytest.fixture(autouse=True, scope="session")
def _no_network() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    mp.setattr(socket.socket, "connect", _guarded_connect)
    mp.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A command run in-process (`main([...])`) sets up logging as `video-bot` does: the root
    handler, the levels of the bot's and the libraries' loggers. Put back after each test, so
    a test that reads the logs never depends on which tests ran before it on its worker."""
    manager = logging.Logger.manager
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers), list(root.filters))
    saved = {
        name: (logger.level, logger.propagate, list(logger.handlers), list(logger.filters))
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.setLevel(saved_root[0])
    root.handlers[:] = saved_root[1]
    root.filters[:] = saved_root[2]
    for name, logger in list(manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger):
            continue
        level, propagate, handlers, filters = saved.get(name, (logging.NOTSET, True, [], []))
        logger.setLevel(level)
        logger.propagate = propagate
        logger.handlers[:] = handlers
        logger.filters[:] = filters


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Tests never read the developer's own .env or keys."""
    for name in ("DISCORD_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    import os

    for name in list(os.environ):
        if name.startswith("VIDEO_BOT_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run, started on first use and stopped at the end.

    Skipped where PostgreSQL is not installed; an error instead when VIDEO_BOT_REQUIRE_POSTGRES=1.
    """
    try:
        server, seconds = started()
    except (OSError, RuntimeError) as exc:
        reason = f"PostgreSQL unavailable: {str(exc).splitlines()[0]}"
        if _REQUIRE_POSTGRES:
            pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)
    print(f"\nPostgreSQL {server.bin_dir} started in {seconds:.2f}s")  # shown with -s
    try:
        yield server
    finally:
        server.stop()
