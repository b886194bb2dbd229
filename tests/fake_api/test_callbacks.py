"""Callbacks (webhooks) when a job ends: OpenRouter's signed callbacks, OpenAI's Standard Webhooks
events, retries, drops, and the record a test reads them from."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import aiohttp
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from bot.fake_api import FakeSettings, FakeState, FakeVideosServer

from ._client import create, get_json
from ._receiver import Receiver

SECRET = "or-signing-secret"
WHSEC = "whsec_" + base64.b64encode(b"a standard webhooks secret!!").decode()


def openrouter_signature_ok(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Verify X-OpenRouter-Signature over the raw body, as a receiver must."""
    fields = dict(part.split("=", 1) for part in headers["X-OpenRouter-Signature"].split(","))
    expected = hmac.new(
        secret.encode(), f"{fields['t']},".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 300


async def openrouter_job(http, fake, prompt: str, **fields) -> str:
    body = {"model": "openai/sora-2", "prompt": prompt, **fields}
    async with http.post(f"{fake.base_url}/videos", json=body) as r:
        assert r.status == 202
        return (await r.json())["id"]


# --- OpenRouter -------------------------------------------------------------------------------


async def test_openrouter_posts_a_signed_callback_when_a_job_completes(http):
    settings = FakeSettings(dialect="openrouter", webhook_secret=SECRET)
    async with FakeVideosServer(settings) as fake, Receiver() as receiver:
        job_id = await openrouter_job(http, fake, "[duration=10]", callback_url=receiver.url)
        fake.advance(5)
        await fake.flush_callbacks()
        assert receiver.received == []
        fake.advance(5)
        await fake.flush_callbacks()

        [got] = receiver.received
        assert got.path == "/hook"
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["X-OpenRouter-Idempotency-Key"] == f"{job_id}-completed"
        assert openrouter_signature_ok(SECRET, got.headers, got.body)
        assert not openrouter_signature_ok("another secret", got.headers, got.body)
        event = json.loads(got.body)
        assert event["type"] == "video.generation.completed"
        assert isinstance(event["created_at"], int)
        data = event["data"]
        assert (data["id"], data["status"]) == (job_id, "completed")
        assert data["usage"] == {"cost": pytest.approx(0.36), "is_byok": False}
        assert data["unsigned_urls"] == [f"{fake.base_url}/videos/{job_id}/content?index=0"]

        # What was sent is on record, byte for byte.
        [sent] = fake.stats.callbacks
        assert fake.stats.callbacks_for(job_id) == [sent]
        assert (sent.video_id, sent.event, sent.url) == (
            job_id,
            "video.generation.completed",
            receiver.url,
        )
        assert (sent.outcome, sent.attempts, sent.statuses) == ("delivered", 1, [200])
        assert sent.body == got.body
        assert sent.headers["X-OpenRouter-Signature"] == got.headers["X-OpenRouter-Signature"]
        assert sent.payload() == event

        # Polling or flushing again sends nothing more: one callback per job.
        fake.advance(100)
        status, _ = await get_json(http, f"{fake.base_url}/videos/{job_id}")
        assert status == 200
        await fake.flush_callbacks()
        assert len(receiver.received) == 1


async def test_the_callback_fires_with_nobody_polling(http):
    async with (
        FakeVideosServer(FakeSettings(dialect="openrouter")) as fake,
        Receiver() as receiver,
    ):
        job_id = await openrouter_job(http, fake, "[duration=10]", callback_url=receiver.url)
        fake.advance(10)  # the background loop notices on its own
        [got] = await receiver.wait_for(1)
        assert json.loads(got.body)["data"]["id"] == job_id
        assert "X-OpenRouter-Signature" not in got.headers  # no secret: unsigned


async def test_failed_refused_and_cancelled_jobs_send_their_status(http):
    settings = FakeSettings(dialect="openrouter", webhook_secret=SECRET)
    async with FakeVideosServer(settings) as fake, Receiver() as receiver:
        hook = {"callback_url": receiver.url}
        failing = await openrouter_job(http, fake, "[fail] [duration=10]", **hook)
        refused = await openrouter_job(http, fake, "[refuse]", **hook)
        cancelled = await openrouter_job(http, fake, "[duration=10]", **hook)
        await fake.flush_callbacks()
        assert [c.video_id for c in fake.stats.callbacks] == [refused]
        assert fake.cancel(cancelled)
        fake.advance(5)
        await fake.flush_callbacks()

        events = {json.loads(r.body)["data"]["id"]: json.loads(r.body) for r in receiver.received}
        assert events[refused]["type"] == "video.generation.failed"
        assert events[refused]["data"]["error"] == (
            "Your request was blocked by our moderation system."
        )
        assert "usage" not in events[refused]["data"]
        assert events[failing]["type"] == "video.generation.failed"
        assert events[failing]["data"]["error"] == "Video generation failed."
        assert events[cancelled]["type"] == "video.generation.cancelled"
        keys = {r.headers["X-OpenRouter-Idempotency-Key"] for r in receiver.received}
        assert keys == {f"{refused}-failed", f"{failing}-failed", f"{cancelled}-cancelled"}
        assert all(openrouter_signature_ok(SECRET, r.headers, r.body) for r in receiver.received)


async def test_the_workspace_url_is_the_default_and_no_url_sends_nothing(http):
    async with (
        FakeVideosServer(FakeSettings(dialect="openrouter")) as fake,
        Receiver() as receiver,
    ):
        silent = await openrouter_job(http, fake, "[duration=1]")
        fake.advance(1)
        await fake.flush_callbacks()
        assert fake.stats.callbacks == []
        fake.settings.webhook_url = receiver.url
        job_id = await openrouter_job(http, fake, "[duration=1]")
        fake.advance(1)
        await fake.flush_callbacks()
        assert [c.video_id for c in fake.stats.callbacks] == [job_id]
        assert len(receiver.received) == 1
        assert silent != job_id


async def test_a_lost_job_sends_no_callback(http):
    async with (
        FakeVideosServer(FakeSettings(dialect="openrouter")) as fake,
        Receiver() as receiver,
    ):
        await openrouter_job(http, fake, "[lost] [duration=10]", callback_url=receiver.url)
        fake.advance(20)
        await fake.flush_callbacks()
        assert fake.stats.callbacks == []


# --- delivery: retries, give-ups, drops -------------------------------------------------------


async def test_a_refused_delivery_is_retried_with_the_same_bytes(http):
    settings = FakeSettings(dialect="openrouter", webhook_secret=SECRET, callback_retry_delay=0)
    async with FakeVideosServer(settings) as fake, Receiver(statuses=(500, 503)) as receiver:
        await openrouter_job(http, fake, "[duration=1]", callback_url=receiver.url)
        fake.advance(1)
        await fake.flush_callbacks()
        [sent] = fake.stats.callbacks
        assert (sent.outcome, sent.attempts, sent.statuses) == ("delivered", 3, [500, 503, 200])
        assert sent.error is None
        assert len({r.body for r in receiver.received}) == 1
        assert len({r.headers["X-OpenRouter-Signature"] for r in receiver.received}) == 1


async def test_a_delivery_is_given_up_after_its_tries(http):
    settings = FakeSettings(dialect="openrouter", callback_attempts=2, callback_retry_delay=0.001)
    async with FakeVideosServer(settings) as fake, Receiver(statuses=(500,) * 5) as receiver:
        await openrouter_job(http, fake, "[duration=1]", callback_url=receiver.url)
        # And one to a port nobody listens on (9, discard).
        await openrouter_job(http, fake, "[duration=1]", callback_url="http://127.0.0.1:9/hook")
        fake.advance(1)
        await fake.flush_callbacks()
        refused, unreachable = fake.stats.callbacks
        assert (refused.outcome, refused.statuses, refused.error) == (
            "failed",
            [500, 500],
            "HTTP 500",
        )
        assert (unreachable.outcome, unreachable.statuses) == ("failed", [None, None])
        assert unreachable.error is not None
        assert len(receiver.received) == 2


async def test_dropped_callbacks_are_recorded_and_can_be_replayed_by_the_test(http):
    settings = FakeSettings(dialect="openrouter", webhook_secret=SECRET, drop_callbacks=True)
    async with FakeVideosServer(settings) as fake, Receiver() as receiver:
        job_id = await openrouter_job(http, fake, "[duration=1]", callback_url=receiver.url)
        fake.advance(1)
        await fake.flush_callbacks()
        await asyncio.sleep(0.06)  # a tick of the background loop, too
        assert receiver.received == []
        [dropped] = fake.stats.callbacks
        assert (dropped.outcome, dropped.attempts) == ("dropped", 0)
        # A replay of the recorded callback is as good as the original.
        async with http.post(dropped.url, data=dropped.body, headers=dropped.headers) as r:
            assert r.status == 200
        [got] = receiver.received
        assert openrouter_signature_ok(SECRET, got.headers, got.body)
        assert json.loads(got.body)["data"]["id"] == job_id

        _, record = await get_json(http, f"{fake.root_url}/_fake/callbacks")
        assert record[0]["outcome"] == "dropped"
        assert json.loads(record[0]["body"]) == dropped.payload()
        _, stats = await get_json(http, f"{fake.root_url}/_fake/stats")
        assert stats["callbacks"] == [
            {"video_id": job_id, "event": "video.generation.completed", "outcome": "dropped"}
        ]


async def test_a_stale_timestamp_can_be_scripted(http):
    settings = FakeSettings(
        dialect="openrouter", webhook_secret=SECRET, webhook_timestamp_offset=-3600
    )
    async with FakeVideosServer(settings) as fake, Receiver() as receiver:
        await openrouter_job(http, fake, "[refuse]", callback_url=receiver.url)
        await fake.flush_callbacks()
        [got] = receiver.received
        assert not openrouter_signature_ok(SECRET, got.headers, got.body)  # signed, but stale


async def test_closing_the_server_abandons_a_hanging_delivery(http):
    fake = FakeVideosServer(FakeSettings(dialect="openrouter"))
    await fake.start()
    async with Receiver(hang=True) as receiver:
        await openrouter_job(http, fake, "[refuse]", callback_url=receiver.url)
        await receiver.wait_for(1)
        async with asyncio.timeout(2):
            await fake.close()
        assert fake.stats.callbacks[0].outcome == "pending"


# --- OpenAI-style events ----------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["openai", "litellm", "sglang"])
async def test_openai_like_dialects_send_standard_webhooks_events(http, dialect):
    async with Receiver() as receiver:
        settings = FakeSettings(dialect=dialect, webhook_url=receiver.url, webhook_secret=WHSEC)
        async with FakeVideosServer(settings) as fake:
            _, done = await create(http, fake, "[duration=2]")
            _, failed = await create(http, fake, "[refuse]")
            fake.advance(2)
            await fake.flush_callbacks()
            assert len(receiver.received) == 2
            events = {}
            for got in receiver.received:
                event = Webhook(WHSEC).verify(got.body, got.headers)
                assert event["object"] == "event"
                assert event["id"] == got.headers["webhook-id"]
                assert event["id"].startswith("evt_")
                assert isinstance(event["created_at"], int)
                events[event["data"]["id"]] = event
            assert events[done["id"]]["type"] == "video.completed"
            assert events[failed["id"]]["type"] == "video.failed"
            assert set(events[done["id"]]["data"]) == {"id"}
            assert {c.event for c in fake.stats.callbacks} == {"video.completed", "video.failed"}
            other = "whsec_" + base64.b64encode(b"another secret").decode()
            with pytest.raises(WebhookVerificationError):
                Webhook(other).verify(got.body, got.headers)


async def test_openai_sends_nothing_without_a_webhook_url(fake, http):
    _, video = await create(http, fake, "[refuse]")
    await fake.flush_callbacks()
    assert fake.stats.callbacks == []
    assert video["status"] == "failed"


async def test_openai_events_without_a_secret_are_unsigned_and_a_bad_secret_is_recorded(http):
    async with Receiver() as receiver:
        settings = FakeSettings(webhook_url=receiver.url)
        async with FakeVideosServer(settings) as fake:
            await create(http, fake, "[refuse]")
            await fake.flush_callbacks()
            [got] = receiver.received
            assert "webhook-signature" not in got.headers
            assert got.headers["webhook-id"].startswith("evt_")

            fake.settings.webhook_secret = "whsec_!!not base64!!"
            _, video = await create(http, fake, "[refuse]")
            await fake.flush_callbacks()
            bad = fake.stats.callbacks_for(video["id"])
            assert [(c.outcome, c.attempts) for c in bad] == [("failed", 0)]
            assert bad[0].error is not None
            assert "whsec_" in bad[0].error
            assert len(receiver.received) == 1


async def test_a_job_deleted_before_the_loop_looked_still_gets_its_callback(http):
    async with (
        Receiver() as receiver,
        FakeVideosServer(FakeSettings(webhook_url=receiver.url)) as fake,
    ):
        _, video = await create(http, fake, "[refuse]")
        async with http.delete(f"{fake.base_url}/videos/{video['id']}") as r:
            assert r.status == 200
        await fake.flush_callbacks()
        assert [c.video_id for c in fake.stats.callbacks] == [video["id"]]


async def test_a_restart_forgets_unfinished_jobs_without_callbacks(http):
    async with (
        Receiver() as receiver,
        FakeVideosServer(FakeSettings(webhook_url=receiver.url)) as fake,
    ):
        await create(http, fake, "[duration=5]")
        fake.restart()
        fake.advance(5)
        await fake.flush_callbacks()
        assert fake.stats.callbacks == []


async def test_callbacks_survive_a_client_that_goes_away(http):
    """Sending never waits on a request: a create answered and closed still gets its callback."""
    async with (
        Receiver() as receiver,
        FakeVideosServer(FakeSettings(webhook_url=receiver.url)) as fake,
    ):
        async with aiohttp.ClientSession() as short_lived:
            _, video = await create(short_lived, fake, "[refuse]")
        [got] = await receiver.wait_for(1)
        assert json.loads(got.body)["data"]["id"] == video["id"]


@pytest.mark.parametrize(
    "prompt", ["[duration=10]", "[fail] [duration=10]", "[refuse]", "[lost] [duration=10]", "x"]
)
def test_settles_at_is_when_the_phase_stops_changing(prompt):
    """The callback loop skips jobs by `settles_at`; it must agree with `at`."""
    state = FakeState()
    job = state.add_job("v", model="m", prompt=prompt, size="1x1", seconds=4, default_duration=6)
    settled = {"completed", "failed", "lost"}
    end = job.settles_at()
    assert job.at(end).phase in settled
    assert job.at(end + 1000).phase == job.at(end).phase
    if end > job.started:
        assert job.at(end - 0.01).phase not in settled
    running = state.add_job("w", model="m", prompt="x", size="1x1", seconds=4, default_duration=6)
    running.cancelled_at = running.started + 2
    assert running.settles_at() == running.started + 2
    assert running.at(running.started + 2).error is not None
