"""Secrets never reach a log line, a stored error or a public reply."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from discord.http import Route

from bot.config import ConfigError, load_settings
from bot.domain import Delivery, JobView
from bot.observability import redaction
from bot.observability.redaction import REDACTED, RedactingFilter, Redactor, install_log_redaction
from bot.service import build_service
from bot.store import JobRecord, JobState, JobStore, open_database
from bot.videos import VideosClient

# Shapes no generic pattern knows: only the configured secret can catch them.
API_KEY = "prov-Zq8xK2mW9vLp4RtY"
REPLY_SECRET = "interaction-token-Hf93kLmQ0pXz"


@pytest.fixture(autouse=True)
def _fresh_default_redactor() -> Iterator[None]:
    """Each test starts from, and leaves behind, a default redactor that knows nothing."""
    redaction.default_redactor.reset()
    yield
    redaction.default_redactor.reset()
    for handler in redaction._all_handlers():  # undo what a test installed
        for each in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(each)


# -- the redactor ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.DEF-123_xyz~+/=", "abc.DEF-123_xyz"),
        ("header authorization: bearer qwertyuiop123", "qwertyuiop123"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("Incorrect API key provided: sk-proj-AbCdEf0123456789xyz.", "sk-proj-AbCdEf0123456789xyz"),
        ("bad key sk-ant-api03-AAAAbbbbCCCCdddd", "sk-ant-api03-AAAAbbbbCCCCdddd"),
        ("key vbk_0123456789abcdefXYZ rejected", "vbk_0123456789abcdefXYZ"),
        (
            "signing secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2",
        ),
        ("GET https://alice:s3cr3t@proxy.example/v1/videos", "s3cr3t"),
        ("postgresql+asyncpg://bot:hunter2@db:5432/bot", "hunter2"),
        ("http://onlytoken@host/v1", "onlytoken"),
        (
            "token MTA4NjI4NjQ5NzU4NTI3NjA4Mg.GhT5aB.abcdefghijklmnopqrstuvwxyz0123456789AB",
            "abcdefghijklmnopqrstuvwxyz0123456789AB",
        ),
        (
            "POST https://discord.com/api/v10/webhooks/1086286497585276082/"
            "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpzZWNyZXQ/messages/@original",
            "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpzZWNyZXQ",
        ),
    ],
)
def test_generic_shapes_are_redacted(text: str, secret: str) -> None:
    out = Redactor().redact(text)
    assert secret not in out
    assert REDACTED in out


# An interaction token as Discord issues them (base64 of "interaction:<id>:<random>").
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTA4NjI4NjQ5NzU4NTI3NjA4MjpIZjkza0xtUTBwWHo3YWJjZGVm"


# discord.py 2.7's own DEBUG lines (logger, format), as in discord/webhook/async_.py
# (AsyncWebhookAdapter.request: interaction callbacks and webhook edits) and discord/http.py
# (HTTPClient.request).
WEBHOOK_LINE = ("discord.webhook.async_", "Webhook ID %s with %s %s has returned status code %s")
HTTP_LINE = ("discord.http", "%s %s with %s has returned %s")


def _discord_route(path: str, **parameters: Any) -> str:
    """The URL discord.py itself builds for a route (its own quoting of the token included)."""
    return Route("POST", path, **parameters).url


@pytest.mark.parametrize(
    ("line", "args", "token", "kept"),
    [
        # discord/webhook/async_.py, AsyncWebhookAdapter.request: the first callback of an
        # interaction, logged before the bot has seen (and registered) its token.
        (
            WEBHOOK_LINE,
            (
                1086286497585276082,
                "POST",
                _discord_route(
                    "/interactions/{webhook_id}/{webhook_token}/callback",
                    webhook_id=1086286497585276082,
                    webhook_token=INTERACTION_TOKEN,
                ),
                200,
            ),
            INTERACTION_TOKEN,
            f"POST https://discord.com/api/v10/interactions/1086286497585276082/{REDACTED}"
            "/callback has returned status code 200",
        ),
        # An edit of the original response, with a token too short for any length heuristic.
        (
            WEBHOOK_LINE,
            (
                1086286497585276082,
                "PATCH",
                _discord_route(
                    "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                    webhook_id=1086286497585276082,
                    webhook_token="tok-short",
                ),
                200,
            ),
            "tok-short",
            f"/webhooks/1086286497585276082/{REDACTED}/messages/@original has returned",
        ),
        # discord/http.py, HTTPClient.request's DEBUG line; the token holds characters that
        # discord.py percent-encodes.
        (
            HTTP_LINE,
            (
                "POST",
                _discord_route(
                    "/webhooks/{webhook_id}/{webhook_token}",
                    webhook_id=42,
                    webhook_token="odd:token/with=chars",
                ),
                None,
                204,
            ),
            "odd%3Atoken%2Fwith%3Dchars",
            f"POST https://discord.com/api/v10/webhooks/42/{REDACTED} with None has returned 204",
        ),
    ],
    ids=["interaction-callback", "webhook-edit-short-token", "http-percent-encoded"],
)
def test_a_token_in_a_discord_url_is_redacted_by_its_shape_alone(
    root_capture: io.StringIO, line: tuple[str, str], args: tuple[Any, ...], token: str, kept: str
) -> None:
    install_log_redaction()  # as the CLI does before anything is known: no secret registered
    logger, msg = line
    logging.getLogger(logger).debug(msg, *args)
    out = root_capture.getvalue()
    assert token not in out
    assert kept in out  # the route and the ids stay readable


async def test_interaction_tokens_never_reach_a_debug_log_at_the_wire(
    tmp_path: Path, root_capture: io.StringIO
) -> None:
    """`VIDEO_BOT_LOG_LEVEL=DEBUG`: the real bot against the fake Discord, logging as the CLI."""
    from tests.discord_adapter.harness import running_harness

    install_log_redaction()  # `main` does this before the settings are read
    async with running_harness(tmp_path) as harness:
        it = await harness.video("a quiet harbour at dawn [duration=1]")
        await it.wait_for(lambda i: i.webhook_requests, timeout=10)
        await harness.final_record()
    out = root_capture.getvalue()
    # discord.py's own lines of the callback and of the edits were captured...
    assert f"/interactions/{it.id}/" in out
    assert f"/webhooks/{harness.bot.application_id}/" in out
    # ...and the token is in none of them, nor in any other line.
    assert it.token not in out
    assert f"/interactions/{it.id}/{REDACTED}/callback" in out


def test_the_token_in_a_logged_gateway_event_is_redacted(root_capture: io.StringIO) -> None:
    """discord/gateway.py logs every event it receives at DEBUG, INTERACTION_CREATE included."""
    install_log_redaction()
    event = {
        "t": "INTERACTION_CREATE",
        "s": 3,
        "op": 0,
        "d": {"id": "1086286497585276082", "type": 2, "token": INTERACTION_TOKEN, "version": 1},
    }
    gateway = logging.getLogger("discord.gateway")
    gateway.debug("For Shard ID %s: WebSocket Event: %s", None, event)
    gateway.debug("Received %s", json.dumps(event))  # and in JSON, as a payload is sent
    out = root_capture.getvalue()
    assert INTERACTION_TOKEN not in out
    assert f"'token': '{REDACTED}'" in out
    assert f'"token": "{REDACTED}"' in out
    assert "'id': '1086286497585276082'" in out


@pytest.mark.parametrize(
    "text",
    [
        "{'access_token': 'abcdef123456'}",
        '{"webhook_secret":"abcdef123456"}',
        "{'password': 'correct horse battery staple'}",
    ],
)
def test_secret_named_fields_are_redacted(text: str) -> None:
    out = Redactor().redact(text)
    assert REDACTED in out
    assert "abcdef123456" not in out
    assert "horse" not in out


def test_discord_routes_without_a_token_are_left_alone() -> None:
    text = (
        "GET https://discord.com/api/v10/channels/123/webhooks returned 200; "
        "GET https://discord.com/api/v10/webhooks/123 returned 200; "
        "PUT https://discord.com/api/v10/applications/123/commands returned 200"
    )
    assert Redactor().redact(text) == text


def test_ordinary_text_is_left_alone() -> None:
    text = "job 0badc0de: GET http://127.0.0.1:8000/v1/videos/video_123 answered 200 (sk-2 ok)"
    assert Redactor().redact(text) == text


def test_configured_secrets_are_redacted_wherever_they_appear() -> None:
    r = Redactor()
    r.configure(openai_api_key=API_KEY, discord_token="plain-discord-token-value")
    out = r.redact(f"x{API_KEY}y and plain-discord-token-value")
    assert API_KEY not in out
    assert "plain-discord-token-value" not in out
    assert out == f"x{REDACTED}y and {REDACTED}"


def test_credentials_of_the_base_url_are_known_even_percent_encoded() -> None:
    r = Redactor()
    r.configure(openai_base_url="https://alice:p%40ss-w0rd-long@proxy.example/v1")
    assert "p%40ss-w0rd-long" not in r.redact("p%40ss-w0rd-long")
    assert "p@ss-w0rd-long" not in r.redact("said p@ss-w0rd-long")


def test_secrets_registered_at_run_time_are_redacted_and_bounded() -> None:
    r = Redactor(max_registered=3)
    for n in range(5):
        r.register(f"token-number-{n}-abcdef")
    assert r.redact("token-number-4-abcdef") == REDACTED
    assert r.redact("token-number-0-abcdef") == "token-number-0-abcdef"  # the oldest went
    r.forget("token-number-4-abcdef")
    assert r.redact("token-number-4-abcdef") == "token-number-4-abcdef"


def test_too_short_values_are_not_treated_as_secrets() -> None:
    r = Redactor()
    r.register("ab")
    r.register(None)
    r.register("")
    assert r.redact("a cab stand") == "a cab stand"


def test_reset_forgets_configured_and_registered_secrets() -> None:
    r = Redactor()
    r.configure(openai_api_key=API_KEY)
    r.register(REPLY_SECRET)
    r.reset()
    assert r.redact(f"{API_KEY} {REPLY_SECRET}") == f"{API_KEY} {REPLY_SECRET}"


# -- logging -----------------------------------------------------------------------------------


@pytest.fixture
def root_capture() -> Iterator[io.StringIO]:
    """A root handler like the CLI's basicConfig one, removed afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_a_library_loggers_record_is_redacted_by_the_root_handler(
    root_capture: io.StringIO,
) -> None:
    install_log_redaction(load_settings(openai_api_key=API_KEY))
    logging.getLogger("aiohttp.client").warning("request headers %s", {"X-Key": API_KEY})
    logging.getLogger("discord.http").debug("token %s", REPLY_SECRET)
    redaction.default_redactor.register(REPLY_SECRET)
    logging.getLogger("discord.http").debug("token %s", REPLY_SECRET)
    out = root_capture.getvalue()
    assert API_KEY not in out
    assert out.count(REPLY_SECRET) == 1  # before it was registered, it was just a string
    assert "request headers {'X-Key': '[redacted]'}" in out


