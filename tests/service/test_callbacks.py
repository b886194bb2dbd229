"""Providers that call back, over the wire: the fake OpenRouter signs and POSTs its event to the
bot's real web server, which wakes the job's owner (in this process or another) to read it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import prometheus_client
import pytest

from bot.config import Settings, load_settings
from bot.domain import JobState, JobView, ReplyHandle, Requester
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.http.server import WebServer, make_app
from bot.service import VideoService, build_service, make_providers
from bot.service.links import LinkSigner
from bot.store import open_database
from tests.postgres_server import PostgresServer
from tests.service.test_providers import Reply

SECRET = "openrouter-workspace-signing-secret"
STATUS = "GET /api/v1/videos/{video_id}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(tmp_path: Path, fake: FakeVideosServer, port: int, **changes: Any) -> Settings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    catalogue = tmp_path / "catalogue.toml"
    catalogue.write_text(
        f"""
[providers.router]
dialect = "openrouter"
base_url = "{fake.base_url}"
webhook_secret_env = "ROUTER_WEBHOOK_SECRET"

[[models]]
name = "veo"
provider = "router"
api_model = "google/veo-3.1"
sizes = ["1280x720"]
seconds = [4]
""",
        encoding="utf-8",
    )
    return load_settings(
        data_dir=tmp_path,
        catalogue_file=catalogue,
        public_url=f"http://127.0.0.1:{port}",
        web_port=port,
        **changes,
    )


@contextlib.asynccontextmanager
async def bot(
    settings: Settings, session: aiohttp.ClientSession, *, web: bool = True
) -> AsyncIterator[tuple[VideoService, dict[str, Reply]]]:
    """The service, started, with the bot's web server on `settings.web_port` when `web`."""
    database = await open_database(settings.effective_database_url)
    replies: dict[str, Reply] = {}
    service = build_service(settings, database, make_providers(session, settings), sinks={})
    service.engine.replies._builders["test"] = lambda h: replies.setdefault(h.public, Reply())
    server = None
    if web:

        async def healthy() -> dict[str, bool]:
            return {"store": True}

        server = WebServer(
            make_app(
                files=service.original_file,
                signer=LinkSigner(b"a-test-link-secret-a-test-link-secret"),
                health=healthy,
                registry=prometheus_client.CollectorRegistry(),
                metrics_token=None,
                service=service,
            )
        )
        assert settings.web_port is not None
        await server.start("127.0.0.1", settings.web_port)
    await service.start(resume=False)
    try:
        yield service, replies
    finally:
        await service.close(grace=0)
        if server is not None:
            await server.stop()
        await database.close()


async def ask(service: VideoService, replies: dict[str, Reply], prompt: str) -> str:
    class Opener:
        async def open(self, view: JobView) -> ReplyHandle:
            replies[view.ref] = Reply()
            return ReplyHandle("test", view.ref)

    view = await service.submit(Requester(3, 30), prompt, reply=Opener(), model="veo")
    return view.ref


async def delivered(service: VideoService, job_id: str) -> None:
    async with asyncio.timeout(20):
        while True:
            summary = await service.job(job_id)
            if summary is not None and summary.state.is_final:
                assert summary.state is JobState.DELIVERED, summary.last_error
                return
            await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTER_WEBHOOK_SECRET", SECRET)


async def test_a_callback_moves_the_job_on_with_one_status_read(tmp_path: Path) -> None:
    async with (
        FakeVideosServer(FakeSettings(dialect="openrouter", webhook_secret=SECRET)) as fake,
        aiohttp.ClientSession() as session,
    ):
        port = free_port()
        # Safety-net reads a minute apart: only the callback can deliver within the test.
        settings = settings_for(tmp_path, fake, port, callback_poll_interval=60)
        async with bot(settings, session) as (service, replies):
            job = await ask(service, replies, "a storm at sea [duration=1]")
            await delivered(service, job)

        (create,) = [r for r in fake.stats.requests if r.method == "POST"]
        assert create.json_body["callback_url"] == (
            f"http://127.0.0.1:{port}/provider-webhooks/router"
        )
        (callback,) = fake.stats.callbacks
        assert callback.outcome == "delivered"
        assert callback.statuses[-1] == 200
        # The create's answer was the first look; the callback's one confirming read the next.
        assert fake.stats.count(STATUS) == 1


async def test_with_every_callback_lost_the_safety_net_delivers(tmp_path: Path) -> None:
    fake_settings = FakeSettings(dialect="openrouter", webhook_secret=SECRET, drop_callbacks=True)
    async with FakeVideosServer(fake_settings) as fake, aiohttp.ClientSession() as session:
        settings = settings_for(tmp_path, fake, free_port(), callback_poll_interval=0.5)
        async with bot(settings, session) as (service, replies):
            jobs = [await ask(service, replies, f"take {n} [duration=1]") for n in range(3)]
            for job in jobs:
                await delivered(service, job)
        assert all(c.outcome == "dropped" for c in fake.stats.callbacks)


async def test_a_callback_received_by_another_process_wakes_the_jobs_owner(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = await postgres_server.new_database()
    async with (
        FakeVideosServer(FakeSettings(dialect="openrouter", webhook_secret=SECRET)) as fake,
        aiohttp.ClientSession() as session,
    ):
        port = free_port()
        common = {"database_url": url, "callback_poll_interval": 60}
        # The owner runs jobs and has no web server; the other only serves the web.
        owner_settings = settings_for(tmp_path / "owner", fake, port, **common)
        web_settings = settings_for(tmp_path / "web", fake, port, run_jobs=False, **common)
        async with (
            bot(owner_settings, session, web=False) as (owner, replies),
            bot(web_settings, session) as _,
        ):
            job = await ask(owner, replies, "a storm at sea [duration=1]")
            await delivered(owner, job)
        (callback,) = fake.stats.callbacks
        assert callback.statuses[-1] == 200
        assert fake.stats.count(STATUS) == 1
