"""Several providers at once, over the wire: two fake servers of different dialects behind one
catalogue, fallbacks that never bill twice, the circuit breaker and the billed cost."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.catalogue import RequestRejected
from bot.config import load_settings
from bot.domain import Delivery, JobState, JobSummary, JobView, ReplyHandle, Requester, Upload
from bot.fake_api import FakeSettings, FakeVideosServer, Fault
from bot.fake_api.state import Scenario
from bot.observability.metrics import Metrics
from bot.service import VideoService, build_service
from bot.service.wiring import make_providers
from bot.store import open_database
from bot.terminal.cli import main as cli_main
from bot.videos import FailureKind

OPENAI_CREATES = "POST /v1/videos"
ROUTER_CREATES = "POST /api/v1/videos"


class Reply:
    """One job's reply, as a front end would be told."""

    def __init__(self) -> None:
        self.views: list[JobView] = []
        self.delivered: list[JobView] = []
        self.failed: list[JobView] = []
        self.done = asyncio.Event()

    async def show(self, view: JobView) -> None:
        self.views.append(view)

    async def deliver(self, view: JobView, delivery: Delivery) -> None:
        self.delivered.append(view)
        self.done.set()

    async def fail(self, view: JobView) -> None:
        self.failed.append(view)
        self.done.set()

    async def already_delivered(self) -> bool:
        return False


@dataclass
class Stage:
    service: VideoService
    openai: FakeVideosServer
    router: FakeVideosServer
    replies: dict[str, Reply] = field(default_factory=dict)

    async def ask(self, prompt: str, model: str) -> tuple[str, Reply]:
        stage = self

        class Opener:
            async def open(self, view: JobView) -> ReplyHandle:
                stage.replies[view.ref] = Reply()
                return ReplyHandle("test", view.ref)

        view = await self.service.submit(Requester(7, 70), prompt, reply=Opener(), model=model)
        return view.ref, self.replies[view.ref]

    async def finished(self, job_id: str) -> JobSummary:
        """The job once its row is final (the reply is told first, the row follows)."""
        reply = self.replies[job_id]
        await asyncio.wait_for(reply.done.wait(), timeout=20)
        async with asyncio.timeout(10):
            while True:
                summary = await self.service.job(job_id)
                if summary is not None and summary.state.is_final:
                    return summary
                await asyncio.sleep(0.02)


