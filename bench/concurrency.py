"""Benchmark: many concurrent `/video` jobs through the real bot, in one process or in three.

Run it from the repository root with `python -m bench.concurrency` (options below). It is not a
test: it prints figures and whether each goal is met. With the defaults (200 jobs sent at once,
20-90 s long, in one process, adaptive then fixed 1 s polling) it takes about four minutes.
The 1,000-job load of the issue, in each shape (each run takes about three minutes):

  python -m bench.concurrency --shape in-process --jobs 1000 --rate 40 \
      --min-duration 60 --max-duration 120 --only adaptive
  python -m bench.concurrency --shape separate --jobs 1000 --rate 40 \
      --min-duration 60 --max-duration 120

Shapes (--shape):

  in-process  The unmodified `VideoBot` runs between the strict fake Discord (tests/fakes/discord)
              and the fake Videos API (bot/fake_api), exactly as tests/discord_adapter/harness.py
              starts it; all three share this one process and event loop (the loop under the
              most pressure). Runs: `adaptive` and `fixed 1s` (below), or the one --only names.
              The fake sends no poll-after hint unless --poll-after-ms says so.
  separate    The way users run it: the fake Videos API in its own process
              (`python -m bot fake-api`, told `poll_after_ms` through PATCH /_fake/settings, so
              every status answer carries `openai-poll-after-ms: 1000` unless --poll-after-ms
              says otherwise), the bot in its own process (`python -m bench.bot_process`: the
              real `video-bot run` entry point with the fake Discord's REST and gateway URLs, as
              tests/recovery/bot_process.py starts it, settings from VIDEO_BOT_* variables, its
              working directory a temporary one so no .env is read), and the fake Discord here
              (it scripts the members' interactions). Run: `adaptive` (or --only).

Every run sends --jobs `/video` interactions, each from its own member of one guild, --rate a
second (0: all at once), with the same job mix: every prompt carries `[duration=N]` (a linear
spread over --min-duration..--max-duration seconds of real time, shuffled with --seed). Bot
settings: the defaults (edit_interval 3 s, max_retries 4, default timeouts) with the limits
lifted so every job runs at once: max_concurrent_jobs = max(250, jobs), max_jobs_per_user =
min(that, 1000), max_queued = max_queued_per_user = 100000. The runs differ only in polling:

  adaptive  poll_min_interval 0.5, poll_max_interval 30, poll_fixed_interval 5 (the defaults)
  fixed 1s  poll_min_interval = poll_max_interval = poll_fixed_interval = 1.0, so the planner
            can only ever answer 1 s

The run waits until every reply shows a final state, checking every 0.25 s, and gives up after
--timeout seconds from the first interaction (default: the sending time + the longest job +
180 s); what is not done then is reported as unfinished.

Figures, per run (all times are time.monotonic(), one clock for every process on Linux):

ack           `FakeInteraction.acked_at`: fake-Discord seconds from the interaction's creation
              (before the gateway dispatch) to the accepted callback. A callback later than 3 s
              is refused by the fake (10062) and counts as not acknowledged. Goal: every one < 3 s.
delivered     The reply got its MP4 (an edit carrying a file); and the job's row in the bot's
              SQLite store, read once the bot has written a final state for every job (at most
              30 s after the last reply), is `delivered`. Goals: every one of both.
store errors  Log records mentioning "database is locked", "QueuePool limit" or
              "OperationalError" (message and traceback). in-process: records of WARNING and
              above (logging is silenced to that level); separate: every record the bot process
              wrote (it logs at INFO). Goal: 0.
completion    The instant the fake Videos API starts reporting `completed`: the job's `started +
              duration`. in-process: read from the fake's state. separate: the fake's process
              logs each answered request (aiohttp's access log, millisecond time stamps): a
              create's line is written in the same event-loop step as the job is registered, so
              the k-th successful create line is the k-th job (GET /v1/videos, oldest first,
              gives each job's id and prompt), and its time is `started`. Checked: each such
              time falls in the second the fake put in the job's `created_at`.
status reads  GET /v1/videos/{id} requests of a job (separate: access-log lines), and their
              times; divided by the job's duration in minutes: per job (mean, max) and pooled
              (all reads over all job-minutes). Split by what the fake reported: queued (its
              first 10 %), the middle, and the last 10 % (with the read that saw `completed`).
download lag  Completion -> the content request (GET .../content). in-process: its arrival;
              separate: the end of its answer (the access log is written then; the video is
              17 KB, so that is within milliseconds). Goals (separate): median <= 1 s, max <= 3 s.
upload lag    Completion -> the fake Discord recording the edit carrying the MP4 (taken once
              the multipart body has been received), broken down into poll (-> the last status
              read, which is the one that saw `completed`), download (-> the content request)
              and upload (-> the recorded edit). Goal (in-process): median <= 1 s.
edits/job-min The reply's edits divided by the minutes from the ack to the last edit.
              Goal (in-process): <= 20 (mean and every job).
loop lag      A task asks to wake every 10 ms; how late it wakes, from the first interaction
              to the last job's last edit. in-process: the shared loop (the two fakes' work is
              included: an upper bound for the bot alone). separate: the bot process's own loop
              (bench/bot_process.py, enabled by BENCH_LOOP_LAG_FILE, writes its samples when
              the bot exits); the fake Discord's loop here is shown too, since it times the
              acks. Goal: p99 < 50 ms. Also shown: the worst wake-up and when it happened, the
              p99 from 5 s after the last interaction was sent, and full GC pauses.
RSS           separate: the bot process's VmRSS from /proc/<pid>/status every 0.1 s, and its
              VmHWM (the kernel's high-water mark) before it is stopped; the peak is the larger.
              Goal: < 250 MB (250,000,000 bytes). in-process: this process's, for information.
CPU           user + system seconds of each process from the first interaction to the end.

Goals judged in both shapes: ack, delivered (replies and store), store errors. in-process only:
upload lag, edits/job-min, loop lag (shared loop), and fixed/adaptive status reads >= 5x at
equal or lower median lag when both runs ran. separate only: download lag, status reads <= 12
per job-minute (mean and every job), the bot's peak RSS, the bot's loop lag.

Logging is silenced here; warnings and errors are counted and summarized at the end (for the
separate shape: from the bot's and the fake Videos API's log files). Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import platform
import random
import re
import resource
import signal
import socket
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import discord

from bot.domain import FINAL_STATES
from bot.fake_api import FakeSettings
from bot.fake_api.state import QUEUED_SHARE, RecordedRequest
from tests.discord_adapter.harness import Harness, running_harness
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.discord.records import FakeChannel, FakeGuild, FakeMember

REPO = Path(__file__).resolve().parents[1]
ACK_GOAL = 3.0
LAG_GOAL = 1.0
POLL_RATIO_GOAL = 5.0
EDITS_GOAL = 20.0
LOOP_GOAL = 0.050
DOWNLOAD_MEDIAN_GOAL = 1.0
DOWNLOAD_MAX_GOAL = 3.0
READS_GOAL = 12.0
RSS_GOAL = 250_000_000  # bytes
LOOP_TICK = 0.010
BURST = 5.0  # seconds after the last interaction was sent: the p99 "after sending" starts then
CHECK_EVERY = 0.25
STORE_SETTLE = 30.0
SEPARATE_HINT_MS = 1000
PROGRESS_TITLE = "Making your video"
RETRIEVE_ROUTE = "GET /v1/videos/{video_id}"
CONTENT_ROUTE = "GET /v1/videos/{video_id}/content"
STORE_ERROR_PATTERNS = ("database is locked", "QueuePool limit", "OperationalError")
PROMPT_INDEX = re.compile(r"benchmark job (\d+):")
FINAL_STATE_NAMES = frozenset(str(s) for s in FINAL_STATES)
STRING = 3

RUNS: dict[str, dict[str, Any]] = {
    "adaptive": {"poll_min_interval": 0.5, "poll_max_interval": 30.0, "poll_fixed_interval": 5.0},
    "fixed 1s": {"poll_min_interval": 1.0, "poll_max_interval": 1.0, "poll_fixed_interval": 1.0},
}


def common_settings(jobs: int) -> dict[str, Any]:
    """The bot's settings in every run: defaults, with the limits lifted so all jobs run."""
    room = max(250, jobs)
    return {
        "edit_interval": 3.0,
        "max_concurrent_jobs": room,
        # Per-member limits are guardrails, not measured here.
        "max_jobs_per_user": min(room, 1000),
        "max_queued_per_user": 100_000,
        "max_queued": 100_000,
        "max_retries": 4,
        "connect_timeout": 10.0,
        "request_timeout": 60.0,
    }


