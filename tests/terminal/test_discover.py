"""`video-bot models discover` as an operator (or cron) runs it: the real command, in-process,
against small servers on 127.0.0.1 that answer like OpenRouter, a LiteLLM proxy and a plain
OpenAI-protocol server."""

from __future__ import annotations

import asyncio
import socket
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.catalogue import load_catalogue
from bot.fake_api import FakeSettings, FakeVideosServer
from bot.terminal.catalogue_writer import choice_name
from bot.terminal.cli import main
from bot.terminal.discover import derive_sizes, per_second

KEY = "sk-discover-test-key-0123456789"
LATER = datetime.now(UTC).date() + timedelta(days=60)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@dataclass
class Peer:
    """A provider on 127.0.0.1: JSON per path, the key it wants, what it was sent."""

    answers: dict[str, Any]
    key: str | None = KEY
    url: str = ""
    authorizations: list[str | None] = field(default_factory=list)


async def discover(capsys: pytest.CaptureFixture[str], *args: str) -> Result:
    """`video-bot models discover ARGS` in this process (the command runs its own loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["models", "discover", *args])
    out, err = capsys.readouterr()
    return Result(code, out, err)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Peer], Awaitable[Peer]]]:
    runners: list[web.AppRunner] = []

    async def start(peer: Peer) -> Peer:
        async def answer(request: web.Request) -> web.StreamResponse:
            sent = request.headers.get("Authorization")
            peer.authorizations.append(sent)
            if peer.key is not None and sent != f"Bearer {peer.key}":
                # Like LiteLLM, the refusal echoes what it was sent: it must never be shown.
                return web.json_response({"error": {"message": f"bad key {sent}"}}, status=401)
            found = peer.answers.get(request.path)
            if found is None:
                return web.Response(status=404, text="404: Not Found")
            if isinstance(found, str):
                return web.Response(text=found, content_type="text/html")
            return web.json_response(found)

        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        peer.url = f"http://127.0.0.1:{port}"
        return peer

    yield start
    for runner in runners:
        await runner.cleanup()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def contents(path: Path) -> bytes:
    return path.read_bytes()


def raw(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def model(path: Path, name: str) -> dict[str, Any]:
    found = [m for m in raw(path)["models"] if m["name"] == name]
    assert len(found) == 1, [m["name"] for m in raw(path)["models"]]
    return found[0]


def openrouter(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"/api/v1/videos/models": {"data": list(entries)}}


WAN = {
    "id": "alibaba/wan-2.6",
    "name": "Alibaba: Wan 2.6",
    "supported_durations": [5, 10],
    "supported_resolutions": ["480p", "720p", "1080p"],
    "supported_aspect_ratios": ["16:9", "9:16", "1:1"],
    "supported_sizes": None,
    "supported_frame_images": ["first_frame"],
    "generate_audio": False,
    "seed": True,
    "pricing_skus": {"video_second_480p": "0.05", "video_second_720p": "0.10"},
}
VEO = {
    "id": "google/veo-3.1",
    "name": "Google: Veo 3.1",
    "supported_durations": [4, 6, 8],
    "supported_resolutions": ["720p", "1080p"],
    "supported_aspect_ratios": ["16:9", "9:16"],
    "supported_sizes": ["1280x720", "720x1280", "1920x1080", "1080x1920"],
    "generate_audio": True,
    "seed": True,
    "pricing_skus": {"video_second": "0.40", "video_second_1080p": "0.60"},
}
# Same last path part as WAN: the second one gets its vendor as a prefix.
FAL_WAN = {**WAN, "id": "fal/wan-2.6", "name": "fal: Wan 2.6", "pricing_skus": {}}
# Nothing the catalogue can offer: skipped, with a note.
ODD = {**WAN, "id": "odd/model", "supported_resolutions": ["cinema"], "supported_sizes": None}


def catalogue_with(peer: Peer, *, dialect: str = "openrouter", models: str = "") -> str:
    return f"""
default_model = "sora-2"

[providers.router]
dialect = "{dialect}"
base_url = "{peer.url}/api/v1"
api_key_env = "ROUTER_KEY"

[providers.lite]
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "sora-2"
sizes = ["1280x720"]
seconds = [4, 8]
price_per_second = 0.10

