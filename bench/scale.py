"""Scaling out: `run` + `worker` processes on PostgreSQL, one worker SIGKILLed half-way.

    python -m bench.scale [--jobs 1000] [--workers 2] [--lease-seconds 5] [--scenario both]

Scenarios (--scenario):

  scaled  PostgreSQL (a throw-away server from tests/postgres_server.py, fsync off); one
          `video-bot run` with VIDEO_BOT_RUN_JOBS=false (it answers Discord and admits jobs,
          runs none) and --workers `video-bot worker` processes (REST only) that run every job.
          Once half the jobs are `delivered` in the database (and worker-1 holds unfinished
          jobs, so that there is something to take over), worker-1 is SIGKILLed; its
          unfinished jobs must be taken over once their leases (--lease-seconds) run out.
  single  The same load on one `video-bot run` doing everything: on SQLite (the default store)
          and, unless --single-db says otherwise, on PostgreSQL too. No kill.

Every worker is started the way tests/scale/conftest.py starts them (python -m
tests.scale.process: the real `bot.terminal.cli.main` with discord.py's REST base and gateway URL
pointed at the fake Discord); `run` the same way through python -m bench.bot_process (the
same start, plus its loop-lag monitor:
BENCH_LOOP_LAG_FILE=<scenario directory>/<name>-loop-lag.json, written when `run` shuts down
after SIGTERM). Each has a temporary working directory (no .env is
read) and its log in a file. The fake Videos API (bot/fake_api) runs in its own process, started
the way bench.concurrency's separate shape starts it (its FakeApiProcess: `python -m bot
fake-api` on a free 127.0.0.1 port, its access log in a file, no poll-after hint; PATCH
/_fake/settings sets the default duration to 2): every job `[duration=2]` fake seconds, the fake
clock never advanced, so 2 s of real time. The fake Discord (tests/fakes/discord) runs in this
process: it scripts the interactions and times the acks, so this process's loop does little else
(the jobs table is read every 0.5 s for progress; every 0.1 s only around the kill: from half
the jobs delivered until the SIGKILL (whether worker-1 holds work), then until the takeover is
complete). --jobs `/video` interactions, each with its own prompt ("scale job N"), come from
--members members in turn, --rate a second (0: all at once). Settings: the defaults, with
VIDEO_BOT_MAX_CONCURRENT_JOBS=--max-concurrent (200), the per-member limits (MAX_JOBS_PER_USER,
MAX_QUEUED_PER_USER) lifted to --jobs (capped at their bounds) and
VIDEO_BOT_LEASE_SECONDS=--lease-seconds.

Figures:

delivered     Per job, the successful (200) Discord requests on its interaction token that
              carry an .mp4 file (the upload of the video). Exactly once: every job 1. Jobs
              delivered 0 times and more than once are listed. Also: .mp4 uploads on no known
              token.
states        The jobs table at the end (read once every job is final, or at --timeout).
creates       POST /v1/videos requests the fake Videos API saw, jobs it holds, and distinct
              prompts among them (read from its process over HTTP: GET /_fake/stats and
              GET /_fake/jobs, once every job is final). Double creates = creates - distinct
              prompts created (and any prompt made twice is listed).
admissions    The interaction's creation at the fake Discord -> the accepted callback
              (FakeInteraction.acked_at; a callback after 3 s is refused with 10062), p50 /
              p95 / max; and admissions a second: jobs / (the first send -> the moment the
              jobs table first holds a row for every job, i.e. every admission committed; the
              table is counted every 50 ms).
takeover      (scaled) At the SIGKILL, the jobs in the database that are unfinished and leased
              to the killed worker; the database is read every 0.1 s (those still leased to it)
              until every one of them has another lease owner. Takeover time = SIGKILL -> the
              last of them re-owned (first and median shown too). Goal: <= lease seconds + 5 s
              (the claim poll is min(5, lease/3) s; the lease may have been renewed just before
              the kill).
wall          The first interaction sent -> every job final in the database.
CPU           user + system seconds of each process over the run (the bot processes, the fake
              Videos API's process, this process (the fake Discord); PostgreSQL: the
              postmaster, its live backends and its reaped children); with several processes
              on few cores, one's load shows up in the others' figures.
machine       The whole machine's busy CPU share over the run (/proc/stat; includes other
              programs), and this process's loop lag (10 ms sleeps: p50 / p99 / max). The fake
              Discord runs in that loop: a late ack can be the fake Discord's stall, not the bot's.
run's loop    The `run` process's loop lag (bench/bot_process.py: 10 ms sleeps; p50 / p99 / max)
              over the same window (the first send -> the end of the load; monotonic clocks
              agree across processes on Linux), and its full (generation 2) GCs in that window:
              how many, how many paused > 100 ms, the longest. Read after `run` is stopped
              with SIGTERM and has exited; a late ack with a lagging `run` loop is the bot's.
logs          WARNING / ERROR lines and Tracebacks in each bot process's log and the fake Videos
              API's (it logs a reset of a killed worker's download as a server error).
              --keep-logs copies the logs and run's loop-lag file.

Priorities: the fakes stand in for Discord's and the provider's servers, which do not share
the bot's CPUs; on a 2-core machine they do, and a starved fake Discord records late
acknowledgements of its own making. This process (the fake Discord) and the fake Videos API
therefore run at nice --fakes-nice (-10, where allowed), the bot processes and PostgreSQL at 0;
`--fakes-nice 0` measures everything at one priority. The line "priorities:" says which held.

Goals (each scenario): delivered exactly once = every job; double creates = 0; no job lost
(every interaction has a job row, every row `delivered`); every interaction acknowledged < 3 s
(bench.concurrency's goal for acknowledgements). Scaled also: takeover <= lease + 5 s. The exit
status is 1 when a goal is not met. Ctrl-C (or SIGTERM) stops every process started here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.concurrency import FakeApiProcess, LoopFigures
from bot.domain import UNFINISHED_STATES
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.discord.records import FakeChannel, FakeGuild, FakeMember
from tests.postgres_server import PostgresServer, started

REPO = Path(__file__).resolve().parents[1]
ACK_GOAL = 3.0
TAKEOVER_SLACK = 5.0
UNFINISHED = {s.value for s in UNFINISHED_STATES}
PROMPT_INDEX = re.compile(r"scale job (\d+) ")
OWNER_LINE = re.compile(r"worker (\S+) is taking jobs")
CLK_TCK = os.sysconf("SC_CLK_TCK")
DURATION = 2.0  # seconds of every job at the fake Videos API
PROGRESS_EVERY = 0.5  # seconds between reads of the jobs table
TAKEOVER_EVERY = 0.1  # the same from the SIGKILL until every held job is re-owned
LONG_GC = 0.100  # a full GC pause counted as long (seconds)


def prompt(i: int) -> str:
    return f"scale job {i:05d} [duration={DURATION:g}]"


# -- processes ---------------------------------------------------------------------------------


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (reaped children)
    return ticks / CLK_TCK


# The fakes stand in for Discord's and the provider's own servers, which never share the bot's
# CPUs. On a small machine everything does: with several bot processes and PostgreSQL busy,
# the fake Discord (in this process) can stall for seconds, and a late acknowledgement it then
# records would be its own. So this process and the fake Videos API (started from it) run at
# a higher priority (nice FAKES_NICE, where allowed), the bot processes and PostgreSQL at 0.
FAKES_NICE = -10


def raise_fakes_priority(nice: int) -> str:
    """Give the fakes priority; returns what was done, for the report."""
    if nice == 0:
        return "the fakes, the bot and PostgreSQL all at nice 0 (--fakes-nice 0)"
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as exc:
        return f"the fakes at nice 0 like the bot: raising their priority failed ({exc})"
    return f"the fakes at nice {nice}, the bot processes and PostgreSQL at nice 0"


def normal_priority() -> None:
    """In a bot process before it starts: back to the ordinary priority."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 0)


