"""What each dialect does differently from OpenAI (FIELD-NOTES section 2)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from bot.fake_api import DIALECTS, FakeSettings, FakeVideosServer

from ._client import create, create_json, get_json, png, retrieve, video_url


@pytest.fixture
async def server(request) -> AsyncIterator[FakeVideosServer]:
    """A fake in the dialect given by indirect parametrisation."""
    async with FakeVideosServer(FakeSettings(dialect=request.param)) as fake:
        yield fake


def dialect(name):
    return pytest.mark.parametrize("server", [name], indirect=True)


@pytest.mark.parametrize("server", DIALECTS, indirect=True)
async def test_every_dialect_runs_a_job_to_a_downloadable_video(server, http):
    status, video = await create(http, server, "a lighthouse [duration=2]")
    assert 200 <= status < 300
    server.advance(2)
    status, video = await retrieve(http, server, video["id"])
    assert status == 200
    assert video["status"] in {"completed", "succeeded"}
    async with http.get(video_url(server, video["id"], "/content")) as r:
        assert r.status == 200
        assert r.content_type == "video/mp4"
        assert await r.read() == server.asset_bytes()


# --- sglang ----------------------------------------------------------------------------------


@dialect("sglang")
async def test_sglang(server, http):
    server.settings.api_key = "ignored"  # SGLang does not authenticate
    status, video = await create_json(
        http,
        server,
        {
            "prompt": "x [duration=10]",
            "size": "832x480",
            "seconds": 5,
            "fps": 16,
        },
    )
    assert status == 200
    assert (video["size"], video["seconds"]) == ("832x480", 5)
    server.advance(8)
    _, video = await retrieve(http, server, video["id"])
    assert (video["status"], video["progress"]) == ("in_progress", 0)
    server.advance(2)
    _, video = await retrieve(http, server, video["id"])
    assert (video["status"], video["progress"]) == ("completed", 100)

    content = video_url(server, video["id"], "/content")
    status, body = await get_json(http, content, params={"variant": "video"})
    assert status == 404
    assert isinstance(body["detail"], str)
    async with http.get(content) as r:
        assert (r.status, r.content_type) == (200, "video/mp4")

    status, body = await get_json(http, f"{server.base_url}/videos")
    assert (status, body) == (405, {"detail": "Method Not Allowed"})
    status, body = await create_json(http, server, {"prompt": " "})
    assert status == 400
    assert set(body) == {"detail"}
    status, body = await create_json(http, server, {"prompt": "x", "size": "big"})
    assert status == 400


# --- vLLM-Omni -------------------------------------------------------------------------------


@dialect("vllm_omni")
async def test_vllm_omni(server, http):
    status, body = await create_json(http, server, {"prompt": "x"})
    assert status == 400
    assert body["error"]["code"] == 400
    status, body = await create(http, server, "x", model="sora-2")
    assert status == 400
    assert body["error"]["message"] == "The model `sora-2` does not exist."

    status, video = await create(
        http, server, "x [duration=100]", model="Wan2.2-T2V-A14B", size="832x480", seconds=5
    )
    assert status == 200
    assert (video["model"], video["seconds"], video["size"]) == ("Wan2.2-T2V-A14B", "5", "832x480")
    server.advance(50)
    _, video = await retrieve(http, server, video["id"])
    assert (video["status"], video["progress"]) == ("processing", 50)
    server.advance(49.7)
    _, video = await retrieve(http, server, video["id"])
    assert (video["status"], video["progress"]) == ("processing", 99)
    server.advance(1)
    _, video = await retrieve(http, server, video["id"])
    assert (video["status"], video["progress"]) == ("completed", 100)

    _, failing = await create(http, server, "[fail] [duration=2]")
    server.advance(1)
    status, failed = await retrieve(http, server, failing["id"])
    assert status == 500
    assert failed["id"] == failing["id"]
    assert failed["status"] == "failed"
    assert failed["error"] == "Video generation failed."

    for url in (f"{server.base_url}/videos", video_url(server, video["id"], "/remix")):
        async with http.request(
            "GET" if url.endswith("/videos") else "POST", url, json={"prompt": "y"}
        ) as r:
            assert r.status == 404

    server.settings.api_key = "k"
    status, body = await retrieve(http, server, video["id"])
    assert (status, body) == (401, {"error": "Unauthorized"})


# --- TensorRT-LLM ----------------------------------------------------------------------------


@dialect("trtllm")
async def test_trtllm(server, http):
    status, body = await create_json(http, server, {"prompt": "x", "style": "noir"})
    assert status == 422
    assert body == {
        "detail": [
            {
                "loc": ["body", "style"],
                "msg": "Extra inputs are not permitted",
                "type": "extra_forbidden",
            }
        ]
    }
    status, body = await create_json(http, server, {"size": "832x480"})
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "prompt"]
    assert body["detail"][0]["type"] == "missing"

    ids = []
    for seconds in ("4", 4, 4.0):
        status, video = await create_json(
            http, server, {"prompt": "x [duration=10]", "seconds": seconds}
        )
        assert status == 202
        assert video["seconds"] == 4.0
        assert isinstance(video["seconds"], float)
        assert video["status"] == "pending"
        assert "progress" not in video
        ids.append(video["id"])

    content = video_url(server, ids[0], "/content")
    status, _ = await get_json(http, content)
    assert status == 404
    server.advance(5)
    _, video = await retrieve(http, server, ids[0])
    assert video["status"] == "processing"
    assert "progress" not in video
    server.advance(5)
    _, video = await retrieve(http, server, ids[0])
    assert video["status"] == "succeeded"
    async with http.get(content) as r:
        assert r.status == 200

    async with http.delete(video_url(server, ids[0])) as r:
        assert r.status == 405
    status, _ = await get_json(http, f"{server.base_url}/videos")
    assert status == 405


# --- New API ---------------------------------------------------------------------------------


@dialect("newapi")
async def test_newapi(server, http):
    status, body = await create_json(http, server, {"prompt": "x"})
    assert status == 400
    assert isinstance(body["error"]["code"], int)
    assert set(body["error"]) == {"message", "type", "code"}

    status, video = await create(http, server, "x [duration=10]")
    assert status == 200
    video_id = video["id"]
    assert 230 <= len(video_id) <= 270
    assert "=" in video_id
    assert ":" in video_id
    assert video["progress"] is None
    server.advance(5)
    status, video = await retrieve(http, server, video_id)  # the id round-trips percent-encoded
    assert status == 200
    assert (video["id"], video["status"], video["progress"]) == (video_id, "processing", None)
    server.advance(5)
    _, video = await retrieve(http, server, video_id)
    assert video["status"] == "succeeded"

    for method, url in (
        ("GET", f"{server.base_url}/videos"),
        ("DELETE", video_url(server, video_id)),
        ("POST", video_url(server, video_id, "/remix")),
    ):
        async with http.request(method, url, json={"prompt": "y"}) as r:
            assert r.status == 404
            assert r.content_type == "text/plain"
            assert await r.text() == "404 page not found"

    _, failed = await create(http, server, "[refuse]")
    _, failed = await retrieve(http, server, failed["id"])
    assert failed["error"] == {"message": "Your request was blocked by our moderation system."}

    server.settings.api_key = "k"
    status, body = await retrieve(http, server, video_id)
    assert status == 500
    assert "token" in body["error"]["message"]


# --- LiteLLM ---------------------------------------------------------------------------------


@dialect("litellm")
async def test_litellm(server, http):
    status, video = await create(http, server, "x [duration=2]")
    assert status == 200
    assert re.fullmatch(r"video_[A-Za-z0-9_\-]+=*", video["id"])
    assert 200 <= len(video["id"]) <= 260
    server.advance(2)
    async with http.get(
        video_url(server, video["id"], "/content"), params={"variant": "thumbnail"}
    ) as r:
        assert r.content_type == "video/mp4"  # variant is dropped on the way upstream

    _, failing = await create(http, server, "[fail] [duration=2]")
    server.advance(1)
    status, body = await retrieve(http, server, failing["id"])
    assert status == 500
    assert body == {
        "error": {
            "message": "litellm.InternalServerError: video generation failed: "
            "Video generation failed.",
            "type": "None",
            "param": None,
            "code": "500",
        }
    }

    # Otherwise as strict as OpenAI, since the upstream is.
    status, body = await create_json(http, server, {"prompt": "x", "seconds": 4})
    assert status == 400
    assert body["error"]["param"] == "seconds"
    status, body = await create(
        http, server, "x", size="1280x720", input_reference=("r.png", png(10, 10), "image/png")
    )
    assert status == 400
    server.settings.api_key = "k"
    status, _ = await retrieve(http, server, video["id"])
    assert status == 401
