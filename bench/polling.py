"""Benchmark: the poll planner on single jobs of 10-300 s, side by side with the SDK's 1 s poll.

Run it from the repository root with `python -m bench.polling` (options: --min-length S,
--max-length S, --step S, --hint-ms N, --stagger S, --seed N). It is not a test: it prints a
table and whether each goal of the issue is met. With the defaults it takes about 5.5 minutes
(the longest job is 300 s of real time) and stops by itself.

Set-up: two in-process fake Videos APIs (bot/fake_api) on 127.0.0.1, identical but for one
setting: "plain" sends no poll hint, "hint" answers every status read with
`openai-poll-after-ms: 1000` (what OpenAI sent). On each, for every length in the sweep
(--min-length..--max-length by --step, 117 lengths with the defaults), two jobs run with the
prompt keyword `[duration=N]` (the fake reports `queued` at 0 % for the first 10 % of N, then
progress 100*t/N, then `completed`):

  adaptive  `bot.jobs.tracking.track` with a `PollPlanner` built from the bot's default poll
            settings (poll_min_interval 0.5, poll_max_interval 30, poll_fixed_interval 5), then
            `VideosClient.download`: exactly the bot's path from a created job to its file.
            The planner starts cold (no duration history): all the sweep's jobs start together,
            so the bot's history would be empty for every one of them.
  sdk       the official SDK's `poll()`: a status read at once, then one every
            `openai-poll-after-ms` or 1000 ms, then the download.

All 4 x lengths jobs run concurrently in real time on one event loop, their creates spread
over --stagger seconds each (shuffled with --seed) rather than sent in one burst.

Figures, per job:

lag         From the instant the fake starts reporting `completed` (`job.started +
            job.duration` on its clock, FakeState.now() = time.monotonic() + offset) to the
            arrival of the content request (`GET /v1/videos/{id}/content`, noted by wrapping
            `Stats.record` with FakeState.now()). The offset only changes through advance(),
            which this benchmark never calls; it checks that the offset stays 0.
reads       `GET /v1/videos/{id}` requests for the job; reads/min = reads / (length / 60).
ratio       sdk reads/min / adaptive reads/min at the same length on the same server.

Goals (from the issue), checked separately without and with the hint:
  lag median <= 1 s (over all lengths) and lag <= 2 s at every length (adaptive);
  ratio >= 5 at every length >= 20 s.

A task waking every 10 ms measures the event loop's lateness over the run: if it is large the
lags measure the loop as much as the planner.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bot.config import Settings
from bot.fake_api import FakeSettings, FakeVideosServer, RecordedRequest
from bot.jobs.polling import PollPlanner
from bot.jobs.tracking import Update, track
from bot.videos import CreateRequest, JobFailedError, JobState, VideosClient

LAG_MEDIAN_GOAL = 1.0
LAG_MAX_GOAL = 2.0
RATIO_GOAL = 5.0
RATIO_FROM = 20.0  # seconds: the read ratio is a goal for jobs at least this long
LOOP_TICK = 0.010
RETRIEVE_ROUTE = "GET /v1/videos/{video_id}"
CONTENT_ROUTE = "GET /v1/videos/{video_id}/content"
VARIANTS = ("adaptive", "sdk")


def _default(name: str) -> float:
    value = Settings.model_fields[name].default
    assert isinstance(value, float)
    return value


POLL_SETTINGS = {
    "min_interval": _default("poll_min_interval"),
    "max_interval": _default("poll_max_interval"),
    "fixed_interval": _default("poll_fixed_interval"),
}


@dataclass
class Server:
    """One fake Videos API and what arrived at it, on its clock."""

    name: str
    fake: FakeVideosServer
    client: VideosClient
    reads: dict[str, int] = field(default_factory=dict)
    contents: dict[str, float] = field(default_factory=dict)

    def watch(self) -> None:
        state = self.fake.state
        original: Callable[[RecordedRequest], None] = state.stats.record

        def record(request: RecordedRequest) -> None:
            at = state.now()
            key = f"{request.method} {request.route}"
            video_id = request.path.removeprefix("/v1/videos/").split("/", 1)[0]
            if key == RETRIEVE_ROUTE:
                self.reads[video_id] = self.reads.get(video_id, 0) + 1
            elif key == CONTENT_ROUTE:
                self.contents.setdefault(video_id, at)
            original(request)

        state.stats.record = record  # type: ignore[method-assign]


@dataclass
class Result:
    """One job's figures."""

    server: str
    variant: str
    length: float
    video_id: str | None = None
    reads: int = 0
    lag: float | None = None
    error: str | None = None

    @property
    def reads_per_minute(self) -> float:
        return self.reads / (self.length / 60)