# -- measuring ---------------------------------------------------------------------------------


class LoopMonitor:
    """Wakes every 10 ms and records how late each wake-up was (this process's loop)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.times: list[float] = []  # time.monotonic() of each wake-up
        self._task: asyncio.Task[None] | None = None
        # The interpreter's full (generation 2) collections stop the loop too; timed here.
        self.full_gc: list[tuple[float, float]] = []
        self._gc_started = 0.0

    async def _watch(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(LOOP_TICK)
            after = time.monotonic()
            self.lags.append(max(0.0, after - before - LOOP_TICK))
            self.times.append(after)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        elif info.get("generation") == 2:
            now = time.monotonic()
            self.full_gc.append((now, now - self._gc_started))

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


@dataclass
class LoopFigures:
    """Loop-lag samples of one process within a run's window, times relative to its start."""

    source: str
    lags: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    full_gc_pauses: list[float] = field(default_factory=list)

    @classmethod
    def window(
        cls,
        source: str,
        *,
        times: Sequence[float],
        lags: Sequence[float],
        full_gc: Sequence[Sequence[float]],
        start: float,
        end: float,
    ) -> LoopFigures:
        kept = [(t - start, lag) for t, lag in zip(times, lags, strict=True) if start <= t <= end]
        return cls(
            source=source,
            lags=[lag for _, lag in kept],
            times=[t for t, _ in kept],
            full_gc_pauses=[pause for t, pause in full_gc if start <= t <= end],
        )


@dataclass
class LogSummary:
    """Warnings and errors per (level, logger) with a sample each; store errors counted."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    samples: dict[tuple[str, str], str] = field(default_factory=dict)
    store_errors: int = 0
    store_samples: list[str] = field(default_factory=list)
    records: int = 0  # every record looked at

    def add(self, level: str, name: str, message: str, full_text: str) -> None:
        self.records += 1
        if any(p in full_text for p in STORE_ERROR_PATTERNS):
            self.store_errors += 1
            if len(self.store_samples) < 5:
                self.store_samples.append(f"{level} {name}: {message[:200]}")
        if level in {"DEBUG", "INFO"}:
            return
        key = (level, name)
        self.counts[key] += 1
        self.samples.setdefault(key, message[:160])


class LogCounter(logging.Handler):
    """Swallows log records into a LogSummary (warnings, errors, store errors)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.summary = LogSummary()
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            message = record.getMessage()
            text = message
            if record.exc_info:
                text += "\n" + self._formatter.formatException(record.exc_info)
            self.summary.add(record.levelname, record.name, message, text)

    def take(self) -> LogSummary:
        summary, self.summary = self.summary, LogSummary()
        return summary


def silence_logging() -> LogCounter:
    """No log output at all; warnings and errors are counted by the returned handler."""
    counter = LogCounter()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(counter)
    root.setLevel(logging.WARNING)
    for name in ("discord", "bot", "cogs", "aiohttp", "sqlalchemy", "tests"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return counter


_LOG_RECORD = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+?): ?(.*)$"
)


def summarize_log_file(path: Path) -> LogSummary:
    """A process's log (logging.basicConfig's format): records with their continuation lines."""
    summary = LogSummary()
    if not path.exists():
        return summary
    current: list[str] | None = None  # level, name, message, then continuation lines

    def flush() -> None:
        if current is not None:
            level, name, message, *rest = current
            summary.add(level, name, message, "\n".join([message, *rest]))

    with path.open(encoding="utf-8", errors="replace") as fh:
        for raw in fh:
            line = raw.rstrip("\n")
            match = _LOG_RECORD.match(line)
            if match is not None:
                flush()
                current = [match.group(3), match.group(4), match.group(5)]
            elif current is not None:
                current.append(line)
            elif line.strip():
                current = ["ERROR", "(stderr)", line]
    flush()
    return summary