[[models]]
name = "house-wan"
provider = "lite"
api_model = "wan2.2"
label = "Wan (our GPU)"
sizes = ["832x480"]
seconds = [5]
price_per_second = 0
fallbacks = ["sora-2"]
{models}
"""


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    path = tmp_path / "catalogue.toml"
    monkeypatch.setenv("VIDEO_BOT_CATALOGUE_FILE", str(path))
    monkeypatch.setenv("ROUTER_KEY", KEY)
    return path


# -- OpenRouter ------------------------------------------------------------------------------


async def test_openrouter_models_are_written_with_sizes_durations_and_prices(
    serve: Callable[[Peer], Awaitable[Peer]],
    environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = await serve(Peer(openrouter(WAN, VEO, FAL_WAN, ODD)))
    write(environment, catalogue_with(peer))
    before = raw(environment)

    result = await discover(capsys, "--provider", "router", "--write", str(environment))

    assert result.code == 0, result.stderr
    assert peer.authorizations == [f"Bearer {KEY}"]
    assert KEY not in result.stdout + result.stderr
    catalogue = load_catalogue(environment)
    assert catalogue.names() == ["sora-2", "house-wan", "wan-2.6", "veo-3.1", "fal-wan-2.6"]

    wan = catalogue.get("wan-2.6")
    assert (wan.provider, wan.api_model, wan.label) == ("router", "alibaba/wan-2.6", WAN["name"])
    assert wan.sizes == (
        "854x480",
        "480x854",
        "480x480",
        "1280x720",
        "720x1280",
        "720x720",
        "1920x1080",
        "1080x1920",
        "1080x1080",
    )
    assert wan.seconds == (5, 10)
    # Priced per resolution: 480p and 720p listed; 1080p, unlisted, at the highest price.
    assert wan.price_per_second_for("854x480") == Decimal("0.05")
    assert wan.price_per_second_for("720x720") == Decimal("0.10")
    assert wan.price_per_second_for("1920x1080") == Decimal("0.10")
    # OpenRouter has no delete and no thumbnail variant; continuation is not in its listing.
    assert (wan.thumbnail, wan.delete, wan.remix, wan.extensions) == (False, False, False, False)

    veo = catalogue.get("veo-3.1")
    assert veo.sizes == ("1280x720", "720x1280", "1920x1080", "1080x1920")
    assert veo.seconds == (4, 6, 8)
    assert veo.price_per_second == Decimal("0.40")
    assert veo.price_per_second_by_size == {
        "1920x1080": Decimal("0.60"),
        "1080x1920": Decimal("0.60"),
    }
    fal = catalogue.get("fal-wan-2.6")
    assert fal.api_model == "fal/wan-2.6"
    assert fal.price_per_second == 0

    # Everything that is not this provider's passes through as it was.
    after = raw(environment)
    assert after["default_model"] == before["default_model"]
    assert after["providers"] == before["providers"]
    assert after["models"][:2] == before["models"]

    lines = result.stdout.splitlines()
    assert lines[0].startswith("router: video models from OpenRouter")
    assert any(line.startswith("wan-2.6 ") and "0.05-0.10 by size" in line for line in lines)
    assert any(line.startswith("fal-wan-2.6 ") and "0 (not listed)" in line for line in lines)
    assert f"wrote {environment}: 3 new, 0 refreshed" in result.stdout
    assert "odd/model skipped" in result.stderr
    assert [p.name for p in environment.parent.iterdir()] == ["catalogue.toml"]


async def test_a_rewrite_keeps_what_the_operator_chose(
    serve: Callable[[Peer], Awaitable[Peer]],
    environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = await serve(Peer(openrouter(WAN, VEO)))
    mine = """
[[models]]
name = "house-veo"
label = "Veo (house pick)"
provider = "router"
api_model = "google/veo-3.1"
sizes = ["1280x720"]
seconds = [8]
default_seconds = 8
price_per_second = 0.99
price_per_second_by_size = { "1280x720" = 1.25 }
fallbacks = ["sora-2"]
remix = true

