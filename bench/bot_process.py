"""`video-bot run` in a child process pointed at a fake Discord, for `bench.concurrency`.

    python -m bench.bot_process REST_BASE GATEWAY_URL [run options...]

The same start as tests/recovery/bot_process.py: the two documented discord.py seams (REST base
URL and gateway URL) are pointed at the fake Discord, then the real command line entry point
runs (`bot.terminal.cli.main(["run", ...])`, so settings come from the environment as in
production).

Optional, for the benchmark only: with BENCH_LOOP_LAG_FILE=<path> in the environment, a task in
the bot's event loop asks to wake every 10 ms for as long as `run_bot` runs and notes how late
each wake-up is (time.monotonic(), which on Linux is the same clock in every process), and the
interpreter's full (generation 2) garbage collections are timed. When `run_bot` returns (after
SIGTERM, the bot's own graceful shutdown) the figures are written to <path> as JSON:
{"tick": s, "times": [...], "lags": [...], "full_gc": [[end_time, pause], ...]}.
Without the variable the bot runs exactly as tests/recovery/bot_process.py runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

LAG_FILE_ENV = "BENCH_LOOP_LAG_FILE"
TICK = 0.010


class LoopLagMonitor:
    """Wakes every TICK seconds; records when (monotonic) and how late each wake-up was."""

    def __init__(self) -> None:
        self.times = array("d")
        self.lags = array("d")
        self.full_gc: list[tuple[float, float]] = []
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(TICK)
            after = time.monotonic()
            self.times.append(after)
            self.lags.append(max(0.0, after - before - TICK))

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        elif info.get("generation") == 2:
            now = time.monotonic()
            self.full_gc.append((now, now - self._gc_started))

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._watch(), name="bench-loop-lag")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def write(self, path: Path) -> None:
        figures = {
            "tick": TICK,
            "pid": os.getpid(),
            "times": list(self.times),
            "lags": list(self.lags),
            "full_gc": self.full_gc,
        }
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(figures), encoding="utf-8")
        partial.replace(path)


def monitored(
    run_bot: Callable[..., Awaitable[None]], path: Path
) -> Callable[..., Awaitable[None]]:
    """`run_bot` with a loop-lag monitor around it; the figures are written when it returns."""

    async def run_bot_monitored(*args: Any, **kwargs: Any) -> None:
        monitor = LoopLagMonitor()
        monitor.start()
        try:
            await run_bot(*args, **kwargs)
        finally:
            await monitor.stop()
            monitor.write(path)

    return run_bot_monitored


def main(argv: list[str]) -> int:
    import discord.gateway
    import discord.http
    import yarl

    from bot.discord_adapter import launcher
    from bot.terminal import cli

    rest_base, gateway_url, *options = argv
    discord.http.Route.BASE = rest_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
    lag_file = os.environ.get(LAG_FILE_ENV)
    if lag_file:
        # bot.terminal.cli imports run_bot from the launcher module when it runs, so this wraps
        # the real entry point without changing it.
        launcher.run_bot = monitored(launcher.run_bot, Path(lag_file))  # type: ignore[assignment]
    return cli.main(["run", *options])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
