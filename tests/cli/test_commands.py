"""`video-bot generate`, `doctor`, `run` as a user runs them: real subprocesses, real HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from bot.fake_api import FakeSettings, FakeVideosServer

KEY = "sk-cli-test-key-123456"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


async def video_bot(*args: str, env: dict[str, str] | None = None, cwd: Path) -> Result:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIDEO_BOT_")}
    environment.pop("OPENAI_API_KEY", None)
    environment.pop("OPENAI_BASE_URL", None)
    environment.pop("DISCORD_TOKEN", None)
    environment.update(env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@pytest.fixture
async def fake() -> AsyncIterator[FakeVideosServer]:
    async with FakeVideosServer(FakeSettings(api_key=KEY, default_duration=2.0)) as server:
        yield server


def env_for(fake: FakeVideosServer, key: str = KEY) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": key,
        "VIDEO_BOT_POLL_MIN_INTERVAL": "0.2",
        "VIDEO_BOT_POLL_FIXED_INTERVAL": "0.5",
    }


async def test_generate_writes_the_video_and_shows_progress(
    fake: FakeVideosServer, tmp_path: Path
) -> None:
    result = await video_bot(
        "generate",
        "a paper boat in the rain",
        "--seconds",
        "8",
        "--out",
        "boat.mp4",
        env=env_for(fake),
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    assert (tmp_path / "boat.mp4").read_bytes() == fake.asset_bytes()
    assert "saved boat.mp4" in result.stdout
    assert "created job" in result.stderr
    assert "completed" in result.stderr
    assert "%" in result.stderr
    assert fake.stats.count("POST /v1/videos") == 1
    assert KEY not in result.stdout + result.stderr


async def test_generate_with_a_reference_fits_it_to_the_size(
    fake: FakeVideosServer, tmp_path: Path
) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (640, 640), "purple").save(picture, format="PNG")
    (tmp_path / "ref.png").write_bytes(picture.getvalue())
    result = await video_bot(
        "generate",
        "from this frame",
        "--size",
        "1280x720",
        "--reference",
        "ref.png",
        env=env_for(fake),
        cwd=tmp_path,
    )
    assert result.code == 0, result.stderr
    upload = fake.stats.requests[0].files["input_reference"]
    assert (upload.width, upload.height) == (1280, 720)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["generate", "x", "--model", "sora-2", "--size", "1792x1024"], "Sizes for sora-2"),
        (["generate", "x", "--seconds", "5"], "4 s, 8 s, 12 s"),
        (["generate", "   "], "prompt is empty"),
        (["generate", "x", "--reference", "missing.png"], "cannot read"),
    ],
)
async def test_bad_input_costs_nothing_and_says_why_in_one_line(
    fake: FakeVideosServer, tmp_path: Path, args: list[str], needle: str
) -> None:
    result = await video_bot(*args, env=env_for(fake), cwd=tmp_path)
    assert result.code == 1
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert fake.stats.count("POST /v1/videos") == 0


async def test_generate_reports_a_failed_job(fake: FakeVideosServer, tmp_path: Path) -> None:
    result = await video_bot("generate", "oops [fail]", env=env_for(fake), cwd=tmp_path)
    assert result.code == 1
    assert "could not generate" in result.stderr
    assert "Traceback" not in result.stderr


async def test_generate_against_a_dead_endpoint(tmp_path: Path, unused_tcp_port: int) -> None:
    env = {
        "OPENAI_BASE_URL": f"http://127.0.0.1:{unused_tcp_port}/v1",
        "VIDEO_BOT_MAX_RETRIES": "1",
    }
    result = await video_bot("generate", "x", env=env, cwd=tmp_path)
    assert result.code == 1
    assert "cannot be reached" in result.stderr
    assert "Traceback" not in result.stderr


async def test_doctor_reports_a_healthy_endpoint_and_its_capabilities(
    fake: FakeVideosServer, tmp_path: Path
) -> None:
    result = await video_bot("doctor", env=env_for(fake), cwd=tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    assert "capability: list" in result.stdout
    assert "FAIL" not in result.stdout


async def test_doctor_notices_a_server_without_list(fake: FakeVideosServer, tmp_path: Path) -> None:
    fake.settings.dialect = "newapi"
    result = await video_bot("doctor", env=env_for(fake), cwd=tmp_path)
    assert result.code == 0, result.stdout
    assert "list is not served" in result.stdout


async def test_doctor_flags_a_bad_key(fake: FakeVideosServer, tmp_path: Path) -> None:
    result = await video_bot("doctor", env=env_for(fake, key="sk-nope-nope"), cwd=tmp_path)
    assert result.code == 1
    assert "rejected OPENAI_API_KEY" in result.stdout
    assert "sk-nope-nope" not in result.stdout + result.stderr


async def test_doctor_explains_openais_retirement(tmp_path: Path) -> None:
    result = await video_bot("doctor", cwd=tmp_path)
    assert result.code == 1
    assert "2026-09-24" in result.stdout
    assert "OPENAI_BASE_URL" in result.stdout


async def test_run_without_a_token_explains_what_it_needs(tmp_path: Path) -> None:
    result = await video_bot("run", cwd=tmp_path)
    assert result.code == 2
    assert "DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_malformed_setting_stops_start_up_in_one_line(tmp_path: Path) -> None:
    result = await video_bot("doctor", env={"VIDEO_BOT_JOB_DEADLINE": "forever"}, cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.strip().startswith(
        "video-bot: configuration error: VIDEO_BOT_JOB_DEADLINE"
    )
    assert "Traceback" not in result.stderr


async def test_doctor_prints_the_invite_url_for_the_token(tmp_path: Path) -> None:
    head = base64.b64encode(b"112233445566778899").decode().rstrip("=")
    env = {"DISCORD_TOKEN": f"{head}.abc.def", "OPENAI_BASE_URL": "https://api.openai.com/v1"}
    result = await video_bot("doctor", env=env, cwd=tmp_path)
    assert "client_id=112233445566778899" in result.stdout
    assert "permissions=117760" in result.stdout
    assert f"{head}.abc.def" not in result.stdout + result.stderr