[[models]]
name = "old-kling"
provider = "router"
api_model = "kuaishou/kling-1.0"
sizes = ["1280x720"]
seconds = [5]
"""
    write(environment, catalogue_with(peer, models=mine))
    before = raw(environment)

    first = await discover(capsys, "--provider", "router", "--write", str(environment))

    assert first.code == 0, first.stderr
    veo = model(environment, "house-veo")
    assert veo["label"] == "Veo (house pick)"
    assert veo["price_per_second"] == 0.99
    assert veo["price_per_second_by_size"] == {"1280x720": 1.25}
    assert veo["fallbacks"] == ["sora-2"]
    assert veo["remix"] is True
    assert "thumbnail" not in veo  # the operator's capability keys only, none added
    assert veo["sizes"] == ["1280x720", "720x1280", "1920x1080", "1080x1920"]
    assert veo["seconds"] == [4, 6, 8]
    assert veo["default_seconds"] == 8
    # No longer listed: kept, and named in a warning.
    assert model(environment, "old-kling") == before["models"][3]
    assert "no longer lists old-kling" in first.stderr
    assert load_catalogue(environment).names() == [
        "sora-2",
        "house-wan",
        "house-veo",
        "old-kling",
        "wan-2.6",
    ]
    assert "1 new, 1 refreshed" in first.stdout

    # From cron: nothing changed, nothing written, and --quiet prints no table.
    written = contents(environment)
    again = await discover(capsys, "--provider", "router", "--write", str(environment), "--quiet")
    assert again.code == 0, again.stderr
    assert again.stdout == ""
    assert contents(environment) == written


async def test_a_first_discovery_into_a_new_file_takes_the_provider_block(
    serve: Callable[[Peer], Awaitable[Peer]],
    environment: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = await serve(Peer(openrouter(VEO)))
    write(environment, catalogue_with(peer))
    target = tmp_path / "router.toml"

    result = await discover(capsys, "--provider", "router", "--write", str(target))

    assert result.code == 0, result.stderr
    assert target.read_text().startswith("# The bot's model catalogue.")
    catalogue = load_catalogue(target)
    assert catalogue.names() == ["veo-3.1"]
    assert catalogue.providers["router"].base_url == f"{peer.url}/api/v1"
    assert catalogue.providers["router"].api_key_env == "ROUTER_KEY"


async def test_against_the_fake_openrouter(
    environment: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with FakeVideosServer(FakeSettings(dialect="openrouter", api_key=KEY)) as fake:
        write(
            environment,
            f'[providers.router]\ndialect = "openrouter"\nbase_url = "{fake.base_url}"\n'
            'api_key_env = "ROUTER_KEY"\n\n[[models]]\nname = "sora-2"\n'
            'sizes = ["1280x720"]\nseconds = [4]\n',
        )
        result = await discover(capsys, "--provider", "router", "--write", str(environment))

    assert result.code == 0, result.stderr
    catalogue = load_catalogue(environment)
    listed = {m.id: m for m in FakeSettings().openrouter_models}
    for name in ("wan-2.6", "veo-3.1", "openai-sora-2"):
        spec = catalogue.get(name)
        assert spec.api_model in listed
        assert spec.seconds == tuple(listed[spec.api_model].supported_durations)
    assert catalogue.get("veo-3.1").remix is True  # the fake lists its continuation
    assert catalogue.get("openai-sora-2").api_model == "openai/sora-2"  # "sora-2" was taken


# -- a LiteLLM proxy -------------------------------------------------------------------------


async def test_litellm_prices_and_retirements(
    serve: Callable[[Peer], Awaitable[Peer]],
    environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    groups = [
        {
            "model_group": "veo-3.1-preview",
            "providers": ["gemini"],
            "mode": "video_generation",
            "output_cost_per_second": 0.40,
            "deprecation_date": LATER.isoformat(),
            "successor_model": "veo-3.1",
        },
        {
            "model_group": "veo-3.1",
            "providers": ["gemini"],
            "mode": "video_generation",
            "output_cost_per_video_per_second": 0.45,
            "output_cost_per_second_1080p": 0.65,
            "input_cost_per_video_per_second": 9,  # what a video as input costs: not this
            "supported_resolutions": ["1280x720", "1920x1080"],
            "supported_durations": [4, 8],
        },
        {
            "model_group": "veo-3.0-preview",
            "providers": ["gemini"],
            "mode": "video_generation",
            "output_cost_per_second": 0.40,
            "deprecation_date": "2025-06-01",
        },
        {"model_group": "gpt-5", "providers": ["openai"], "mode": "chat"},
        {"model_group": "sora-2", "providers": ["azure"], "mode": "video_generation"},
    ]
    listed = ["veo-3.1-preview", "veo-3.1", "veo-3.0-preview", "gpt-5"]
    peer = await serve(
        Peer(
            {
                "/model_group/info": {"data": groups},
                "/v1/models": {"data": [{"id": i, "object": "model"} for i in listed]},
            }
        )
    )
    preview = """
