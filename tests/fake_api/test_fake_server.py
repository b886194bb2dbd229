"""The fake Videos API in its OpenAI dialect: job timing, keywords, validation, auth, control."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import re
import subprocess
import sys

import aiohttp
import pytest

from bot.fake_api import PROMPT_KEYWORDS, FakeSettings, FakeVideosServer, serve_forever

from ._client import create, create_json, get_json, multipart, png, retrieve, video_url

ERROR_KEYS = {"message", "type", "param", "code"}


def assert_openai_error(body: object, param: str | None) -> None:
    assert isinstance(body, dict)
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == param


# --- job timing over fake time ---------------------------------------------------------------


async def test_job_is_queued_then_in_progress_then_completed(fake, http):
    status, video = await create(http, fake, "a cat [duration=10]")
    assert status == 200
    assert video["status"] == "queued"
    assert video["progress"] == 0
    assert video["object"] == "video"
    assert video["model"] == "sora-2"
    assert video["size"] == "720x1280"
    assert video["seconds"] == "4"
    assert video["completed_at"] is None
    assert video["expires_at"] is None
    assert video["quality"] == "standard"
    assert video["remixed_from_video_id"] is None
    video_id = video["id"]

    fake.advance(0.5)  # 5 % of 10 s: still queued
    _, video = await retrieve(http, fake, video_id)
    assert (video["status"], video["progress"]) == ("queued", 0)

    fake.advance(3.0)  # 35 %
    _, video = await retrieve(http, fake, video_id)
    assert video["status"] == "in_progress"
    assert 34 <= video["progress"] <= 36

    fake.advance(5.0)  # 85 %
    _, video = await retrieve(http, fake, video_id)
    assert video["status"] == "in_progress"
    assert 84 <= video["progress"] <= 86

    fake.advance(2.0)
    _, video = await retrieve(http, fake, video_id)
    assert (video["status"], video["progress"], video["error"]) == ("completed", 100, None)
    assert video["completed_at"] == video["created_at"] + 10
    assert video["expires_at"] == video["completed_at"] + 3600


async def test_default_duration_comes_from_settings(fake, http):
    fake.settings.default_duration = 2.0
    _, video = await create(http, fake)
    fake.advance(2.0)
    _, video = await retrieve(http, fake, video["id"])
    assert video["status"] == "completed"


async def test_advance_refuses_to_go_backwards(fake):
    with pytest.raises(ValueError, match="forward"):
        fake.advance(-1)


# --- prompt keywords -------------------------------------------------------------------------


def test_keyword_table_documents_every_keyword():
    usages = {keyword.usage for keyword in PROMPT_KEYWORDS}
    assert usages == {
        "[duration=N]",
        "[fail]",
        "[refuse]",
        "[refuse=CODE]",
        "[bytes=N]",
        "[download-fail]",
        "[safety-removed]",
        "[lost]",
    }
    assert all(keyword.effect for keyword in PROMPT_KEYWORDS)


async def test_fail_keyword_fails_half_way_with_http_200(fake, http):
    _, video = await create(http, fake, "[fail] a storm [duration=10]")
    fake.advance(4.0)
    _, video = await retrieve(http, fake, video["id"])
    assert video["status"] == "in_progress"
    fake.advance(2.0)
    status, video = await retrieve(http, fake, video["id"])
    assert status == 200
    assert video["status"] == "failed"
    assert video["progress"] == 50
    assert video["error"] == {"code": "internal_error", "message": "Video generation failed."}
    assert video["expires_at"] is None


async def test_refuse_keyword_fails_at_once(fake, http):
    _, video = await create(http, fake, "a face [refuse]")
    assert video["status"] == "failed"
    assert video["error"] == {
        "code": "moderation_blocked",
        "message": "Your request was blocked by our moderation system.",
    }


async def test_bytes_keyword_pads_the_video(fake, http):
    _, video = await create(http, fake, "big [bytes=50000] [duration=1]")
    fake.advance(1)
    async with http.get(video_url(fake, video["id"], "/content")) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == "50000"
        data = await r.read()
    assert len(data) == 50000
    assert data.startswith(fake.asset_bytes())


async def test_download_fail_keyword_completes_but_content_answers_500(fake, http):
    _, video = await create(http, fake, "[download-fail] [duration=1]")
    fake.advance(1)
    _, video = await retrieve(http, fake, video["id"])
    assert video["status"] == "completed"
    status, body = await get_json(http, video_url(fake, video["id"], "/content"))
    assert status == 500
    assert body["error"]["type"] == "server_error"


async def test_lost_keyword_vanishes_once_in_progress(fake, http):
    _, video = await create(http, fake, "[lost] [duration=10]")
    status, _ = await retrieve(http, fake, video["id"])
    assert status == 200
    fake.advance(2)
    status, body = await retrieve(http, fake, video["id"])
    assert status == 404
    assert_openai_error(body, "video_id")
    _, listing = await get_json(http, f"{fake.base_url}/videos")
    assert listing["data"] == []


async def test_malformed_keywords_are_plain_text(fake, http):
    _, video = await create(http, fake, "[duration=soon] [bytes=-3] [explode]")
    fake.advance(fake.settings.default_duration)
    _, video = await retrieve(http, fake, video["id"])
    assert video["status"] == "completed"


# --- create validation (openai dialect) ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"prompt": "x", "size": "640x480"}, "size", "Invalid value: '640x480'"),
        ({"prompt": "x", "seconds": 8}, "seconds", "got an integer"),
        ({"prompt": "x", "seconds": "5"}, "seconds", "Invalid value: '5'"),
        ({"prompt": "   "}, "prompt", "empty"),
        ({"prompt": "x" * 32001}, "prompt", "too long"),
        ({"size": "720x1280"}, "prompt", "Missing required parameter: 'prompt'."),
        ({"prompt": "x", "size": "1792x1024"}, "size", "Supported values for sora-2"),
        ({"prompt": "x", "model": "sora-2-2025-12-08", "size": "1024x1792"}, "size", "sora-2"),
        ({"prompt": "x", "model": "sora-3"}, "model", "Invalid value: 'sora-3'"),
        ({"prompt": "x", "n": 2}, "n", "Unknown parameter: 'n'."),
        ({"prompt": "x", "input_reference": {"url": "y"}}, "input_reference", "image_url"),
    ],
)
async def test_openai_rejects_invalid_json_creates(fake, http, body, param, message):
    status, error = await create_json(http, fake, body)
    assert status == 400
    assert_openai_error(error, param)
    assert message in error["error"]["message"]
    assert fake.stats.creates == 0


async def test_openai_accepts_pro_sizes_and_json_references(fake, http):
    status, video = await create_json(
        http,
        fake,
        {
            "prompt": "x",
            "model": "sora-2-pro",
            "size": "1792x1024",
            "seconds": "12",
            "input_reference": {"image_url": "https://example.invalid/a.png"},
        },
    )
    assert status == 200
    assert (video["model"], video["size"], video["seconds"]) == ("sora-2-pro", "1792x1024", "12")


async def test_openai_multipart_unknown_field_is_rejected(fake, http):
    status, error = await create(http, fake, "x", style="noir")
    assert status == 400
    assert error["error"]["message"] == "Unknown parameter: 'style'."


async def test_reference_image_must_match_the_size(fake, http):
    image = ("first.png", png(640, 360), "image/png")
    status, error = await create(http, fake, "x", size="1280x720", input_reference=image)
    assert status == 400
    assert_openai_error(error, "input_reference")
    assert error["error"]["message"] == "Inpaint image must match the requested width and height"

    image = ("first.png", png(1280, 720), "image/png")
    status, _ = await create(http, fake, "x", size="1280x720", input_reference=image)
    assert status == 200
    files = fake.stats.requests[-1].files
    assert files["input_reference"].width == 1280
    assert files["input_reference"].height == 720
    assert files["input_reference"].filename == "first.png"
    assert files["input_reference"].content_type == "image/png"


async def test_reference_must_be_an_image(fake, http):
    not_image = ("notes.txt", b"hello", "application/octet-stream")
    status, error = await create(http, fake, "x", input_reference=not_image)
    assert status == 400
    assert_openai_error(error, "input_reference")


async def test_openai_rejects_other_body_types(fake, http):
    async with http.post(f"{fake.base_url}/videos", data={"prompt": "x"}) as r:
        assert r.status == 400  # urlencoded
    async with http.post(
        f"{fake.base_url}/videos", data=b"{nope", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
        assert "parse the JSON" in (await r.json())["error"]["message"]


# --- authentication --------------------------------------------------------------------------


async def test_api_key_is_enforced_and_never_recorded(fake, http):
    fake.settings.api_key = "sk-test-secret"
    expected = {
        "error": {
            "message": "Incorrect API key provided",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    status, body = await create(http, fake)
    assert (status, body) == (401, expected)
    async with http.post(
        f"{fake.base_url}/videos",
        data=multipart(prompt="x"),
        headers={"Authorization": "Bearer sk-wrong"},
    ) as r:
        assert (r.status, await r.json()) == (401, expected)
    async with http.post(
        f"{fake.base_url}/videos",
        data=multipart(prompt="x"),
        headers={"Authorization": "Bearer sk-test-secret"},
    ) as r:
        assert r.status == 200
    assert [r.authorized for r in fake.stats.requests] == [False, True, True]
    assert [r.status for r in fake.stats.requests] == [401, 401, 200]
    log = json.dumps([dataclasses.asdict(r) for r in fake.stats.requests])
    assert "sk-test-secret" not in log
    assert "sk-wrong" not in log
    assert fake.stats.creates == 1


# --- the request log -------------------------------------------------------------------------


async def test_requests_are_recorded_faithfully_and_counted_by_route(fake, http):
    _, video = await create(http, fake, "x", seconds="8")
    await retrieve(http, fake, video["id"])
    await retrieve(http, fake, video["id"])
    await get_json(http, video_url(fake, video["id"], "/content"), params={"variant": "video"})
    await create_json(http, fake, {"prompt": "y"})

    stats = fake.stats
    assert stats.count("POST /v1/videos") == 2
    assert stats.count("GET /v1/videos/{video_id}") == 2
    assert stats.count("GET /v1/videos/{video_id}/content") == 1
    assert stats.count("DELETE /v1/videos/{video_id}") == 0
    first, second, _, content, last = stats.requests
    assert first.route == "/v1/videos"
    assert first.content_type == "multipart/form-data"
    assert first.form == {"prompt": "x", "seconds": "8"}
    assert first.json_body is None
    assert first.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert second.path == f"/v1/videos/{video['id']}"
    assert second.route == "/v1/videos/{video_id}"
    assert (second.content_type, second.form, second.json_body) == (None, None, None)
    assert content.query == {"variant": "video"}
    assert last.content_type == "application/json"
    assert last.json_body == {"prompt": "y"}
    assert last.form is None


async def test_unknown_v1_paths_are_recorded_and_answered_404(fake, http):
    status, body = await get_json(http, f"{fake.base_url}/videos/abc/characters")
    assert status == 404
    assert body["error"]["message"] == "Invalid URL (GET /v1/videos/abc/characters)"
    assert fake.stats.requests[-1].route == "/v1/{tail}"


# --- list, delete, content, remix, extensions ------------------------------------------------


async def test_list_pages_with_order_and_after(fake, http):
    ids = []
    for n in range(5):
        _, video = await create(http, fake, f"clip {n}")
        ids.append(video["id"])
    url = f"{fake.base_url}/videos"
    _, page = await get_json(http, url, params={"limit": "2", "order": "asc"})
    assert page["object"] == "list"
    assert [v["id"] for v in page["data"]] == ids[:2]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[0], ids[1], True)
    _, page = await get_json(http, url, params={"limit": "2", "order": "asc", "after": ids[3]})
    assert [v["id"] for v in page["data"]] == ids[4:]
    assert page["has_more"] is False
    _, page = await get_json(http, url)
    assert [v["id"] for v in page["data"]] == ids[::-1]
    _, page = await get_json(http, url, params={"limit": "0"})
    assert (page["data"], page["first_id"], page["last_id"]) == ([], None, None)
    status, error = await get_json(http, url, params={"limit": "101"})
    assert status == 400
    assert_openai_error(error, "limit")
    status, error = await get_json(http, url, params={"order": "sideways"})
    assert status == 400
    assert_openai_error(error, "order")


async def test_delete_only_finished_videos(fake, http):
    _, video = await create(http, fake, "[duration=4]")
    url = video_url(fake, video["id"])
    async with http.delete(url) as r:
        assert r.status == 400
    fake.advance(4)
    async with http.delete(url) as r:
        assert r.status == 200
        assert await r.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    status, _ = await retrieve(http, fake, video["id"])
    assert status == 404
    _, failed = await create(http, fake, "[refuse]")
    async with http.delete(video_url(fake, failed["id"])) as r:
        assert r.status == 200


async def test_content_variants_and_readiness(fake, http):
    _, video = await create(http, fake, "[duration=2]")
    content = video_url(fake, video["id"], "/content")
    status, error = await get_json(http, content)
    assert status == 404
    assert error["error"]["code"] == "video_not_ready"
    fake.advance(2)
    expected = {
        None: ("video/mp4", b"ftyp"),
        "video": ("video/mp4", b"ftyp"),
        "thumbnail": ("image/webp", b"WEBP"),
        "spritesheet": ("image/jpeg", b"\xff\xd8\xff"),
    }
    for variant, (content_type, magic) in expected.items():
        params = {} if variant is None else {"variant": variant}
        async with http.get(content, params=params) as r:
            assert r.status == 200
            assert r.content_type == content_type
            assert magic in (await r.read())[:12]
    status, error = await get_json(http, content, params={"variant": "poster"})
    assert status == 400
    assert_openai_error(error, "variant")
    _, failed = await create(http, fake, "[refuse]")
    status, _ = await get_json(http, video_url(fake, failed["id"], "/content"))
    assert status == 422


async def test_remix_needs_a_completed_source(fake, http):
    _, source = await create(http, fake, "[duration=3]", size="1280x720", seconds="8")
    remix = video_url(fake, source["id"], "/remix")
    async with http.post(remix, json={"prompt": "now at night"}) as r:
        assert r.status == 400
    fake.advance(3)
    async with http.post(remix, json={"prompt": "now at night", "extra": 1}) as r:
        assert r.status == 400
    async with http.post(remix, json={"prompt": "now at night"}) as r:
        assert r.status == 200
        video = await r.json()
    assert video["remixed_from_video_id"] == source["id"]
    assert (video["size"], video["seconds"], video["status"]) == ("1280x720", "8", "queued")
    assert video["prompt"] == "now at night"
    assert fake.stats.creates == 2


async def test_extension_adds_seconds_to_a_completed_video(fake, http):
    _, source = await create(http, fake, "[duration=3]", seconds="8")
    url = f"{fake.base_url}/videos/extensions"
    body = {"video": {"id": source["id"]}, "prompt": "and then", "seconds": "12"}
    async with http.post(url, json=body) as r:
        assert r.status == 400
    fake.advance(3)
    async with http.post(url, json=body) as r:
        assert r.status == 200
        video = await r.json()
    assert video["seconds"] == "20"
    assert fake.stats.count("POST /v1/videos/extensions") == 2
    async with http.post(url, json={**body, "seconds": 12}) as r:
        assert r.status == 400
    async with http.post(url, json={**body, "video": {"id": "video_nope"}}) as r:
        assert r.status == 404


# --- settings that change answers ------------------------------------------------------------


async def test_poll_after_header_on_retrieve(fake, http):
    _, video = await create(http, fake)
    async with http.get(video_url(fake, video["id"])) as r:
        assert "openai-poll-after-ms" not in r.headers
    fake.settings.poll_after_ms = 250
    async with http.get(video_url(fake, video["id"])) as r:
        assert r.headers["openai-poll-after-ms"] == "250"


async def test_video_bytes_setting_pads_every_video(fake, http):
    fake.settings.video_bytes = 123_456
    _, video = await create(http, fake, "[duration=0]")
    async with http.get(video_url(fake, video["id"], "/content")) as r:
        assert len(await r.read()) == 123_456


async def test_disabled_endpoints_answer_404(fake, http):
    fake.settings.disabled_endpoints = {"list", "delete"}
    status, _ = await get_json(http, f"{fake.base_url}/videos")
    assert status == 404
    _, video = await create(http, fake, "[duration=0]")
    async with http.delete(video_url(fake, video["id"])) as r:
        assert r.status == 404
    status, _ = await retrieve(http, fake, video["id"])
    assert status == 200


async def test_restart_forgets_jobs_but_not_stats(fake, http):
    _, video = await create(http, fake)
    fake.restart()
    status, body = await retrieve(http, fake, video["id"])
    assert status == 404
    assert_openai_error(body, "video_id")
    assert fake.stats.creates == 1
    assert fake.stats.count("POST /v1/videos") == 1


# --- control over HTTP -----------------------------------------------------------------------


async def test_control_endpoints(fake, http):
    root = fake.base_url.removesuffix("/v1")
    _, video = await create(http, fake, "[duration=5]")

    status, stats = await get_json(http, f"{root}/_fake/stats")
    assert status == 200
    assert stats == {
        "counts": {"POST /v1/videos": 1},
        "creates": 1,
        "jobs": 1,
        "image_urls": [],
        "callbacks": [],
    }

    status, log = await get_json(http, f"{root}/_fake/requests")
    assert status == 200
    assert log[0]["route"] == "/v1/videos"
    assert log[0]["form"] == {"prompt": "[duration=5]"}

    async with http.post(f"{root}/_fake/advance", json={"seconds": 5}) as r:
        assert r.status == 200
    _, video = await retrieve(http, fake, video["id"])
    assert video["status"] == "completed"

    patch = {
        "api_key": "k",
        "faults": [{"endpoint": "list", "kind": "503"}],
        "disabled_endpoints": ["remix"],
        "poll_after_ms": 100,
    }
    async with http.patch(f"{root}/_fake/settings", json=patch) as r:
        assert r.status == 200
        assert (await r.json())["faults"][0]["kind"] == "503"
    assert fake.settings.api_key == "k"
    assert fake.settings.disabled_endpoints == {"remix"}
    assert [f.kind for f in fake.settings.faults] == ["503"]
    async with http.patch(f"{root}/_fake/settings", json={"faults": []}) as r:
        assert r.status == 200
    assert fake.settings.faults == []
    assert fake.settings.api_key == "k"  # a merge: untouched keys stay

    async with http.patch(f"{root}/_fake/settings", json={"dialect": "nope", "api_key": None}) as r:
        assert r.status == 400
    assert fake.settings.api_key == "k"  # a bad patch changes nothing

    async with http.post(f"{root}/_fake/restart") as r:
        assert r.status == 200
    _, stats = await get_json(http, f"{root}/_fake/stats")
    assert stats["jobs"] == 0
    # Control calls need no key and are not in the Videos request log.
    assert all(not r.path.startswith("/_fake") for r in fake.stats.requests)


# --- packaging and running -------------------------------------------------------------------


def test_fake_api_is_independent_of_discord_and_the_client():
    code = (
        "import sys, bot.fake_api; "
        "bad = [m for m in sys.modules if m.split('.')[0] == 'discord' "
        "or m.startswith('bot.videos')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_serve_forever_logs_its_url_and_stops_when_cancelled(caplog, http):
    caplog.set_level(logging.INFO, logger="bot.fake_api.app")
    task = asyncio.create_task(serve_forever("127.0.0.1", 0, FakeSettings(dialect="sglang")))
    for _ in range(200):
        if caplog.records:
            break
        await asyncio.sleep(0.01)
    match = re.search(r"(http://127\.0\.0\.1:\d+/v1)", caplog.text)
    assert match is not None
    assert "sglang" in caplog.text
    status, _ = await get_json(http, f"{match.group(1).removesuffix('/v1')}/_fake/stats")
    assert status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        await get_json(http, f"{match.group(1)}/videos")


async def test_base_url_shape():
    async with FakeVideosServer(host="127.0.0.1", port=0) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.base_url)
        assert server.port != 0


def test_the_cli_passes_the_dialect_and_the_webhook_options(monkeypatch, capsys):
    import bot.fake_api
    from bot.terminal.cli import main

    served: list[FakeSettings] = []

    async def serve(host: str, port: int, settings: FakeSettings) -> None:
        served.append(settings)

    monkeypatch.setattr(bot.fake_api, "serve_forever", serve)
    argv = ["fake-api", "--dialect", "openrouter", "--port", "0"]
    hooks = ["--webhook-url", "http://127.0.0.1:1/hook", "--webhook-secret", "a-signing-secret"]
    assert main([*argv, *hooks]) == 0
    [settings] = served
    assert settings.dialect == "openrouter"
    assert settings.webhook_url == "http://127.0.0.1:1/hook"
    assert settings.webhook_secret == "a-signing-secret"
    assert main(["fake-api", "--dialect", "openroute"]) == 2
    assert "video-bot fake-api:" in capsys.readouterr().err