def test_exception_text_in_a_record_is_redacted(root_capture: io.StringIO) -> None:
    install_log_redaction(load_settings(openai_api_key=API_KEY))

    def fail() -> None:
        raise RuntimeError(f"the server said: bad key {API_KEY}")

    try:
        fail()
    except RuntimeError:
        logging.getLogger("aiosqlite").exception("failed")
    out = root_capture.getvalue()
    assert "RuntimeError" in out
    assert API_KEY not in out


def test_a_handler_on_a_library_logger_is_covered_too() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    library = logging.getLogger("sqlalchemy.pool.test_redaction")
    library.addHandler(handler)
    try:
        install_log_redaction(load_settings(openai_api_key=API_KEY))
        library.error("key=%s", API_KEY)
    finally:
        library.removeHandler(handler)
    assert stream.getvalue() == f"key={REDACTED}\n"


def test_installing_twice_adds_one_filter(root_capture: io.StringIO) -> None:
    settings = load_settings(openai_api_key=API_KEY)
    install_log_redaction(settings)
    install_log_redaction(settings)
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) <= 1


def test_a_record_with_bad_arguments_still_reaches_the_handler(
    root_capture: io.StringIO,
) -> None:
    install_log_redaction(load_settings(openai_api_key=API_KEY))
    logging.getLogger("bot").warning("two %s %s", API_KEY)  # noqa: PLE1206 - the mistake tested
    out = root_capture.getvalue()
    assert API_KEY not in out
    assert "two" in out


