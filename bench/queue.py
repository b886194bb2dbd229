"""The bot's own queue at 10,000 waiting jobs: is the event loop ever blocked for long?

    python -m bench.queue [--jobs 10000] [--concurrency 50] [--timeout 300]

Set-up: one `VideoService` in this process over a fresh SQLite file in a temporary directory,
talking to the in-process fake Videos API (`FakeVideosServer` on 127.0.0.1, every job an hour
long). Settings: `max_concurrent_jobs` 1 (so one job runs and the rest wait), `max_queued` and
`max_queued_per_user` raised so N jobs fit, `edit_interval` left at its default. Replies are of
kind "bench": the opener returns `ReplyHandle("bench", "{}")` at once and the sink only counts
its calls (no Discord: this measures the queue itself). Requesters are N distinct members of
one guild (the /video path: guild rules are read, then the backlog and spend gate).

A task asks to wake every 5 ms throughout and records how late each wake-up is (the loop lag);
the interpreter's full (generation 2) garbage collections are timed as well (gc.callbacks), and
the time of the worst wake-up spent inside one is shown: a GC pause blocks the loop like any
other code. Phases, each with its own lag figures (max and p99 of the wake-ups whose wait
overlaps the phase):

1. enqueue: one job is submitted and left to start (it holds the only slot), then N-1 more are
   submitted, --concurrency at a time. Figures: total time, per-submit p50/p99. Then
   "settle": until the queue-positions loop has told every new reply its place and gone quiet.
2. a position change: the running job is cancelled (`service.cancel`, "stop following"), its
   slot frees, the next job starts and every waiting place moves by one. Figures: the time of
   the cancel call, the time of the next `Dispatcher.show_positions()` round (wrapped to be
   timed; the dispatcher's own loop calls it), the replies it told and the sink calls made.
3. start-up resume: the service is closed and the database closed; a new database handle and
   a new service are made over the same file and `await service.start()` runs. Figures: the
   time until it returns, the queue length afterwards (N minus the jobs started), and the first
   positions round after it.

Goal, per phase: the loop is never blocked for more than 50 ms (max lag <= 50 ms).
Logging is silenced; warnings and errors are counted and listed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import load_settings
from bot.domain import Delivery, JobView, Phase, ReplyHandle, Requester
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.service import VideoService, build_service
from bot.service.wiring import settle_heap
from bot.store import open_database
from bot.videos import VideosClient

TICK = 0.005  # the lag monitor's sleep
GOAL = 0.050  # the loop may never be blocked longer than this
GUILD = 4242
KIND = "bench"


# -- measuring -----------------------------------------------------------------------------------


class LoopMonitor:
    """Wakes every TICK and records (when, how late); times full garbage collections too."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []  # (asked at, woke at, lag)
        self.gc_pauses: list[tuple[float, float]] = []  # (started, ended) of generation 2
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            after = time.perf_counter()
            self.samples.append((before, after, max(0.0, after - before - TICK)))

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif info.get("generation") == 2:
            self.gc_pauses.append((self._gc_started, time.perf_counter()))

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.create_task(self._watch(), name="loop-monitor")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._on_gc)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def lags(self, start: float, end: float) -> list[float]:
        """The lag of every wake-up whose wait overlaps the window (a block that began in
        it counts even when the late wake-up came after its end)."""
        return sorted(lag for asked, woke, lag in self.samples if asked <= end and woke >= start)

    def worst(self, start: float, end: float) -> tuple[float, float, float]:
        """(lag, seconds after `start` it ended, full-GC time inside that wait) of the worst
        wake-up overlapping the window."""
        inside = [
            (lag, asked, woke)
            for asked, woke, lag in self.samples
            if asked <= end and woke >= start
        ]
        lag, asked, woke = max(inside, default=(0.0, start, start))
        in_gc = sum(
            max(0.0, min(woke, ended) - max(asked, began)) for began, ended in self.gc_pauses
        )
        return lag, woke - start, in_gc

    def full_gcs(self, start: float, end: float) -> list[float]:
        return [ended - began for began, ended in self.gc_pauses if start <= ended <= end]


