"""`video-bot doctor` with several providers: one section each, over the wire to fake servers
of different dialects, one of them perhaps down; retirements warned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.fake_api import FakeSettings, FakeVideosServer
from tests.terminal.test_commands import KEY, Result, env_for, video_bot_here

ROUTER_KEY = "sk-or-router-test-key-98765"


@pytest.fixture
async def openai() -> AsyncIterator[FakeVideosServer]:
    async with FakeVideosServer(FakeSettings(api_key=KEY)) as server:
        yield server


@pytest.fixture
async def router() -> AsyncIterator[FakeVideosServer]:
    settings = FakeSettings(dialect="openrouter", api_key=ROUTER_KEY)
    async with FakeVideosServer(settings) as server:
        yield server


def in_days(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def catalogue(
    tmp_path: Path, router_url: str, *, veo: str = "google/veo-3.1", veo_retires: str = ""
) -> dict[str, str]:
    """sora-2 on `default` (OPENAI_BASE_URL); wan and veo on the OpenRouter provider."""
    retires = f'retires_on = "{veo_retires}"\nsuccessor = "wan"\n' if veo_retires else ""
    (tmp_path / "models.toml").write_text(
        "[providers.router]\n"
        'dialect = "openrouter"\n'
        f'base_url = "{router_url}"\n'
        'api_key_env = "ROUTER_KEY"\n'
        "max_retries = 0\n"
        '[[models]]\nname = "sora-2"\nsizes = ["1280x720"]\nseconds = [4]\n'
        '[[models]]\nname = "wan"\nprovider = "router"\napi_model = "alibaba/wan-2.6"\n'
        'sizes = ["1280x720"]\nseconds = [5]\n'
        f'[[models]]\nname = "veo"\nprovider = "router"\napi_model = "{veo}"\n{retires}'
        'sizes = ["1280x720"]\nseconds = [4]\n',
        encoding="utf-8",
    )
    return {"VIDEO_BOT_CATALOGUE_FILE": "models.toml", "ROUTER_KEY": ROUTER_KEY}


def sections(stdout: str) -> dict[str, str]:
    """Each provider's section of the report, by provider name."""
    found = {}
    for block in stdout.split("\n\n"):
        head = block.splitlines()[0]
        if head.startswith("provider "):
            found[head.split()[1]] = block
    return found


async def doctor(openai: FakeVideosServer, env: dict[str, str], tmp_path: Path) -> Result:
    result = await video_bot_here("doctor", env={**env_for(openai), **env}, cwd=tmp_path)
    assert "Traceback" not in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert ROUTER_KEY not in result.stdout + result.stderr
    return result


