"""Every video reaches the channel playable: fitted under a 2 MiB interaction limit, the original
behind a signed link on the bot's own web server, a thumbnail in the card, all over the wire."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import imageio_ffmpeg
import pytest

from bot.fake_api import FakeSettings
from bot.fake_api.media import asset
from bot.service.links import link_for
from bot.terminal.jobs import list_jobs
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_video_command import embed, embed_text, finished
from tests.fakes.discord import FakeMessage
from tests.fakes.discord.records import FakeAttachment

MIB = 1024 * 1024
LIMIT = 2 * MIB
BIG = "a long one [bytes=5000000] [duration=1]"


def video_of(message: FakeMessage) -> FakeAttachment:
    videos = [a for a in message.attachments if a.filename.endswith(".mp4")]
    assert len(videos) == 1, [a.filename for a in message.attachments]
    return videos[0]


def link_button(message: FakeMessage) -> dict[str, object]:
    buttons = [c for row in message.components for c in row["components"] if c.get("url")]
    assert len(buttons) == 1, message.components
    return buttons[0]


async def plays(data: bytes) -> None:
    """ffmpeg decodes every frame of it without an error."""
    player = await asyncio.create_subprocess_exec(
        imageio_ffmpeg.get_ffmpeg_exe(),
        *("-v", "error", "-i", "pipe:0", "-f", "null", "-"),
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await player.communicate(data)
    assert player.returncode == 0, errors
    assert not errors.strip(), errors


async def provider_bytes(h: Harness, provider_id: str) -> bytes:
    """The original as the fake provider serves it, fetched independently of the bot."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{h.videos.base_url}/videos/{provider_id}/content") as resp,
    ):
        assert resp.status == 200
        return await resp.read()


@pytest.fixture
async def linked(tmp_path: Path, unused_tcp_port: int):
    base = f"http://127.0.0.1:{unused_tcp_port}"
    async with running_harness(tmp_path, web_port=unused_tcp_port, public_url=base) as h:
        yield h