def _status_fields(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM of a process in bytes ({} once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return {}
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            values[key] = int(rest.split()[0]) * 1024
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (nan once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return math.nan
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler(threading.Thread):
    """A process's VmRSS every 0.1 s, off the event loop; VmHWM read on stop()."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(name=f"rss-{pid}", daemon=True)
        self.pid = pid
        self.every = every
        self.peak = 0
        self.samples = 0
        self.hwm = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            rss = _status_fields(self.pid).get("VmRSS")
            if rss is not None:
                self.peak = max(self.peak, rss)
                self.samples += 1
            self._stopped.wait(self.every)

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)
        fields = _status_fields(self.pid)
        self.hwm = fields.get("VmHWM", 0)
        self.peak = max(self.peak, fields.get("VmRSS", 0))


@dataclass
class ApiJob:
    """One job as the fake Videos API saw it; times on time.monotonic()."""

    video_id: str
    index: int  # of the prompt, i.e. of the interaction
    started: float
    duration: float
    reads: list[float] = field(default_factory=list)
    content: float | None = None  # the first content request

    @property
    def completed(self) -> float:
        return self.started + self.duration


@dataclass
class JobFigures:
    """What one interaction and its job did."""

    duration: float
    ack: float | None
    ok: bool
    lag: float | None = None
    poll_lag: float | None = None
    download_lag: float | None = None
    upload_lag: float | None = None
    completion_download: float | None = None  # completion -> the content request
    status_reads: int = 0
    queued_reads: int = 0  # while the fake still reported the job as queued
    final_reads: int = 0  # in the job's last 10 %, including the one that saw it completed
    edits: int = 0
    edit_minutes: float | None = None

    @property
    def status_per_minute(self) -> float:
        return self.status_reads / (self.duration / 60)

    @property
    def edits_per_minute(self) -> float | None:
        if not self.edit_minutes:
            return None
        return self.edits / self.edit_minutes


@dataclass
class RunResult:
    """The figures of one run."""

    name: str
    shape: str
    settings: dict[str, Any]
    hint_ms: int | None
    jobs: list[JobFigures]
    loop: LoopFigures  # the bot's loop (in-process: the shared one)
    seconds: float
    send_seconds: float
    unfinished: int
    clock_note: str
    clocks_ok: bool
    store_states: Counter[str]
    store_samples: list[str]
    logs: LogSummary
    rss_peak: int
    rss_hwm: int
    rss_samples: int
    cpu: dict[str, float]
    total_status_reads: int
    api_errors: Counter[int]
    discord_errors: Counter[int]
    other_loop: LoopFigures | None = None  # separate: the fake Discord's (this process's) loop
    other_logs: dict[str, LogSummary] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    total_edits: int = 0

    @property
    def delivered(self) -> list[JobFigures]:
        return [j for j in self.jobs if j.ok]


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def job_durations(count: int, low: float, high: float, seed: int) -> list[float]:
    """A linear spread of durations over [low, high], in a seeded random order."""
    if count == 1:
        spread = [low]
    else:
        spread = [round(low + (high - low) * i / (count - 1), 1) for i in range(count)]
    random.Random(seed).shuffle(spread)
    return spread


def make_prompts(durations: Sequence[float]) -> list[str]:
    return [
        f"benchmark job {i:04d}: a slow pan over a harbour [duration={d:g}]"
        for i, d in enumerate(durations)
    ]


def prompt_index(prompt: str) -> int | None:
    match = PROMPT_INDEX.search(prompt)
    return int(match.group(1)) if match else None


def is_done(it: FakeInteraction) -> bool:
    """The reply shows a final state: the video with its link button, or an explanation."""
    message = it.final_message
    if message is None or not message.embeds:
        return False
    if message.attachments:
        return bool(message.components)  # the link button comes in the edit after the upload
    return str(message.embeds[0].get("title", "")) != PROGRESS_TITLE


async def wait_all(interactions: Sequence[FakeInteraction], deadline: float) -> int:
    """Wait until every interaction is done (checked every 0.25 s); return how many are not."""
    pending = set(range(len(interactions)))
    while pending and time.monotonic() < deadline:
        pending = {i for i in pending if not is_done(interactions[i])}
        if pending:
            await asyncio.sleep(CHECK_EVERY)
    return len(pending)


async def send_all(
    fake: FakeDiscord,
    channel: FakeChannel,
    members: Sequence[FakeMember],
    prompts: Sequence[str],
    rate: float,
) -> list[FakeInteraction]:
    """Each member runs `/video` once; the i-th at i / rate seconds (all at once for rate 0)."""
    start = time.monotonic()

    async def one(i: int) -> FakeInteraction:
        if rate > 0:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        options = [{"name": "prompt", "type": STRING, "value": prompts[i]}]
        return await fake.send_interaction(
            "video", options, guild=channel.guild, channel=channel, member=members[i]
        )

    return list(await asyncio.gather(*(one(i) for i in range(len(prompts)))))


def add_members(fake: FakeDiscord, guild: FakeGuild, count: int) -> list[FakeMember]:
    return [fake.add_member(guild, name=f"member{i:04d}") for i in range(count)]


def figures_for(
    interactions: Sequence[FakeInteraction],
    durations: Sequence[float],
    api_jobs: dict[int, ApiJob],
) -> list[JobFigures]:
    result: list[JobFigures] = []
    for i, (it, duration) in enumerate(zip(interactions, durations, strict=True)):
        figures = JobFigures(duration=duration, ack=it.acked_at, ok=False)
        result.append(figures)
        edits = it.edits
        figures.edits = len(edits)
        if it.acked_at is not None and edits:
            acked = it.created_at + it.acked_at
            figures.edit_minutes = (edits[-1].at - acked) / 60
        job = api_jobs.get(i)
        if job is None:
            continue
        reads = sorted(job.reads)
        completed = job.completed
        figures.status_reads = len(reads)
        figures.queued_reads = sum(t < job.started + QUEUED_SHARE * job.duration for t in reads)
        figures.final_reads = sum(t >= job.started + 0.9 * job.duration for t in reads)
        if job.content is not None:
            figures.completion_download = job.content - completed
        upload = next((e for e in edits if e.files), None)
        if upload is None:
            continue
        figures.ok = True
        figures.lag = upload.at - completed
        if reads:
            figures.poll_lag = reads[-1] - completed  # the bot stops polling once it sees it
        if job.content is not None:
            figures.download_lag = job.content - (reads[-1] if reads else completed)
            figures.upload_lag = upload.at - job.content
    return result


def read_store(path: Path) -> tuple[Counter[str], list[str]]:
    """Job states in the bot's SQLite store, and a few rows that are not `delivered`."""
    if not path.exists():
        return Counter(), [f"no store at {path}"]
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
        states: Counter[str] = Counter(
            dict(conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        )
        rows = conn.execute(
            "SELECT state, attempts, last_error FROM jobs WHERE state != 'delivered' LIMIT 5"
        ).fetchall()
    return states, [f"{s} (attempts {a}): {str(e)[:200]}" for s, a, e in rows]


async def wait_store_final(path: Path, count: int, patience: float = STORE_SETTLE) -> None:
    """Until the store holds `count` jobs in final states (re-read every 0.5 s), or patience."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        states, _ = await asyncio.to_thread(read_store, path)
        if sum(n for s, n in states.items() if s in FINAL_STATE_NAMES) >= count:
            return
        await asyncio.sleep(0.5)


def discord_errors(fake: FakeDiscord) -> Counter[int]:
    return Counter(r.status for r in fake.requests if r.status and r.status >= 400)


# -- shape: in-process -------------------------------------------------------------------------


def watch_requests(harness: Harness) -> list[tuple[float, RecordedRequest]]:
    """Note when each fake Videos API request arrives (its log has no times of its own)."""
    state = harness.videos.state
    seen: list[tuple[float, RecordedRequest]] = []
    original: Callable[[RecordedRequest], None] = state.stats.record

    def record(request: RecordedRequest) -> None:
        seen.append((state.now(), request))
        original(request)

    state.stats.record = record  # type: ignore[method-assign]
    return seen


def api_jobs_in_process(
    harness: Harness, arrivals: Sequence[tuple[float, RecordedRequest]]
) -> dict[int, ApiJob]:
    jobs: dict[int, ApiJob] = {}
    by_id: dict[str, ApiJob] = {}
    for job in harness.videos.state.jobs.values():
        index = prompt_index(job.prompt)
        if index is not None:
            jobs[index] = by_id[job.id] = ApiJob(job.id, index, job.started, job.duration)
    for at, request in arrivals:
        key = f"{request.method} {request.route}"
        video_id = request.path.removeprefix("/v1/videos/").split("/", 1)[0]
        api_job = by_id.get(video_id)
        if api_job is None:
            continue
        if key == RETRIEVE_ROUTE:
            api_job.reads.append(at)
        elif key == CONTENT_ROUTE and api_job.content is None:
            api_job.content = at
    return jobs


async def run_in_process(
    name: str, args: argparse.Namespace, durations: Sequence[float], counter: LogCounter
) -> RunResult:
    settings = {**common_settings(len(durations)), **RUNS[name]}
    prompts = make_prompts(durations)
    counter.take()
    monitor = LoopMonitor()
    rss = RssSampler(os.getpid())
    with tempfile.TemporaryDirectory(prefix="video-bot-bench-") as tmp:
        store_path = Path(tmp) / "video-bot.sqlite3"
        fake_settings = FakeSettings(default_duration=30.0, poll_after_ms=args.poll_after_ms)
        async with running_harness(
            # database_url None: the store is the SQLite file in the temporary data directory
            # even when DATABASE_URL is set in the environment.
            Path(tmp),
            fake_settings=fake_settings,
            database_url=None,
            **settings,
        ) as harness:
            members = add_members(harness.discord, harness.guild, len(prompts))
            arrivals = watch_requests(harness)
            rss.start()
            monitor.start()
            started = time.monotonic()
            cpu_before = _own_cpu()
            interactions = await send_all(
                harness.discord, harness.channel, members, prompts, args.rate
            )
            send_seconds = time.monotonic() - started
            unfinished = await wait_all(interactions, started + patience(args, durations))
            ended = time.monotonic()
            await monitor.stop()
            cpu = {"this process (bot + both fakes)": _own_cpu() - cpu_before}
            rss.stop()
            await wait_store_final(store_path, len(prompts))
            jobs = figures_for(interactions, durations, api_jobs_in_process(harness, arrivals))
            offsets = (harness.videos.state.offset, harness.discord.clock.offset)
            d_errors = discord_errors(harness.discord)
            api_errors = Counter(
                r.status for r in harness.videos.stats.requests if r.status and r.status >= 400
            )
            status_total = harness.videos.stats.count(RETRIEVE_ROUTE)
        logs = counter.take()  # after teardown: includes shutdown warnings
        states, samples = read_store(store_path)
    clocks_ok = all(o == 0 for o in offsets)
    return RunResult(
        name=name,
        shape="in-process",
        settings=settings,
        hint_ms=args.poll_after_ms,
        jobs=jobs,
        loop=LoopFigures.window(
            "the shared loop (bot + both fakes)",
            times=monitor.times,
            lags=monitor.lags,
            full_gc=monitor.full_gc,
            start=started,
            end=ended,
        ),
        seconds=ended - started,
        send_seconds=send_seconds,
        unfinished=unfinished,
        clock_note=(
            "fake Videos API = time.monotonic() + offset, fake Discord = time.monotonic() + "
            f"offset; offsets at the end {list(offsets)}"
        ),
        clocks_ok=clocks_ok,
        store_states=states,
        store_samples=samples,
        logs=logs,
        rss_peak=rss.peak,
        rss_hwm=rss.hwm,
        rss_samples=rss.samples,
        cpu=cpu,
        total_status_reads=status_total,
        api_errors=api_errors,
        discord_errors=d_errors,
        total_edits=sum(j.edits for j in jobs),
    )


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def patience(args: argparse.Namespace, durations: Sequence[float]) -> float:
    if args.timeout is not None:
        return float(args.timeout)
    sending = len(durations) / args.rate if args.rate > 0 else 0.0
    return sending + max(durations) + 180.0


# -- shape: separate ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _stop_process(process: asyncio.subprocess.Process, grace: float) -> int | None:
    """SIGTERM, then SIGKILL after `grace` seconds; the exit code."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return process.returncode


_ACCESS = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO aiohttp\.access: \S+ \[[^\]]*\] "
    r'"([A-Z]+) ([^ "]+)[^"]*" (\d{3}) '
)


@dataclass
class Access:
    at: float  # time.monotonic() of the log line (the end of the answer)
    wall: float
    method: str
    path: str
    status: int


def read_access_log(path: Path, wall_minus_mono: float) -> list[Access]:
    """The fake Videos API's access-log lines, times turned into time.monotonic()."""
    seconds: dict[str, float] = {}
    entries: list[Access] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            match = _ACCESS.match(line)
            if match is None:
                continue
            stamp = match.group(1)
            base = seconds.get(stamp)
            if base is None:
                base = seconds[stamp] = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S"))
            wall = base + int(match.group(2)) / 1000
            entries.append(
                Access(
                    at=wall - wall_minus_mono,
                    wall=wall,
                    method=match.group(3),
                    path=match.group(4).split("?", 1)[0],
                    status=int(match.group(5)),
                )
            )
    return entries


class FakeApiProcess:
    """`python -m bot fake-api` on a free 127.0.0.1 port, its log in a file."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, hint_ms: int | None) -> None:
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "fake-api",
                "--port",
                str(self.port),
                "--duration",
                "30",
                cwd=REPO,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                if self.process.returncode is not None:
                    break
                try:
                    async with http.get(f"{self.root}/_fake/stats") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            else:
                raise RuntimeError("the fake Videos API did not start within 30 s")
            if self.process.returncode is not None:
                raise RuntimeError(f"the fake Videos API exited: {self.log.read_text()[-2000:]}")
            async with http.patch(
                f"{self.root}/_fake/settings", json={"poll_after_ms": hint_ms}
            ) as resp:
                resp.raise_for_status()

    async def collect(self) -> tuple[list[dict[str, Any]], dict[str, Any], float]:
        """Every job (oldest first: id, prompt, created_at), /_fake/stats, the clock offset."""
        jobs: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as http:
            after: str | None = None
            while True:
                params = {"limit": "100", "order": "asc"}
                if after is not None:
                    params["after"] = after
                async with http.get(f"{self.root}/v1/videos", params=params) as resp:
                    page = await resp.json()
                jobs.extend(page["data"])
                if not page["has_more"] or not page["data"]:
                    break
                after = page["data"][-1]["id"]
            async with http.get(f"{self.root}/_fake/stats") as resp:
                stats = await resp.json()
            # Advancing by 0 changes nothing and answers the offset (never changed here).
            async with http.post(f"{self.root}/_fake/advance", json={"seconds": 0}) as resp:
                offset = float((await resp.json())["offset"])
        return jobs, stats, offset

    async def stop(self) -> None:
        if self.process is not None:
            await _stop_process(self.process, 10)


class BotProcess:
    """The bot as `video-bot run` in its own process (bench/bot_process.py), log in a file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data_dir = directory / "data"
        self.log = directory / "bot.log"
        self.lag_file = directory / "bot-loop-lag.json"
        self.process: asyncio.subprocess.Process | None = None

    @property
    def store(self) -> Path:
        return self.data_dir / "video-bot.sqlite3"

    async def start(self, fake: FakeDiscord, videos_base: str, settings: dict[str, Any]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("VIDEO_BOT_") and k not in {"DATABASE_URL", "DISCORD_TOKEN"}
        }
        environment.update(
            {
                "DISCORD_TOKEN": "fake-token",
                "OPENAI_BASE_URL": videos_base,
                "OPENAI_API_KEY": "",
                "VIDEO_BOT_DATA_DIR": str(self.data_dir),
                "VIDEO_BOT_LOG_LEVEL": "INFO",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
                ),
                "BENCH_LOOP_LAG_FILE": str(self.lag_file),
            }
        )
        environment.update({f"VIDEO_BOT_{k.upper()}": str(v) for k, v in settings.items()})
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.bot_process",
                fake.rest_base,
                fake.gateway_url,
                cwd=self.directory,  # no .env here: only the variables above count
                env=environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        ready = asyncio.create_task(fake.wait_ready(timeout=60))
        exited = asyncio.create_task(self.process.wait())
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ready
            raise RuntimeError(f"the bot exited before it was ready:\n{self.log_tail()}")
        exited.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await exited
        ready.result()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> int | None:
        """SIGTERM (the bot's graceful shutdown), SIGKILL after 60 s; the exit code."""
        if self.process is None:
            return None
        return await _stop_process(self.process, 60)

    def loop_figures(self) -> dict[str, Any] | None:
        if not self.lag_file.exists():
            return None
        figures: dict[str, Any] = json.loads(self.lag_file.read_text(encoding="utf-8"))
        return figures


def api_jobs_from_log(
    listed: Sequence[dict[str, Any]],
    access: Sequence[Access],
    durations: Sequence[float],
) -> tuple[dict[int, ApiJob], list[str]]:
    """Jobs, their start, status reads and content request, from the fake's access log."""
    notes: list[str] = []
    creates = [
        a for a in access if a.method == "POST" and a.path == "/v1/videos" and a.status < 300
    ]
    if len(creates) != len(listed):
        notes.append(
            f"{len(creates)} successful create lines for {len(listed)} jobs: starts are matched "
            "in order for the first of them only"
        )
    jobs: dict[int, ApiJob] = {}
    by_id: dict[str, ApiJob] = {}
    outside_second = 0
    for video, create in zip(listed, creates, strict=False):
        index = prompt_index(str(video.get("prompt", "")))
        if index is None or index >= len(durations):
            continue
        # The fake stamps created_at = int(time.time()) when it registers the job; the log line
        # comes a moment later, so it falls in that second (or just after its end).
        if not 0 <= create.wall - int(video["created_at"]) < 1.05:
            outside_second += 1
        jobs[index] = by_id[video["id"]] = ApiJob(video["id"], index, create.at, durations[index])
    notes.append(
        f"create-line check: {len(jobs) - outside_second} of {len(jobs)} create times fall in "
        "the second of the job's created_at"
    )
    for entry in access:
        if entry.method != "GET" or not entry.path.startswith("/v1/videos/"):
            continue
        video_id, _, rest = entry.path.removeprefix("/v1/videos/").partition("/")
        api_job = by_id.get(video_id)
        if api_job is None:
            continue
        if rest == "":
            api_job.reads.append(entry.at)
        elif rest == "content" and api_job.content is None:
            api_job.content = entry.at
    return jobs, notes


async def run_separate(
    name: str, args: argparse.Namespace, durations: Sequence[float], counter: LogCounter
) -> RunResult:
    settings = {**common_settings(len(durations)), **RUNS[name]}
    hint_ms = args.poll_after_ms
    prompts = make_prompts(durations)
    counter.take()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="video-bot-bench-") as tmp:
        directory = Path(tmp)
        videos = FakeApiProcess(directory / "fake-api.log")
        bot = BotProcess(directory)
        fake = FakeDiscord()
        fake_started = False
        try:
            await videos.start(hint_ms)
            await fake.start()
            fake_started = True
            guild = fake.add_guild(name="Film Club")
            channel = fake.add_channel(guild, name="videos")
            members = add_members(fake, guild, len(prompts))
            await bot.start(fake, f"{videos.root}/v1", settings)
            assert videos.process is not None
            pids = {
                "bot process": bot.pid,
                "fake Videos API process": videos.process.pid,
            }
            rss = RssSampler(bot.pid)
            rss.start()
            monitor = LoopMonitor()
            monitor.start()
            wall_minus_mono = time.time() - time.monotonic()
            started = time.monotonic()
            cpu_before = {k: cpu_seconds(p) for k, p in pids.items()}
            own_before = _own_cpu()
            interactions = await send_all(fake, channel, members, prompts, args.rate)
            send_seconds = time.monotonic() - started
            unfinished = await wait_all(interactions, started + patience(args, durations))
            ended = time.monotonic()
            await monitor.stop()
            cpu = {k: cpu_seconds(p) - cpu_before[k] for k, p in pids.items()}
            cpu["this process (fake Discord)"] = _own_cpu() - own_before
            await wait_store_final(bot.store, len(prompts))
            rss.stop()
            listed, stats, offset = await videos.collect()
            exit_code = await bot.stop()
            await videos.stop()
            drift = (time.time() - time.monotonic()) - wall_minus_mono
        finally:
            await bot.stop()
            await videos.stop()
            if fake_started:
                await fake.stop()
        if exit_code != 0:
            notes.append(f"the bot process exited with {exit_code} after SIGTERM")
        if fake.internal_errors:
            notes.append(f"the fake Discord failed internally {len(fake.internal_errors)} times")
        access = read_access_log(videos.log, wall_minus_mono)
        api_jobs, mapping_notes = api_jobs_from_log(listed, access, durations)
        notes.extend(mapping_notes)
        logged_reads = sum(len(j.reads) for j in api_jobs.values())
        counted_reads = int(stats["counts"].get(RETRIEVE_ROUTE, 0))
        if logged_reads != counted_reads:
            notes.append(
                f"the access log shows {logged_reads} status reads of the jobs, the fake counted "
                f"{counted_reads}"
            )
        jobs = figures_for(interactions, durations, api_jobs)
        negative = sum(
            1
            for j in jobs
            if min(j.poll_lag or 0.0, j.completion_download or 0.0, j.download_lag or 0.0) < 0
        )
        if negative:
            notes.append(
                f"{negative} jobs have a negative poll or download lag: the start times taken "
                "from the access log do not match the jobs, so these lags are not trustworthy"
            )
        loop_raw = bot.loop_figures()
        if loop_raw is None:
            loop = LoopFigures("the bot process's loop: no figures (it did not exit cleanly)")
        else:
            loop = LoopFigures.window(
                "the bot process's loop",
                times=loop_raw["times"],
                lags=loop_raw["lags"],
                full_gc=loop_raw["full_gc"],
                start=started,
                end=ended,
            )
        states, samples = read_store(bot.store)
        logs = summarize_log_file(bot.log)
        fake_logs = summarize_log_file(videos.log)
        own_logs = counter.take()
    clocks_ok = offset == 0 and fake.clock.offset == 0 and abs(drift) < 0.05
    return RunResult(
        name=name,
        shape="separate",
        settings=settings,
        hint_ms=hint_ms,
        jobs=jobs,
        loop=loop,
        other_loop=LoopFigures.window(
            "the fake Discord's loop (this process)",
            times=monitor.times,
            lags=monitor.lags,
            full_gc=monitor.full_gc,
            start=started,
            end=ended,
        ),
        seconds=ended - started,
        send_seconds=send_seconds,
        unfinished=unfinished,
        clock_note=(
            f"fake Videos API offset {offset}, fake Discord offset {fake.clock.offset}, all "
            "processes on time.monotonic(); access-log wall times converted with time.time() - "
            f"time.monotonic() taken here (it moved {drift * 1000:+.1f} ms during the run)"
        ),
        clocks_ok=clocks_ok,
        store_states=states,
        store_samples=samples,
        logs=logs,
        other_logs={"fake Videos API process": fake_logs, "this process": own_logs},
        rss_peak=rss.peak,
        rss_hwm=rss.hwm,
        rss_samples=rss.samples,
        cpu=cpu,
        total_status_reads=int(stats["counts"].get(RETRIEVE_ROUTE, 0)),
        api_errors=Counter(a.status for a in access if a.status >= 400),
        discord_errors=discord_errors(fake),
        notes=notes,
        total_edits=sum(j.edits for j in jobs),
    )


