"""Outgoing webhooks over real HTTP on 127.0.0.1: signing, retries, SSRF refusals, redirects."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web
from standardwebhooks import Webhook

from bot.http.webhooks import WebhookSender, event_payload, forbidden_address

SECRET = "whsec_" + base64.b64encode(b"s" * 32).decode()
NOW = 1_700_000_000
TINY = (0.01, 0.01)


@dataclass
class Receiver:
    """An aiohttp server on 127.0.0.1 that records every request and answers from a script."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes, str]] = field(default_factory=list)
    delay: float = 0.0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.StreamResponse:
        state.requests.append((dict(request.headers), await request.read(), request.path_qs))
        state.arrived.set()
        if state.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.release.wait(), state.delay)
        status = state.statuses.pop(0) if state.statuses else 200
        if 300 <= status < 400:
            raise web.HTTPFound("/elsewhere")
        return web.Response(status=status, text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site._server is not None
    state.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state
    state.release.set()  # slow answers end now
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


MakeSender = Callable[..., WebhookSender]


@pytest.fixture
def sender(session: aiohttp.ClientSession) -> MakeSender:
    def make(**kwargs: Any) -> WebhookSender:
        kwargs.setdefault("allow_private", True)
        kwargs.setdefault("backoff", TINY)
        return WebhookSender(session, **kwargs)

    return make


def verify(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    event: dict[str, Any] = Webhook(SECRET).verify(body, headers)
    return event


# --- the event -------------------------------------------------------------------------------


def test_event_payload_has_openais_shape() -> None:
    event = event_payload("video.completed", "video_123", created_at=NOW)
    assert event["id"].startswith("evt_")
    assert len(event["id"]) > len("evt_") + 16
    assert event == {
        "id": event["id"],
        "object": "event",
        "type": "video.completed",
        "created_at": NOW,
        "data": {"id": "video_123"},
    }
    assert event_payload("video.failed", "v", created_at=NOW)["id"] != event["id"]


def test_one_videos_event_has_one_id_whoever_announces_it() -> None:
    """Two processes announcing the same end send the same webhook-id: receivers drop one."""
    first = event_payload("video.completed", "video_123", created_at=NOW)
    again = event_payload("video.completed", "video_123", created_at=NOW + 5)
    assert first["id"] == again["id"]
    assert event_payload("video.failed", "video_123", created_at=NOW)["id"] != first["id"]
    assert event_payload("video.completed", "video_124", created_at=NOW)["id"] != first["id"]


# --- delivery --------------------------------------------------------------------------------


async def test_receiver_verifies_the_signature_and_gets_the_event(
    receiver: Receiver, sender: MakeSender
) -> None:
    event = event_payload("video.completed", "video_abc", created_at=NOW)
    assert await sender().send(receiver.url(), SECRET, event) is True

    [(headers, body, _)] = receiver.requests
    assert verify(headers, body) == event
    assert headers["webhook-id"] == event["id"]
    assert headers["Content-Type"] == "application/json"
    # The OpenAI SDK's own check accepts it too.
    client = openai.OpenAI(api_key="test", webhook_secret=SECRET)
    client.webhooks.verify_signature(body, headers)
    # A wrong secret does not.
    other = "whsec_" + base64.b64encode(b"o" * 32).decode()
    with pytest.raises(Exception, match="signature"):
        Webhook(other).verify(body, headers)


async def test_a_hostname_is_called_at_its_checked_address_with_its_own_host_header(
    receiver: Receiver, sender: MakeSender
) -> None:
    event = event_payload("video.failed", "video_x", created_at=NOW)
    assert await sender().send(receiver.url(host="localhost"), SECRET, event) is True
    [(headers, body, path)] = receiver.requests
    assert headers["Host"] == f"localhost:{receiver.port}"
    assert path == "/hook"
    assert verify(headers, body)["type"] == "video.failed"


async def test_retries_keep_the_webhook_id_and_sign_each_try_afresh(
    receiver: Receiver, sender: MakeSender
) -> None:
    receiver.statuses = [500, 500, 200]
    ticks = iter(range(3))
    base = int(time.time())
    event = event_payload("video.completed", "video_r", created_at=NOW)

    ok = await sender(clock=lambda: base + next(ticks)).send(receiver.url(), SECRET, event)

    assert ok is True
    assert len(receiver.requests) == 3
    ids = {headers["webhook-id"] for headers, _, _ in receiver.requests}
    assert ids == {event["id"]}
    stamps = [headers["webhook-timestamp"] for headers, _, _ in receiver.requests]
    assert stamps == [str(base), str(base + 1), str(base + 2)]
    assert len({headers["webhook-signature"] for headers, _, _ in receiver.requests}) == 3
    for headers, body, _ in receiver.requests:
        assert verify(headers, body) == event


async def test_a_receiver_that_always_fails_gets_len_backoff_plus_one_tries(
    receiver: Receiver, sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [503] * 10
    event = event_payload("video.failed", "video_f", created_at=NOW)
    with caplog.at_level(logging.WARNING, logger="bot.http.webhooks"):
        ok = await sender(backoff=(0, 0.01, 0.01)).send(receiver.url(), SECRET, event)
    assert ok is False
    assert len(receiver.requests) == 4
    lines = [r for r in caplog.records if r.name == "bot.http.webhooks"]
    assert len(lines) == 4
    assert "HTTP 503" in lines[-1].getMessage()
    assert "giving up" in lines[-1].getMessage()


async def test_a_refused_connection_is_retried_not_raised(sender: MakeSender) -> None:
    # Bind and release a port: nothing listens there afterwards.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    event = event_payload("video.completed", "video_n", created_at=NOW)
    assert await sender(backoff=(0,)).send(Receiver(port=port).url(), SECRET, event) is False


async def test_a_slow_receiver_times_out(receiver: Receiver, sender: MakeSender) -> None:
    receiver.delay = 1.0
    event = event_payload("video.completed", "video_t", created_at=NOW)
    started = time.monotonic()
    assert await sender(backoff=(0,), timeout=0.1).send(receiver.url(), SECRET, event) is False
    assert time.monotonic() - started < 0.9
    assert len(receiver.requests) == 2


async def test_a_redirect_is_not_followed(receiver: Receiver, sender: MakeSender) -> None:
    receiver.statuses = [302]
    event = event_payload("video.completed", "video_d", created_at=NOW)
    assert await sender(backoff=()).send(receiver.url(), SECRET, event) is False
    assert [path for _, _, path in receiver.requests] == ["/hook"]


async def test_the_secret_and_the_query_never_reach_the_logs(
    receiver: Receiver, sender: MakeSender, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [500, 500]
    url = receiver.url("/hooks/team-token-path?token=query-secret-123")
    event = event_payload("video.completed", "video_s", created_at=NOW)
    with caplog.at_level(logging.DEBUG):
        assert await sender(backoff=(0,)).send(url, SECRET, event) is False
        assert await sender().send(url, "whsec_", event) is False  # malformed: empty
    assert len(receiver.requests) == 2
    assert caplog.records
    text = caplog.text
    assert SECRET not in text
    assert SECRET.removeprefix("whsec_") not in text
    assert "query-secret-123" not in text
    assert "team-token-path" not in text
    assert f"http://127.0.0.1:{receiver.port}" in text


# --- refusals --------------------------------------------------------------------------------


class _NoSession:
    """Fails the test if anything is sent."""

    def post(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a refused URL must not be requested")

    request = post


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/hook",
        "http://localhost:{port}/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/hook",
        "http://[::ffff:127.0.0.1]:{port}/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://0.0.0.0:{port}/hook",
        "http://[::]/hook",
        "http://224.0.0.1/hook",
        "https://192.168.1.1/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "not a url",
    ],
)
async def test_private_and_odd_urls_are_refused_without_a_request(
    url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    refusing = WebhookSender(_NoSession(), allow_private=False, backoff=(30,))  # type: ignore[arg-type]
    event = event_payload("video.completed", "video_p", created_at=NOW)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bot.http.webhooks"):
        ok = await refusing.send(url.format(port=receiver.port), SECRET, event)
    assert ok is False
    assert time.monotonic() - started < 5  # no backoff wait: refused at once
    assert receiver.requests == []
    assert "refused" in caplog.text


async def test_real_session_refuses_localhost_without_reaching_the_receiver(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    refusing = WebhookSender(session, allow_private=False, backoff=(30,))
    event = event_payload("video.completed", "video_l", created_at=NOW)
    for host in ("127.0.0.1", "localhost"):
        assert await refusing.send(receiver.url(host=host), SECRET, event) is False
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("answers", "refused"),
    [
        (["10.0.0.5"], True),
        (["93.184.215.14", "192.168.0.7"], True),  # every address is checked
        (["fd00::1"], True),
        (["::ffff:169.254.169.254"], True),
    ],
)
async def test_a_hostname_resolving_to_a_private_address_is_refused(
    answers: list[str], refused: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()

    async def fake_getaddrinfo(host: str, port: Any, **kwargs: Any) -> list[Any]:
        assert host == "hooks.example.org"
        return [
            (0, 0, 0, "", (a, port or 443) if ":" not in a else (a, port or 443, 0, 0))
            for a in answers
        ]

    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)
    refusing = WebhookSender(_NoSession(), allow_private=False, backoff=(30,))  # type: ignore[arg-type]
    event = event_payload("video.failed", "video_h", created_at=NOW)
    assert await refusing.send("https://hooks.example.org/h", SECRET, event) is (not refused)


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.16.0.1", True),
        ("192.168.0.1", True),
        ("100.64.0.1", True),
        ("169.254.169.254", True),
        ("0.0.0.0", True),
        ("224.0.0.251", True),
        ("240.0.0.1", True),
        ("255.255.255.255", True),
        ("::1", True),
        ("::", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("2002:7f00:1::", True),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", True),  # NAT64 of 10.0.0.1
    ],
)
def test_forbidden_address(address: str, forbidden: bool) -> None:
    assert (forbidden_address(ipaddress.ip_address(address)) is not None) is forbidden


# --- background tasks ------------------------------------------------------------------------


async def test_start_runs_in_the_background_and_close_cancels(
    receiver: Receiver, sender: MakeSender
) -> None:
    webhooks = sender()
    event = event_payload("video.completed", "video_bg", created_at=NOW)
    done = webhooks.start(receiver.url(), SECRET, event)
    assert await done is True

    receiver.delay = 30
    receiver.arrived.clear()
    pending = webhooks.start(receiver.url(), SECRET, event)
    await asyncio.wait_for(receiver.arrived.wait(), 5)
    await webhooks.close()
    assert pending.cancelled()