# -- the two ways of following a job ------------------------------------------------------------


async def _noop(_: Update) -> None:
    return None


async def adaptive(client: VideosClient, video_id: str, submitted: float, length: float) -> None:
    """The bot's path: track() with the default planner."""
    planner = PollPlanner(**POLL_SETTINGS)
    await track(
        client,
        video_id,
        planner=planner,
        deadline=length + 600,
        on_update=_noop,
        started_at=submitted,
    )


async def sdk(client: VideosClient, video_id: str, submitted: float, length: float) -> None:
    """openai-python's Videos.poll: read at once, then every hint or 1000 ms."""
    del submitted, length
    while True:
        poll = await client.poll(video_id)
        state = poll.video.state
        if state is JobState.COMPLETED:
            return
        if state.is_terminal:
            raise JobFailedError(state.value, None, refused=False)
        await asyncio.sleep(poll.poll_after if poll.poll_after is not None else 1.0)


FOLLOW: dict[str, Callable[[VideosClient, str, float, float], Awaitable[None]]] = {
    "adaptive": adaptive,
    "sdk": sdk,
}


async def one_job(server: Server, result: Result, start_in: float, workdir: Path) -> None:
    await asyncio.sleep(start_in)
    client = server.client
    try:
        submitted = time.monotonic()
        video = await client.create(
            CreateRequest(prompt=f"bench {result.variant} [duration={result.length:g}]")
        )
        result.video_id = video.id
        await FOLLOW[result.variant](client, video.id, submitted, result.length)
        dest = workdir / f"{server.name}-{result.variant}-{result.length:g}.mp4"
        await client.download(video.id, dest)
        dest.unlink(missing_ok=True)
    except Exception as exc:  # reported, not raised: the other jobs go on
        result.error = f"{type(exc).__name__}: {exc}"


def collect(server: Server, results: Sequence[Result]) -> None:
    jobs = server.fake.state.jobs
    for result in results:
        if result.server != server.name or result.video_id is None:
            continue
        job = jobs.get(result.video_id)
        result.reads = server.reads.get(result.video_id, 0)
        arrived = server.contents.get(result.video_id)
        if job is not None and arrived is not None:
            result.lag = arrived - (job.started + job.duration)


# -- the loop's own lateness -------------------------------------------------------------------


async def watch_loop(lags: list[float]) -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(LOOP_TICK)
        lags.append(max(0.0, time.perf_counter() - before - LOOP_TICK))


# -- running ------------------------------------------------------------------------------------


def sweep(low: float, high: float, step: float) -> list[float]:
    count = round((high - low) / step) + 1
    return [round(low + i * step, 3) for i in range(count) if low + i * step <= high + 1e-9]