# -- reporting ---------------------------------------------------------------------------------


def _s(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f} s"


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 1000:.1f} ms"


def _n(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _mb(value: int) -> str:
    return f"{value / 1e6:.1f} MB ({value / 2**20:.1f} MiB)" if value else "n/a"


def _mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _max(values: Sequence[float]) -> float:
    return max(values, default=float("nan"))


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _counts(counter: Counter[Any], between: str = "x") -> str:
    return ", ".join(f"{k}{between}{v}" for k, v in sorted(counter.items(), key=str)) or "none"


def _loop_rows(loop: LoopFigures, send_seconds: float, label: str) -> dict[str, str]:
    worst, worst_at = max(zip(loop.lags, loop.times, strict=True), default=(math.nan, math.nan))
    after = send_seconds + BURST
    settled = [lag for lag, t in zip(loop.lags, loop.times, strict=True) if t >= after]
    return {
        f"{label} p50": _ms(quantile(loop.lags, 0.5)),
        f"{label} p99": _ms(quantile(loop.lags, 0.99)),
        f"{label} max (at s after the first send)": f"{_ms(worst)} ({_n(worst_at)} s)",
        f"{label} p99 from {BURST:g} s after sending": _ms(quantile(settled, 0.99)),
        f"{label} samples": str(len(loop.lags)),
        f"{label} full GCs / longest pause": (
            f"{len(loop.full_gc_pauses)} / {_ms(_max(loop.full_gc_pauses))}"
        ),
    }


def acks_in_time(run: RunResult) -> int:
    return sum(1 for j in run.jobs if j.ack is not None and j.ack < ACK_GOAL)


def summarize(run: RunResult) -> dict[str, str]:
    """One column of the table."""
    acks = [j.ack for j in run.jobs if j.ack is not None]
    delivered = run.delivered
    lags = [j.lag for j in delivered if j.lag is not None]
    polls = [j.poll_lag for j in delivered if j.poll_lag is not None]
    downloads = [j.download_lag for j in delivered if j.download_lag is not None]
    uploads = [j.upload_lag for j in delivered if j.upload_lag is not None]
    to_content = [j.completion_download for j in run.jobs if j.completion_download is not None]
    status = [j.status_per_minute for j in run.jobs]
    edits = [e for j in delivered if (e := j.edits_per_minute) is not None]
    job_minutes = sum(j.duration for j in run.jobs) / 60
    n = len(run.jobs)
    rows = {
        "jobs sent / delivered / unfinished": f"{n} / {len(delivered)} / {run.unfinished}",
        "sending all interactions took": _s(run.send_seconds),
        "run time (first send -> last job done)": _s(run.seconds),
        "acks received (accepted callbacks)": f"{len(acks)} of {n}",
        f"acks < {ACK_GOAL:g} s": f"{acks_in_time(run)} of {n}",
        "ack p50 / p99 / max": (
            f"{_s(quantile(acks, 0.5))} / {_s(quantile(acks, 0.99))} / {_s(_max(acks))}"
        ),
        "store: job states": _counts(run.store_states, " "),
        "store errors (log records)": f"{run.logs.store_errors} of {run.logs.records} looked at",
        "completion->download median / p95": (
            f"{_s(quantile(to_content, 0.5))} / {_s(quantile(to_content, 0.95))}"
        ),
        "completion->download min / max": (
            f"{_s(min(to_content, default=math.nan))} / {_s(_max(to_content))}"
        ),
        "lag completed->upload median / p95": (
            f"{_s(quantile(lags, 0.5))} / {_s(quantile(lags, 0.95))}"
        ),
        "lag completed->upload max": _s(_max(lags)),
        "  poll part (median / p95)": f"{_s(quantile(polls, 0.5))} / {_s(quantile(polls, 0.95))}",
        "  download start (median / p95)": (
            f"{_s(quantile(downloads, 0.5))} / {_s(quantile(downloads, 0.95))}"
        ),
        "  upload part (median / p95)": (
            f"{_s(quantile(uploads, 0.5))} / {_s(quantile(uploads, 0.95))}"
        ),
        "status reads/job-min mean / max": f"{_n(_mean(status), 2)} / {_n(_max(status), 2)}",
        "status reads/job-min min / median": (
            f"{_n(min(status, default=math.nan), 2)} / {_n(quantile(status, 0.5), 2)}"
        ),
        "status reads total / per job-min": (
            f"{run.total_status_reads} / {_n(run.total_status_reads / job_minutes, 2)}"
        ),
        "reads/job: queued / mid / last 10%": (
            f"{_n(_mean([j.queued_reads for j in run.jobs]))} / "
            f"{_n(_mean([j.status_reads - j.queued_reads - j.final_reads for j in run.jobs]))} / "
            f"{_n(_mean([j.final_reads for j in run.jobs]))}"
        ),
        "edits/job-min mean / max": f"{_n(_mean(edits), 2)} / {_n(_max(edits), 2)}",
        "edits per job mean / total": (
            f"{_n(_mean([j.edits for j in run.jobs]), 1)} / {run.total_edits}"
        ),
    }
    rows.update(_loop_rows(run.loop, run.send_seconds, "loop lag"))
    if run.other_loop is not None:
        rows.update(_loop_rows(run.other_loop, run.send_seconds, "fake Discord loop lag"))
    who = "bot process" if run.shape == "separate" else "this process"
    rows[f"{who} peak RSS (sampled / VmHWM)"] = f"{_mb(run.rss_peak)} / {_mb(run.rss_hwm)}"
    rows[f"{who} RSS samples"] = str(run.rss_samples)
    for name, seconds in run.cpu.items():
        rows[f"CPU s: {name}"] = f"{_n(seconds, 1)} ({_n(100 * seconds / run.seconds, 0)} %)"
    rows["fake Videos API 4xx/5xx answers"] = _counts(run.api_errors)
    rows["fake Discord 4xx/5xx answers"] = _counts(run.discord_errors)
    rows["log warnings / errors"] = (
        f"{sum(v for (lvl, _), v in run.logs.counts.items() if lvl == 'WARNING')} / "
        f"{sum(v for (lvl, _), v in run.logs.counts.items() if lvl != 'WARNING')}"
    )
    return rows


def print_table(runs: Sequence[RunResult]) -> None:
    columns = [summarize(run) for run in runs]
    width = max(len(k) for k in columns[0])
    cell = max(22, *(len(v) for c in columns for v in c.values()))
    print(f"{'':<{width}}  " + "  ".join(f"{run.name:>{cell}}" for run in runs))
    for key in columns[0]:
        print(f"{key:<{width}}  " + "  ".join(f"{c.get(key, 'n/a'):>{cell}}" for c in columns))


def goals_for(run: RunResult) -> list[tuple[str, bool]]:
    n = len(run.jobs)
    acks = [j.ack for j in run.jobs if j.ack is not None]
    store_delivered = run.store_states.get("delivered", 0)
    checks = [
        (
            f"acknowledged < {ACK_GOAL:g} s: {acks_in_time(run)} of {n} "
            f"(p50 {_s(quantile(acks, 0.5))}, p99 {_s(quantile(acks, 0.99))}, "
            f"max {_s(_max(acks))})",
            acks_in_time(run) == n,
        ),
        (
            f"delivered: {len(run.delivered)} of {n} replies carry the video, "
            f"{run.unfinished} unfinished",
            run.unfinished == 0 and len(run.delivered) == n,
        ),
        (
            f"store errors 0 (records mentioning {', '.join(STORE_ERROR_PATTERNS)}): "
            f"{run.logs.store_errors}",
            run.logs.store_errors == 0,
        ),
        (
            f"no job ended by a bot-side error: store states {_counts(run.store_states, ' ')} "
            f"({store_delivered} of {n} delivered)",
            store_delivered == n and sum(run.store_states.values()) == n,
        ),
    ]
    if run.shape == "in-process":
        lags = [j.lag for j in run.delivered if j.lag is not None]
        edits = [e for j in run.delivered if (e := j.edits_per_minute) is not None]
        checks += [
            (
                f"median lag completed->upload <= {LAG_GOAL:g} s: {_s(quantile(lags, 0.5))}",
                bool(lags) and quantile(lags, 0.5) <= LAG_GOAL,
            ),
            (
                f"edits/job-min <= {EDITS_GOAL:g} (mean): {_n(_mean(edits), 2)}",
                bool(edits) and _mean(edits) <= EDITS_GOAL,
            ),
            (
                f"edits/job-min <= {EDITS_GOAL:g} (every job): max {_n(_max(edits), 2)}",
                bool(edits) and max(edits) <= EDITS_GOAL,
            ),
            (
                f"event-loop lag p99 < {LOOP_GOAL * 1000:g} ms (shared loop): "
                f"{_ms(quantile(run.loop.lags, 0.99))}",
                quantile(run.loop.lags, 0.99) < LOOP_GOAL,
            ),
        ]
    else:
        to_content = [j.completion_download for j in run.jobs if j.completion_download is not None]
        status = [j.status_per_minute for j in run.jobs]
        peak = max(run.rss_peak, run.rss_hwm)
        complete = len(to_content) == n
        checks += [
            (
                f"completion->download median <= {DOWNLOAD_MEDIAN_GOAL:g} s: "
                f"{_s(quantile(to_content, 0.5))} ({len(to_content)} of {n} jobs downloaded)",
                complete and quantile(to_content, 0.5) <= DOWNLOAD_MEDIAN_GOAL,
            ),
            (
                f"completion->download max <= {DOWNLOAD_MAX_GOAL:g} s: {_s(_max(to_content))}",
                complete and _max(to_content) <= DOWNLOAD_MAX_GOAL,
            ),
            (
                f"status reads <= {READS_GOAL:g} per job-minute (mean over jobs): "
                f"{_n(_mean(status), 2)}",
                bool(status) and _mean(status) <= READS_GOAL,
            ),
            (
                f"status reads <= {READS_GOAL:g} per job-minute (every job): "
                f"max {_n(_max(status), 2)}",
                bool(status) and _max(status) <= READS_GOAL,
            ),
            (
                f"bot peak RSS < {RSS_GOAL / 1e6:g} MB: {_mb(peak)}",
                0 < peak < RSS_GOAL,
            ),
            (
                f"bot event-loop lag p99 < {LOOP_GOAL * 1000:g} ms: "
                f"{_ms(quantile(run.loop.lags, 0.99))}",
                bool(run.loop.lags) and quantile(run.loop.lags, 0.99) < LOOP_GOAL,
            ),
        ]
    return checks


def print_goals(runs: Sequence[RunResult]) -> bool:
    """Each goal per run, and the side-by-side poll comparison; True when all are met."""
    print("\ngoals:")
    all_met = True
    by_name = {run.name: run for run in runs}
    for run in runs:
        for label, ok in goals_for(run):
            all_met &= ok
            print(f"  [{run.shape} {run.name}] {label}: {_verdict(ok)}")
    adaptive, fixed = by_name.get("adaptive"), by_name.get("fixed 1s")
    if adaptive is not None and fixed is not None:
        a_rate = _mean([j.status_per_minute for j in adaptive.jobs])
        f_rate = _mean([j.status_per_minute for j in fixed.jobs])
        ratio = f_rate / a_rate if a_rate else float("inf")
        a_lag = quantile([j.lag for j in adaptive.delivered if j.lag is not None], 0.5)
        f_lag = quantile([j.lag for j in fixed.delivered if j.lag is not None], 0.5)
        ok = ratio >= POLL_RATIO_GOAL and a_lag <= f_lag
        all_met &= ok
        print(
            f"  status reads/job-min, fixed 1s / adaptive = {_n(f_rate, 2)} / {_n(a_rate, 2)} = "
            f"{_n(ratio, 2)}x fewer (goal >= {POLL_RATIO_GOAL:g}x), at median lag "
            f"{_s(a_lag)} adaptive vs {_s(f_lag)} fixed (goal: equal or lower): {_verdict(ok)}"
        )
    return all_met


def _print_summary(title: str, summary: LogSummary) -> None:
    if not summary.counts and not summary.store_samples:
        return
    print(f"\n{title}:")
    for (level, name), count in summary.counts.most_common():
        print(f"  {count:>5} x {level} {name}: {summary.samples.get((level, name), '')}")
    for sample in summary.store_samples:
        print(f"  store error: {sample}")


def print_logs(runs: Sequence[RunResult]) -> None:
    for run in runs:
        where = "the bot process" if run.shape == "separate" else "this process"
        _print_summary(f"[{run.name}] log records of {where} (warnings and errors)", run.logs)
        for name, summary in run.other_logs.items():
            _print_summary(f"[{run.name}] log records of the {name} (warnings and errors)", summary)
        if run.store_samples:
            print(f"\n[{run.name}] store rows not delivered (up to 5):")
            for sample in run.store_samples:
                print(f"  {sample}")
        for note in run.notes:
            print(f"[{run.name}] note: {note}")


def print_machine(args: argparse.Namespace, durations: Sequence[float]) -> None:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"machine: {platform.machine()}, {cpus} logical CPUs ({usable} usable), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"discord.py {discord.__version__}, aiohttp {aiohttp.__version__}"
        + (f", load average {load[0]:.2f}" if load else "")
    )
    sending = "all at once" if args.rate <= 0 else f"{args.rate:g} a second"
    where = (
        "bot, fake Discord and fake Videos API share one event loop in this process"
        if args.shape == "in-process"
        else "bot process (bench.bot_process = video-bot run), fake Videos API process "
        "(python -m bot fake-api), fake Discord in this process"
    )
    hint = "none" if args.poll_after_ms is None else f"{args.poll_after_ms} ms"
    print(
        f"jobs: {len(durations)} /video interactions from {len(durations)} members, sent "
        f"{sending}; durations {min(durations):g}-{max(durations):g} s (linear spread, shuffled "
        f"with seed {args.seed}, mean {statistics.fmean(durations):.1f} s); "
        f"openai-poll-after-ms: {hint}; gives up {patience(args, durations):.0f} s after the "
        "first send"
    )
    print(f"shape: {args.shape}: {where}")