def postgres_normal_priority(server: PostgresServer) -> None:
    """PostgreSQL is part of the deployment, not a fake: its postmaster (whose backends are
    forked later and inherit it) and the processes it started so far at nice 0."""
    try:
        master = int((server.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError):
        return
    pids = [master]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master:
            pids.append(int(entry.name))
    for pid in pids:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, 0)


def postgres_cpu(server: PostgresServer | None) -> float:
    """The postmaster (with its reaped children) and its live children."""
    if server is None:
        return 0.0
    try:
        master = int((server.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError):
        return 0.0
    total = cpu_seconds(master, children=True)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master:
            total += cpu_seconds(int(entry.name))
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


class LoopLag:
    """How late this process's loop (the fake Discord's) wakes from 10 ms sleeps."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            self.lags.append(max(0.0, time.monotonic() - before - 0.01))

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class Processes:
    """The bot processes of one scenario (as tests/scale/conftest.py's Cluster starts them)."""

    discord: FakeDiscord
    videos_base: str  # the fake Videos API's base URL (.../v1)
    directory: Path
    env: dict[str, str]
    processes: dict[str, asyncio.subprocess.Process] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    lag_files: dict[str, Path] = field(default_factory=dict)  # run processes' loop-lag files
    sessions: int = 0

    def log_path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def lag_path(self, name: str) -> Path:
        return self.directory / f"{name}-loop-lag.json"

    def environment(self, extra: dict[str, str]) -> dict[str, str]:
        environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("VIDEO_BOT_") and k not in {"DATABASE_URL", "DISCORD_TOKEN"}
        }
        environment.update(
            {
                "DISCORD_TOKEN": "fake-token",
                "OPENAI_BASE_URL": self.videos_base,
                "OPENAI_API_KEY": "",
                "VIDEO_BOT_DATA_DIR": str(self.directory / "data"),
                "VIDEO_BOT_LOG_LEVEL": "INFO",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
                ),
                **self.env,
                **extra,
            }
        )
        return environment

    async def start(self, name: str, command: str, **env: str) -> None:
        log_path = self.log_path(name)
        if command == "run":
            # bench.bot_process runs `video-bot run` with its loop-lag monitor
            module, arguments = "bench.bot_process", []
            self.lag_files[name] = self.lag_path(name)
            self.lag_files[name].unlink(missing_ok=True)
            env = {**env, "BENCH_LOOP_LAG_FILE": str(self.lag_files[name])}
        else:
            module, arguments = "tests.scale.process", [command]
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                module,
                self.discord.rest_base,
                self.discord.gateway_url,
                *arguments,
                cwd=self.directory,  # no .env here
                env=self.environment(env),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=normal_priority,
            )
        self.processes[name] = process
        async with asyncio.timeout(60):
            if command == "run":
                self.sessions += 1
                ready = asyncio.create_task(
                    self.discord.wait_ready(timeout=60, sessions=self.sessions)
                )
                while not ready.done():
                    if process.returncode is not None:
                        ready.cancel()
                        raise RuntimeError(f"{name} exited:\n{self.tail(name)}")
                    await asyncio.sleep(0.05)
                ready.result()
                return
            while True:
                found = OWNER_LINE.search(log_path.read_text(errors="replace"))
                if found:
                    self.owners[name] = found.group(1)
                    return
                if process.returncode is not None:
                    raise RuntimeError(f"{name} exited:\n{self.tail(name)}")
                await asyncio.sleep(0.05)

    def tail(self, name: str, chars: int = 3000) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)

    async def stop_all(self, grace: float = 30.0) -> dict[str, int | None]:
        """SIGTERM (graceful shutdown) to every live process, SIGKILL after `grace`."""
        codes: dict[str, int | None] = {}
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                codes[name] = await asyncio.wait_for(asyncio.shield(process.wait()), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                codes[name] = await process.wait()
        return codes

    def kill_all(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()

    def log_counts(self, name: str) -> str:
        return log_counts(self.log_path(name))

    def loop_figures(self, name: str, start: float, end: float) -> LoopFigures | None:
        """`name`'s loop-lag samples (bench/bot_process.py) within [start, end] (monotonic);
        None without the file (read it only after the process has exited)."""
        path = self.lag_files[name]
        if not path.exists():
            return None
        raw = json.loads(path.read_text(encoding="utf-8"))
        return LoopFigures.window(
            f"{name}'s loop",
            times=raw["times"],
            lags=raw["lags"],
            full_gc=raw["full_gc"],
            start=start,
            end=end,
        )


def loop_line(loop: LoopFigures | None) -> str:
    if loop is None:
        return "no figures (the loop-lag file was not written: no clean exit after SIGTERM?)"
    gcs = loop.full_gc_pauses
    return (
        f"{1000 * quantile(loop.lags, 0.5):.0f} / {1000 * quantile(loop.lags, 0.99):.0f} / "
        f"{1000 * max(loop.lags, default=0):.0f} ms ({len(loop.lags)} samples); full GCs "
        f"> {1000 * LONG_GC:.0f} ms: {sum(1 for p in gcs if p > LONG_GC)} "
        f"(of {len(gcs)}, longest {1000 * max(gcs, default=0):.0f} ms)"
    )


def log_counts(path: Path) -> str:
    body = path.read_text(errors="replace") if path.exists() else ""
    return (
        f"{body.count(' WARNING ')} warnings, {body.count(' ERROR ')} errors, "
        f"{body.count('Traceback')} tracebacks"
    )


async def start_fake_api(videos: FakeApiProcess) -> None:
    """bench.concurrency's fake Videos API process, no poll-after hint, jobs 2 s by default."""
    await videos.start(None)
    async with (
        aiohttp.ClientSession() as http,
        http.patch(f"{videos.root}/_fake/settings", json={"default_duration": DURATION}) as resp,
    ):
        resp.raise_for_status()


async def fake_api_figures(videos: FakeApiProcess) -> tuple[int, list[str]]:
    """POST /v1/videos requests the fake saw, and the prompt of every job it holds."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{videos.root}/_fake/stats") as resp:
            resp.raise_for_status()
            stats = await resp.json()
        async with http.get(f"{videos.root}/_fake/jobs") as resp:
            resp.raise_for_status()
            jobs = await resp.json()
    return int(stats["counts"].get("POST /v1/videos", 0)), [str(j["prompt"]) for j in jobs]


# -- one scenario ------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    jobs: int
    figures: dict[str, str] = field(default_factory=dict)
    window: tuple[float, float] | None = None  # the load, monotonic: first send -> its end
    goals: list[tuple[str, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def rows_stored(engine: AsyncEngine, jobs: int, limit: float) -> float | None:
    """When (monotonic) the jobs table first holds `jobs` rows; None if not within `limit`."""
    ends = time.monotonic() + limit
    while time.monotonic() < ends:
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM jobs"))).scalar_one()
        if int(count) >= jobs:
            return time.monotonic()
        await asyncio.sleep(0.05)
    return None


async def state_counts(engine: AsyncEngine) -> Counter[str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT state, count(*) FROM jobs GROUP BY state"))).all()
    return Counter({str(state): int(count) for state, count in rows})


async def leased_to(engine: AsyncEngine, owner: str) -> dict[str, int]:
    """Unfinished jobs leased to `owner`: id -> lease generation."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT id, state, lease_generation FROM jobs WHERE lease_owner = :o"),
                {"o": owner},
            )
        ).all()
    return {str(i): int(g) for i, s, g in rows if str(s) in UNFINISHED}