async def bench(args: argparse.Namespace) -> tuple[list[Result], list[float], list[float], float]:
    lengths = sweep(args.min_length, args.max_length, args.step)
    settings = {
        "plain": FakeSettings(default_duration=30.0),
        "hint": FakeSettings(default_duration=30.0, poll_after_ms=args.hint_ms),
    }
    results = [
        Result(server, variant, length)
        for server in settings
        for variant in VARIANTS
        for length in lengths
    ]
    order = list(range(len(results)))
    random.Random(args.seed).shuffle(order)
    starts = {index: position * args.stagger for position, index in enumerate(order)}
    loop_lags: list[float] = []
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        servers: dict[str, Server] = {}
        for name, fake_settings in settings.items():
            fake = await stack.enter_async_context(FakeVideosServer(fake_settings))
            if not fake.base_url.startswith("http://127.0.0.1:"):
                raise RuntimeError(f"the fake must listen on 127.0.0.1, not {fake.base_url}")
            servers[name] = Server(name, fake, VideosClient(session, fake.base_url))
            servers[name].watch()
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-poll-")))
        monitor = asyncio.create_task(watch_loop(loop_lags))
        started = time.monotonic()
        tasks = [
            asyncio.create_task(one_job(servers[r.server], r, starts[i], workdir))
            for i, r in enumerate(results)
        ]
        patience = max(starts.values(), default=0) + max(lengths) + 120
        _, pending = await asyncio.wait(tasks, timeout=patience)
        for task in pending:
            task.cancel()
        for result, task in zip(results, tasks, strict=True):
            if task in pending:
                result.error = f"not finished within {patience:.0f} s"
        await asyncio.gather(*pending, return_exceptions=True)
        seconds = time.monotonic() - started
        monitor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await monitor
        offsets = [server.fake.state.offset for server in servers.values()]
        for server in servers.values():
            collect(server, results)
    return results, loop_lags, offsets, seconds


# -- reporting ----------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _f(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(results: Sequence[Result], servers: Sequence[str]) -> None:
    by_key = {(r.server, r.variant, r.length): r for r in results}
    lengths = sorted({r.length for r in results})
    groups = []
    for server in servers:
        groups.append(
            f"{'[' + server + '] adaptive reads r/min lag':>31} {'sdk reads r/min lag':>22} "
            f"{'ratio':>6}"
        )
    print(f"{'length s':>8}  " + "  ".join(groups))
    for length in lengths:
        cells = []
        for server in servers:
            a = by_key[(server, "adaptive", length)]
            s = by_key[(server, "sdk", length)]
            ratio = s.reads / a.reads if a.reads else float("nan")
            cells.append(
                f"{a.reads:>14} {a.reads_per_minute:>6.1f} {_f(a.lag):>9} "
                f"{s.reads:>10} {s.reads_per_minute:>5.1f} {_f(s.lag):>5} {ratio:>6.2f}"
            )
        print(f"{length:>8g}  " + "  ".join(cells))


def print_summary(results: Sequence[Result], servers: Sequence[str]) -> None:
    print()
    header = f"{'':<38}" + "".join(f"{s + ' ' + v:>16}" for s in servers for v in VARIANTS)
    print(header)
    rows: dict[str, list[str]] = {
        "jobs delivered / errors": [],
        "lag median s": [],
        "lag p95 s": [],
        "lag max s": [],
        "status reads total": [],
        "reads per job-minute (pooled)": [],
        "reads per job-minute (max)": [],
    }
    for server in servers:
        for variant in VARIANTS:
            jobs = [r for r in results if r.server == server and r.variant == variant]
            lags = [r.lag for r in jobs if r.lag is not None]
            minutes = sum(r.length for r in jobs) / 60
            reads = sum(r.reads for r in jobs)
            rows["jobs delivered / errors"].append(
                f"{len(lags)} / {sum(r.error is not None for r in jobs)}"
            )
            rows["lag median s"].append(_f(quantile(lags, 0.5)))
            rows["lag p95 s"].append(_f(quantile(lags, 0.95)))
            rows["lag max s"].append(_f(max(lags, default=float("nan"))))
            rows["status reads total"].append(str(reads))
            rows["reads per job-minute (pooled)"].append(_f(reads / minutes if minutes else None))
            rows["reads per job-minute (max)"].append(
                _f(max((r.reads_per_minute for r in jobs), default=float("nan")))
            )
    for label, cells in rows.items():
        print(f"{label:<38}" + "".join(f"{c:>16}" for c in cells))


