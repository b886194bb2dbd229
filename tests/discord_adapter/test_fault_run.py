"""A run of jobs through a hostile world: about one request in ten to the provider fails in
every way it can; Discord rate-limits without warning, answers 5xx, lets the interaction tokens
expire (50027) and drops the gateway (a RESUME, then a new session); the key is echoed where it
should not be. Every job must end delivered exactly once or honestly reported, nothing created
twice, the money equal to what the provider may bill, and no secret anywhere."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from bot.domain import Billing, JobState, billing
from bot.fake_api import FakeSettings
from tests.discord_adapter.harness import running_harness
from tests.discord_adapter.test_video_command import finished

KEY = "sk-proj-secret-key-1234567890abcdef"
WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
CHANNEL_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
JOBS = 30
# Final states a job may honestly end in under these faults (never an unexplained failure).
HONEST = {
    JobState.DELIVERED,
    JobState.FAILED,  # the provider refused the create, or provably never made it
    JobState.UNKNOWN,
    JobState.EXPIRED,
}


async def test_thirty_jobs_through_ten_percent_faults(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeSettings(default_duration=1.0, api_key=KEY, fault_rate=0.1, fault_seed=11)
    async with running_harness(
        tmp_path,
        fake_settings=fake,
        openai_api_key=KEY,
        content_wait=30,
        max_concurrent_jobs=JOBS,
    ) as h:
        h.discord.rate_limit_webhook(per_token=5, per_seconds=1.0, announce=False)
        members = [h.discord.add_member(h.guild, name=f"m{n}") for n in range(JOBS)]
        interactions = [
            await h.video(f"scene number {n} [duration={1 + n % 3}]", member=member)
            for n, member in enumerate(members)
        ]
        h.discord.fail_requests("PATCH", WEBHOOK_MESSAGE, status=500, times=3)
        h.discord.fail_requests("PATCH", CHANNEL_MESSAGE, status=503, times=3)
        await h.discord.request_reconnect()  # the gateway drops; discord.py RESUMEs
        await asyncio.sleep(0.5)
        for it in interactions:  # answered in time (on a busy machine, later than 0.5 s)
            await it.wait_for(lambda i: i.acknowledged, timeout=30)
        h.discord.advance(16 * 60)  # every interaction token dies: 50027, then the channel
        await h.discord.invalidate_session()  # and a new session
        for it in interactions:
            await it.wait_for(finished, timeout=120)
        await h.discord.wait_ready(timeout=30, sessions=2)  # the bot identified anew
        records = []
        async with asyncio.timeout(60):
            while True:
                records = await h.bot.service.engine.store.recent(JOBS)
                if len(records) == JOBS and all(r.state.is_final for r in records):
                    break
                await asyncio.sleep(0.05)
        made = Counter(job.prompt for job in h.videos.state.jobs.values())
        uploaded = [  # the videos (a progress card may carry just its thumbnail)
            r
            for r in h.discord.requests
            if r.status == 200 and any(f.filename.endswith(".mp4") for f in r.files)
        ]
        uploads = Counter(  # by message id: through the token or, once it died, the channel
            r.path.rsplit("/", 1)[-1] for r in uploaded
        )
        discord_traffic = str([(r.json, r.payload_json) for r in h.discord.requests])
        token_failures = sum(1 for r in h.discord.requests if r.error_code == 50027)
        sessions = h.discord.ready_count

    faulted = h.videos.stats.requests
    assert any(r.status is not None and r.status >= 400 for r in faulted)  # faults happened
    assert token_failures > 0  # the tokens did expire on the way
    assert sessions >= 2
    assert any(r.route == CHANNEL_MESSAGE for r in uploaded)
    by_prompt = {r.prompt: r for r in records}
    assert max(made.values()) == 1  # never created twice
    expected_cost = Decimal(0)
    for prompt, record in by_prompt.items():
        assert record.state in HONEST, (prompt, record.state, record.last_error)
        if record.state is JobState.DELIVERED:
            assert record.provider_video_id is not None
        if made[prompt] and record.state is not JobState.FAILED:
            expected_cost += Decimal(record.cost)
        if record.state is JobState.FAILED:
            assert billing(record.state, record.provider_video_id) is Billing.REFUNDED
    assert max(uploads.values()) == 1  # never delivered twice
    delivered = [r for r in records if r.state is JobState.DELIVERED]
    assert len(delivered) == sum(uploads.values())
    # Hostile answers end some jobs for good (a key echoed in a failure, a page posing as the
    # video): honestly reported, with a reason. The everyday faults alone never do.
    assert len(delivered) >= JOBS // 2
    for record in records:
        if record.state is not JobState.DELIVERED:
            assert record.last_error, record
    usage = await _usage(tmp_path)
    assert usage == expected_cost

    # No secret anywhere: Discord, the log, the store.
    assert KEY not in discord_traffic
    assert KEY[:12] not in caplog.text
    with sqlite3.connect(tmp_path / "video-bot.sqlite3") as conn:
        dump = "\n".join(conn.iterdump())
    assert KEY not in dump


async def _usage(data_dir: Path) -> Decimal:
    from bot.store import open_database
    from bot.store.usage import UsageStore

    database = await open_database(f"sqlite+aiosqlite:///{data_dir / 'video-bot.sqlite3'}")
    try:
        return (await UsageStore(database).usage(since=0)).cost
    finally:
        await database.close()
