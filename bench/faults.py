"""The bot through a hostile world, at scale: `python -m bench.faults [--jobs 300] [--rate 0.1]`.

The real bot (in this process) between the fake Discord and the fake Videos API. One provider
request in ten (`--rate`) fails at random in every way a real server fails (429, 5xx, resets,
a create whose answer is lost after it was made, content not ready), Discord rate-limits reply
edits without announcing it, and the provider echoes the API key where it can. Each job comes
from its own member. Printed: delivered, honestly reported, duplicates (a reply that got the
video twice), double creates (a prompt the provider made twice), secrets found (the key in any
Discord payload, log line or store row), the lag from the provider's completion to the upload,
and whether each goal is met. Everything listens on 127.0.0.1; the run is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.domain import JobState
from bot.fake_api import FakeSettings
from bot.observability.redaction import install_log_redaction
from bot.store import open_database
from bot.store.usage import UsageStore
from tests.discord_adapter.harness import running_harness
from tests.discord_adapter.test_video_command import finished

KEY = "sk-proj-bench-secret-key-1234567890abcdef"
HONEST = {JobState.DELIVERED, JobState.FAILED, JobState.UNKNOWN, JobState.EXPIRED}


async def run(jobs: int, rate: float, seed: int, limit: float) -> dict[str, Any]:
    log_text = io.StringIO()
    handler = logging.StreamHandler(log_text)
    handler.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        data_dir = Path(tmp)
        fake = FakeSettings(default_duration=2.0, api_key=KEY, fault_rate=rate, fault_seed=seed)
        started = time.monotonic()
        async with running_harness(
            data_dir,
            fake_settings=fake,
            openai_api_key=KEY,
            content_wait=60,
            max_concurrent_jobs=jobs,
            max_queued=jobs,
            edit_interval=1.0,
        ) as h:
            install_log_redaction(h.bot.settings)
            h.discord.rate_limit_webhook(per_token=5, per_seconds=1.0, announce=False)
            members = [h.discord.add_member(h.guild, name=f"m{n}") for n in range(jobs)]
            interactions = [
                await h.video(f"bench scene {n} [duration={2 + n % 5}]", member=member)
                for n, member in enumerate(members)
            ]
            unfinished = 0
            for it in interactions:
                try:
                    left = max(1.0, limit - (time.monotonic() - started))
                    await it.wait_for(finished, timeout=left)
                except TimeoutError:
                    unfinished += 1
            await asyncio.sleep(1.0)  # the last rows follow their replies
            records = await h.bot.service.engine.store.recent(jobs)
            made = Counter(job.prompt for job in h.videos.state.jobs.values())
            # On this process's monotonic clock: each fake's clock is monotonic + its offset.
            videos_offset = h.videos.state.now() - time.monotonic()
            completed_at = {
                job.prompt: job.started + job.duration - videos_offset
                for job in h.videos.state.jobs.values()
            }
            uploads: Counter[str] = Counter()
            upload_at: dict[str, float] = {}
            for request in h.discord.requests:
                if request.files and request.status == 200:
                    token = request.path.split("/")[3]
                    uploads[token] += 1
                    upload_at.setdefault(token, request.at)
            token_prompt = {
                it.token: f"bench scene {n} [duration={2 + n % 5}]"
                for n, it in enumerate(interactions)
            }
            traffic = str([(r.json, r.payload_json) for r in h.discord.requests])
            requests = h.videos.stats.requests
            discord_offset = h.discord.clock.now() - time.monotonic()
        database = await open_database(f"sqlite+aiosqlite:///{data_dir / 'video-bot.sqlite3'}")
        usage = await UsageStore(database).usage(since=0)
        await database.close()
        with sqlite3.connect(data_dir / "video-bot.sqlite3") as conn:
            dump = "\n".join(conn.iterdump())
    logging.getLogger().removeHandler(handler)
    states = Counter(r.state.value for r in records)
    expected = sum(
        (Decimal(r.cost) for r in records if made[r.prompt] and r.state is not JobState.FAILED),
        Decimal(0),
    )
    lags = []
    for token, at in upload_at.items():
        prompt = token_prompt.get(token)
        if prompt is not None and prompt in completed_at:
            lags.append(at - discord_offset - completed_at[prompt])
    faulted = sum(1 for r in requests if r.status is not None and r.status >= 400)
    secrets = sum(KEY in text for text in (traffic, log_text.getvalue(), dump))
    return {
        "jobs": jobs,
        "provider requests / answered >= 400": f"{len(requests)} / {faulted}",
        "states": dict(states),
        "delivered": states.get("delivered", 0),
        "unfinished at the end": unfinished,
        "dishonest final states": sum(1 for r in records if r.state not in HONEST),
        "duplicates (a reply with the video twice)": sum(1 for c in uploads.values() if c > 1),
        "double creates (a prompt made twice)": sum(1 for c in made.values() if c > 1),
        "counted money / what may be billed": f"{usage.cost} / {expected}",
        "secrets found (Discord, log, store)": secrets,
        "completion -> upload lag median / max (s)": (
            f"{statistics.median(lags):.2f} / {max(lags):.2f}" if lags else "-"
        ),
        "_ok": {
            "every job ended, delivered or honestly reported": unfinished == 0
            and all(r.state in HONEST for r in records)
            and len(records) == jobs,
            "no duplicate delivery": all(c == 1 for c in uploads.values()),
            "no double create": all(c == 1 for c in made.values()),
            "money equals what may be billed": usage.cost == expected,
            "no secret anywhere": secrets == 0,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument(
        "--rate", type=float, default=0.1, help="share of provider requests faulted"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    figures = asyncio.run(run(args.jobs, args.rate, args.seed, args.timeout))
    goals = figures.pop("_ok")
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    print("\ngoals:")
    for name, ok in goals.items():
        print(f"  {name}: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