[[models]]
name = "veo-preview"
provider = "gateway"
api_model = "veo-3.1-preview"
sizes = ["1280x720", "720x1280"]
seconds = [8]
price_per_second = 0.5
"""
    text = catalogue_with(peer, dialect="openai", models=preview)
    text = text.replace(
        "[providers.lite]",
        f'[providers.gateway]\nbase_url = "{peer.url}/v1"\n'
        'api_key_env = "ROUTER_KEY"\n\n[providers.lite]',
    )
    write(environment, text)

    result = await discover(capsys, "--provider", "gateway", "--write", str(environment))

    assert result.code == 0, result.stderr
    catalogue = load_catalogue(environment)
    assert catalogue.names() == ["sora-2", "house-wan", "veo-preview", "veo-3.1", "sora-2-2"]
    old = catalogue.get("veo-preview")
    assert old.retires_on == LATER
    assert old.successor == "veo-3.1"  # the successor's name in this catalogue
    assert old.price_per_second == Decimal("0.5")  # the operator's price
    # LiteLLM does not list sizes and durations for this group: the operator's stay.
    assert (old.sizes, old.seconds) == (("1280x720", "720x1280"), (8,))
    veo = catalogue.get("veo-3.1")
    assert (veo.sizes, veo.seconds) == (("1280x720", "1920x1080"), (4, 8))
    assert veo.price_per_second == Decimal("0.45")
    assert veo.price_per_second_by_size == {"1920x1080": Decimal("0.65")}
    guessed = catalogue.get("sora-2-2")
    assert guessed.api_model == "sora-2"
    assert guessed.sizes == ("720x1280", "1280x720")
    assert guessed.seconds == (4, 8, 12)

    assert "veo-3.0-preview was retired on 2025-06-01: not added" in result.stderr
    assert "sora-2 is a model group but GET /models does not list it" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "gateway: video models from the LiteLLM proxy's GET /model_group/info"
    assert any(
        line.startswith("veo-preview ") and f"{LATER.isoformat()} → veo-3.1" in line
        for line in lines
    )
    assert any(line.startswith("sora-2-2 ") and "4,8,12 s *" in line for line in lines)
    assert any(line.startswith("* a guess") for line in lines)


# -- a plain OpenAI-protocol server ----------------------------------------------------------


async def test_a_plain_server_lists_ids_and_sizes_are_guessed(
    serve: Callable[[Peer], Awaitable[Peer]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = await serve(
        Peer({"/v1/models": {"object": "list", "data": [{"id": "Wan-AI/Wan2.2_T2V-A14B"}]}})
    )
    monkeypatch.setenv("OPENAI_BASE_URL", f"{peer.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    target = tmp_path / "catalogue.toml"

    result = await discover(capsys, "--write", str(target))

    assert result.code == 0, result.stderr
    (written,) = raw(target)["models"]
    assert written == {
        "name": "wan2.2-t2v-a14b",
        "api_model": "Wan-AI/Wan2.2_T2V-A14B",
        "sizes": ["720x1280", "1280x720"],
        "seconds": [4, 8, 12],
    }  # `default` is the provider of a model that names none
    assert load_catalogue(target).names() == ["wan2.2-t2v-a14b"]
    assert "GET /models (ids only)" in result.stdout
    assert "0 (not listed)" in result.stdout
    assert "* a guess (the Sora line-up)" in result.stdout

    # Later ids of a bare listing may be chat models: reported, not added (what the operator
    # pruned stays pruned).
    peer.answers["/v1/models"]["data"].append({"id": "gpt-chat"})
    again = await discover(capsys, "--write", str(target))
    assert again.code == 0, again.stderr
    assert load_catalogue(target).names() == ["wan2.2-t2v-a14b"]
    assert "make videos): gpt-chat\n" in again.stdout
    assert again.stdout.endswith(f"{target} is up to date\n")


async def test_a_single_model_server_model_is_recognised_without_a_model_field(
    serve: Callable[[Peer], Awaitable[Peer]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = await serve(Peer({"/v1/models": {"data": [{"id": "Wan2.2-T2V-A14B"}]}}, key=None))
    monkeypatch.setenv("OPENAI_BASE_URL", f"{peer.url}/v1")
    target = write(
        tmp_path / "catalogue.toml",
        '[[models]]\nname = "wan"\nsend_model = false\nsizes = ["832x480"]\nseconds = [5]\n',
    )
    monkeypatch.setenv("VIDEO_BOT_CATALOGUE_FILE", str(target))

    result = await discover(capsys, "--write", str(target))

    assert result.code == 0, result.stderr
    assert peer.authorizations == [None, None]  # no key: no Authorization header
    assert load_catalogue(target).names() == ["wan"]
    assert "no longer lists" not in result.stderr


# -- errors: one line, exit 2, never the key --------------------------------------------------


def one_line(result: Result) -> str:
    assert result.code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert KEY not in line
    return line


async def test_an_unknown_provider_lists_the_known_ones(
    serve: Callable[[Peer], Awaitable[Peer]],
    environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write(environment, catalogue_with(await serve(Peer({}))))
    line = one_line(await discover(capsys, "--provider", "nope"))
    assert line == (
        "video-bot models discover: unknown provider 'nope'; the catalogue has: "
        "default, lite, router"
    )


async def test_a_refused_key_names_its_variable(
    serve: Callable[[Peer], Awaitable[Peer]],
    environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = await serve(Peer(openrouter(VEO), key="sk-the-right-one-000000"))
    write(environment, catalogue_with(peer))
    line = one_line(await discover(capsys, "--provider", "router", "--write", str(environment)))
    assert "refused the key (HTTP 401): check ROUTER_KEY" in line
    assert "sk-the-right-one" not in line

    # The default provider's key is OPENAI_API_KEY.
    monkeypatch.setenv("OPENAI_BASE_URL", f"{peer.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    line = one_line(await discover(capsys))
    assert line.endswith("refused the key (HTTP 401): check OPENAI_API_KEY")


async def test_an_unreachable_provider(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    line = one_line(await discover(capsys))
    assert line == (
        f"video-bot models discover: cannot reach http://127.0.0.1:{port}/model_group/info "
        f"(127.0.0.1:{port}: connection refused)"
    )


async def test_an_answer_that_is_not_json(
    serve: Callable[[Peer], Awaitable[Peer]],
    environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    peer = await serve(Peer({"/api/v1/videos/models": "<html>a login page</html>"}))
    write(environment, catalogue_with(peer))
    line = one_line(await discover(capsys, "--provider", "router", "--write", str(environment)))
    assert line.endswith("answered text/html that is not JSON; is the provider's base_url right?")
    assert "sora-2" in contents(environment).decode()  # the file is untouched


# -- the pieces ------------------------------------------------------------------------------


def test_choice_names() -> None:
    assert choice_name("alibaba/wan-2.6", set()) == "wan-2.6"
    assert choice_name("alibaba/wan-2.6", {"wan-2.6"}) == "alibaba-wan-2.6"
    assert choice_name("x/alibaba/wan-2.6", {"wan-2.6", "alibaba-wan-2.6"}) == "x-alibaba-wan-2.6"
    assert choice_name("wan-2.6", {"wan-2.6"}) == "wan-2.6-2"
    assert choice_name("Wan-AI/Wan2.2_T2V  (A14B)", set()) == "wan2.2-t2v-a14b"
    assert choice_name("///", set()) == "model"
    assert len(choice_name("v/" + "a" * 300, set())) == 100


def test_sizes_from_resolutions_and_aspect_ratios() -> None:
    assert derive_sizes(["720p", "1080p"], ["16:9", "9:16"]) == (
        "1280x720",
        "720x1280",
        "1920x1080",
        "1080x1920",
    )
    assert derive_sizes(["480p"], ["16:9", "1:1", "4:3"]) == ("854x480", "480x480", "640x480")
    assert derive_sizes(["4K", "1280x720", "cinema", "9000p"], ["16:9"]) == (
        "3840x2160",
        "1280x720",
    )


def test_prices_per_second() -> None:
    sizes = ["1280x720", "1920x1080"]
    assert per_second({"per-video-second": Decimal("0.4")}, sizes) == (Decimal("0.4"), {})
    assert per_second({"image": Decimal(1)}, sizes) == (None, {})
    assert per_second(
        {"video_second_720p": Decimal("0.1"), "video_second_1080p": Decimal("0.2")}, sizes
    ) == (Decimal("0.2"), {"1280x720": Decimal("0.1")})


def test_the_file_holds_models_as_tables_with_dates_and_plain_numbers() -> None:
    from bot.terminal.catalogue_writer import render

    entry = {
        "name": "m",
        "sizes": ["1280x720"],
        "seconds": [8],
        "price_per_second": Decimal("0.10"),
        "retires_on": date(2026, 10, 22),
    }
    text = render({"models": [entry]})
    assert "\n[[models]]\n" in text
    assert "\nretires_on = 2026-10-22\n" in text
    assert "\nprice_per_second = 0.1\n" in text  # as it reads back: a rewrite is identical
    assert render(tomllib.loads(text)) == text
