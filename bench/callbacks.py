"""Providers that call back, against polling: status reads per job and completion → download lag.

The same jobs run three times through the real service (no Discord: a reply that records what
it is told) and the bot's real web server, against the fake Videos API in its `openrouter`
dialect (OpenRouter's video API, which calls back):

- **callbacks**: the provider has a webhook secret and the bot a public URL, so each create
  carries `callback_url`; the fake POSTs its signed `video.generation.*` event when a job ends,
  the bot verifies it at /provider-webhooks/router and reads the job's status at once. Without
  a callback the bot reads a job only as a safety net: `VIDEO_BOT_CALLBACK_POLL_INTERVAL`
  (default 120 s) after its submission, then at doubling waits.
- **polling**: no secret: the default adaptive polling (0.5-30 s, paced by progress).
- **callbacks dropped**: as *callbacks*, but the fake drops every callback: only the slow
  safety-net reads are left, and every video must still arrive.

Jobs: `--jobs` (default 40), all submitted at once, each `[duration=N]` of fake time with N
spread linearly over `--min-duration`..`--max-duration` (default 5-30 s) and shuffled with a
fixed seed. The fake's clock runs with the real one (nothing is advanced).

Figures per run:
- delivered: jobs delivered / jobs asked;
- status reads per job: `GET /api/v1/videos/{id}` requests the fake received per video
  (median and max);
- lag: from the instant the fake's job completed (its start + duration on the fake's clock,
  which is this process's monotonic clock plus a constant) to the arrival of the first content
  request for it (median, p90, max);
- creates: `POST /api/v1/videos` requests per job (must be 1).

Goals (#20): with callbacks, ≤ 2 status reads per job and a median lag ≤ 0.3 s; with every
callback dropped, no video lost.

    python -m bench.callbacks [--jobs 40] [--min-duration 5] [--max-duration 30] [--only RUN]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import prometheus_client

from bot.config import load_settings
from bot.domain import Delivery, JobView, ReplyHandle, Requester
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.fake_api.state import RecordedRequest
from bot.http.server import WebServer, make_app
from bot.service import build_service, make_providers
from bot.service.links import LinkSigner
from bot.store import open_database

SECRET = "bench-openrouter-signing-secret"  # noqa: S105 - a local benchmark's own secret
SECRET_VARIABLE = "BENCH_ROUTER_WEBHOOK_SECRET"  # noqa: S105 - a variable's name
CATALOGUE = """
[providers.router]
dialect = "openrouter"
base_url = "{base_url}"
{secret}