async def test_doctor_checks_each_provider_in_its_own_section(
    openai: FakeVideosServer, router: FakeVideosServer, tmp_path: Path
) -> None:
    result = await doctor(openai, catalogue(tmp_path, router.base_url), tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    found = sections(result.stdout)
    assert list(found) == ["default", "router"]
    default, routed = found["default"], found["router"]
    assert default.splitlines()[0] == f"provider default (openai dialect, {openai.base_url})"
    assert routed.splitlines()[0] == f"provider router (openrouter dialect, {router.base_url})"
    assert router.base_url.endswith("/api/v1")
    # The openai server: today's checks, for its one model.
    assert "ok    capability: list" in default
    assert "model sora-2: thumbnail unknown, remix yes, extensions yes, delete yes" in default
    assert "wan" not in default
    # OpenRouter: reached with the key, its listing against the catalogue, nothing probed
    # that it has no route for.
    assert "key accepted" in routed
    assert "ok    model wan: listed as alibaba/wan-2.6" in routed
    assert "ok    model veo: listed as google/veo-3.1" in routed
    for capability in ("list", "remix", "extensions", "delete", "thumbnail"):
        assert f"capability: {capability} not offered by OpenRouter" in routed
    assert "sora-2" not in routed
    assert router.stats.count("GET /api/v1/videos/models") == 1
    assert not [r for r in router.stats.requests if r.method != "GET"]
    assert router.stats.creates == openai.stats.creates == 0
    assert "configuration: providers.router (openrouter), key from ROUTER_KEY" in result.stdout


async def test_one_provider_down_does_not_stop_the_others(
    openai: FakeVideosServer, tmp_path: Path, unused_tcp_port: int
) -> None:
    down = f"http://127.0.0.1:{unused_tcp_port}/api/v1"
    result = await doctor(openai, catalogue(tmp_path, down), tmp_path)
    assert result.code == 1
    found = sections(result.stdout)
    assert "FAIL" not in found["default"]
    assert "ok    endpoint: GET /videos answered" in found["default"]
    assert (
        f"FAIL  endpoint: cannot reach {down} (127.0.0.1:{unused_tcp_port}: connection "
        in (found["router"])
    )
    assert "model sora-2: thumbnail unknown, remix yes" in found["default"]


async def test_a_model_openrouter_does_not_list_fails(
    openai: FakeVideosServer, router: FakeVideosServer, tmp_path: Path
) -> None:
    env = catalogue(tmp_path, router.base_url, veo="google/veo-3.1-preview")
    result = await doctor(openai, env, tmp_path)
    assert result.code == 1
    routed = sections(result.stdout)["router"]
    (failure,) = [line for line in routed.splitlines() if line.startswith("FAIL")]
    assert "model veo: OpenRouter lists no video model google/veo-3.1-preview" in failure
    assert "alibaba/wan-2.6, google/veo-3.1, openai/sora-2" in failure
    assert "ok    model wan: listed as alibaba/wan-2.6" in routed


async def test_a_key_openrouter_refuses_fails_that_provider_only(
    openai: FakeVideosServer, router: FakeVideosServer, tmp_path: Path
) -> None:
    env = {**catalogue(tmp_path, router.base_url), "ROUTER_KEY": "sk-or-wrong-key-0000"}
    result = await doctor(openai, env, tmp_path)
    assert result.code == 1
    found = sections(result.stdout)
    assert "FAIL  endpoint: the server rejected ROUTER_KEY" in found["router"]
    assert "FAIL" not in found["default"]
    assert "sk-or-wrong-key-0000" not in result.stdout + result.stderr


async def test_a_key_variable_that_is_unset_is_refused_in_one_line(
    openai: FakeVideosServer, router: FakeVideosServer, tmp_path: Path
) -> None:
    env = {**catalogue(tmp_path, router.base_url), "ROUTER_KEY": ""}
    result = await doctor(openai, env, tmp_path)
    assert result.code == 2
    assert result.stderr.strip() == (
        "video-bot: configuration error: VIDEO_BOT_CATALOGUE_FILE: providers.router.api_key_env "
        "names ROUTER_KEY, which is unset or empty"
    )
    assert result.stdout == ""
    assert router.stats.requests == openai.stats.requests == []


@pytest.mark.parametrize(
    ("days", "warning"),
    [
        (13, "veo retires on {day} (in 13 days); its successor is wan"),
        (-1, "veo retired on {day}; its successor is wan; requests for it are refused"),
    ],
)
async def test_a_retiring_model_is_warned_of_without_failing(
    openai: FakeVideosServer, router: FakeVideosServer, tmp_path: Path, days: int, warning: str
) -> None:
    day = in_days(days)
    result = await doctor(openai, catalogue(tmp_path, router.base_url, veo_retires=day), tmp_path)
    assert result.code == 0, result.stdout
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARN")]
    assert warnings == [f"WARN  {warning.format(day=day)}"]


async def test_a_model_far_from_retiring_is_not_warned_of(
    openai: FakeVideosServer, router: FakeVideosServer, tmp_path: Path
) -> None:
    env = catalogue(tmp_path, router.base_url, veo_retires=in_days(15))
    result = await doctor(openai, env, tmp_path)
    assert result.code == 0, result.stdout
    assert "WARN" not in result.stdout
