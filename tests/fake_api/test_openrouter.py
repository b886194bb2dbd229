"""The openrouter dialect: OpenRouter's own video API under /api/v1 (FIELD-NOTES 7)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.fake_api import FakeSettings, FakeVideosServer

from ._client import get_json, multipart, png, video_url

KEY = "sk-or-test"
VEO = "google/veo-3.1"
WAN = "alibaba/wan-2.6"
SORA = "openai/sora-2"


@pytest.fixture
async def fake() -> AsyncIterator[FakeVideosServer]:
    async with FakeVideosServer(FakeSettings(dialect="openrouter", api_key=KEY)) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as session:
        yield session


async def submit(http, fake, **body) -> tuple[int, dict]:
    async with http.post(f"{fake.base_url}/videos", json=body) as r:
        return r.status, await r.json(content_type=None)


async def poll(http, fake, job_id: str) -> dict:
    status, job = await get_json(http, video_url(fake, job_id))
    assert status == 200
    return job


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def frame(url: str, frame_type: str = "first_frame") -> dict:
    return {"type": "image_url", "image_url": {"url": url}, "frame_type": frame_type}


def assert_error(body: object, code: int) -> str:
    assert isinstance(body, dict)
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    return body["error"]["message"]


# --- where it lives ---------------------------------------------------------------------------


async def test_the_api_lives_under_api_v1_and_v1_is_not_served(fake, http):
    assert fake.base_url == f"{fake.root_url}/api/v1"
    status, body = await get_json(http, f"{fake.root_url}/v1/videos/anything")
    assert status == 404
    assert_error(body, 404)
    fake.settings.dialect = "openai"  # the base URL follows the setting
    assert fake.base_url == f"{fake.root_url}/v1"
    status, _ = await get_json(http, f"{fake.root_url}/api/v1/videos/models")
    assert status == 404


async def test_a_wrong_key_is_401_in_openrouters_shape(fake):
    async with aiohttp.ClientSession() as anonymous:
        status, body = await get_json(anonymous, video_url(fake, "job-x"))
    assert status == 401
    assert_error(body, 401)


# --- create -----------------------------------------------------------------------------------


async def test_a_create_answers_202_pending_with_a_polling_url(fake, http):
    status, job = await submit(http, fake, model=VEO, prompt="a fox", duration=8)
    assert status == 202
    assert job["status"] == "pending"
    assert job["id"].startswith("job-")
    assert job["polling_url"] == video_url(fake, job["id"])
    assert job["generation_id"].startswith("gen-")
    assert "usage" not in job
    assert "unsigned_urls" not in job
    kept = fake.job(job["id"])
    assert kept is not None
    assert (kept.model, kept.seconds, kept.size) == (VEO, 8.0, "1280x720")


async def test_create_is_json_only(fake, http):
    async with http.post(
        f"{fake.base_url}/videos", data=multipart(model=VEO, prompt="x", duration=4)
    ) as r:
        assert r.status == 400
        assert "application/json" in assert_error(await r.json(), 400)
    async with http.post(
        f"{fake.base_url}/videos", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 400
    status, body = await submit(http, fake)  # {}: no model
    assert status == 400
    assert "model" in assert_error(body, 400)
    assert fake.stats.creates == 0


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"seconds": 8}, "seconds"),  # OpenAI's name is an unknown parameter here
        ({"seconds": "8"}, "seconds"),
        ({"duration": "8"}, "duration"),  # an integer, not a string
        ({"duration": 8.0}, "duration"),  # nor a float
        ({"duration": True}, "duration"),
        ({"duration": 5}, "duration"),  # not one of Veo's 4, 6, 8
        ({"model": "google/veo-9"}, "google/veo-9"),
        ({"prompt": ""}, "prompt"),
        ({"size": "1024x1024"}, "size"),
        ({"size": "1280x720", "resolution": "720p"}, "size"),
        ({"resolution": "4K"}, "resolution"),
        ({"aspect_ratio": "1:1"}, "aspect_ratio"),
        ({"generate_audio": "yes"}, "generate_audio"),
        ({"seed": 1.5}, "seed"),
        ({"callback_url": "ftp://example.com/hook"}, "callback_url"),
        ({"previous_job_id": 7}, "previous_job_id"),
    ],
)
async def test_create_refuses_what_openrouter_refuses(fake, http, fields, word):
    status, body = await submit(http, fake, **{"model": VEO, "prompt": "x", **fields})
    assert status == 400
    assert word in assert_error(body, 400)
    assert fake.stats.creates == 0


async def test_durations_sizes_and_capabilities_are_per_model(fake, http):
    # Wan: no `size` at all, resolution + aspect ratio instead; no audio, no seed.
    status, _ = await submit(http, fake, model=WAN, prompt="x", size="1280x720")
    assert status == 400
    status, job = await submit(
        http, fake, model=WAN, prompt="x", duration=10, resolution="1080p", aspect_ratio="9:16"
    )
    assert status == 202
    kept = fake.job(job["id"])
    assert kept is not None
    assert (kept.size, kept.seconds) == ("1080x1920", 10.0)
    assert kept.options["resolution"] == "1080p"
    for extra in ({"generate_audio": True}, {"seed": 3}):
        status, _ = await submit(http, fake, model=WAN, prompt="x", **extra)
        assert status == 400
    status, _ = await submit(http, fake, model=WAN, prompt="x", generate_audio=False)
    assert status == 202
    # Sora: 4, 8 or 12 seconds; defaults are each list's first value.
    status, job = await submit(http, fake, model=SORA, prompt="x")
    assert status == 202
    kept = fake.job(job["id"])
    assert kept is not None
    assert (kept.seconds, kept.size) == (4.0, "1280x720")
    status, job = await submit(
        http, fake, model=VEO, prompt="x", size="1080x1920", seed=42, generate_audio=True
    )
    assert status == 202
    kept = fake.job(job["id"])
    assert kept is not None
    assert kept.options == {
        "resolution": "1080p",
        "aspect_ratio": None,
        "generate_audio": True,
        "seed": 42,
    }


async def test_frame_images_take_data_urls_that_are_images_and_record_https_urls(fake, http):
    frames = [
        frame(data_url(png(64, 36))),
        frame("https://example.com/last.png", "last_frame"),
    ]
    references = [{"type": "image_url", "image_url": {"url": "https://example.com/ref.jpg"}}]
    status, job = await submit(
        http, fake, model=VEO, prompt="x", frame_images=frames, input_references=references
    )
    assert status == 202
    kept = fake.job(job["id"])
    assert kept is not None
    first, last, reference = kept.images
    assert first.role == "first_frame"
    assert first.url is None
    assert first.info is not None
    assert (first.info.width, first.info.height, first.info.image_format) == (64, 36, "PNG")
    assert (last.role, last.url) == ("last_frame", "https://example.com/last.png")
    assert (reference.role, reference.url) == ("reference", "https://example.com/ref.jpg")
    assert fake.stats.image_urls == ["https://example.com/last.png", "https://example.com/ref.jpg"]
    assert all(r.method == "POST" for r in fake.stats.requests)  # nothing was fetched


@pytest.mark.parametrize(
    ("model", "frames"),
    [
        (VEO, [frame(data_url(b"plain text, not an image", "image/png"))]),
        (VEO, [frame("data:image/png;base64,!!!not-base64!!!")]),
        (VEO, [frame("file:///etc/passwd")]),
        (VEO, [frame("https://example.com/a.png", "middle_frame")]),
        (VEO, [frame("https://example.com/a.png"), frame("https://example.com/b.png")]),
        (VEO, [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]),
        (VEO, {"first_frame": "https://example.com/a.png"}),
        (WAN, [frame("https://example.com/a.png", "last_frame")]),  # Wan: first frame only
    ],
)
async def test_bad_frame_images_are_refused(fake, http, model, frames):
    status, body = await submit(http, fake, model=model, prompt="x", frame_images=frames)
    assert status == 400
    assert "frame" in assert_error(body, 400)
    assert fake.stats.creates == 0


# --- the job over fake time -------------------------------------------------------------------


async def test_a_job_runs_to_completed_with_the_billed_cost_and_its_content(fake, http):
    _, job = await submit(http, fake, model=VEO, prompt="a fox [duration=10]", duration=8)
    fake.advance(5)
    job = await poll(http, fake, job["id"])
    assert job["status"] == "in_progress"
    assert "unsigned_urls" not in job
    assert "usage" not in job
    fake.advance(5)
    job = await poll(http, fake, job["id"])
    assert job["status"] == "completed"
    content = video_url(fake, job["id"], "/content?index=0")
    assert job["unsigned_urls"] == [content]
    # Billed at 0.38/s while the listing says 0.40/s: 3.04, not an estimate's 3.20.
    assert job["usage"] == {"cost": pytest.approx(3.04), "is_byok": False}
    assert "error" not in job

    async with http.get(content) as r:
        assert (r.status, r.content_type) == (200, "video/mp4")
        assert await r.read() == fake.asset_bytes()
    async with http.get(video_url(fake, job["id"], "/content")) as r:
        assert r.status == 200  # index 0 is the default
    status, body = await get_json(http, video_url(fake, job["id"], "/content?index=1"))
    assert status == 404
    assert_error(body, 404)
    async with aiohttp.ClientSession() as anonymous:
        status, _ = await get_json(anonymous, content)
        assert status == 401
        async with anonymous.get(job["urls"][0]) as r:  # the signed storage URL needs no key
            assert (r.status, r.content_type) == (200, "video/mp4")


async def test_per_resolution_prices_bill_the_resolution_asked_for(fake, http):
    costs = {}
    for resolution in ("480p", "1080p"):
        _, job = await submit(
            http, fake, model=WAN, prompt="[duration=1]", duration=10, resolution=resolution
        )
        costs[resolution] = job["id"]
    fake.advance(1)
    for resolution, expected in (("480p", 0.4), ("1080p", 1.4)):
        job = await poll(http, fake, costs[resolution])
        assert job["usage"]["cost"] == pytest.approx(expected)


async def test_content_before_completion_is_refused(fake, http):
    _, job = await submit(http, fake, model=SORA, prompt="[duration=10]")
    status, body = await get_json(http, video_url(fake, job["id"], "/content?index=0"))
    assert status == 400
    assert_error(body, 400)


async def test_failures_and_refusals_are_scripted_by_the_same_keywords(fake, http):
    _, failing = await submit(http, fake, model=SORA, prompt="[fail] [duration=10]")
    _, refused = await submit(http, fake, model=SORA, prompt="[refuse]")
    _, lost = await submit(http, fake, model=SORA, prompt="[lost] [duration=10]")
    job = await poll(http, fake, refused["id"])
    assert job["status"] == "failed"
    assert job["error"] == "Your request was blocked by our moderation system."
    assert "usage" not in job
    fake.advance(5)
    job = await poll(http, fake, failing["id"])
    assert (job["status"], job["error"]) == ("failed", "Video generation failed.")
    assert "unsigned_urls" not in job
    status, _ = await get_json(http, video_url(fake, failing["id"], "/content?index=0"))
    assert status == 400
    status, body = await get_json(http, video_url(fake, lost["id"]))
    assert status == 404
    assert_error(body, 404)


async def test_a_cancelled_job_shows_cancelled(fake, http):
    _, job = await submit(http, fake, model=SORA, prompt="[duration=10]")
    fake.advance(3)
    assert fake.cancel(job["id"])
    fake.advance(10)
    job = await poll(http, fake, job["id"])
    assert job["status"] == "cancelled"
    assert job["error"] == "The video generation was cancelled."
    assert not fake.cancel(job["id"])  # it has ended
    async with http.post(f"{fake.root_url}/_fake/cancel/job-unknown") as r:
        assert r.status == 404


async def test_an_expired_job_shows_expired_and_its_content_is_gone(fake, http):
    fake.settings.expire_after = 60
    _, job = await submit(http, fake, model=SORA, prompt="[duration=1]")
    fake.advance(61.5)
    job = await poll(http, fake, job["id"])
    assert job["status"] == "expired"
    assert "unsigned_urls" not in job
    status, _ = await get_json(http, video_url(fake, job["id"], "/content?index=0"))
    assert status == 404


async def test_there_is_no_list_remix_extension_or_delete(fake, http):
    _, job = await submit(http, fake, model=SORA, prompt="[duration=1]")
    fake.advance(1)
    for method, url, expected in (
        ("GET", f"{fake.base_url}/videos", 405),
        ("DELETE", video_url(fake, job["id"]), 404),
        ("POST", video_url(fake, job["id"], "/remix"), 404),
        ("POST", f"{fake.base_url}/videos/extensions", 404),
    ):
        async with http.request(method, url, json={"prompt": "y"}) as r:
            assert r.status == expected
            assert_error(await r.json(), expected)
    assert fake.stats.creates == 1
    assert (await poll(http, fake, job["id"]))["status"] == "completed"


# --- previous_job_id --------------------------------------------------------------------------


async def test_previous_job_id_continues_a_completed_job_of_the_same_model(fake, http):
    _, source = await submit(http, fake, model=VEO, prompt="a fox [duration=10]")
    _, unknown = await submit(http, fake, model=VEO, prompt="more", previous_job_id="job-nope")
    assert_error(unknown, 404)
    status, body = await submit(http, fake, model=VEO, prompt="more", previous_job_id=source["id"])
    assert status == 409  # still running
    assert_error(body, 409)
    fake.advance(10)
    status, job = await submit(
        http, fake, model=VEO, prompt="more", duration=4, previous_job_id=source["id"]
    )
    assert status == 202
    kept = fake.job(job["id"])
    assert kept is not None
    assert kept.continued_from == source["id"]
    # Sora's listing does not offer continuation; once it does, another model's job is refused.
    status, body = await submit(http, fake, model=SORA, prompt="x", previous_job_id=source["id"])
    assert status == 400
    fake.settings.openrouter_models[2].supports_continuation = True
    status, body = await submit(http, fake, model=SORA, prompt="x", previous_job_id=source["id"])
    assert status == 400
    assert VEO in assert_error(body, 400)
    assert fake.stats.creates == 2


# --- the model listing ------------------------------------------------------------------------


async def test_the_model_listing_needs_no_key_and_says_what_each_model_takes(fake):
    async with aiohttp.ClientSession() as anonymous:
        status, body = await get_json(anonymous, f"{fake.base_url}/videos/models")
    assert status == 200
    models = {model["id"]: model for model in body["data"]}
    assert list(models) == [WAN, VEO, SORA]
    veo = models[VEO]
    assert veo == {
        "id": VEO,
        "canonical_slug": VEO,
        "name": "Google: Veo 3.1",
        "created": veo["created"],
        "supported_durations": [4, 6, 8],
        "supported_resolutions": ["720p", "1080p"],
        "supported_aspect_ratios": ["16:9", "9:16"],
        "supported_sizes": ["1280x720", "720x1280", "1920x1080", "1080x1920"],
        "supported_frame_images": ["first_frame", "last_frame"],
        "generate_audio": True,
        "seed": True,
        "pricing_skus": {"per-video-second": "0.40"},
        "allowed_passthrough_parameters": [],
        "supports_continuation": True,
    }
    assert models[WAN]["supported_sizes"] is None
    assert models[WAN]["pricing_skus"]["per-video-second-1080p"] == "0.15"
    assert [m["supports_continuation"] for m in models.values()] == [False, True, False]


async def test_the_models_are_settings(fake, http):
    patch = {
        "openrouter_models": [
            {
                "id": "acme/clip-1",
                "name": "Acme Clip",
                "supported_durations": [3],
                "supported_resolutions": ["720p"],
                "supported_aspect_ratios": ["16:9"],
                "pricing_skus": {"per-video-second": "0.02"},
            }
        ]
    }
    async with http.patch(f"{fake.root_url}/_fake/settings", json=patch) as r:
        assert r.status == 200
    _, body = await get_json(http, f"{fake.base_url}/videos/models")
    assert [m["id"] for m in body["data"]] == ["acme/clip-1"]
    status, job = await submit(http, fake, model="acme/clip-1", prompt="[duration=1]", duration=3)
    assert status == 202
    fake.advance(1)
    assert (await poll(http, fake, job["id"]))["usage"]["cost"] == pytest.approx(0.06)
    status, _ = await submit(http, fake, model=VEO, prompt="x")
    assert status == 400
    # A model priced for none of its resolutions is a bad setting.
    patch["openrouter_models"][0]["pricing_skus"] = {"per-video-second-1080p": "0.02"}
    async with http.patch(f"{fake.root_url}/_fake/settings", json=patch) as r:
        assert r.status == 400