async def until(condition: Callable[[], bool]) -> None:
    """Until the fake (another party, with no event to wait on) shows what is expected."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - the fake's state, read as the harness does
            await asyncio.sleep(0.01)


def closed_port() -> int:
    """A port nothing listens on: a connection there is refused before anything is sent."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def catalogue(path: Path, router_url: str, *, fallbacks: str = '["veo"]', extra: str = "") -> Path:
    path.write_text(
        f"""
[providers.router]
dialect = "openrouter"
base_url = "{router_url}"

[[models]]
name = "sora-2"
sizes = ["1280x720"]
seconds = [4]
price_per_second = 0.10
fallbacks = {fallbacks}

[[models]]
name = "veo"
provider = "router"
api_model = "google/veo-3.1"
sizes = ["1280x720"]
seconds = [4]
price_per_second = 0.40
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def stage(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Stage]:
    options = getattr(request, "param", {})
    async with (
        FakeVideosServer(FakeSettings(default_duration=1.0)) as openai,
        FakeVideosServer(FakeSettings(dialect="openrouter", default_duration=1.0)) as router,
        aiohttp.ClientSession() as session,
    ):
        base = f"http://127.0.0.1:{closed_port()}/v1" if options.get("down") else openai.base_url
        settings = load_settings(
            openai_base_url=base,
            data_dir=tmp_path,
            catalogue_file=catalogue(
                tmp_path / "catalogue.toml", router.base_url, extra=options.get("extra", "")
            ),
            public_url=options.get("public_url"),
            poll_min_interval=0.05,
            poll_max_interval=0.2,
            poll_fixed_interval=0.1,
            max_retries=0,
            provider_failures=options.get("failures", 5),
        )
        database = await open_database(settings.effective_database_url)
        stage = Stage(
            build_service(settings, database, make_providers(session, settings), sinks={}),
            openai,
            router,
        )
        stage.service.engine.replies._builders["test"] = lambda h: stage.replies[h.public]
        await stage.service.start(resume=False)
        try:
            yield stage
        finally:
            await stage.service.close(grace=0)
            await database.close()


async def test_one_bot_delivers_from_two_providers_of_different_dialects(stage: Stage) -> None:
    first, _ = await stage.ask("a lighthouse at dawn", "sora-2")
    second, _ = await stage.ask("a fox in the snow", "veo")

    made_by_openai = await stage.finished(first)
    made_by_router = await stage.finished(second)

    assert made_by_openai.state is JobState.DELIVERED
    assert made_by_openai.provider == "default"
    assert made_by_router.state is JobState.DELIVERED
    assert made_by_router.provider == "router"
    assert stage.openai.stats.count(OPENAI_CREATES) == 1
    assert stage.router.stats.count(ROUTER_CREATES) == 1
    # OpenRouter's create as its API reference has it: JSON, an integer `duration`, its model.
    create = next(r for r in stage.router.stats.requests if r.method == "POST")
    assert create.content_type == "application/json"
    body = create.json_body
    assert body["model"] == "google/veo-3.1"
    assert body["duration"] == 4
    assert body["size"] == "1280x720"
    assert "seconds" not in body
    # The content came from OpenRouter's own path.
    assert stage.router.stats.count("GET /api/v1/videos/{video_id}/content") == 1


async def test_the_billed_cost_settles_the_job_and_the_budgets(stage: Stage) -> None:
    job, _ = await stage.ask("a fox in the snow", "veo")
    summary = await stage.finished(job)

    # Listed at $0.40 a second, billed by the provider at $0.38: 4 s.
    assert Decimal(summary.cost) == Decimal("1.60")
    assert summary.billed_cost is not None
    assert Decimal(summary.billed_cost) == Decimal("1.52")
    usage = await stage.service.usage(since=0, user_id=7)
    assert usage.cost == Decimal("1.52")  # the budgets count the bill where it is known
    assert usage.estimated_settled == Decimal("1.60")
    assert usage.billed_settled == Decimal("1.52")
    # /metrics shows the same: est. $1.60 → billed $1.52.
    metrics = Metrics()
    service = stage.service
    metrics.watch(
        waiting=lambda: service.waiting,
        running=lambda: service.running,
        slots=lambda: service.slots,
        totals=service.totals_by_state,
        settled=service.settled_totals,
    )
    await metrics.refresh()
    assert metrics.registry.get_sample_value("video_bot_settled_estimate_usd") == 1.60
    assert metrics.registry.get_sample_value("video_bot_billed_usd") == 1.52
    spent = metrics.registry.get_sample_value(
        "video_bot_estimated_spend_usd", {"billing": "charged"}
    )
    assert spent == 1.52


@pytest.mark.parametrize("stage", [{"down": True}], indirect=True)
async def test_a_refused_connection_falls_back_and_bills_once(stage: Stage) -> None:
    job, reply = await stage.ask("a lighthouse at dawn", "sora-2")
    summary = await stage.finished(job)

    assert summary.state is JobState.DELIVERED
    assert summary.model == "veo"  # the model that made it
    assert summary.provider == "router"
    assert [(a.model, a.failure_kind) for a in summary.attempts] == [
        ("sora-2", FailureKind.NEVER_STARTED)
    ]
    assert stage.router.stats.count(ROUTER_CREATES) == 1
    # The reply names the model that made it and the one that could not.
    assert reply.delivered[-1].request.model == "veo"
    assert reply.delivered[-1].fell_back_from == ("sora-2",)
    # The first attempt's reservation was given back: only the second counts.
    usage = await stage.service.usage(since=0, user_id=7)
    assert usage.cost == Decimal("1.52")


async def test_a_job_the_provider_failed_falls_back_to_the_next_model(stage: Stage) -> None:
    stage.openai.settings.faults = []
    job, _ = await stage.ask("a lighthouse at dawn [duration=30]", "sora-2")
    await until(lambda: bool(stage.openai.state.jobs))
    (made,) = stage.openai.state.jobs.values()
    made.scenario = Scenario(fail=True)  # the provider fails it on its side
    stage.openai.advance(30)
    await until(lambda: bool(stage.router.state.jobs))
    stage.router.advance(60)

    summary = await stage.finished(job)

    assert summary.state is JobState.DELIVERED
    assert summary.model == "veo"
    assert [(a.model, a.failure_kind) for a in summary.attempts] == [
        ("sora-2", FailureKind.PROVIDER_ERROR)
    ]
    assert stage.openai.stats.count(OPENAI_CREATES) == 1
    assert stage.router.stats.count(ROUTER_CREATES) == 1
    # The failed attempt is refunded (the provider does not bill its own failures): only the
    # video that was made counts, at its bill.
    usage = await stage.service.usage(since=0, user_id=7)
    assert usage.cost == Decimal("1.52")


async def test_a_content_refusal_never_falls_back(stage: Stage) -> None:
    job, reply = await stage.ask("something not allowed [refuse]", "sora-2")
    stage.openai.advance(10)

    summary = await stage.finished(job)

    assert summary.state is JobState.REFUSED
    assert summary.failure_kind is FailureKind.REFUSED_OUTPUT
    assert summary.attempts == ()
    assert stage.router.stats.count(ROUTER_CREATES) == 0
    assert reply.failed


async def test_a_create_answered_500_after_it_arrived_never_falls_back(stage: Stage) -> None:
    # The provider received the create and may be making the video: nothing else is tried.
    stage.openai.settings.faults = [Fault(endpoint="create", kind="500")]
    job, _ = await stage.ask("a lighthouse at dawn", "sora-2")

    summary = await stage.finished(job)

    assert summary.state is not JobState.DELIVERED
    assert summary.failure_kind is FailureKind.UNKNOWN
    assert stage.openai.stats.count(OPENAI_CREATES) == 1
    assert stage.router.stats.count(ROUTER_CREATES) == 0


async def test_follow_ups_go_to_the_provider_that_made_the_video(stage: Stage) -> None:
    job, _ = await stage.ask("a fox in the snow", "veo")
    await stage.finished(job)
    # Veo at OpenRouter is not declared as continuing videos: refused before spending.
    with pytest.raises(RequestRejected, match=r"(?i)remix"):
        await stage.service.check_follow_up("remix", job, Requester(7, 70))
    assert stage.router.stats.count(ROUTER_CREATES) == 1


@pytest.mark.parametrize("stage", [{"down": True, "failures": 1}], indirect=True)
async def test_the_circuit_breaker_skips_a_provider_that_keeps_failing(stage: Stage) -> None:
    first, _ = await stage.ask("one", "sora-2")
    await stage.finished(first)
    health = {h.name: h for h in stage.service.provider_health()}
    assert health["default"].down
    assert not health["router"].down

    # While the circuit is open, the next request falls back without trying the provider.
    second, _ = await stage.ask("two", "sora-2")
    summary = await stage.finished(second)
    assert summary.model == "veo"
    assert summary.attempts[0].failure_kind is FailureKind.NEVER_STARTED
    assert stage.router.stats.count(ROUTER_CREATES) == 2


RETIRED = """
[[models]]
name = "veo-preview"
provider = "router"
api_model = "google/veo-3.1"
sizes = ["1280x720"]
seconds = [4]
retires_on = "2026-10-22"
successor = "veo"
"""


@pytest.mark.parametrize("stage", [{"extra": RETIRED}], indirect=True)
async def test_a_retired_model_is_refused_before_spending_naming_its_successor(
    stage: Stage,
) -> None:
    with pytest.raises(RequestRejected, match=r"retired .* on 2026-10-22\. Use veo instead"):
        await stage.ask("a fox", "veo-preview")
    assert stage.router.stats.count(ROUTER_CREATES) == 0
    notes = stage.service.retirement_notes()
    assert notes == ["veo-preview retired on 2026-10-22; its successor is veo"]


def png() -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (64, 36), (200, 40, 40)).save(picture, format="PNG")
    return picture.getvalue()


async def ask_with_image(stage: Stage) -> str:
    data = png()

    async def read() -> bytes:
        return data

    class Opener:
        async def open(self, view: JobView) -> ReplyHandle:
            stage.replies[view.ref] = Reply()
            return ReplyHandle("test", view.ref)

    view = await stage.service.submit(
        Requester(7, 70),
        "this picture, moving",
        reply=Opener(),
        model="veo",
        reference=Upload("image/png", len(data), "a.png", read),
    )
    return view.ref


async def test_openrouter_gets_the_reference_image_as_a_data_url_without_a_public_server(
    stage: Stage,
) -> None:
    await stage.finished(await ask_with_image(stage))
    create = next(r for r in stage.router.stats.requests if r.method == "POST")
    (frame,) = create.json_body["frame_images"]
    assert frame["frame_type"] == "first_frame"
    assert frame["image_url"]["url"].startswith("data:image/jpeg;base64,")


@pytest.mark.parametrize("stage", [{"public_url": "https://videos.example.org"}], indirect=True)
async def test_openrouter_gets_a_signed_link_to_the_reference_with_a_public_server(
    stage: Stage,
) -> None:
    await stage.finished(await ask_with_image(stage))
    create = next(r for r in stage.router.stats.requests if r.method == "POST")
    (frame,) = create.json_body["frame_images"]
    url = frame["image_url"]["url"]
    assert url.startswith("https://videos.example.org/r/")
    assert "sig=" in url


CONTINUES = """
[[models]]
name = "veo-continues"
provider = "router"
api_model = "google/veo-3.1"
sizes = ["1280x720"]
seconds = [4]
remix = true
extensions = true
extension_seconds = [4]
"""


@pytest.mark.parametrize("stage", [{"extra": CONTINUES}], indirect=True)
async def test_a_remix_at_openrouter_continues_the_job_at_the_same_provider(
    stage: Stage,
) -> None:
    job, _ = await stage.ask("a fox in the snow", "veo-continues")
    source = await stage.finished(job)

    class Opener:
        async def open(self, view: JobView) -> ReplyHandle:
            stage.replies[view.ref] = Reply()
            return ReplyHandle("test", view.ref)

    view = await stage.service.follow_up(
        "remix", job, Requester(7, 70), reply=Opener(), prompt="the fox, at night"
    )
    remix = await stage.finished(view.ref)

    assert remix.state is JobState.DELIVERED
    assert remix.provider == "router"
    creates = [r for r in stage.router.stats.requests if r.method == "POST"]
    assert len(creates) == 2
    assert creates[1].json_body["previous_job_id"] == source.provider_video_id
    assert creates[1].json_body["model"] == "google/veo-3.1"
    assert stage.openai.stats.count(OPENAI_CREATES) == 0


async def test_discovery_writes_a_catalogue_that_the_bot_then_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        FakeVideosServer(FakeSettings(dialect="openrouter", default_duration=1.0)) as router,
        aiohttp.ClientSession() as session,
    ):
        path = tmp_path / "catalogue.toml"
        path.write_text(
            f'[providers.router]\ndialect = "openrouter"\nbase_url = "{router.base_url}"\n\n'
            '[[models]]\nname = "placeholder"\nprovider = "router"\n'
            'api_model = "google/veo-3.1"\nsizes = ["1280x720"]\nseconds = [4]\n',
            encoding="utf-8",
        )
        monkeypatch.setenv("VIDEO_BOT_CATALOGUE_FILE", str(path))
        argv = ["models", "discover", "--provider", "router", "--write", str(path)]
        assert await asyncio.to_thread(cli_main, argv) == 0

        settings = load_settings(data_dir=tmp_path, poll_min_interval=0.05)
        served = settings.catalogue()
        assert "wan-2.6" in served.names()
        wan = served.get("wan-2.6")
        assert wan.api_model == "alibaba/wan-2.6"
        database = await open_database(settings.effective_database_url)
        stage = Stage(
            build_service(settings, database, make_providers(session, settings), sinks={}),
            router,
            router,
        )
        stage.service.engine.replies._builders["test"] = lambda h: stage.replies[h.public]
        await stage.service.start(resume=False)
        try:
            job, _ = await stage.ask("a discovered model at work", "wan-2.6")
            summary = await stage.finished(job)
        finally:
            await stage.service.close(grace=0)
            await database.close()
    assert summary.state is JobState.DELIVERED
    create = next(r for r in router.stats.requests if r.method == "POST")
    assert create.json_body["model"] == "alibaba/wan-2.6"


async def test_a_video_withheld_by_the_safety_filter_is_a_billed_refusal_never_retried(
    stage: Stage,
) -> None:
    # Veo behind LiteLLM: `completed`, then its content is refused as removed by a safety filter.
    job, reply = await stage.ask("a storm at sea [safety-removed]", "sora-2")
    stage.openai.advance(10)
    summary = await stage.finished(job)

    assert summary.state is JobState.REFUSED
    assert summary.failure_kind is FailureKind.REFUSED_OUTPUT
    assert "safety filter" in (summary.last_error or "")
    assert reply.failed
    assert reply.failed[-1].refused
    assert stage.router.stats.count(ROUTER_CREATES) == 0  # never a fallback
    assert stage.openai.stats.count(OPENAI_CREATES) == 1  # never retried
    usage = await stage.service.usage(since=0, user_id=7)
    assert usage.cost == Decimal("0.40")  # made, so billed: it counts
    assert usage.charged == Decimal("0.40")
    assert usage.refused_output == 1


async def test_a_content_refusal_is_counted_and_refunded(stage: Stage) -> None:
    job, _ = await stage.ask("something not allowed [refuse]", "sora-2")
    stage.openai.advance(10)
    await stage.finished(job)
    usage = await stage.service.usage(since=0, user_id=7)
    assert usage.cost == Decimal("0")
    assert usage.refunded_videos == 1
    assert usage.refused_input + usage.refused_output == 1


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("sentinel_block", FailureKind.REFUSED_INPUT),  # Sora: the prompt or image
        ("moderation_blocked", FailureKind.REFUSED_OUTPUT),  # Sora: what it made
        ("SAFETY.INPUT.NSFW", FailureKind.REFUSED_INPUT),  # Runway's failureCode
        ("SAFETY.OUTPUT.VIOLENCE", FailureKind.REFUSED_OUTPUT),
        ("1026", FailureKind.REFUSED_INPUT),  # MiniMax: a sensitive prompt
    ],
)
async def test_each_providers_refusal_is_understood_never_retried_nor_sent_elsewhere(
    stage: Stage, code: str, kind: FailureKind
) -> None:
    job, reply = await stage.ask(f"a storm at sea [refuse={code}]", "sora-2")
    summary = await stage.finished(job)

    assert summary.state is JobState.REFUSED
    assert summary.failure_kind is kind
    assert reply.failed[-1].refused
    assert code not in (summary.last_error or "")  # a plain sentence, no provider internals
    assert stage.openai.stats.count(OPENAI_CREATES) == 1
    assert stage.router.stats.count(ROUTER_CREATES) == 0
    usage = await stage.service.usage(since=0, user_id=7)
    assert usage.cost == Decimal("0")  # refused by the provider: not billed
    assert (usage.refused_input, usage.refused_output) == (
        (1, 0) if kind is FailureKind.REFUSED_INPUT else (0, 1)
    )