class CountingSink:
    """The one ReplySink of every bench job: counts what a front end would be told."""

    def __init__(self) -> None:
        self.positions = 0  # show() of a waiting job (a queue place)
        self.other_shows = 0  # show() of a job past the queue (submitting, running)
        self.fails = 0

    async def show(self, view: JobView) -> None:
        if view.phase is Phase.WAITING and view.queue_position is not None:
            self.positions += 1
        else:
            self.other_shows += 1

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        raise AssertionError("no job should finish during the benchmark")

    async def fail(self, view: JobView) -> None:
        self.fails += 1

    async def already_delivered(self) -> bool:
        return False

    def snapshot(self) -> tuple[int, int, int]:
        return self.positions, self.other_shows, self.fails


class Opener:
    """The reply is made at once."""

    async def open(self, view: JobView) -> ReplyHandle:
        return ReplyHandle(KIND, "{}")


@dataclass
class Round:
    started: float
    ended: float = 0.0
    told: int = 0


@dataclass
class RoundTimer:
    """Wraps a dispatcher's show_positions (its own loop calls it) to time every round."""

    rounds: list[Round] = field(default_factory=list)
    busy: int = 0

    def wrap(self, original: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
        async def timed() -> int:
            one = Round(time.perf_counter())
            self.rounds.append(one)
            self.busy += 1
            try:
                one.told = await original()
            finally:
                one.ended = time.perf_counter()
                self.busy -= 1
            return one.told

        return timed

    def since(self, start: float) -> list[Round]:
        return [r for r in self.rounds if r.started >= start]

    async def quiet(self, since: float, interval: float, deadline: float) -> float:
        """Wait until no round runs and none started for `interval` + 1 s (no change is
        pending: a pending one starts a round within `interval`); returns the last activity."""
        while True:
            last = max([since, *(r.ended for r in self.rounds if r.ended)])
            if not self.busy and time.perf_counter() - last > interval + 1.0:
                return last
            if time.perf_counter() > deadline:
                raise TimeoutError("the queue-positions loop did not go quiet")
            await asyncio.sleep(0.1)


class LogCounter(logging.Handler):
    """Swallows log records, counting warnings and errors per logger and keeping one each."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.samples: dict[tuple[str, str], str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        key = (record.levelname, record.name)
        self.counts[key] += 1
        if key not in self.samples:
            with contextlib.suppress(Exception):
                self.samples[key] = record.getMessage()[:160]


def silence_logging() -> LogCounter:
    counter = LogCounter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(counter)
    root.setLevel(logging.WARNING)
    for name in ("bot", "aiohttp", "sqlalchemy", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return counter


async def until(predicate: Callable[[], bool], deadline: float, what: str) -> None:
    """Poll `predicate` every 10 ms; raise TimeoutError with `what` past `deadline`."""
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


# -- the run --------------------------------------------------------------------------------------


@dataclass
class PhaseFigures:
    name: str
    start: float
    end: float
    figures: dict[str, Any] = field(default_factory=dict)
    max_lag: float = 0.0


async def run(jobs: int, concurrency: int, limit: float) -> list[PhaseFigures]:
    deadline = time.perf_counter() + limit
    sink = CountingSink()
    opener = Opener()
    timer = RoundTimer()
    monitor = LoopMonitor()
    phases: list[PhaseFigures] = []

    def build(settings: Any, database: Any, client: VideosClient) -> VideoService:
        service = build_service(settings, database, client, sinks={KIND: lambda _h: sink})
        dispatcher = service.engine.dispatcher
        dispatcher.show_positions = timer.wrap(dispatcher.show_positions)  # type: ignore[method-assign]
        return service

    async with (
        FakeVideosServer(FakeSettings(default_duration=3600.0)) as fake,
        aiohttp.ClientSession() as session,
    ):
        assert fake.root_url.startswith("http://127.0.0.1:")
        with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
            settings = load_settings(
                openai_base_url=fake.base_url,
                data_dir=Path(tmp),
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}",
                max_concurrent_jobs=1,
                max_queued=jobs + 10,
                max_queued_per_user=min(100_000, jobs),
                user_daily_count=None,
                user_daily_budget=None,
                guild_daily_budget=None,
                daily_budget=None,
            )
            interval = settings.edit_interval
            database = await open_database(settings.effective_database_url)
            client = VideosClient(session, fake.base_url)
            service = build(settings, database, client)
            settle_heap()  # as `video-bot run` does before it starts
            monitor.start()
            await service.start()

            # -- 1. enqueue -------------------------------------------------------------------
            first = await service.submit(
                Requester(user_id=1, guild_id=GUILD), "bench job 1", reply=opener
            )
            # Let it take the only slot: out of the queue, its reply told it is submitting.
            await until(
                lambda: (
                    service.engine.dispatcher.position(first.ref) is None  # type: ignore[attr-defined]
                    and sink.other_shows > 0
                ),
                deadline,
                "the first job did not start",
            )
            before = sink.snapshot()
            latencies: list[float] = []
            next_user = iter(range(2, jobs + 1))

            async def worker() -> None:
                for user in next_user:
                    began = time.perf_counter()
                    await service.submit(
                        Requester(user_id=user, guild_id=GUILD), f"bench job {user}", reply=opener
                    )
                    latencies.append(time.perf_counter() - began)

            start = time.perf_counter()
            rounds_before = len(timer.rounds)
            await asyncio.wait_for(
                asyncio.gather(*(worker() for _ in range(concurrency))),
                timeout=deadline - time.perf_counter(),
            )
            end = time.perf_counter()
            waiting = len(service.engine.queue)
            phases.append(
                PhaseFigures(
                    "1. enqueue",
                    start,
                    end,
                    {
                        f"submitted ({concurrency} at a time)": len(latencies),
                        "waiting afterwards": waiting,
                        "total time (s)": f"{end - start:.2f}",
                        "submits per second": f"{len(latencies) / (end - start):.0f}",
                        "per-submit p50 (ms)": ms(quantile(latencies, 0.5)),
                        "per-submit p99 (ms)": ms(quantile(latencies, 0.99)),
                        "per-submit max (ms)": ms(max(latencies, default=0.0)),
                        "positions rounds during it": len(timer.rounds) - rounds_before,
                        "position edits sent during it": sink.positions - before[0],
                    },
                )
            )
            settle_from = end
            before = sink.snapshot()
            last = await timer.quiet(end, interval, deadline)
            rounds = timer.since(settle_from)
            phases.append(
                PhaseFigures(
                    "1b. settle (positions rounds after the last submit)",
                    settle_from,
                    last,
                    {
                        "rounds": len(rounds),
                        "longest round (ms)": ms(
                            max((r.ended - r.started for r in rounds), default=0)
                        ),
                        "replies told": sum(r.told for r in rounds),
                        "position edits sent": sink.positions - before[0],
                    },
                )
            )

            # -- 2. a position change ---------------------------------------------------------
            running = await service.engine.store.get(first.ref)
            assert running is not None
            assert not running.state.is_final
            before = sink.snapshot()
            start = time.perf_counter()
            said = await service.cancel(first.ref, Requester(1, None))
            cancelled_at = time.perf_counter()
            await until(
                lambda: any(r.ended for r in timer.since(cancelled_at)),
                deadline,
                "no positions round after the cancel",
            )
            round_ = timer.since(cancelled_at)[0]
            last = await timer.quiet(round_.ended, interval, deadline)
            after = sink.snapshot()
            lag_in_round = monitor.lags(round_.started, round_.ended)
            phases.append(
                PhaseFigures(
                    "2. position change (the running job cancelled)",
                    start,
                    last,
                    {
                        "cancel said": said[:40] + "...",
                        "cancel call (ms)": ms(cancelled_at - start),
                        "waiting afterwards": len(service.engine.queue),
                        "next show_positions() round (ms)": ms(round_.ended - round_.started),
                        "replies it told": round_.told,
                        "later rounds": len(timer.since(cancelled_at)) - 1,
                        "sink.show calls, queue places": after[0] - before[0],
                        "sink.show calls, other (the started job)": after[1] - before[1],
                        "sink.fail calls (the cancelled job)": after[2] - before[2],
                        "max loop lag inside that round (ms)": ms(max(lag_in_round, default=0.0)),
                    },
                )
            )

            # -- 3. start-up resume -----------------------------------------------------------
            started_before = len(service.engine.queue)
            await service.close(grace=0)
            await database.close()
            database = await open_database(settings.effective_database_url)
            service = build(settings, database, VideosClient(session, fake.base_url))
            # A restarted process starts without the old service's objects; here they are
            # still alive, so drop them, then settle as `video-bot run` does.
            gc.unfreeze()
            settle_heap()  # before the bot serves anything: not a stall anyone waits on
            await asyncio.sleep(0.05)  # the lag monitor's sample across it lands before phase 3
            before = sink.snapshot()
            start = time.perf_counter()
            resumed = await service.start()
            end = time.perf_counter()
            after_start = len(service.engine.queue)
            phases.append(
                PhaseFigures(
                    "3. start-up resume (new service, same database)",
                    start,
                    end,
                    {
                        "waiting before close": started_before,
                        "resumed (waiting + past the queue)": resumed,
                        "start() until it returned (s)": f"{end - start:.2f}",
                        "queue length afterwards": after_start,
                        f"jobs not waiting (of {jobs}: started or cancelled)": jobs - after_start,
                    },
                )
            )
            last = await timer.quiet(end, interval, deadline)
            rounds = timer.since(end)
            after = sink.snapshot()
            phases.append(
                PhaseFigures(
                    "3b. after start() (janitor, first positions round, resumed job)",
                    end,
                    last,
                    {
                        "rounds": len(rounds),
                        "longest round (ms)": ms(
                            max((r.ended - r.started for r in rounds), default=0)
                        ),
                        "replies told": sum(r.told for r in rounds),
                        "sink.show calls, queue places (since start())": after[0] - before[0],
                        "sink.show calls, other (since start())": after[1] - before[1],
                    },
                )
            )
            await service.close(grace=0)
            await monitor.stop()
            await database.close()
    for phase in phases:
        lags = monitor.lags(phase.start, phase.end)
        worst, at, in_gc = monitor.worst(phase.start, phase.end)
        gcs = monitor.full_gcs(phase.start, phase.end)
        phase.max_lag = worst
        phase.figures.update(
            {
                "loop lag samples": len(lags),
                "loop lag p99 (ms)": ms(quantile(lags, 0.99)),
                "loop lag max (ms) (at s into the phase)": f"{ms(worst)} ({at:.2f})",
                "wake-ups later than 50 ms": sum(1 for lag in lags if lag > GOAL),
                "full GCs (longest, ms)": f"{len(gcs)} ({ms(max(gcs, default=0.0))})",
                "of the worst wake-up, spent in a full GC (ms)": ms(in_gc),
            }
        )
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50, help="submits in flight at once")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this (s)")
    args = parser.parse_args()
    if args.jobs < 2:
        parser.error("--jobs must be at least 2")
    counter = silence_logging()
    began = time.perf_counter()
    phases = asyncio.run(run(args.jobs, args.concurrency, args.timeout))
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; {args.jobs} jobs")
    width = max(len(name) for phase in phases for name in phase.figures)
    for phase in phases:
        print(f"\n{phase.name}  [{phase.end - phase.start:.2f} s]")
        for name, value in phase.figures.items():
            print(f"  {name:<{width}}  {value}")
    print(f"\ngoal: the event loop is never blocked > {GOAL * 1000:.0f} ms (max lag, per phase)")
    for phase in phases:
        verdict = "met" if phase.max_lag <= GOAL else "NOT met"
        print(f"  {phase.name:<62} max {ms(phase.max_lag):>7} ms  {verdict}")
    if counter.counts:
        print("\nwarnings and errors logged:")
        for (level, logger), count in counter.counts.most_common():
            print(f"  {count:>6} {level} {logger}: {counter.samples.get((level, logger), '')}")
    print(f"\nrun time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
