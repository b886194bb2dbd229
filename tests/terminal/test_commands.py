"""`video-bot generate`, `doctor`, `run` as a user runs them: real subprocesses, real HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import re
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from PIL import Image

from bot.fake_api import FakeSettings, FakeVideosServer, Fault
from bot.terminal.cli import main
from bot.terminal.doctor import judge_probe, judge_thumbnail
from bot.videos import ProbeAnswer
from tests.fakes.chat import FakeChat

KEY = "sk-cli-test-key-123456"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


CHAT_KEY = "chat-key-0123456789"


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


_IN_PROCESS = threading.Lock()


async def video_bot_here(*args: str, env: dict[str, str] | None = None, cwd: Path) -> Result:
    """`video-bot ARGS` run by its own `main` in this process (in a thread, as it runs its own
    event loop), with the same environment rules as `video_bot`: the exit code and both
    streams as a user sees them, without the second of interpreter start-up per call."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("VIDEO_BOT_")}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DISCORD_TOKEN"):
        environment.pop(name, None)
    environment.update(env or {})

    def run() -> Result:
        out, err = io.StringIO(), io.StringIO()
        with _IN_PROCESS:  # one at a time: the environment and the streams are the process's
            saved, here = dict(os.environ), Path.cwd()
            os.environ.clear()
            os.environ.update(environment)
            os.chdir(cwd)
            try:
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    code = main(list(args))
            finally:
                os.chdir(here)
                os.environ.clear()
                os.environ.update(saved)
        return Result(code, out.getvalue(), err.getvalue())

    return await asyncio.wait_for(asyncio.to_thread(run), timeout=60)


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


async def test_generate_against_a_server_nobody_serves_names_the_url(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/v1"
    env = {"OPENAI_BASE_URL": url, "VIDEO_BOT_MAX_RETRIES": "1"}
    result = await video_bot("generate", "x", env=env, cwd=tmp_path)
    assert result.code == 1
    assert result.stderr.strip() == (
        f"video-bot generate: the Videos API at {url} cannot be reached "
        f"(127.0.0.1:{unused_tcp_port}: connection refused); is its server running? "
        "Check OPENAI_BASE_URL."
    )
    assert result.stdout == ""


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


async def test_doctor_prints_the_user_install_link_when_members_may_install_it(
    tmp_path: Path,
) -> None:
    head = base64.b64encode(b"112233445566778899").decode().rstrip("=")
    env = {
        "DISCORD_TOKEN": f"{head}.abc.def",
        "OPENAI_BASE_URL": "https://api.openai.com/v1",
        "VIDEO_BOT_USER_INSTALLS": "true",
    }
    result = await video_bot_here("doctor", env=env, cwd=tmp_path)
    assert (
        "https://discord.com/oauth2/authorize?client_id=112233445566778899"
        "&integration_type=1&scope=applications.commands"
    ) in result.stdout
    env["VIDEO_BOT_USER_INSTALLS"] = "false"
    off = await video_bot_here("doctor", env=env, cwd=tmp_path)
    assert "integration_type=1" not in off.stdout


@pytest.mark.parametrize(
    ("model", "key", "said"),
    [
        ("gpt-4o-mini", CHAT_KEY, "ok    the chat server answers and serves gpt-4o-mini"),
        ("no-such-model", CHAT_KEY, "FAIL  the chat server does not serve VIDEO_BOT_PROMPT_MODEL"),
        ("gpt-4o-mini", "wrong-key-0123", "FAIL  the chat server refused VIDEO_BOT_PROMPT_KEY"),
    ],
)
async def test_doctor_checks_the_prompt_helper_without_making_a_rewrite(
    fake: FakeVideosServer, tmp_path: Path, model: str, key: str, said: str
) -> None:
    async with FakeChat(key=CHAT_KEY) as chat:
        env = {
            **env_for(fake),
            "VIDEO_BOT_PROMPT_URL": chat.base_url,
            "VIDEO_BOT_PROMPT_MODEL": model,
            "VIDEO_BOT_PROMPT_KEY": key,
        }
        result = await video_bot_here("doctor", env=env, cwd=tmp_path)
    assert said in result.stdout, result.stdout
    assert result.code == (0 if said.startswith("ok") else 1)
    assert chat.calls == []  # no completion: nothing billed
    assert key not in result.stdout + result.stderr


async def test_doctor_says_when_the_prompt_helper_is_down(
    fake: FakeVideosServer, tmp_path: Path, unused_tcp_port: int
) -> None:
    env = {
        **env_for(fake),
        "VIDEO_BOT_PROMPT_URL": f"http://127.0.0.1:{unused_tcp_port}/v1",
        "VIDEO_BOT_PROMPT_MODEL": "gpt-4o-mini",
    }
    result = await video_bot_here("doctor", env=env, cwd=tmp_path)
    assert result.code == 1
    assert f"FAIL  the chat server cannot be reached: 127.0.0.1:{unused_tcp_port}" in result.stdout


# --- doctor: the optional capabilities, probed without starting a job --------------------------


async def finished_video(fake: FakeVideosServer, prompt: str = "a kite [duration=1]") -> str:
    """A completed job on the fake, made by the test (the doctor never makes one)."""
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("prompt", prompt)
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{fake.base_url}/videos", data=form, headers={"Authorization": f"Bearer {KEY}"}
        ) as response,
    ):
        assert response.status < 300, await response.text()
        video_id = str((await response.json())["id"])
    fake.advance(1)
    return video_id


