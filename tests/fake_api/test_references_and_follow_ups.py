"""References by URL, remix, extensions and expiry in the fake, per dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.fake_api import DIALECTS, FakeSettings, FakeVideosServer

from ._client import create, create_json, get_json, multipart, retrieve, video_url

ERROR_KEYS = {"message", "type", "param", "code"}
URL = "https://images.example.invalid/first-frame.png"


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[FakeVideosServer]:
    """A fake in the dialect given by indirect parametrisation."""
    async with FakeVideosServer(FakeSettings(dialect=request.param)) as fake:
        yield fake


def in_dialects(*names: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("server", names, indirect=True)


def assert_openai_error(body: object, status: int, param: str | None, code: str | None) -> None:
    assert isinstance(body, dict)
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["type"] == "invalid_request_error"
    assert (body["error"]["param"], body["error"]["code"]) == (param, code)
    assert status in (400, 404)


async def finished(http, fake: FakeVideosServer, **fields) -> dict:
    _, video = await create(http, fake, "a harbour [duration=2]", **fields)
    fake.advance(2)
    return video


# --- input_reference as {"image_url": ...} ---------------------------------------------------


async def test_openai_records_a_json_image_url_and_fetches_nothing(fake, http):
    body = {"prompt": "from a URL", "size": "1280x720", "input_reference": {"image_url": URL}}
    status, video = await create_json(http, fake, body)
    assert status == 200
    job = fake.job(video["id"])
    assert job is not None
    assert job.reference_url == URL
    assert job.reference is None
    assert fake.stats.image_urls == [URL]
    assert fake.stats.requests[-1].json_body == body
    assert "input_reference" not in video  # the video object is the spec's, nothing added
    root = fake.base_url.removesuffix("/v1")
    _, stats = await get_json(http, f"{root}/_fake/stats")
    assert stats["image_urls"] == [URL]
    _, jobs = await get_json(http, f"{root}/_fake/jobs")
    assert jobs[0]["reference_url"] == URL
    assert (jobs[0]["remixed_from"], jobs[0]["extended_from"]) == (None, None)


async def test_a_reference_object_in_a_multipart_text_part_is_read_too(fake, http):
    form = multipart(prompt="x", input_reference=f'{{"image_url": "{URL}"}}')
    async with http.post(f"{fake.base_url}/videos", data=form) as r:
        assert r.status == 200
        video = await r.json()
    assert fake.job(video["id"]).reference_url == URL  # type: ignore[union-attr]


async def test_a_file_id_reference_is_accepted_without_a_url(fake, http):
    status, video = await create_json(
        http, fake, {"prompt": "x", "input_reference": {"file_id": "file-123"}}
    )
    assert status == 200
    assert fake.job(video["id"]).reference_url is None  # type: ignore[union-attr]
    assert fake.stats.image_urls == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.invalid/a.png",
        "javascript:alert(1)",
        "gopher://example.invalid/",
        "https://",
        "example.invalid/a.png",
        "data:text/html;base64,PGI+aGk8L2I+",
        "data:image/png,notbase64",
        "https://example.invalid/a\nb.png",
    ],
)
async def test_a_url_that_is_not_http_is_refused_with_the_error_envelope(fake, http, url):
    status, body = await create_json(
        http, fake, {"prompt": "x", "input_reference": {"image_url": url}}
    )
    assert status == 400
    assert_openai_error(body, status, "input_reference.image_url", "invalid_url")
    assert fake.stats.creates == 0
    assert fake.stats.image_urls == []


async def test_a_base64_data_url_is_allowed_as_the_spec_says(fake, http):
    url = "data:image/png;base64,iVBORw0KGgo="
    status, _ = await create_json(
        http, fake, {"prompt": "x", "input_reference": {"image_url": url}}
    )
    assert status == 200
    assert fake.stats.image_urls == [url]


@in_dialects("sglang", "trtllm")
async def test_self_hosted_servers_taking_json_record_the_url(server, http):
    status, video = await create_json(
        http, server, {"prompt": "x", "seconds": 4, "input_reference": {"image_url": URL}}
    )
    assert 200 <= status < 300
    assert server.job(video["id"]).reference_url == URL  # type: ignore[union-attr]
    status, _ = await create_json(
        http, server, {"prompt": "x", "input_reference": {"image_url": "file:///etc/passwd"}}
    )
    assert status in (400, 422)
    assert server.stats.creates == 1


@in_dialects("vllm_omni", "newapi")
async def test_multipart_only_servers_refuse_a_json_reference(server, http):
    status, body = await create_json(
        http, server, {"prompt": "x", "input_reference": {"image_url": URL}}
    )
    assert status == 400
    assert "multipart" in body["error"]["message"]
    assert server.stats.creates == 0
    assert server.stats.image_urls == []


@in_dialects("litellm")
async def test_litellm_breaks_on_a_json_reference(server, http):
    status, body = await create_json(
        http, server, {"prompt": "x", "input_reference": {"image_url": URL}}
    )
    assert status == 500
    assert body["error"]["message"].startswith("litellm.InternalServerError")
    assert server.stats.creates == 0
    status, _ = await create_json(http, server, {"prompt": "x"})  # JSON itself is fine
    assert status == 200


# --- remix -----------------------------------------------------------------------------------


async def test_remix_of_a_missing_video_is_404_in_the_spec_shape(fake, http):
    async with http.post(video_url(fake, "video_nope", "/remix"), json={"prompt": "y"}) as r:
        assert_openai_error(await r.json(), r.status, "video_id", "video_not_found")
        assert r.status == 404
    assert fake.stats.creates == 0


async def test_remix_of_an_unfinished_or_failed_video_is_400(fake, http):
    _, running = await create(http, fake, "[duration=50]")
    _, failed = await create(http, fake, "[refuse]")
    for source in (running, failed):
        async with http.post(video_url(fake, source["id"], "/remix"), json={"prompt": "y"}) as r:
            assert r.status == 400
            body = await r.json()
        assert_openai_error(body, 400, "video_id", "invalid_state")
        assert "Only completed videos" in body["error"]["message"]
    assert fake.stats.creates == 2


async def test_remix_records_its_source(fake, http):
    source = await finished(http, fake, size="1280x720", seconds="8")
    async with http.post(video_url(fake, source["id"], "/remix"), json={"prompt": "y"}) as r:
        assert r.status == 200
        remix = await r.json()
    assert remix["remixed_from_video_id"] == source["id"]
    job = fake.job(remix["id"])
    assert job is not None
    assert (job.remixed_from, job.extended_from) == (source["id"], None)
    _, again = await retrieve(http, fake, remix["id"])
    assert again["remixed_from_video_id"] == source["id"]


# --- extensions ------------------------------------------------------------------------------


async def test_extension_checks_its_source_and_records_it(fake, http):
    url = f"{fake.base_url}/videos/extensions"
    body = {"video": {"id": "video_nope"}, "prompt": "and then", "seconds": "4"}
    async with http.post(url, json=body) as r:
        assert r.status == 404
        assert_openai_error(await r.json(), 404, "video_id", "video_not_found")

    _, running = await create(http, fake, "[duration=50]")
    async with http.post(url, json={**body, "video": {"id": running["id"]}}) as r:
        assert r.status == 400
        assert_openai_error(await r.json(), 400, "video_id", "invalid_state")

    source = await finished(http, fake, seconds="8")
    async with http.post(url, json={**body, "video": {"id": source["id"]}}) as r:
        assert r.status == 200
        extension = await r.json()
    assert extension["seconds"] == "12"  # the stitched total
    assert extension["remixed_from_video_id"] is None  # an extension is not a remix
    job = fake.job(extension["id"])
    assert job is not None
    assert (job.extended_from, job.remixed_from) == (source["id"], None)


@pytest.mark.parametrize(
    ("seconds", "code"),
    [("4", None), ("16", None), ("20", None), ("5", "invalid_value"), (8, "invalid_type")],
)
async def test_extension_seconds_are_the_specs_values(fake, http, seconds, code):
    source = await finished(http, fake)
    body = {"video": {"id": source["id"]}, "prompt": "more", "seconds": seconds}
    async with http.post(f"{fake.base_url}/videos/extensions", json=body) as r:
        answer = await r.json()
        if code is None:
            assert r.status == 200
        else:
            assert r.status == 400
            assert_openai_error(answer, 400, "seconds", code)


# --- which dialects have remix and extensions ------------------------------------------------


@pytest.mark.parametrize("server", DIALECTS, indirect=True)
async def test_remix_and_extensions_exist_where_the_field_notes_say(server, http):
    source = await finished(http, server)
    has_them = server.settings.dialect in ("openai", "litellm")
    async with http.post(video_url(server, source["id"], "/remix"), json={"prompt": "y"}) as r:
        assert (r.status == 404) is not has_them
        assert 200 <= r.status < 300 or not has_them
    body = {"video": {"id": source["id"]}, "prompt": "more", "seconds": "4"}
    async with http.post(f"{server.base_url}/videos/extensions", json=body) as r:
        assert (r.status == 404) is not has_them
    assert server.stats.creates == (3 if has_them else 1)


@in_dialects("litellm")
async def test_litellm_has_no_delete(server, http):
    source = await finished(http, server)
    async with http.delete(video_url(server, source["id"])) as r:
        assert r.status == 405
        assert await r.json() == {"detail": "Method Not Allowed"}
    status, _ = await retrieve(http, server, source["id"])
    assert status == 200


async def test_disabled_endpoints_switch_remix_and_extensions_off(fake, http):
    fake.settings.disabled_endpoints = {"remix", "extensions"}
    source = await finished(http, fake)
    async with http.post(video_url(fake, source["id"], "/remix"), json={"prompt": "y"}) as r:
        assert r.status == 404
        assert (await r.json())["error"]["message"].startswith("Invalid URL")
    body = {"video": {"id": source["id"]}, "prompt": "more", "seconds": "4"}
    async with http.post(f"{fake.base_url}/videos/extensions", json=body) as r:
        assert r.status == 404
    assert fake.stats.creates == 1


# --- expiry ----------------------------------------------------------------------------------


async def test_expire_after_sets_expires_at_and_withholds_the_content(fake, http):
    fake.settings.expire_after = 30
    source = await finished(http, fake)
    _, video = await retrieve(http, fake, source["id"])
    assert video["expires_at"] == video["completed_at"] + 30
    content = video_url(fake, source["id"], "/content")
    async with http.get(content) as r:
        assert r.status == 200
    fake.advance(29)
    async with http.get(content, params={"variant": "thumbnail"}) as r:
        assert r.status == 200
    fake.advance(1)
    status, body = await get_json(http, content)
    assert status == 410
    assert body["error"]["code"] == "video_expired"
    _, video = await retrieve(http, fake, source["id"])
    assert video["status"] == "completed"  # the job is still known; its content is gone
    async with http.post(video_url(fake, source["id"], "/remix"), json={"prompt": "y"}) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "video_expired"
    body = {"video": {"id": source["id"]}, "prompt": "more", "seconds": "4"}
    async with http.post(f"{fake.base_url}/videos/extensions", json=body) as r:
        assert r.status == 400
    assert fake.stats.creates == 1


async def test_without_expire_after_content_is_kept(fake, http):
    source = await finished(http, fake)
    fake.advance(10 * 3600)
    async with http.get(video_url(fake, source["id"], "/content")) as r:
        assert r.status == 200


@in_dialects("sglang", "vllm_omni", "trtllm")
async def test_self_hosted_servers_answer_404_for_expired_content(server, http):
    server.settings.expire_after = 0
    source = await finished(http, server)
    status, _ = await get_json(http, video_url(server, source["id"], "/content"))
    assert status == 404


async def test_expire_after_can_be_patched_over_http(fake, http):
    root = fake.base_url.removesuffix("/v1")
    async with http.patch(f"{root}/_fake/settings", json={"expire_after": 5}) as r:
        assert r.status == 200
    assert fake.settings.expire_after == 5
    async with http.patch(f"{root}/_fake/settings", json={"expire_after": -1}) as r:
        assert r.status == 400


async def test_a_bad_variant_is_refused_before_the_lookup_in_openai(fake, http):
    status, body = await get_json(
        http, video_url(fake, "video_nope", "/content"), params={"variant": "poster"}
    )
    assert status == 400
    assert body["error"]["param"] == "variant"