# -- configuration -----------------------------------------------------------------------------


def test_credentials_in_the_base_url_are_refused_in_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://alice:hunter2-secret@proxy.example/v1")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("OPENAI_BASE_URL")
    assert "OPENAI_API_KEY" in message
    assert "hunter2-secret" not in message
    assert "alice" not in message
    assert "\n" not in message


def test_doctor_never_prints_url_credentials() -> None:
    from bot.terminal.doctor import Report, describe_configuration

    settings = load_settings(openai_base_url="https://proxy.example/v1")
    # Past the validator (as if set after start-up): the doctor still hides the credentials.
    object.__setattr__(settings, "openai_base_url", "https://alice:hunter2-secret@proxy.example/v1")
    report = Report()
    describe_configuration(settings, report)
    text = "\n".join(report.lines)
    assert "hunter2-secret" not in text
    assert "proxy.example/v1" in text


# -- the store ---------------------------------------------------------------------------------


def _record(**changes: Any) -> JobRecord:
    now = time.time()
    values: dict[str, Any] = {
        "id": "5ec7e75ec7e75ec7",
        "state": JobState.RUNNING,
        "prompt": "a secret-free prompt",
        "model": "sora-2",
        "size": "720x1280",
        "seconds": 4,
        "cost": "0.40",
        "requester_id": 1,
        "reply_kind": "test",
        "reply": "{}",
        "reply_secret": REPLY_SECRET,
        "created_at": now,
        "updated_at": now,
        "submitted_at": now,
        "provider_video_id": "video_echo",
        **changes,
    }
    return JobRecord(**values)


