"""Providers' completion callbacks over real HTTP, into the real bot's service: OpenRouter's
HMAC signature and Standard Webhooks (the `openai` dialect), each signed here as the provider
signs it, then refused, deduplicated or acted on; and the fakes' own callbacks end to end."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook

from bot.domain import AT_PROVIDER, ProviderHealth
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.http.provider_webhooks import MAX_BODY, openrouter_signature
from bot.http.server import WebServer, make_app
from bot.observability.metrics import Metrics
from bot.service.links import LinkSigner
from bot.store import JobRecord
from tests.discord_adapter.harness import Harness, running_harness

WHSEC = "whsec_" + base64.b64encode(b"the default provider's 32 bytes").decode()
ROUTER_SECRET = "sk-or-webhook-secret-for-the-tests"
ROUTER_ENV = "TEST_ROUTER_WEBHOOK_SECRET"
OTHER_WHSEC = "whsec_" + base64.b64encode(b"somebody else's secret, 32 bytes").decode()

CATALOGUE = """
default_model = "sora-2"

[providers.router]
dialect = "openrouter"
base_url = "{router}"
webhook_secret_env = "{env}"

[providers.plain]
base_url = "{plain}"

[[models]]
name = "sora-2"
sizes = ["1280x720"]
seconds = [4]
price_per_second = 0.10

[[models]]
name = "veo"
provider = "router"
api_model = "google/veo-3.1"
sizes = ["1280x720"]
seconds = [4]
seconds_format = "int"
price_per_second = 0.40

[[models]]
name = "plain-sora"
provider = "plain"
api_model = "sora-2"
sizes = ["1280x720"]
seconds = [4]
"""


# -- signing as the providers do ------------------------------------------------------------------


def openrouter_event(
    video_id: str,
    status: str = "completed",
    *,
    secret: str = ROUTER_SECRET,
    timestamp: int | None = None,
    event_id: str | None = "",
    kind: str | None = None,
    body: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An OpenRouter callback: the body and its headers. `event_id` is its idempotency key:
    "" the provider's own ("<id>-<status>"), None no header at all."""
    if body is None:
        payload = {
            "type": kind or f"video.generation.{status}",
            "created_at": int(time.time()),
            "data": {"id": video_id, "status": status, "usage": {"cost": 0.38}},
        }
        body = json.dumps(payload).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": "application/json",
        "X-OpenRouter-Signature": f"t={stamp},v1={openrouter_signature(secret, stamp, body)}",
    }
    if event_id is not None:
        headers["X-OpenRouter-Idempotency-Key"] = event_id or f"{video_id}-{status}"
    return body, headers


