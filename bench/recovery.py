"""Start-up with many unfinished jobs: how fast they are tracked again, and how gently.

    python -m bench.recovery [--jobs 10000] [--seconds 60]

The fake Videos API runs in its own process (`video-bot fake-api`), so the figures are the
bot's alone. The store is a fresh SQLite file holding N jobs in state `running`, each pointing
at a real job on the fake (created first through the API, ten minutes into an hour's work).
The engine's VideoService resumes them with a listener that only counts (no Discord: this
measures recovery itself). Figures:
- time for `resume()` to load the store and start a tracked task per job;
- when every job had its first status read (the spread window is deliberate);
- status requests per second over the first minute (peak and mean): no thundering herd;
- peak RSS growth of the bot process while doing it; event-loop lag p99.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import load_settings
from bot.domain import Delivery, JobView
from bot.service import build_service
from bot.service.wiring import make_client, open_session
from bot.store import JobRecord, JobState, JobStore, open_database

STATUS = "GET /v1/videos/{video_id}"


def rss_mib() -> float:
    with Path("/proc/self/status").open(encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """Peak RSS, sampled every 10 ms off the event loop."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = rss_mib()
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mib())
            time.sleep(0.01)


class CountingListener:
    """Counts what a front end would be told."""

    shown = 0

    async def show(self, view: JobView) -> None:
        CountingListener.shown += 1

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        raise AssertionError("no job should finish during the benchmark")

    async def fail(self, view: JobView) -> None:
        print(f"job {view.ref} failed: {view.error}", file=sys.stderr)

    async def already_delivered(self) -> bool:
        return False


async def start_fake(port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "fake-api",
        "--port",
        str(port),
        "--duration",
        "3600",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"http://127.0.0.1:{port}/_fake/stats") as resp:
                    if resp.status == 200:
                        return process
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the fake Videos API did not start")


async def create_jobs(base: str, count: int) -> list[str]:
    ids: list[str] = []
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(n: int) -> None:
            data = aiohttp.FormData(default_to_multipart=True)
            data.add_field("prompt", f"job {n}")
            async with http.post(f"{base}/videos", data=data) as resp:
                ids.append((await resp.json())["id"])

        for start in range(0, count, 500):
            await asyncio.gather(*(one(n) for n in range(start, min(count, start + 500))))
    return ids


async def counts(http: aiohttp.ClientSession, root: str) -> int:
    async with http.get(f"{root}/_fake/stats") as resp:
        return int((await resp.json())["counts"].get(STATUS, 0))


async def run(jobs: int, seconds: float) -> dict[str, Any]:
    port = 18000 + os.getpid() % 1000
    root = f"http://127.0.0.1:{port}"
    fake = await start_fake(port)
    try:
        ids = await create_jobs(f"{root}/v1", jobs)
        async with aiohttp.ClientSession() as http:
            await http.post(f"{root}/_fake/advance", json={"seconds": 600})
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(openai_base_url=f"{root}/v1", data_dir=Path(tmp))
            database = await open_database(settings.effective_database_url)
            store = JobStore(database)
            submitted = time.time() - 600
            await store.add_many(
                [
                    JobRecord(
                        id=f"job{n:06d}",
                        state=JobState.RUNNING,
                        prompt=f"job {n}",
                        model="sora-2",
                        size="720x1280",
                        seconds=4,
                        cost="0.40",
                        requester_id=1,
                        reply_kind="bench",
                        reply="{}",
                        created_at=submitted,
                        updated_at=submitted,
                        submitted_at=submitted,
                        provider_video_id=vid,
                    )
                    for n, vid in enumerate(ids)
                ]
            )
            baseline = rss_mib()
            sampler = Sampler()
            sampler.start()
            lags: list[float] = []

            async def monitor() -> None:
                while True:
                    before = time.perf_counter()
                    await asyncio.sleep(0.01)
                    lags.append(time.perf_counter() - before - 0.01)

            watcher = asyncio.create_task(monitor())
            async with open_session() as session:
                service = build_service(
                    settings,
                    database,
                    make_client(session, settings),
                    sinks={"bench": lambda _handle: CountingListener()},
                )
                started = time.perf_counter()
                resumed = await service.engine.dispatcher.resume()
                tracked_after = time.perf_counter() - started
                per_second: list[int] = []
                async with aiohttp.ClientSession() as http:
                    previous = await counts(http, root)
                    for _ in range(int(seconds)):
                        await asyncio.sleep(1)
                        now = await counts(http, root)
                        per_second.append(now - previous)
                        previous = now
                    async with http.get(f"{root}/_fake/requests") as resp:
                        log = await resp.json()
                polled = {
                    r["path"]
                    for r in log
                    if r["method"] == "GET" and r["route"].endswith("{video_id}")
                }
                await service.close(grace=0)
            watcher.cancel()
            sampler.running = False
            sampler.join()
            await database.close()
    finally:
        fake.terminate()
        await fake.wait()
    lags.sort()
    return {
        "jobs": jobs,
        "resumed": resumed,
        "resume() until every job has its task (s)": round(tracked_after, 2),
        "jobs with a status read in the window": len(polled),
        "status reads in the window": sum(per_second),
        "peak status reads in one second": max(per_second),
        "mean status reads per second": round(statistics.mean(per_second), 1),
        "first-second reads (herd check)": per_second[0],
        "peak RSS growth (MiB)": round(sampler.peak - baseline, 1),
        "event-loop lag p99 (ms)": round(lags[int(len(lags) * 0.99)] * 1000, 1),
        "event-loop lag max (ms)": round(lags[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    figures = asyncio.run(run(args.jobs, args.seconds))
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