async def test_a_large_video_is_fitted_under_the_limit_and_linked_to_its_original(
    linked: Harness,
) -> None:
    it = await linked.video(BIG, upload_limit=LIMIT)
    message = await it.wait_for(finished, timeout=90)
    record = await linked.final_record()
    assert record.state.value == "delivered"
    assert record.provider_video_id is not None

    # The attachment is under the limit and plays inline.
    attachment = video_of(message)
    assert attachment.size <= LIMIT
    await plays(attachment.data)

    # The card says what was done, how large the original is and when its link expires.
    text = embed_text(message)
    assert "fitted to this server's 2.0 MiB upload limit" in text
    assert re.search(r"Original: 4\.8 MiB · Open original: the link expires <t:\d+:R>", text)
    button = link_button(message)
    assert button["label"] == "Open original"
    url = str(button["url"])
    assert url.startswith(f"http://127.0.0.1:{linked.bot.settings.web_port}/v/{record.id}.mp4?")

    original = await provider_bytes(linked, record.provider_video_id)
    assert len(original) == 5_000_000
    async with aiohttp.ClientSession() as http:
        # The link serves the original's exact bytes, as a video.
        async with http.get(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "video/mp4"
            assert resp.headers.get("ETag")
            assert resp.headers.get("Last-Modified")
            assert await resp.read() == original
        # Seeking in a browser: a Range request gets exactly that slice.
        async with http.get(url, headers={"Range": "bytes=1000000-1000999"}) as resp:
            assert resp.status == 206
            assert resp.headers["Content-Range"] == "bytes 1000000-1000999/5000000"
            assert await resp.read() == original[1_000_000:1_001_000]
        async with http.head(url) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Length"] == "5000000"

        # A tampered link is refused with a short page, and so is an expired one.
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        tampered = {**query, "exp": str(int(query["exp"]) + 86400)}
        async with http.get(parts._replace(query=urlencode(tampered)).geturl()) as resp:
            assert resp.status == 403
            assert "not valid" in await resp.text()
        other = url.replace(record.id, "0" * 16)
        async with http.get(other) as resp:
            assert resp.status == 403
        signer = linked.bot.service.link_signer
        assert signer is not None
        public_url = linked.bot.settings.public_url
        assert public_url is not None
        expired = link_for(public_url, signer, record.id, int(time.time()) - 1)
        async with http.get(expired) as resp:
            assert resp.status == 403
            assert "expired" in await resp.text()


async def test_a_413_at_upload_leads_to_a_smaller_fit_and_the_link_stays(linked: Harness) -> None:
    linked.discord.fail_requests(
        "PATCH",
        "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        status=413,
        code=40005,
        with_files=True,
        files_over=100_000,  # the video, not the thumbnail
        times=1,
    )
    it = await linked.video(BIG, upload_limit=LIMIT)
    message = await it.wait_for(finished, timeout=120)
    refused = [r for r in linked.discord.requests if r.files and r.status == 413]
    accepted = [r for r in linked.discord.requests if r.files and r.status == 200]
    assert len(refused) == 1
    sent = [f for f in accepted[-1].files if f.filename.endswith(".mp4")]
    tried = [f for f in refused[0].files if f.filename.endswith(".mp4")]
    assert len(sent[0].data) < len(tried[0].data) <= LIMIT
    await plays(video_of(message).data)
    assert link_button(message)["label"] == "Open original"


async def test_a_video_that_fits_is_uploaded_as_it_is_and_still_linked(linked: Harness) -> None:
    it = await linked.video("a small one [duration=1]")
    message = await it.wait_for(finished, timeout=30)
    assert video_of(message).data == linked.videos.asset_bytes()
    assert "fitted" not in embed_text(message)
    url = str(link_button(message)["url"])
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert await resp.read() == linked.videos.asset_bytes()


async def test_originals_beyond_the_space_budget_go_oldest_first_and_their_link_says_gone(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    base = f"http://127.0.0.1:{unused_tcp_port}"
    # Room for one 5 MB original, not two.
    budget = 8 * MIB / 1024**3
    async with running_harness(
        tmp_path, web_port=unused_tcp_port, public_url=base, keep_max_gb=budget
    ) as h:
        first = await h.video(BIG, upload_limit=LIMIT)
        old = link_button(await first.wait_for(finished, timeout=90))
        second = await h.video(BIG, upload_limit=LIMIT)
        new = link_button(await second.wait_for(finished, timeout=90))
        async with aiohttp.ClientSession() as http:
            for _ in range(200):  # the trim runs right after the delivery, off the job
                async with http.head(str(old["url"])) as resp:
                    if resp.status == 410:
                        break
                await asyncio.sleep(0.05)
            async with http.get(str(old["url"])) as resp:
                assert resp.status == 410
                assert "no longer kept" in await resp.text()
            async with http.get(str(new["url"])) as resp:
                assert resp.status == 200
                assert len(await resp.read()) == 5_000_000


async def test_without_a_web_server_the_card_says_where_the_original_is_kept(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path) as h:
        it = await h.video(BIG, upload_limit=LIMIT)
        message = await it.wait_for(finished, timeout=90)
        record = await h.final_record()
        assert video_of(message).size <= LIMIT
        text = embed_text(message)
        assert "kept on the bot's host until <t:" in text
        assert f"`video-bot jobs` (job `{record.id}`)" in text
        # No link button: Discord's own attachment links expire within a day.
        assert not [c for row in message.components for c in row["components"] if c.get("url")]
        listing = await list_jobs(h.bot.settings, 5)
        assert f"original kept: downloads/{record.id}.mp4" in listing
        assert (tmp_path / "downloads" / f"{record.id}.mp4").stat().st_size == 5_000_000
        # The original and its thumbnail stay; the fitted copy was only for the upload.
        kept = sorted(p.name for p in (tmp_path / "downloads").iterdir())
        assert kept == [f"{record.id}.mp4", f"{record.id}.thumb.webp"]


async def test_the_thumbnail_is_the_providers_and_shows_before_and_after_delivery(
    linked: Harness,
) -> None:
    it = await linked.video(BIG, upload_limit=LIMIT)
    message = await it.wait_for(finished, timeout=90)
    thumbnail = embed(message)["thumbnail"]["url"]
    (still,) = [a for a in message.attachments if a.filename.startswith("thumbnail")]
    assert thumbnail == still.url
    assert still.filename == "thumbnail.webp"
    assert still.data == asset("thumbnail")
    # While the video was being fitted, the progress card already showed it, uploaded once:
    # by the first progress edit after the download (the last one "Downloading", or the first
    # "Fitting", as the edits happen to be spaced), and referred to by every later one.
    progress = [e for e in it.edits if not any(f.filename.endswith(".mp4") for f in e.files)]
    uploads = [index for index, e in enumerate(progress) if e.files]
    assert len(uploads) == 1
    assert [f.filename for f in progress[uploads[0]].files] == ["thumbnail.webp"]
    fitting = [
        index
        for index, e in enumerate(progress)
        if "Fitting the video" in str(e.payload.get("embeds"))
    ]
    assert fitting
    assert uploads[0] <= fitting[0]
    for index in fitting:
        card = progress[index].payload["embeds"][0]
        assert card["thumbnail"]["url"] == "attachment://thumbnail.webp"


async def test_a_provider_without_thumbnails_gets_a_frame_taken_with_ffmpeg(
    tmp_path: Path,
) -> None:
    # LiteLLM does not forward `variant`: asked for a thumbnail, it answers with the MP4.
    fake = FakeSettings(dialect="litellm", default_duration=2.0)
    async with running_harness(tmp_path, fake_settings=fake) as h:
        it = await h.video("a lighthouse [duration=1]")
        message = await it.wait_for(finished, timeout=30)
        (still,) = [a for a in message.attachments if a.filename.startswith("thumbnail")]
        assert still.filename == "thumbnail.jpg"
        assert still.data[:2] == b"\xff\xd8"  # a JPEG taken from the video
        assert embed(message)["thumbnail"]["url"] == still.url
        await plays(video_of(message).data)