def print_goals(results: Sequence[Result], servers: Sequence[str]) -> bool:
    print("\ngoals:")
    all_met = True
    for server in servers:
        mine = [r for r in results if r.server == server and r.variant == "adaptive"]
        theirs = {r.length: r for r in results if r.server == server and r.variant == "sdk"}
        lags = [r.lag for r in mine if r.lag is not None]
        delivered = len(lags) == len(mine) and all(r.error is None for r in mine)
        worst = max(mine, key=lambda r: float("inf") if r.lag is None else r.lag)
        ratios = [
            (theirs[r.length].reads / r.reads if r.reads else float("nan"), r.length)
            for r in mine
            if r.length >= RATIO_FROM and r.length in theirs
        ]
        low_ratio, low_at = min(ratios, default=(float("nan"), float("nan")))
        median = quantile(lags, 0.5)
        checks = [
            ("every job delivered", delivered, f"{len(lags)} of {len(mine)}"),
            (
                f"lag median <= {LAG_MEDIAN_GOAL:g} s",
                delivered and median <= LAG_MEDIAN_GOAL,
                f"{median:.2f} s",
            ),
            (
                f"lag <= {LAG_MAX_GOAL:g} s at every length",
                delivered and max(lags) <= LAG_MAX_GOAL,
                f"max {_f(worst.lag)} s at {worst.length:g} s",
            ),
            (
                f"reads/job-min >= {RATIO_GOAL:g}x fewer than the sdk at every length >= "
                f"{RATIO_FROM:g} s",
                bool(ratios) and all(ratio >= RATIO_GOAL for ratio, _ in ratios),
                f"lowest {low_ratio:.2f}x at {low_at:g} s",
            ),
        ]
        for label, ok, detail in checks:
            all_met &= ok
            print(f"  [{server}] {label}: {'met' if ok else 'NOT met'} ({detail})")
    return all_met


def print_errors(results: Sequence[Result]) -> None:
    failed = [r for r in results if r.error is not None]
    if failed:
        print("\nerrors:")
        for r in failed[:20]:
            print(f"  [{r.server}] {r.variant} {r.length:g} s: {r.error}")


def print_machine(lengths: Sequence[float], jobs: int, args: argparse.Namespace) -> None:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"machine: {platform.machine()}, {cpus} logical CPUs ({usable} usable), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}" + (f", load average {load[0]:.2f}" if load else "")
    )
    print(
        f"sweep: {len(lengths)} lengths {min(lengths):g}-{max(lengths):g} s by {args.step:g} s; "
        f"{jobs} concurrent jobs (2 servers x adaptive/sdk); creates {args.stagger:g} s apart "
        f"(seed {args.seed}); hint server: openai-poll-after-ms {args.hint_ms}"
    )
    settings = ", ".join(f"{k}={v:g}" for k, v in POLL_SETTINGS.items())
    print(f"planner: PollPlanner({settings}), cold (no history)", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.polling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--min-length", type=float, default=10.0)
    parser.add_argument("--max-length", type=float, default=300.0)
    parser.add_argument("--step", type=float, default=2.5)
    parser.add_argument("--hint-ms", type=int, default=1000)
    parser.add_argument("--stagger", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 0 < args.min_length <= args.max_length or args.step <= 0 or args.stagger < 0:
        parser.error("need 0 < --min-length <= --max-length, --step > 0, --stagger >= 0")
    logging.disable(logging.WARNING)  # the tracker's warnings would interleave with the table
    lengths = sweep(args.min_length, args.max_length, args.step)
    print_machine(lengths, 4 * len(lengths), args)
    results, loop_lags, offsets, seconds = asyncio.run(bench(args))
    servers = ["plain", "hint"]
    print(
        f"ran {seconds:.0f} s; fake clock offsets {offsets} -> "
        + ("lags are on time.monotonic()" if all(o == 0 for o in offsets) else "NOT comparable")
    )
    print(
        f"event loop lateness (10 ms ticks): p50 {quantile(loop_lags, 0.5) * 1000:.1f} ms, "
        f"p99 {quantile(loop_lags, 0.99) * 1000:.1f} ms, max {max(loop_lags) * 1000:.1f} ms"
    )
    print()
    print_table(results, servers)
    print_summary(results, servers)
    met = print_goals(results, servers)
    print_errors(results)
    print(f"\nall goals met: {'yes' if met else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