[[models]]
name = "veo"
provider = "router"
api_model = "google/veo-3.1"
sizes = ["1280x720"]
seconds = [4]
price_per_second = 0.40
"""
STATUS = "GET /api/v1/videos/{video_id}"
CONTENT = "GET /api/v1/videos/{video_id}/content"
CREATE = "POST /api/v1/videos"


class Reply:
    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.delivered = False

    async def show(self, view: JobView) -> None:
        pass

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        self.delivered = True
        self.done.set()

    async def fail(self, view: JobView) -> None:
        self.done.set()

    async def already_delivered(self) -> bool:
        return False


@dataclass
class Result:
    name: str
    asked: int
    delivered: int
    reads: list[int]
    lags: list[float]
    creates: int
    seconds: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run(name: str, durations: list[float], *, calls_back: bool, drop: bool) -> Result:
    arrivals: dict[str, float] = {}
    fake_settings = FakeSettings(
        dialect="openrouter", webhook_secret=SECRET if calls_back else None, drop_callbacks=drop
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        async with FakeVideosServer(fake_settings) as fake, aiohttp.ClientSession() as session:
            record = fake.state.stats.record

            def timed(request: RecordedRequest) -> None:
                # The first content request per video: when the bot started its download.
                if request.route == CONTENT.split(" ", 1)[1]:
                    arrivals.setdefault(request.path, time.monotonic())
                record(request)

            fake.state.stats.record = timed  # type: ignore[method-assign]
            port = free_port()
            secret = f'webhook_secret_env = "{SECRET_VARIABLE}"' if calls_back else ""
            catalogue = data / "catalogue.toml"
            catalogue.write_text(CATALOGUE.format(base_url=fake.base_url, secret=secret))
            os.environ[SECRET_VARIABLE] = SECRET
            jobs = len(durations)
            settings = load_settings(
                data_dir=data,
                catalogue_file=catalogue,
                public_url=f"http://127.0.0.1:{port}",
                web_port=port,
                max_concurrent_jobs=max(250, jobs),
                max_jobs_per_user=max(250, jobs),
                max_queued=100_000,
                max_queued_per_user=100_000,
            )
            database = await open_database(settings.effective_database_url)
            replies: dict[str, Reply] = {}
            service = build_service(settings, database, make_providers(session, settings), sinks={})
            service.engine.replies._builders["bench"] = lambda handle: replies[handle.public]
            app = make_app(
                files=service.original_file,
                signer=LinkSigner(b"bench-link-secret-bench-link-secret"),
                health=_healthy,
                registry=prometheus_client.CollectorRegistry(),
                metrics_token=None,
                service=service,
            )
            web = WebServer(app)
            await web.start("127.0.0.1", port)
            await service.start(resume=False)

            class Opener:
                async def open(self, view: JobView) -> ReplyHandle:
                    replies[view.ref] = Reply()
                    return ReplyHandle("bench", view.ref)

            started = time.monotonic()
            try:
                for index, duration in enumerate(durations):
                    await service.submit(
                        Requester(1000 + index, 1),
                        f"a lighthouse in a storm, take {index} [duration={duration:.1f}]",
                        reply=Opener(),
                        model="veo",
                    )
                limit = max(durations) + settings.callback_poll_interval * 2 + 60
                await asyncio.wait_for(
                    asyncio.gather(*(r.done.wait() for r in replies.values())), timeout=limit
                )
            except TimeoutError:
                print(f"  {name}: gave up waiting; some jobs unfinished")
            elapsed = time.monotonic() - started
            await service.close(grace=0)
            await web.stop()
            await database.close()
            reads_by_video: Counter[str] = Counter()
            for request in fake.stats.requests:
                if f"{request.method} {request.route}" == STATUS:
                    reads_by_video[request.path] += 1
            lags = []
            for job in fake.state.jobs.values():
                content = next((p for p in arrivals if f"/videos/{job.id}/content" in p), None)
                if content is None:
                    continue
                completed = job.started + job.duration - fake.state.offset
                lags.append(max(0.0, arrivals[content] - completed))
            reads = [
                reads_by_video.get(f"/api/v1/videos/{j.id}", 0) for j in fake.state.jobs.values()
            ]
            return Result(
                name,
                jobs,
                sum(1 for r in replies.values() if r.delivered),
                reads,
                lags,
                fake.stats.count(CREATE),
                elapsed,
            )


async def _healthy() -> dict[str, bool]:
    return {"store": True}


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(result: Result) -> None:
    reads = result.reads or [0]
    print(f"{result.name}:")
    print(f"  delivered           {result.delivered} / {result.asked} in {result.seconds:.0f} s")
    print(f"  creates per job     {result.creates / max(1, result.asked):.2f}")
    print(f"  status reads / job  median {statistics.median(reads):.1f}, max {max(reads)}")
    if result.lags:
        print(
            f"  completion → download lag  median {statistics.median(result.lags):.3f} s, "
            f"p90 {_quantile(result.lags, 0.9):.3f} s, max {max(result.lags):.3f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--min-duration", type=float, default=5.0)
    parser.add_argument("--max-duration", type=float, default=30.0)
    parser.add_argument(
        "--only",
        choices=["callbacks", "polling", "dropped"],
        help="run one of the three (the goals are judged on what ran)",
    )
    args = parser.parse_args()
    step = (args.max_duration - args.min_duration) / max(1, args.jobs - 1)
    durations = [args.min_duration + i * step for i in range(args.jobs)]
    random.Random(20).shuffle(durations)
    runs = {
        "callbacks": ("callbacks", True, False),
        "polling": ("polling", False, False),
        "dropped": ("callbacks dropped", True, True),
    }
    chosen = [args.only] if args.only else list(runs)
    results = {}
    for key in chosen:
        name, calls_back, drop = runs[key]
        results[key] = asyncio.run(run(name, durations, calls_back=calls_back, drop=drop))
        report(results[key])
    print()
    if "callbacks" in results:
        callbacks = results["callbacks"]
        reads_ok = max(callbacks.reads or [99]) <= 2
        lag_ok = bool(callbacks.lags) and statistics.median(callbacks.lags) <= 0.3
        print(f"goal: ≤ 2 status reads per job with callbacks: {'met' if reads_ok else 'NOT met'}")
        print(f"goal: median lag ≤ 0.3 s with callbacks: {'met' if lag_ok else 'NOT met'}")
    if "dropped" in results:
        lost = results["dropped"].asked - results["dropped"].delivered
        print(
            f"goal: no video lost with every callback dropped: {'met' if lost == 0 else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