def standard_event(
    video_id: str,
    kind: str = "video.completed",
    *,
    secret: str = WHSEC,
    timestamp: int | None = None,
    event_id: str | None = None,
    body: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An OpenAI webhook event, signed by Standard Webhooks."""
    if body is None:
        payload = {
            "id": f"evt_{video_id}_{kind}",
            "object": "event",
            "type": kind,
            "created_at": int(time.time()),
            "data": {"id": video_id},
        }
        body = json.dumps(payload).encode()
    msg_id = event_id or f"evt_{hashlib.sha256(body).hexdigest()[:24]}"
    stamp = int(time.time()) if timestamp is None else timestamp
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, tz=UTC), body.decode())
    return body, {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }


Signer = Callable[..., tuple[bytes, dict[str, str]]]
# provider name → (how it signs, the catalogue model it serves)
DIALECTS: dict[str, tuple[Signer, str]] = {
    "router": (openrouter_event, "veo"),
    "default": (standard_event, "sora-2"),
}


# -- the rig: the real bot between the fakes, and a web server with the callbacks' route ---------


@dataclass
class Rig:
    h: Harness
    router: FakeVideosServer
    metrics: Metrics
    url: str
    http: aiohttp.ClientSession
    servers: list[WebServer] = field(default_factory=list)

    async def post(
        self, provider: str, body: bytes, headers: dict[str, str], *, url: str | None = None
    ) -> tuple[int, Any]:
        target = f"{url or self.url}/provider-webhooks/{provider}"
        async with self.http.post(target, data=body, headers=headers) as resp:
            text = await resp.text()
            try:
                answer: Any = json.loads(text)
            except ValueError:
                answer = text
            return resp.status, answer

    def count(self, provider: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "video_bot_provider_callbacks_total", {"provider": provider, "outcome": outcome}
        )
        return value or 0.0

    def counts(self) -> dict[tuple[str, str], float]:
        found = {}
        for family in self.metrics.registry.collect():
            for sample in family.samples:
                if sample.name == "video_bot_provider_callbacks_total":
                    found[(sample.labels["provider"], sample.labels["outcome"])] = sample.value
        return found

    async def serve(self, clock: Callable[[], float] = time.time) -> str:
        """Another server on the same service (its own clock), for the clock's tests."""
        return await _serve(self.h, self.metrics, clock, self.servers)

    def calls_back(self, provider: str) -> FakeVideosServer:
        """Have the fake provider send its own signed callbacks to the receiver."""
        fake = self.router if provider == "router" else self.h.videos
        fake.settings.webhook_url = f"{self.url}/provider-webhooks/{provider}"
        fake.settings.webhook_secret = ROUTER_SECRET if provider == "router" else WHSEC
        return fake

    async def at_provider(self, model: str, within: float = 20.0) -> JobRecord:
        """The newest job of `model` once the provider has it (its video id is known)."""
        return await self._wait(
            model, lambda r: bool(r.provider_video_id) and r.state in AT_PROVIDER, within
        )

    async def ended(self, model: str, within: float = 20.0) -> JobRecord:
        """The newest job of `model` once it has ended."""
        return await self._wait(model, lambda r: r.state.is_final, within)

    async def _wait(
        self, model: str, ready: Callable[[JobRecord], bool], within: float
    ) -> JobRecord:
        async with asyncio.timeout(within):
            while True:
                found = [
                    r for r in await self.h.bot.service.engine.store.recent(20) if r.model == model
                ]
                if found and ready(found[0]):
                    return found[0]
                await asyncio.sleep(0.05)


async def _serve(
    h: Harness, metrics: Metrics, clock: Callable[[], float], servers: list[WebServer]
) -> str:
    service = h.bot.service

    async def health() -> dict[str, bool]:
        return {"loop": True}

    app = make_app(
        files=service.original_file,
        signer=LinkSigner(b"k" * 32),
        health=health,
        registry=metrics.registry,
        metrics_token=None,
        clock=clock,
        service=service,
        metrics=metrics,
    )
    server = WebServer(app)
    await server.start("127.0.0.1", 0)
    servers.append(server)
    return server.url


@pytest.fixture
async def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    monkeypatch.setenv(ROUTER_ENV, ROUTER_SECRET)
    router_settings = FakeSettings(dialect="openrouter", default_duration=2.0)
    async with (
        FakeVideosServer(router_settings) as router,
        FakeVideosServer(FakeSettings()) as plain,
    ):
        catalogue = tmp_path / "catalogue.toml"
        catalogue.write_text(
            CATALOGUE.format(
                router=f"{router.root_url}/api/v1", env=ROUTER_ENV, plain=plain.base_url
            ),
            encoding="utf-8",
        )
        async with (
            running_harness(
                tmp_path / "bot", openai_webhook_secret=WHSEC, catalogue_file=catalogue
            ) as h,
            aiohttp.ClientSession() as http,
        ):
            await h.bot.wait_until_ready()
            metrics = Metrics()
            servers: list[WebServer] = []
            url = await _serve(h, metrics, time.time, servers)
            rig = Rig(h, router, metrics, url, http, servers)
            try:
                yield rig
            finally:
                for server in servers:
                    await server.stop()


# -- verified events -------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["router", "default"])
async def test_a_signed_event_wakes_the_job_and_its_replay_does_nothing(
    rig: Rig, provider: str
) -> None:
    sign, model = DIALECTS[provider]
    await rig.h.video("a kite over the sea [duration=60]", model=model)
    record = await rig.at_provider(model)
    assert record.provider == provider
    body, headers = sign(record.provider_video_id)
    assert await rig.post(provider, body, headers) == (200, {"status": "moved"})
    # The same delivery again (a replay, or the provider's retry): acknowledged, not acted on.
    assert await rig.post(provider, body, headers) == (200, {"status": "duplicate"})
    assert rig.counts() == {(provider, "moved"): 1, (provider, "duplicate"): 1}


@pytest.mark.parametrize("provider", ["router", "default"])
async def test_an_event_for_a_job_that_ended_says_so(rig: Rig, provider: str) -> None:
    sign, model = DIALECTS[provider]
    # A provider that calls back is polled only now and then: its own callback ends the job.
    fake = rig.calls_back(provider)
    await rig.h.video("a short kite [duration=1]", model=model)
    record = await rig.ended(model)
    await fake.callbacks.flush()
    assert record.provider == provider
    assert record.provider_video_id
    before = rig.counts()
    body, headers = sign(record.provider_video_id, event_id="evt_late")
    assert await rig.post(provider, body, headers) == (200, {"status": "ended"})
    assert rig.count(provider, "ended") == before.get((provider, "ended"), 0) + 1


@pytest.mark.parametrize("provider", ["router", "default"])
async def test_an_event_for_no_job_is_acknowledged_so_the_provider_stops(
    rig: Rig, provider: str
) -> None:
    sign, _ = DIALECTS[provider]
    body, headers = sign("video_nobody_asked_for")
    assert await rig.post(provider, body, headers) == (200, {"status": "unknown_job"})
    assert rig.counts() == {(provider, "unknown_job"): 1}


async def test_an_event_of_another_provider_is_not_found_there(rig: Rig) -> None:
    """Video ids are per provider: the router's video told of by `default` is no job."""
    await rig.h.video("a kite [duration=60]", model="veo")
    record = await rig.at_provider("veo")
    body, headers = standard_event(record.provider_video_id or "")
    assert await rig.post("default", body, headers) == (200, {"status": "unknown_job"})


@pytest.mark.parametrize(
    ("provider", "kind"),
    [
        ("router", "credits.low"),
        ("default", "batch.completed"),
        ("default", "video.created"),
    ],
)
async def test_other_event_types_are_verified_then_ignored(
    rig: Rig, provider: str, kind: str
) -> None:
    body, headers = DIALECTS[provider][0]("video_1", kind=kind)
    assert await rig.post(provider, body, headers) == (200, {"status": "ignored"})
    # Not recorded (they mean nothing whatever their id): the same one is ignored again.
    assert await rig.post(provider, body, headers) == (200, {"status": "ignored"})
    assert rig.counts() == {(provider, "ignored"): 2}
    # Verified all the same: unsigned, it is refused.
    del headers["X-OpenRouter-Signature" if provider == "router" else "webhook-signature"]
    assert await rig.post(provider, body, headers) == (401, {"error": "unsigned"})


# -- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["router", "default"])
async def test_unsigned_badly_signed_and_stale_events_are_refused_and_not_recorded(
    rig: Rig, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sign, _ = DIALECTS[provider]
    wrong = "another-secret" if provider == "router" else OTHER_WHSEC
    ten_minutes_ago = int(time.time()) - 600
    in_ten_minutes = int(time.time()) + 600

    body, headers = sign("video_x")
    unsigned = {
        k: v for k, v in headers.items() if k not in ("X-OpenRouter-Signature", "webhook-signature")
    }
    assert await rig.post(provider, body, unsigned) == (401, {"error": "unsigned"})

    bad_body, bad_headers = sign("video_x", secret=wrong)
    assert await rig.post(provider, bad_body, bad_headers) == (401, {"error": "bad_signature"})
    # The right signature over other bytes (one changed field) is as bad.
    tampered = body.replace(b"video_x", b"video_y")
    assert await rig.post(provider, tampered, headers) == (401, {"error": "bad_signature"})

    for stamp in (ten_minutes_ago, in_ten_minutes):
        old_body, old_headers = sign("video_x", timestamp=stamp)
        assert await rig.post(provider, old_body, old_headers) == (401, {"error": "stale"})

    assert rig.counts() == {
        (provider, "unsigned"): 1,
        (provider, "bad_signature"): 2,
        (provider, "stale"): 2,
    }
    # None of them was recorded: the genuine event, same id, is acted on.
    assert await rig.post(provider, body, headers) == (200, {"status": "unknown_job"})

    # One line per refusal, and never the secret, a signature or the body.
    mine = [r for r in caplog.records if r.name == "bot.http.provider_webhooks"]
    assert len([r for r in mine if "refused" in r.getMessage()]) == 5
    assert all(r.exc_info is None for r in mine)
    logged = "\n".join(r.getMessage() for r in mine)
    header = headers.get("X-OpenRouter-Signature") or headers["webhook-signature"]
    signature = header.rpartition("v1=" if provider == "router" else "v1,")[2]
    for never in (ROUTER_SECRET, WHSEC, WHSEC.removeprefix("whsec_"), signature, "video_x"):
        assert never not in logged
    assert "secret" not in caplog.text.replace("webhook secret", "")


@pytest.mark.parametrize("provider", ["router", "default"])
async def test_malformed_headers_are_bad_signatures(rig: Rig, provider: str) -> None:
    body, headers = DIALECTS[provider][0]("video_x")
    if provider == "router":
        broken = [
            "v1=abc",  # no timestamp
            "t=1700000000",  # no signature
            "t=yesterday,v1=abc",
            f"t={int(time.time())},v1=not-hex-at-all",
        ]
        for value in broken:
            changed = {**headers, "X-OpenRouter-Signature": value}
            assert await rig.post(provider, body, changed) == (401, {"error": "bad_signature"})
    else:
        for name, value in (("webhook-timestamp", "soon"), ("webhook-id", "")):
            changed = {**headers, name: value}
            assert await rig.post(provider, body, changed) == (401, {"error": "bad_signature"})
        changed = {**headers, "webhook-signature": "v1,AAAA"}
        assert await rig.post(provider, body, changed) == (401, {"error": "bad_signature"})


async def test_openrouter_accepts_any_of_several_signatures_while_a_secret_rotates(
    rig: Rig,
) -> None:
    body, headers = openrouter_event("gen-rotating")
    stamp = headers["X-OpenRouter-Signature"].split(",")[0]
    good = headers["X-OpenRouter-Signature"].split("v1=")[1]
    old = openrouter_signature("the-retired-secret", stamp.removeprefix("t="), body)
    rotated = {**headers, "X-OpenRouter-Signature": f"{stamp},v1={old}, v1={good.upper()}"}
    assert await rig.post("router", body, rotated) == (200, {"status": "unknown_job"})
    only_old = {**headers, "X-OpenRouter-Signature": f"{stamp},v1={old}"}
    assert await rig.post("router", body, only_old) == (401, {"error": "bad_signature"})


async def test_without_an_idempotency_key_openrouter_events_are_told_apart_by_id_and_status(
    rig: Rig,
) -> None:
    completed = openrouter_event("gen-42", "completed", event_id=None)
    assert await rig.post("router", *completed) == (200, {"status": "unknown_job"})
    # Signed again later (a new timestamp): still the same event.
    again = openrouter_event("gen-42", "completed", event_id=None, timestamp=int(time.time()) - 5)
    assert again[1] != completed[1]
    assert await rig.post("router", *again) == (200, {"status": "duplicate"})
    failed = openrouter_event("gen-42", "failed", event_id=None)
    assert await rig.post("router", *failed) == (200, {"status": "unknown_job"})
    # And its own key, when it sends one, is the event's id whatever the body says.
    keyed = openrouter_event("gen-43", "completed", event_id="gen-42-completed")
    assert await rig.post("router", *keyed) == (200, {"status": "duplicate"})


@pytest.mark.parametrize("provider", ["router", "default"])
async def test_a_verified_body_that_is_not_the_event_is_400(rig: Rig, provider: str) -> None:
    sign, _ = DIALECTS[provider]
    bodies = [
        b"{not json",
        b"[1, 2, 3]",
        json.dumps({"data": {"id": "video_1"}}).encode(),  # no type
    ]
    if provider == "router":
        bodies.append(json.dumps({"type": "video.generation.completed"}).encode())
        bodies.append(json.dumps({"type": "video.generation.failed", "data": {}}).encode())
    else:
        bodies.append(json.dumps({"type": "video.completed", "data": {"id": 12}}).encode())
    for index, body in enumerate(bodies):
        signed_body, headers = sign("video_1", body=body, event_id=f"evt_{index}")
        assert await rig.post(provider, signed_body, headers) == (400, {"error": "malformed"})
    assert rig.counts() == {(provider, "malformed"): len(bodies)}


async def test_unknown_providers_and_providers_without_a_secret_are_404(rig: Rig) -> None:
    body, headers = openrouter_event("gen-1")
    for provider in ("nobody", "plain", "Router", "x" * 300):
        status, answer = await rig.post(provider, body, headers)
        assert status == 404
        assert answer == "404: Not Found"  # as for any path the server does not have
    # Only names of the catalogue become labels.
    assert rig.counts() == {("unknown", "not_found"): 3, ("plain", "not_found"): 1}
    async with rig.http.get(f"{rig.url}/provider-webhooks/router") as resp:
        assert resp.status == 405  # POST only


async def test_a_body_over_the_cap_is_refused_unread(rig: Rig) -> None:
    payload = {"type": "video.generation.completed", "data": {"id": "gen-1", "pad": "x" * MAX_BODY}}
    body, headers = openrouter_event("gen-1", body=json.dumps(payload).encode())
    assert await rig.post("router", body, headers) == (413, {"error": "too_large"})

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(5):
            yield b"x" * (MAX_BODY // 4)

    target = f"{rig.url}/provider-webhooks/router"
    async with rig.http.post(target, data=chunks(), headers=headers) as resp:
        assert resp.status == 413
    assert rig.counts() == {("router", "too_large"): 2}


async def test_the_tolerance_is_judged_by_the_servers_clock(rig: Rig) -> None:
    """The clock given to make_app: an hour ahead, a fresh signature is an hour old."""
    ahead = await rig.serve(clock=lambda: time.time() + 3600)
    for provider, (sign, _) in DIALECTS.items():
        body, headers = sign("video_clock")
        assert await rig.post(provider, body, headers, url=ahead) == (401, {"error": "stale"})
    # Signed at that server's "now": on time there. (The `standardwebhooks` package checks
    # the real time again on its own, so a Standard Webhooks event must be on time for both.)
    body, headers = openrouter_event("gen-clock", timestamp=int(time.time()) + 3600)
    assert await rig.post("router", body, headers, url=ahead) == (200, {"status": "unknown_job"})
    assert rig.counts() == {
        ("router", "stale"): 1,
        ("default", "stale"): 1,
        ("router", "unknown_job"): 1,
    }


# -- the fakes call back on their own --------------------------------------------------------------


@pytest.mark.parametrize("provider", ["router", "default"])
async def test_the_providers_own_callbacks_are_verified_and_acted_on(
    rig: Rig, provider: str
) -> None:
    fake = rig.calls_back(provider)
    model = DIALECTS[provider][1]
    await rig.h.video("a kite [duration=1]", model=model)
    record = await rig.ended(model)
    assert record.provider == provider
    await fake.callbacks.flush()
    (callback,) = fake.stats.callbacks
    assert callback.statuses == [200]
    # Told before or after its own poll saw the end; either way acted on once, not refused.
    counted = rig.counts()
    assert set(counted) <= {(provider, "moved"), (provider, "ended")}
    assert sum(counted.values()) == 1
    # The provider's retry of the same callback is a duplicate.
    assert await rig.post(provider, callback.body, callback.headers) == (
        200,
        {"status": "duplicate"},
    )


# -- /healthz --------------------------------------------------------------------------------------


async def test_healthz_lists_the_providers(rig: Rig) -> None:
    async with rig.http.get(f"{rig.url}/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["ok"] is True
    assert body["status"] == "ok"
    listed = {p["name"]: p for p in body["providers"]}
    assert set(listed) == {"default", "router", "plain"}
    assert listed["router"] == {
        "name": "router",
        "dialect": "openrouter",
        "calls_back": True,
        "state": "up",
    }
    assert listed["plain"]["calls_back"] is False
    assert "127.0.0.1" not in json.dumps(body)  # no base URL on an open endpoint


class _Providers:
    """Just the service's provider_health, for the states a test cannot easily bring about."""

    def __init__(self, *health: ProviderHealth) -> None:
        self.health = list(health)

    def provider_health(self) -> list[ProviderHealth]:
        return self.health


def _provider(name: str, down_until: float | None = None) -> ProviderHealth:
    failures = 5 if down_until is not None else 0
    return ProviderHealth(name, "openai", f"http://{name}.internal/v1", down_until, failures, True)


@pytest.mark.parametrize(
    ("health", "status", "answer", "failing"),
    [
        ([_provider("a"), _provider("b")], 200, "ok", []),
        ([_provider("a", down_until=1_800_000_060.0), _provider("b")], 200, "degraded", []),
        (
            [_provider("a", down_until=1_800_000_060.0), _provider("b", 1_800_000_030.0)],
            503,
            "failing",
            ["providers"],
        ),
    ],
)
async def test_healthz_is_degraded_while_some_providers_are_down_and_failing_when_all_are(
    health: list[ProviderHealth], status: int, answer: str, failing: list[str]
) -> None:
    async def checks() -> dict[str, bool]:
        return {"loop": True, "store": True}

    app = make_app(
        files=lambda _job_id: None,
        signer=LinkSigner(b"k" * 32),
        health=checks,
        registry=Metrics().registry,
        metrics_token=None,
        service=_Providers(*health),  # type: ignore[arg-type]
    )
    server = WebServer(app)
    await server.start("127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http, http.get(server.url + "/healthz") as resp:
            assert resp.status == status
            body = await resp.json()
    finally:
        await server.stop()
    assert body["status"] == answer
    assert body["failing"] == failing
    assert body["checks"] == {"loop": True, "store": True}
    down = {p["name"]: p for p in body["providers"] if p["state"] == "down"}
    expected_down = {p.name: p.down_until for p in health if p.down}
    assert {name: p["down_until"] for name, p in down.items()} == expected_down
    assert all(p["consecutive_failures"] == 5 for p in down.values())
    assert "internal" not in json.dumps(body)