# -- entry point -------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, counter: LogCounter) -> list[RunResult]:
    # SIGTERM cancels the run like Ctrl-C does, so the child processes are stopped on the way out.
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    durations = job_durations(args.jobs, args.min_duration, args.max_duration, args.seed)
    print_machine(args, durations)
    default = list(RUNS) if args.shape == "in-process" else ["adaptive"]
    names = default if args.only is None else [args.only]
    one_run = run_in_process if args.shape == "in-process" else run_separate
    runs: list[RunResult] = []
    for name in names:
        print(
            f"running {name} ({', '.join(f'{k}={v:g}' for k, v in RUNS[name].items())}) ...",
            flush=True,
        )
        run = await one_run(name, args, durations, counter)
        print(f"  done in {run.seconds:.0f} s", flush=True)
        runs.append(run)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.concurrency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--shape", choices=["in-process", "separate"], default="in-process")
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.0, help="interactions a second; 0: all")
    parser.add_argument("--min-duration", type=float, default=20.0)
    parser.add_argument("--max-duration", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=list(RUNS), default=None)
    parser.add_argument(
        "--poll-after-ms",
        type=int,
        default=None,
        help=f"the fake's openai-poll-after-ms (default: none in-process, "
        f"{SEPARATE_HINT_MS} separate)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds; see above")
    args = parser.parse_args(argv)
    if args.jobs < 1 or not 0 < args.min_duration <= args.max_duration or args.rate < 0:
        parser.error("need --jobs >= 1, 0 < --min-duration <= --max-duration, --rate >= 0")
    if args.jobs > 10_000:
        parser.error("--jobs above 10000 exceeds max_concurrent_jobs' bound")
    if args.poll_after_ms is None and args.shape == "separate":
        args.poll_after_ms = SEPARATE_HINT_MS
    counter = silence_logging()
    print("options: " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()))
    try:
        runs = asyncio.run(bench(args, counter))
    except (asyncio.CancelledError, KeyboardInterrupt):
        print("interrupted: the bot and fake processes were stopped, nothing to report")
        return 130
    print()
    common = ", ".join(f"{k}={v:g}" for k, v in common_settings(args.jobs).items())
    print(f"settings in every run: {common}")
    for run in runs:
        verdict = "comparable" if run.clocks_ok else "NOT comparable"
        print(f"clocks [{run.name}]: {run.clock_note} -> {verdict}")
    print()
    print_table(runs)
    met = print_goals(runs)
    print_logs(runs)
    print(f"\nall goals met: {'yes' if met else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