def capability_lines(stdout: str) -> dict[str, str]:
    """`capability: NAME WORDS (...)` lines, by capability name."""
    found = {}
    for line in stdout.splitlines():
        match = re.search(r"capability: (thumbnail|remix|extensions|delete) (.*)", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def doctor_made_no_job(fake: FakeVideosServer, ours: int) -> None:
    assert fake.stats.count("POST /v1/videos") == ours
    assert fake.stats.creates == ours


async def test_doctor_reports_every_capability_of_an_openai_server(
    fake: FakeVideosServer, tmp_path: Path
) -> None:
    await finished_video(fake)
    result = await video_bot("doctor", env=env_for(fake), cwd=tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    lines = capability_lines(result.stdout)
    for name in ("thumbnail", "remix", "extensions", "delete"):
        assert lines[name].startswith("served"), lines
    assert "variant=thumbnail answers image/webp" in lines["thumbnail"]
    assert "model sora-2: thumbnail yes, remix yes, extensions yes, delete yes" in result.stdout
    assert "hint:" not in result.stdout
    assert "FAIL" not in result.stdout
    doctor_made_no_job(fake, 1)
    assert fake.stats.count("POST /v1/videos/{video_id}/remix") == 1
    assert fake.stats.count("POST /v1/videos/extensions") == 1
    assert fake.stats.count("DELETE /v1/videos/{video_id}") == 1
    assert KEY not in result.stdout + result.stderr


async def test_doctor_on_litellm_finds_no_delete_and_no_thumbnail(
    fake: FakeVideosServer, tmp_path: Path
) -> None:
    fake.settings.dialect = "litellm"
    await finished_video(fake)
    result = await video_bot("doctor", env=env_for(fake), cwd=tmp_path)
    assert result.code == 0, result.stdout
    lines = capability_lines(result.stdout)
    assert lines["remix"].startswith("served")
    assert lines["extensions"].startswith("served")
    assert lines["delete"].startswith("not served")
    assert "405" in lines["delete"]
    assert lines["thumbnail"].startswith("not served")
    assert "`variant` is ignored" in lines["thumbnail"]
    assert "model sora-2: thumbnail no, remix yes, extensions yes, delete no" in result.stdout
    assert "put `delete = false` under it in the catalogue" in result.stdout
    assert "put `thumbnail = false` under it in the catalogue" in result.stdout
    assert "`remix = false`" not in result.stdout
    doctor_made_no_job(fake, 1)


@pytest.mark.parametrize(
    ("dialect", "delete"),
    [("newapi", "not served"), ("trtllm", "not served"), ("sglang", "served")],
)
async def test_doctor_finds_servers_without_remix_or_extensions(
    fake: FakeVideosServer, tmp_path: Path, dialect: str, delete: str
) -> None:
    fake.settings.dialect = dialect
    result = await video_bot("doctor", env=env_for(fake), cwd=tmp_path)
    assert result.code == 0, result.stdout
    lines = capability_lines(result.stdout)
    assert lines["remix"].startswith("not served")
    assert lines["extensions"].startswith("not served")
    assert lines["delete"].startswith(delete)
    # No finished video to look at, and a missing video's answer says nothing about variants.
    assert lines["thumbnail"].startswith("unknown")
    assert "put `remix = false` under it in the catalogue" in result.stdout
    assert "put `extensions = false` under it in the catalogue" in result.stdout
    assert "`thumbnail = false`" not in result.stdout
    doctor_made_no_job(fake, 0)


async def test_doctor_reads_a_refused_variant_without_any_video(
    fake: FakeVideosServer, tmp_path: Path
) -> None:
    fake.settings.dialect = "vllm_omni"
    result = await video_bot("doctor", env=env_for(fake), cwd=tmp_path)
    lines = capability_lines(result.stdout)
    assert lines["thumbnail"].startswith("not served")
    assert "`variant=thumbnail` is refused" in lines["thumbnail"]
    assert lines["delete"].startswith("served")
    doctor_made_no_job(fake, 0)


async def test_doctor_hints_when_the_catalogue_turns_off_what_the_server_has(
    fake: FakeVideosServer, tmp_path: Path
) -> None:
    (tmp_path / "models.toml").write_text(
        '[[models]]\nname = "sora-2"\nsizes = ["1280x720"]\nseconds = [4]\n'
        "remix = false\ndelete = false\n"
        '[[models]]\nname = "sora-2-pro"\nsizes = ["1280x720"]\nseconds = [4]\n',
        encoding="utf-8",
    )
    env = {**env_for(fake), "VIDEO_BOT_CATALOGUE_FILE": "models.toml"}
    result = await video_bot("doctor", env=env, cwd=tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    hints = [line for line in result.stdout.splitlines() if "hint:" in line]
    assert len(hints) == 2, hints
    assert "`remix = false` for model sora-2: `remix = true` would offer it" in hints[0]
    assert "`delete = false` for model sora-2: `delete = true` would offer it" in hints[1]
    assert not any("sora-2-pro" in h for h in hints)
    assert "model sora-2-pro: thumbnail unknown, remix yes, extensions yes, delete yes" in (
        result.stdout
    )


async def test_doctor_says_unknown_when_the_answer_does_not_tell(
    fake: FakeVideosServer, tmp_path: Path
) -> None:
    fake.settings.faults = [Fault(endpoint="delete", kind="503")]
    result = await video_bot(
        "doctor", env={**env_for(fake), "VIDEO_BOT_MAX_RETRIES": "0"}, cwd=tmp_path
    )
    assert result.code == 0, result.stdout
    lines = capability_lines(result.stdout)
    assert lines["delete"].startswith("unknown")
    assert "503" in lines["delete"]
    assert "`delete = false`" not in result.stdout
    doctor_made_no_job(fake, 0)


def probe(status: int, message: str | None = None, **fields: str | None) -> ProbeAnswer:
    return ProbeAnswer(
        status, fields.pop("content_type", None) or "application/json", message, **fields
    )


@pytest.mark.parametrize(
    ("answer", "support"),
    [
        (
            probe(404, "Video with id 'video_doctor_probe' not found.", code="video_not_found"),
            "yes",
        ),
        (probe(404, "Video video_doctor_probe not found"), "yes"),
        (probe(404, "No such thing", param="video_id"), "yes"),
        (probe(404, "Invalid URL (POST /v1/videos/video_doctor_probe/remix)"), "no"),
        (probe(404, "Not Found"), "no"),
        (probe(404, "404 page not found", content_type="text/plain"), "no"),
        (probe(404, "HTTP 404", content_type="text/html"), "no"),
        (probe(404, "HTTP 404"), "unknown"),  # an empty 404: either could be missing
        (probe(404, "Resource missing"), "unknown"),
        (probe(405, "Method Not Allowed"), "no"),
        (probe(501, "Not Implemented"), "no"),
        (probe(400, "Remix is not supported by this provider"), "no"),
        (probe(400, "Video video_doctor_probe is not completed"), "yes"),
        (probe(400, "Invalid request"), "unknown"),
        (probe(401, "Unauthorized"), "unknown"),
        (probe(429, "Slow down"), "unknown"),
        (probe(500, "Upstream failed"), "unknown"),
        (ProbeAnswer(200, "application/json", video_id="video_oops"), "yes"),
    ],
)
def test_the_probe_answers_are_read_carefully(answer: ProbeAnswer, support: str) -> None:
    finding = judge_probe(answer)
    assert finding.support == support, finding.why
    if answer.video_id:
        assert "started job video_oops" in finding.why


def test_the_thumbnail_answers_are_read_carefully() -> None:
    video = ProbeAnswer(200, "video/mp4")
    assert judge_thumbnail(video, ProbeAnswer(200, "image/webp")).support == "yes"
    assert judge_thumbnail(video, ProbeAnswer(200, "video/mp4")).support == "no"
    assert judge_thumbnail(video, ProbeAnswer(400, "application/json")).support == "no"
    assert judge_thumbnail(video, ProbeAnswer(200, "application/octet-stream")).support == "unknown"
    assert judge_thumbnail(video, ProbeAnswer(503, "text/plain")).support == "unknown"
    # The video itself is gone (expired): the thumbnail's answer says nothing.
    gone = ProbeAnswer(410, "application/json")
    assert judge_thumbnail(gone, ProbeAnswer(404, "application/json")).support == "unknown"


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (
            ("worker",),
            {},
            "`video-bot worker` shares the jobs of `video-bot run` through PostgreSQL",
        ),
        (("run",), {"VIDEO_BOT_RUN_JOBS": "false"}, "VIDEO_BOT_RUN_JOBS=false leaves the jobs"),
    ],
)
async def test_several_processes_on_sqlite_are_refused_in_one_line(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], says: str
) -> None:
    """A SQLite file is one process's: a worker beside it would run nothing, or run twice."""
    result = await video_bot(*args, env={"DISCORD_TOKEN": "a-token", **env}, cwd=tmp_path)
    assert result.code == 2
    assert result.stderr.strip().startswith(f"video-bot: {says}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