async def still_leased(engine: AsyncEngine, owner: str) -> set[str]:
    """Ids of the jobs (any state) still leased to `owner` (the takeover poll: one small read)."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT id FROM jobs WHERE lease_owner = :o"), {"o": owner})
        ).all()
    return {str(i) for (i,) in rows}


async def owners_of(engine: AsyncEngine, ids: Sequence[str]) -> dict[str, tuple[str, int, str]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT id, lease_owner, lease_generation, state FROM jobs"))
        ).all()
    wanted = set(ids)
    return {str(i): (str(o), int(g), str(s)) for i, o, g, s in rows if str(i) in wanted}


async def all_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT id, state, prompt, lease_owner, lease_generation, attempts, last_error, "
                "created_at, finished_at FROM jobs ORDER BY created_at, id"
            )
        )
        return [dict(r._mapping) for r in result]


def quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def send_all(
    fake: FakeDiscord,
    *,
    guild: FakeGuild,
    channel: FakeChannel,
    members: Sequence[FakeMember],
    jobs: int,
    rate: float,
) -> list[FakeInteraction]:
    begin = time.monotonic()

    async def one(i: int) -> FakeInteraction:
        if rate > 0:
            await asyncio.sleep(max(0.0, begin + i / rate - time.monotonic()))
        options = [{"name": "prompt", "type": 3, "value": prompt(i)}]
        return await fake.send_interaction(
            "video", options, guild=guild, channel=channel, member=members[i % len(members)]
        )

    return list(await asyncio.gather(*(one(i) for i in range(jobs))))


async def run_scenario(
    name: str,
    args: argparse.Namespace,
    *,
    postgres: PostgresServer | None,
    workers: int,
    kill: bool,
) -> Result:
    result = Result(name, args.jobs)
    jobs = args.jobs
    per_user = min(jobs, 1000)
    env = {
        "VIDEO_BOT_MAX_CONCURRENT_JOBS": str(args.max_concurrent),
        "VIDEO_BOT_MAX_JOBS_PER_USER": str(per_user),
        "VIDEO_BOT_MAX_QUEUED_PER_USER": str(max(jobs, 5)),
        "VIDEO_BOT_MAX_QUEUED": str(max(jobs, 10_000)),
        "VIDEO_BOT_LEASE_SECONDS": f"{args.lease_seconds:g}",
    }
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        directory = Path(tmp)
        (directory / "data").mkdir()
        if postgres is not None:
            url = await postgres.new_database()
            env["DATABASE_URL"] = url
        else:
            url = f"sqlite+aiosqlite:///{directory / 'data' / 'video-bot.sqlite3'}"
        videos = FakeApiProcess(directory / "fake-api.log")
        try:
            await start_fake_api(videos)
            async with FakeDiscord() as fake:
                guild = fake.add_guild(name="Scale")
                channel = fake.add_channel(guild, name="renders")
                members = [fake.add_member(guild, name=f"m{n:03d}") for n in range(args.members)]
                procs = Processes(fake, f"{videos.root}/v1", directory, env)
                engine = create_async_engine(url)
                try:
                    await execute(
                        result,
                        args,
                        procs=procs,
                        videos=videos,
                        engine=engine,
                        postgres=postgres,
                        world=(guild, channel, members),
                        workers=workers,
                        kill=kill,
                    )
                except BaseException:
                    procs.kill_all()  # interrupted or failed: no graceful shutdown
                    raise
                finally:
                    codes = await procs.stop_all()  # SIGTERM, waited for: lag files written
                    await engine.dispose()
        finally:
            await videos.stop()  # after the bot processes: they may still talk to it
        assert videos.process is not None
        if videos.process.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL):
            codes["fake Videos API"] = videos.process.returncode  # it dies of SIGTERM
        odd = {n: c for n, c in codes.items() if c not in (0, -signal.SIGKILL)}
        if odd:
            result.notes.append(f"exit codes after SIGTERM: {odd}")
        if result.window is not None:
            for proc in procs.lag_files:
                # its slot was reserved next to the fake Discord's loop lag
                result.figures[f"{proc}'s loop lag p50 / p99 / max"] = loop_line(
                    procs.loop_figures(proc, *result.window)
                )
        for proc in procs.processes:
            result.figures[f"log {proc}"] = procs.log_counts(proc)
        result.figures["log fake Videos API"] = log_counts(videos.log)
        if args.keep_logs:
            keep = Path(args.keep_logs) / name.replace(" ", "-").replace(",", "")
            keep.mkdir(parents=True, exist_ok=True)
            for proc in procs.processes:
                (keep / f"{proc}.log").write_bytes(procs.log_path(proc).read_bytes())
            (keep / "fake-api.log").write_bytes(videos.log.read_bytes())
            for path in procs.lag_files.values():
                if path.exists():
                    (keep / path.name).write_bytes(path.read_bytes())
            result.notes.append(f"logs kept in {keep}")
    return result


async def execute(
    result: Result,
    args: argparse.Namespace,
    *,
    procs: Processes,
    videos: FakeApiProcess,
    engine: AsyncEngine,
    postgres: PostgresServer | None,
    world: tuple[FakeGuild, FakeChannel, Sequence[FakeMember]],
    workers: int,
    kill: bool,
) -> None:
    jobs = args.jobs
    fake = procs.discord
    guild, channel, members = world
    await procs.start("run", "run", VIDEO_BOT_RUN_JOBS="false" if workers else "true")
    for n in range(1, workers + 1):
        await procs.start(f"worker-{n}", "worker")
    pids = {n: p.pid for n, p in procs.processes.items()}
    assert videos.process is not None
    pids["fake Videos API"] = videos.process.pid
    cpu_before = {n: cpu_seconds(p) for n, p in pids.items()}
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    pg_before = postgres_cpu(postgres)
    await state_counts(engine)  # connect (and set the dialect up) before the load, not in it

    busy_before = machine_busy()
    lag = LoopLag()
    lag.start()
    wall_start = time.time()
    start = time.monotonic()
    stored = asyncio.create_task(rows_stored(engine, jobs, args.timeout))
    sender = asyncio.create_task(
        send_all(fake, guild=guild, channel=channel, members=members, jobs=jobs, rate=args.rate)
    )
    sent_at: list[float] = []
    sender.add_done_callback(lambda _t: sent_at.append(time.monotonic() - start))
    killed_at: float | None = None
    victim_cpu = 0.0
    victim = "worker-1"
    held: dict[str, int] = {}
    reowned: dict[str, float] = {}
    counts: Counter[str] = Counter()
    deadline = start + args.timeout
    last_print = start
    last_counts = start  # the first read after PROGRESS_EVERY, not in the opening burst
    finished = False
    while time.monotonic() < deadline:
        if time.monotonic() - last_counts >= PROGRESS_EVERY - 0.01:
            last_counts = time.monotonic()
            counts = await state_counts(engine)
            total = sum(counts.values())
            finished = total >= jobs and not any(counts.get(s, 0) for s in UNFINISHED)
        if (
            kill
            and killed_at is None
            and counts.get("delivered", 0) >= jobs // 2
            # only when it holds work to take over (jobs finish in waves)
            and await leased_to(engine, procs.owners[victim])
        ):
            victim_cpu = cpu_seconds(pids[victim]) - cpu_before[victim]
            procs.kill(victim)
            killed_at = time.monotonic()
            await procs.processes[victim].wait()
            held = await leased_to(engine, procs.owners[victim])
            print(
                f"  SIGKILL {victim} at {killed_at - start:.1f} s "
                f"({counts.get('delivered', 0)} delivered): it held {len(held)} unfinished jobs",
                flush=True,
            )
        if held and len(reowned) < len(held):
            now = time.monotonic()
            leased = await still_leased(engine, procs.owners[victim])
            for job_id in held:
                if job_id not in reowned and job_id not in leased:
                    reowned[job_id] = now
        if time.monotonic() - last_print >= 10:
            last_print = time.monotonic()
            print(f"  {last_print - start:.0f} s: {dict(sorted(counts.items()))}", flush=True)
        if sender.done() and finished and len(reowned) >= len(held):
            break
        # 0.1 s only around the kill: from half delivered until every held job is re-owned
        waiting_kill = kill and killed_at is None and counts.get("delivered", 0) >= jobs // 2
        taking_over = bool(held) and len(reowned) < len(held)
        await asyncio.sleep(TAKEOVER_EVERY if waiting_kill or taking_over else PROGRESS_EVERY)
    wall = time.monotonic() - start
    interactions = await sender if sender.done() else []
    if not sender.done():
        sender.cancel()
        result.notes.append("the interactions were still being sent at the timeout")
    await lag.stop()
    result.window = (start, time.monotonic())
    busy_after = machine_busy()
    await asyncio.sleep(1.0)  # the last requests' answers are recorded
    cpu = {n: cpu_seconds(p) - cpu_before[n] for n, p in pids.items()}
    if killed_at is not None:
        cpu[victim] = victim_cpu  # up to the kill
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu["this process (fake Discord)"] = (own.ru_utime + own.ru_stime) - (
        own_before.ru_utime + own_before.ru_stime
    )
    if postgres is not None:
        cpu["postgresql"] = postgres_cpu(postgres) - pg_before
    rows = await all_rows(engine)

    # deliveries per job, by interaction token
    index_of_token = {it.token: i for i, it in enumerate(interactions)}
    uploads: Counter[int] = Counter()
    stray = 0
    for request in fake.requests:
        if request.status != 200 or not any(f.filename.endswith(".mp4") for f in request.files):
            continue
        parts = request.path.split("/")
        i = index_of_token.get(parts[3]) if len(parts) > 3 and parts[1] == "webhooks" else None
        if i is None:
            stray += 1
        else:
            uploads[i] += 1
    once = sum(1 for i in range(jobs) if uploads[i] == 1)
    never = [i for i in range(jobs) if uploads[i] == 0]
    twice = {i: c for i, c in uploads.items() if c > 1}

    # creates at the fake Videos API
    creates, prompts = await fake_api_figures(videos)
    made = Counter(prompts)
    double = creates - len(made)
    made_twice = {p: c for p, c in made.items() if c > 1}

    # rows
    row_index: dict[int, dict[str, Any]] = {}
    for row in rows:
        found = PROMPT_INDEX.search(str(row["prompt"]))
        if found:
            row_index[int(found.group(1))] = row
    states = Counter(str(r["state"]) for r in rows)
    without_row = [i for i in range(jobs) if i not in row_index]
    not_delivered = [r for r in rows if r["state"] != "delivered"]

    acks = [it.acked_at for it in interactions if it.acked_at is not None]
    late = [it for it in interactions if it.acked_at is None or it.acked_at >= ACK_GOAL]
    # Admitted = the job's row committed (checks passed, cost reserved): the time the jobs
    # table first held every job, read every 50 ms from the first send.
    stored_at = stored.result() if stored.done() else None
    if not stored.done():
        stored.cancel()
    admit_span = (stored_at - start) if stored_at is not None else float("nan")
    finished_at = [float(r["finished_at"]) for r in rows if r["finished_at"] is not None]

    f = result.figures
    f["processes"] = ", ".join(f"{n} (pid {p})" for n, p in pids.items())
    f["delivered exactly once"] = f"{once} of {jobs}"
    f["delivered 0 times / > 1 time"] = (
        f"{len(never)} / {len(twice)}"
        + (f" (0: jobs {never[:10]}{'...' if len(never) > 10 else ''})" if never else "")
        + (f" (>1: {dict(list(twice.items())[:10])})" if twice else "")
    )
    f[".mp4 uploads on no known token"] = str(stray)
    f["final states (database)"] = ", ".join(f"{s} {c}" for s, c in states.most_common())
    f["interactions without a job row"] = str(len(without_row))
    f["creates at the fake / jobs it holds / distinct prompts"] = (
        f"{creates} / {len(prompts)} / {len(made)}"
    )
    f["double creates"] = str(double) + (
        f" (prompts made twice: {made_twice})" if made_twice else ""
    )
    f["acks received / < 3 s"] = f"{len(acks)} / {len(interactions) - len(late)} of {jobs}"
    f["ack p50 / p95 / max"] = (
        f"{quantile(acks, 0.5):.2f} / {quantile(acks, 0.95):.2f} / {max(acks, default=0):.2f} s"
    )
    sending = "sent all at once" if args.rate <= 0 else f"sent {args.rate:g} a second"
    f["admissions"] = (
        f"{len(rows)} rows in {admit_span:.1f} s from the first send = "
        f"{len(rows) / admit_span:.1f} a second ({sending}, all sent in "
        f"{sent_at[0] if sent_at else float('nan'):.1f} s)"
    )
    if finished_at:
        f["deliveries a second (first send -> last finished_at)"] = (
            f"{len(finished_at) / (max(finished_at) - wall_start):.1f}"
        )
    f["wall: first send -> every job final"] = f"{wall:.1f} s"
    f["CPU seconds"] = ", ".join(f"{n} {c:.1f}" for n, c in cpu.items())
    busy = busy_after[0] - busy_before[0]
    f["machine CPU busy (every process, also others')"] = (
        f"{100 * busy / max(busy_after[1] - busy_before[1], 1e-9):.0f} % of "
        f"{os.cpu_count()} CPUs ({busy:.1f} s; the processes above: {sum(cpu.values()):.1f} s)"
    )
    f["fake Discord's loop lag p50 / p99 / max"] = (
        f"{1000 * quantile(lag.lags, 0.5):.0f} / {1000 * quantile(lag.lags, 0.99):.0f} / "
        f"{1000 * max(lag.lags, default=0):.0f} ms"
    )
    for proc in procs.lag_files:
        # filled in once the process has exited after SIGTERM (run_scenario)
        f[f"{proc}'s loop lag p50 / p99 / max"] = "not read (the scenario did not finish)"
    if kill:
        f["lease seconds"] = f"{args.lease_seconds:g}"
        if killed_at is None:
            f["takeover"] = "no kill happened (half the jobs never delivered?)"
            takeover_ok = False
        elif not held:
            f["takeover"] = f"{victim} held no unfinished job at the kill: nothing to take over"
            takeover_ok = False
            result.notes.append("the kill tested no takeover; try more jobs or a longer duration")
        else:
            times = sorted(reowned[i] - killed_at for i in reowned)
            missing = [i for i in held if i not in reowned]
            after = await owners_of(engine, list(held))
            new_owners = Counter(o for o, _g, _s in after.values())
            generation_up = sum(1 for i, (_o, g, _s) in after.items() if g > held[i])
            f["takeover"] = (
                f"{len(held)} jobs held by {victim} at the SIGKILL; re-owned {len(reowned)}: "
                f"first {times[0]:.2f} s, median {statistics.median(times):.2f} s, "
                f"last {times[-1]:.2f} s after the kill"
                if times
                else f"{len(held)} jobs held, none re-owned"
            )
            f["taken over by / lease generation raised"] = (
                f"{dict(new_owners)} / {generation_up} of {len(held)}"
            )
            f["their final states"] = str(dict(Counter(s for _o, _g, s in after.values())))
            takeover_ok = (
                not missing and bool(times) and times[-1] <= (args.lease_seconds + TAKEOVER_SLACK)
            )
            if missing:
                result.notes.append(f"never re-owned: {missing[:10]}")
        result.goals.append(
            (
                f"lease takeover <= lease + {TAKEOVER_SLACK:g} s "
                f"({args.lease_seconds + TAKEOVER_SLACK:g} s): {f['takeover']}",
                takeover_ok,
            )
        )
    result.goals[:0] = [
        (f"delivered exactly once: {once} of {jobs}", once == jobs),
        (f"double creates: {double}", double == 0 and not made_twice),
        (
            f"no job lost: {len(without_row)} interactions without a row, "
            f"{len(not_delivered)} rows not delivered",
            not without_row and not not_delivered and len(rows) == jobs,
        ),
        (
            f"acknowledged < {ACK_GOAL:g} s: {jobs - len(late)} of {jobs}",
            not late and len(interactions) == jobs,
        ),
    ]
    for row in not_delivered[:10]:
        result.notes.append(
            f"job {row['id']} ({row['prompt']}): {row['state']}, owner {row['lease_owner']}, "
            f"generation {row['lease_generation']}, attempts {row['attempts']}, "
            f"last error {row['last_error']!r}"
        )
    if fake.internal_errors:
        result.notes.append(f"the fake Discord failed internally {len(fake.internal_errors)} times")
    errors = Counter(
        (r.status, r.error_code) for r in fake.requests if r.status and r.status >= 400
    )
    if errors:
        result.notes.append(f"Discord error answers (status, code): {dict(errors)}")


# -- entry point -------------------------------------------------------------------------------


def print_result(result: Result) -> bool:
    print(f"\n== {result.name} ({result.jobs} jobs)")
    width = max(map(len, result.figures), default=0)
    for key, value in result.figures.items():
        print(f"  {key:<{width}}  {value}")
    for note in result.notes:
        print(f"  note: {note}")
    print("  goals:")
    for label, ok in result.goals:
        print(f"    {'met' if ok else 'NOT met'}: {label}")
    return all(ok for _, ok in result.goals)


async def bench(args: argparse.Namespace) -> list[Result]:
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    plan: list[tuple[str, bool, int, bool]] = []  # name, postgres, workers, kill
    if args.scenario in ("scaled", "both"):
        plan.append(
            (
                f"scaled: PostgreSQL, run (RUN_JOBS=false) + {args.workers} workers",
                True,
                args.workers,
                True,
            )
        )
    if args.scenario in ("single", "both"):
        for db in args.single_db.split(","):
            plan.append((f"single: one run process, {db}", db == "postgres", 0, False))
    server: PostgresServer | None = None
    results: list[Result] = []
    try:
        if any(pg for _, pg, _, _ in plan):
            server, seconds = await asyncio.to_thread(started)
            postgres_normal_priority(server)
            print(f"PostgreSQL {server.bin_dir} started in {seconds:.1f} s", flush=True)
        for name, pg, workers, kill in plan:
            print(f"running {name} ...", flush=True)
            began = time.monotonic()
            result = await run_scenario(
                name, args, postgres=server if pg else None, workers=workers, kill=kill
            )
            print(f"  done in {time.monotonic() - began:.0f} s", flush=True)
            results.append(result)
    finally:
        if server is not None:
            server.stop()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lease-seconds", type=float, default=5.0)
    parser.add_argument("--scenario", choices=["scaled", "single", "both"], default="both")
    parser.add_argument(
        "--single-db", default="sqlite,postgres", help="stores for the single scenario"
    )
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0, help="interactions a second; 0: all")
    parser.add_argument("--max-concurrent", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per scenario")
    parser.add_argument("--keep-logs", default=None, help="copy the processes' logs here")
    parser.add_argument(
        "--fakes-nice",
        type=int,
        default=FAKES_NICE,
        help="the fakes' priority against the bot's (nice; 0: the same)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 2 or args.workers < 1 or args.members < 1 or args.lease_seconds < 1:
        parser.error("need --jobs >= 2, --workers >= 1, --members >= 1, --lease-seconds >= 1")
    if not set(args.single_db.split(",")) <= {"sqlite", "postgres"}:
        parser.error("--single-db: sqlite, postgres or both separated by a comma")
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    print(
        f"machine: {platform.machine()}, {cpus} logical CPUs ({usable} usable), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print("options: " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()))
    print(f"priorities: {raise_fakes_priority(args.fakes_nice)}")
    # The fake Discord may log a reset of a killed worker's request as a server error.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    try:
        results = asyncio.run(bench(args))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("interrupted: every process started here was stopped")
        return 130
    met = [print_result(r) for r in results]
    print(f"\nall goals met: {'yes' if all(met) else 'no'}")
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