async def test_debug_logging_of_the_store_never_shows_sql_parameters(
    tmp_path: Path, root_capture: io.StringIO
) -> None:
    # No redaction filter here: the store itself must keep parameters out of its logs.
    engine_log = logging.getLogger("sqlalchemy.engine")
    old = engine_log.level
    engine_log.setLevel(logging.DEBUG)
    try:
        database = await open_database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
        try:
            store = JobStore(database)
            await store.add(_record())
            assert (await store.get("5ec7e75ec7e75ec7")) is not None
        finally:
            await database.close()
    finally:
        engine_log.setLevel(old)
    out = root_capture.getvalue()
    assert "INSERT INTO jobs" in out  # the statements are logged, so the test means something
    assert REPLY_SECRET not in out
    assert "a secret-free prompt" not in out


# -- the workflow ------------------------------------------------------------------------------


class RecordingReply:
    def __init__(self) -> None:
        self.failed: list[JobView] = []
        self.done = asyncio.Event()

    async def show(self, view: JobView) -> None:
        pass

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        self.done.set()

    async def fail(self, view: JobView) -> None:
        self.failed.append(view)
        self.done.set()

    async def already_delivered(self) -> bool:
        return False


async def _echoing_server() -> tuple[web.AppRunner, str]:
    """A Videos API whose failed job echoes the caller's key back in error.message."""

    async def retrieve(request: web.Request) -> web.Response:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        return web.json_response(
            {
                "id": request.match_info["video_id"],
                "object": "video",
                "status": "failed",
                "model": "sora-2",
                "progress": 10,
                "created_at": int(time.time()),
                "error": {"code": "internal_error", "message": f"upstream rejected key {key}"},
            }
        )

    app = web.Application()
    app.router.add_get("/v1/videos/{video_id}", retrieve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/v1"


async def test_a_key_echoed_in_a_failed_jobs_error_never_reaches_the_reply_or_the_store(
    tmp_path: Path, root_capture: io.StringIO
) -> None:
    runner, base_url = await _echoing_server()
    try:
        settings = load_settings(
            openai_base_url=base_url, data_dir=tmp_path, openai_api_key=API_KEY
        )
        install_log_redaction(settings)  # what `video-bot run` does at start-up
        database = await open_database(settings.effective_database_url)
        store = JobStore(database)
        await store.add(_record())
        reply = RecordingReply()
        async with aiohttp.ClientSession() as session:
            client = VideosClient(session, base_url, settings.openai_api_key)
            service = build_service(settings, database, client, sinks={"test": lambda _h: reply})
            await service.start(spread=0)
            await asyncio.wait_for(reply.done.wait(), timeout=10)
            await service.close()
        stored = await store.get("5ec7e75ec7e75ec7")
        await database.close()
    finally:
        await runner.cleanup()
    assert stored is not None
    assert stored.state is JobState.FAILED
    assert [v.error for v in reply.failed] == [
        "The video service could not generate this video. It said: upstream rejected key "
        f"{REDACTED} (ref 5ec7e75ec7e75ec7)"
    ]
    assert API_KEY not in (stored.last_error or "")
    assert API_KEY not in root_capture.getvalue()


def test_the_cli_installs_the_filter_on_the_root_handlers(root_capture: io.StringIO) -> None:
    from bot.terminal.cli import main

    assert main(["fake-api", "--dialect", "no-such-dialect", "--api-key", API_KEY]) == 2
    for handler in logging.getLogger().handlers:
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    logging.getLogger("aiohttp.access").info("key %s", API_KEY)
    assert API_KEY not in root_capture.getvalue()


def test_the_database_password_is_hidden_but_not_its_user_name() -> None:
    """`postgres` is the usual user name: hiding it would mangle every "postgresql" logged."""
    settings = load_settings(database_url="postgresql://postgres:hunter2-hunter2@db.example.org/v")
    redactor = Redactor()
    redactor.configure_from_settings(settings)
    line = "postgresql at db.example.org refused postgres with password hunter2-hunter2"
    assert redactor.redact(line) == (
        f"postgresql at db.example.org refused postgres with password {REDACTED}"
    )
