"""Hostile modes: the fake plays a broken or malicious provider on demand."""

from __future__ import annotations

import json

import pytest

from bot.fake_api import FakeSettings, FakeVideosServer, Fault

from ._client import create, get_json, multipart, retrieve, video_url


async def finished(http, fake) -> str:
    _, video = await create(http, fake)
    fake.advance(600)
    return str(video["id"])


async def test_huge_body_is_streamed_with_its_length(fake, http):
    fake.settings.faults = [Fault(endpoint="retrieve", kind="huge-body", size=3_000_000)]
    _, video = await create(http, fake)
    async with http.get(video_url(fake, video["id"])) as r:
        assert r.status == 200
        assert r.content_length == 3_000_000
        body = await r.read()
    assert len(body) == 3_000_000
    assert json.loads(body)["id"] == "video_huge"
    status, again = await retrieve(http, fake, video["id"])
    assert (status, again["id"]) == (200, video["id"])  # used up


async def test_a_client_that_stops_reading_a_huge_body_does_not_upset_the_fake(fake, http):
    fake.settings.faults = [Fault(endpoint="retrieve", kind="huge-body")]  # 300 MB
    _, video = await create(http, fake)
    async with http.get(video_url(fake, video["id"])) as r:
        assert r.content_length == 300 * 1024 * 1024
        await r.content.read(1024)
    status, _ = await retrieve(http, fake, video["id"])
    assert status == 200


async def test_absurd_numbers_are_sent_as_such(fake, http):
    fake.settings.faults = [Fault(endpoint="retrieve", kind="absurd-numbers")]
    _, video = await create(http, fake)
    async with http.get(video_url(fake, video["id"])) as r:
        text = await r.text()
    assert '"progress": Infinity' in text
    assert '"completed_at": NaN' in text
    assert '"created_at": 1' + "0" * 400 in text
    body = json.loads(text)
    assert body["id"] == video["id"]
    assert body["status"] == "queued"
    assert body["expires_at"] > 253_402_300_799


async def test_wrong_types_keep_only_the_id(fake, http):
    fake.settings.faults = [Fault(endpoint="create", kind="wrong-types")]
    status, body = await create(http, fake)
    assert status == 200
    assert body["id"] in fake.state.jobs  # the job was started (and billed)
    assert isinstance(body["status"], dict)
    assert isinstance(body["progress"], dict)
    assert body["error"] == 42


async def test_no_id_still_starts_the_job(fake, http):
    fake.settings.faults = [Fault(endpoint="create", kind="no-id")]
    status, body = await create(http, fake)
    assert status == 200
    assert "id" not in body
    assert body["status"] == "queued"
    assert len(fake.state.jobs) == 1


async def test_echo_key_repeats_the_authorization_header():
    key = "sk-echo-0123456789abcdef"
    async with FakeVideosServer(FakeSettings(api_key=key)) as fake:
        import aiohttp

        auth = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            fake.settings.faults = [Fault(endpoint="create", kind="echo-key")]
            async with http.post(f"{fake.base_url}/videos", data=multipart(prompt="x")) as r:
                assert r.status == 401
                message = (await r.json())["error"]["message"]
            assert key in message
            assert f"Bearer {key[:17]}" in message
            status, video = await create(http, fake)
            fake.settings.faults = [Fault(endpoint="retrieve", kind="echo-key")]
            status, body = await retrieve(http, fake, video["id"])
            assert (status, body["status"]) == (200, "failed")
            assert key in body["error"]["message"]


async def test_html_as_mp4(fake, http):
    video_id = await finished(http, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="html-as-mp4")]
    async with http.get(video_url(fake, video_id, "/content")) as r:
        assert r.content_type == "video/mp4"
        assert (await r.read()).startswith(b"<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("kind", "location"),
    [
        (
            "redirect-link-local",
            "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        ),
        ("redirect-html", "/_fake/page"),
        ("redirect-loop", "/_fake/loop"),
    ],
)
async def test_redirects_point_where_their_name_says(fake, http, kind, location):
    video_id = await finished(http, fake)
    fake.settings.faults = [Fault(endpoint="content", kind=kind)]
    url = video_url(fake, video_id, "/content")
    async with http.get(url, allow_redirects=False) as r:
        assert r.status == 302
        assert r.headers["Location"] == location


async def test_a_plain_redirect_serves_the_video_elsewhere(fake, http):
    video_id = await finished(http, fake)
    fake.settings.faults = [Fault(endpoint="content", kind="redirect")]
    async with http.get(video_url(fake, video_id, "/content")) as r:
        assert r.status == 200
        assert r.url.path.startswith("/_fake/blob/")
        assert await r.read() == fake.asset_bytes()


async def test_a_redirect_goes_to_the_location_it_is_given(fake, http):
    video_id = await finished(http, fake)
    fake.settings.faults = [
        Fault(endpoint="content", kind="redirect", location="ftp://files.example/{video_id}.mp4")
    ]
    async with http.get(video_url(fake, video_id, "/content"), allow_redirects=False) as r:
        assert r.headers["Location"] == f"ftp://files.example/{video_id}.mp4"


async def test_the_fake_page_and_loop_targets(fake, http):
    status, text = await get_json(http, f"{fake.root_url}/_fake/page")
    assert status == 200
    assert "<html>" in text
    async with http.get(f"{fake.root_url}/_fake/loop", allow_redirects=False) as r:
        assert r.headers["Location"] == "/_fake/loop"
