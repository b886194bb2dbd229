"""A newcomer's first minutes: each mistake or outage ends in one line naming the cause and the
next step, never a traceback; the start-up log says something useful early."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.fake_api import FakeSettings, FakeVideosServer, Fault
from tests.fakes.discord import FakeDiscord
from tests.terminal.test_commands import Result, video_bot

REPO = Path(__file__).resolve().parents[2]
# Well formed: the application id, base64, then two parts (Discord's shape).
TOKEN = base64.b64encode(b"112233445566778899").decode().rstrip("=") + ".abc.def"


def environment(env: dict[str, str]) -> dict[str, str]:
    """The user's environment without their own bot settings, so `-m tests...` imports."""
    names = ("DISCORD_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    kept = {k: v for k, v in os.environ.items() if not k.startswith("VIDEO_BOT_")}
    kept = {k: v for k, v in kept.items() if k not in names}
    return {**kept, "PYTHONPATH": str(REPO), **env}


async def start_against_discord(
    rest_base: str, gateway_url: str, *args: str, env: dict[str, str], cwd: Path
) -> asyncio.subprocess.Process:
    """`video-bot ARGS` with discord.py's two seams pointed elsewhere (tests/scale/process.py)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.scale.process",
        rest_base,
        gateway_url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment(env),
        cwd=cwd,
    )


# --- 1. fake-api on a port that is taken -------------------------------------------------------


async def test_fake_api_on_a_busy_port_names_it_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await video_bot("fake-api", "--port", str(port), cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.strip() == (
        f"video-bot fake-api: port {port} on 127.0.0.1 is already in use (another fake-api?); "
        "stop what holds it or choose another port with --port."
    )


# --- 2. run while Discord cannot be reached ----------------------------------------------------


@pytest.mark.parametrize("command", ["run", "sync"])
async def test_run_when_discord_cannot_be_reached_says_so_in_one_line(
    tmp_path: Path, unused_tcp_port: int, command: str
) -> None:
    closed = f"127.0.0.1:{unused_tcp_port}"
    process = await start_against_discord(
        f"http://{closed}/api/v10",
        f"ws://{closed}/gateway",
        command,
        env={"DISCORD_TOKEN": TOKEN, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"},
        cwd=tmp_path,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    stderr = err.decode()
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"video-bot: Discord cannot be reached ({closed}: connection refused); check this "
        "machine's network connection, DNS, firewall or proxy, then try again."
    )
    assert TOKEN not in stderr + out.decode()


class _NoSuchName(aiohttp.abc.AbstractResolver):
    """A resolver that finds nothing, as DNS does for a mistyped or unreachable name."""

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[object]:  # type: ignore[override]
        raise OSError(-2, "Name or service not known")

    async def close(self) -> None:
        pass


async def test_a_name_that_does_not_resolve_is_told_apart_from_a_refusal() -> None:
    from bot.terminal.unreachable import why_unreachable

    connector = aiohttp.TCPConnector(resolver=_NoSuchName())
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await session.get("https://discord.example/api/v10/users/@me")
    assert why_unreachable(caught.value) == "discord.example: the name does not resolve"


# --- 6. the log before the first useful line ----------------------------------------------------


async def run_until_logged_in(fake: FakeDiscord, videos: str, tmp_path: Path, level: str) -> str:
    """`video-bot run` at VIDEO_BOT_LOG_LEVEL=level until it says it is logged in; its log."""
    process = await start_against_discord(
        fake.rest_base,
        fake.gateway_url,
        "run",
        env={
            "DISCORD_TOKEN": TOKEN,
            "OPENAI_BASE_URL": videos,
            "VIDEO_BOT_LOG_LEVEL": level,
            "VIDEO_BOT_DATA_DIR": str(tmp_path / "data"),
        },
        cwd=tmp_path,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("logged in as" in line for line in lines):
                line = await process.stderr.readline()
                assert line, "\n".join(lines)  # the bot ended before it logged in
                lines.append(line.decode().rstrip())
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)
    return "\n".join(lines)


async def test_run_logs_no_third_party_chatter_before_it_is_logged_in(tmp_path: Path) -> None:
    async with (
        FakeVideosServer(FakeSettings()) as videos,
        FakeDiscord() as fake,
    ):
        fake.add_guild(name="First server")
        log = await run_until_logged_in(fake, videos.base_url, tmp_path, "INFO")
    before = log.splitlines()[:-1]
    assert not [line for line in before if " discord." in line or " aiohttp." in line], log
    assert "PyNaCl" not in log  # the bot never joins voice: the warning is noise
    assert "davey" not in log
    assert "logged in as FakeBot" in log.splitlines()[-1]


async def test_debug_shows_the_third_party_log_again(tmp_path: Path) -> None:
    async with (
        FakeVideosServer(FakeSettings()) as videos,
        FakeDiscord() as fake,
    ):
        fake.add_guild(name="First server")
        log = await run_until_logged_in(fake, videos.base_url, tmp_path, "DEBUG")
    assert "INFO discord.client: logging in using static token" in log


async def test_generate_shows_only_its_progress(tmp_path: Path) -> None:
    """No log line around the progress display, a retried status read included."""
    async with FakeVideosServer(FakeSettings(default_duration=1.0)) as videos:
        videos.settings.faults = [Fault(endpoint="retrieve", kind="503")]
        env = {
            "OPENAI_BASE_URL": videos.base_url,
            "VIDEO_BOT_LOG_LEVEL": "INFO",
            "VIDEO_BOT_POLL_MIN_INTERVAL": "0.2",
            "VIDEO_BOT_POLL_FIXED_INTERVAL": "0.3",
        }
        result: Result = await video_bot("generate", "a lighthouse", env=env, cwd=tmp_path)
    assert result.code == 0, result.stderr
    for line in result.stderr.splitlines():
        assert line.startswith(
            ("created job", "queued", "generating", "downloading", "completed")
        ), line
