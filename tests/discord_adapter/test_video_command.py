"""`/video` end to end: the real bot between a strict fake Discord and the fake Videos API."""

from __future__ import annotations

import asyncio
import io
import itertools
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
from aiohttp import web
from PIL import Image

from bot.fake_api import FakeSettings, Fault
from tests.discord_adapter.harness import Harness, running_harness
from tests.fakes.discord import FakeInteraction, FakeMessage

EPHEMERAL = 64
WEBHOOK_MESSAGE = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"


def embed(message: FakeMessage) -> dict[str, Any]:
    assert message.embeds, "the reply has no embed"
    return message.embeds[0]


def embed_text(message: FakeMessage) -> str:
    data = embed(message)
    parts = [data.get("title", ""), data.get("description", "")]
    parts += [f"{f['name']}: {f['value']}" for f in data.get("fields", [])]
    parts.append(data.get("footer", {}).get("text", ""))
    return "\n".join(parts)


def finished(it: FakeInteraction) -> FakeMessage | None:
    """The reply once it shows a final state (a video, or an explanation)."""
    message = it.final_message
    if message is None or not message.embeds:
        return None
    title = message.embeds[0].get("title", "")
    return None if title == "Making your video" else message


def link_of(message: FakeMessage) -> dict[str, Any] | None:
    """The reply's link button (to the video or its original), if it has one yet."""
    found = [c for row in message.components for c in row["components"] if c.get("url")]
    return found[0] if found else None


def buttons(message: FakeMessage) -> list[str]:
    """The labels of the reply's follow-up buttons, in order."""
    return [
        c["label"]
        for row in message.components
        for c in row["components"]
        if c.get("custom_id", "").startswith("video:")
    ]


def ephemeral_reply(it: FakeInteraction) -> str:
    assert it.callbacks, "the interaction was not answered"
    first = it.callbacks[0]
    assert first.type == 4
    assert first.data is not None
    assert first.data.get("flags", 0) & EPHEMERAL
    return str(first.data.get("content", ""))


@pytest.fixture
async def harness(tmp_path: Path):
    async with running_harness(tmp_path) as running:
        yield running


async def test_happy_path_defers_shows_progress_and_uploads_the_video(harness: Harness) -> None:
    it = await harness.video("a cat playing the piano [duration=3]", seconds=8)
    message = await it.wait_for(lambda i: (m := finished(i)) and buttons(m) and m, timeout=20)

    assert it.response_type == 5
    assert it.acked_at is not None
    assert it.acked_at < 3
    assert not it.ephemeral
    assert embed(message)["title"] == "Your video is ready"
    text = embed_text(message)
    assert "sora-2 · 720x1280 · 8 s" in text
    assert "$0.80" in text
    video, still = message.attachments
    assert video.data == harness.videos.asset_bytes()
    assert video.filename.endswith(".mp4")
    assert embed(message)["thumbnail"]["url"] == still.url
    # No link to Discord's own attachment URL (signed, it dies within a day): the video plays
    # in the reply; a lasting link is the bot's own (test_delivery.py). Then what can follow:
    # the provider (the fake, as Sora) remixes, extends and deletes.
    assert link_of(message) is None
    assert buttons(message) == ["Retry", "Remix", "Extend", "Details", "Delete"]
    progress = [e for e in it.edits if "%" in str(e.payload.get("embeds", ""))]
    assert progress, "no progress edit was observed"
    assert harness.creates == 1
    harness.discord.assert_spec_clean()
    assert harness.discord.unexpected_requests == []


async def test_edits_are_throttled_and_only_sent_when_something_changes(harness: Harness) -> None:
    it = await harness.video("slow sunrise [duration=6]")
    await it.wait_for(finished, timeout=20)
    shown = [e.payload.get("embeds") for e in it.edits if e.payload.get("embeds")]
    assert all(a != b for a, b in itertools.pairwise(shown))
    progress_edits = [e for e in it.edits if "Making your video" in str(e.payload)]
    times = [e.at for e in progress_edits]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.45 for gap in gaps), gaps
    assert len(progress_edits) <= 6 / 0.5 + 2


async def test_commands_are_synced_with_the_catalogues_choices(harness: Harness) -> None:
    syncs = harness.discord.command_syncs
    assert len(syncs) == 1
    names = sorted(c["name"] for c in syncs[0].commands)
    assert names == ["Animate this image", "video", "video-admin", "videos"]
    (command,) = [c for c in syncs[0].commands if c["name"] == "video"]
    options = {o["name"]: o for o in command["options"]}
    assert options["prompt"]["required"] is True
    assert options["prompt"]["max_length"] == 6000
    assert [c["value"] for c in options["model"]["choices"]][:2] == ["sora-2", "sora-2-pro"]
    assert [c["value"] for c in options["seconds"]["choices"]] == [4, 8, 12]
    assert len(options["size"]["choices"]) == 4
    assert options["reference"]["type"] == 11


async def test_commands_are_synced_again_only_when_they_change(tmp_path: Path) -> None:
    app_id = 555000111222333444
    async with running_harness(tmp_path, app_id=app_id) as first:
        assert len(first.discord.command_syncs) == 1
    async with running_harness(tmp_path, app_id=app_id) as second:
        assert second.discord.command_syncs == []
    catalogue = tmp_path / "models.toml"
    catalogue.write_text(
        '[[models]]\nname = "wan"\nsizes = ["832x480"]\nseconds = [5]\n', encoding="utf-8"
    )
    async with running_harness(tmp_path, app_id=app_id, catalogue_file=catalogue) as third:
        (sync,) = third.discord.command_syncs
        (video,) = [c for c in sync.commands if c["name"] == "video"]
        options = {o["name"]: o for o in video["options"]}
        assert [c["value"] for c in options["model"]["choices"]] == ["wan"]


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"model": "sora-2", "size": "1792x1024"}, "720x1280, 1280x720"),
        ({"model": "sora-2-pro", "seconds": 4, "size": "1024x1792"}, None),
    ],
)
async def test_invalid_combinations_are_refused_privately_before_any_provider_call(
    harness: Harness, options: dict[str, Any], needle: str | None
) -> None:
    it = await harness.video("a dragon", **options)
    if needle is None:  # a valid combination, for contrast
        await it.wait_for(finished, timeout=20)
        assert harness.creates == 1
        return
    await it.wait_for(lambda i: i.callbacks, timeout=5)
    assert needle in ephemeral_reply(it)
    assert harness.creates == 0


async def test_a_blank_prompt_is_refused(harness: Harness) -> None:
    it = await harness.video("    ")
    await it.wait_for(lambda i: i.callbacks, timeout=5)
    assert "prompt is empty" in ephemeral_reply(it)
    assert harness.creates == 0


def png(width: int, height: int, color: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


async def test_a_non_image_attachment_is_refused_without_downloading_it(harness: Harness) -> None:
    notes = harness.discord.make_attachment("notes.txt", b"hello", "text/plain")
    it = await harness.video("from my notes", reference=notes)
    await it.wait_for(lambda i: i.callbacks, timeout=5)
    assert "JPEG, PNG or WebP" in ephemeral_reply(it)
    assert harness.creates == 0
    assert not [r for r in harness.discord.requests if "/attachments/" in r.path]


async def test_an_oversized_attachment_is_refused_by_its_declared_size(harness: Harness) -> None:
    big = harness.discord.make_attachment(
        "huge.png", b"\x89PNG" + b"\0" * (21 * 1024 * 1024), "image/png"
    )
    it = await harness.video("from a huge picture", reference=big)
    await it.wait_for(lambda i: i.callbacks, timeout=5)
    assert "at most 20 MiB" in ephemeral_reply(it)
    assert harness.creates == 0


async def test_a_reference_of_the_wrong_size_is_fitted_and_accepted(harness: Harness) -> None:
    picture = harness.discord.make_attachment("square.png", png(640, 640), "image/png")
    it = await harness.video("start from this [duration=1]", size="1280x720", reference=picture)
    message = await it.wait_for(finished, timeout=20)
    assert embed(message)["title"] == "Your video is ready"
    create = harness.videos.stats.requests[0]
    upload = create.files["input_reference"]
    assert (upload.width, upload.height) == (1280, 720)


async def test_a_damaged_image_is_refused_privately(harness: Harness) -> None:
    # The image is read and checked before anything is reserved or made public.
    broken = harness.discord.make_attachment("broken.png", b"\x89PNG\r\n\x1a\nrubbish", "image/png")
    it = await harness.video("from a broken picture", reference=broken)
    await it.wait_for(lambda i: i.callbacks, timeout=10)
    text = ephemeral_reply(it)
    assert "damaged" in text or "readable" in text
    assert harness.discord.messages(harness.channel, ephemeral=False) == []
    assert harness.creates == 0


@pytest.mark.parametrize(
    ("prompt", "title", "needle"),
    [
        ("oops [fail] [duration=2]", "No video this time", "could not generate"),
        ("something bad [refuse]", "The video service refused this prompt", "content policy"),
        ("vanishing [lost] [duration=3]", "No video this time", "lost this job"),
        ("unlucky [download-fail] [duration=1]", "No video this time", "could not be downloaded"),
    ],
)
async def test_failures_are_explained_with_a_reference_id(
    harness: Harness, prompt: str, title: str, needle: str
) -> None:
    it = await harness.video(prompt)
    message = await it.wait_for(finished, timeout=30)
    text = embed_text(message)
    assert embed(message)["title"] == title
    assert needle in text
    assert "(ref " in text
    assert "Traceback" not in text
    assert message.attachments == []
    assert harness.creates == 1


async def test_a_video_over_the_upload_limit_is_fitted_to_it_and_plays(harness: Harness) -> None:
    it = await harness.video("a long one [bytes=3000000] [duration=1]", upload_limit=1_000_000)
    message = await it.wait_for(finished, timeout=60)
    assert embed(message)["title"] == "Your video is ready"
    assert any("Fitting the video to Discord" in str(e.payload) for e in it.edits)
    attachment = message.attachments[0]
    assert len(attachment.data) <= 1_000_000
    assert attachment.data[4:8] == b"ftyp"
    player = await asyncio.create_subprocess_exec(
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-i",
        "pipe:0",
        "-f",
        "null",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, errors = await player.communicate(attachment.data)
    assert player.returncode == 0, errors  # it plays: ffmpeg decodes every frame
    assert not [r for r in harness.discord.requests if r.status == 413]


async def test_without_ffmpeg_a_video_over_the_limit_says_how_large_it_is(tmp_path: Path) -> None:
    async with running_harness(tmp_path, ffmpeg=str(tmp_path / "no-such-ffmpeg")) as harness:
        it = await harness.video("a long one [bytes=3000000] [duration=1]", upload_limit=1_000_000)
        message = await it.wait_for(finished, timeout=20)
        text = embed_text(message)
        assert "too large" in embed(message)["title"]
        assert "2.9 MiB" in text
        assert "977 KiB" in text  # 1,000,000 bytes
        assert [a.filename for a in message.attachments] == ["thumbnail.webp"]
        assert not [r for r in harness.discord.requests if r.status == 413]


async def test_rate_limits_at_the_provider_are_waited_out(harness: Harness) -> None:
    harness.videos.settings.faults = [
        Fault(endpoint="create", kind="429", count=2, retry_after=0.2),
        Fault(endpoint="retrieve", kind="429", count=2, retry_after=0.2),
    ]
    it = await harness.video("patience [duration=1]")
    message = await it.wait_for(finished, timeout=20)
    assert embed(message)["title"] == "Your video is ready"
    assert harness.creates == 3
    assert len(harness.videos.state.jobs) == 1


async def test_an_ambiguous_create_is_adopted_not_repeated(harness: Harness) -> None:
    harness.videos.settings.faults = [Fault(endpoint="create", kind="create-then-reset", count=1)]
    it = await harness.video("did it start? [duration=1]")
    message = await it.wait_for(finished, timeout=20)
    assert embed(message)["title"] == "Your video is ready"
    assert [a.data for a in message.videos] == [harness.videos.asset_bytes()]
    assert harness.creates == 1
    assert harness.videos.stats.count("GET /v1/videos") >= 1  # found through the list


async def test_a_create_that_never_arrived_is_reported_as_not_billed(harness: Harness) -> None:
    harness.videos.settings.faults = [Fault(endpoint="create", kind="reset", count=1)]
    it = await harness.video("lost in the wire")
    message = await it.wait_for(finished, timeout=20)
    assert "never received this request" in embed_text(message)
    assert len(harness.videos.state.jobs) == 0
    assert harness.creates == 1


async def test_without_a_list_the_outcome_is_reported_as_unknown(harness: Harness) -> None:
    harness.videos.settings.disabled_endpoints = {"list"}
    harness.videos.settings.faults = [Fault(endpoint="create", kind="create-then-reset", count=1)]
    it = await harness.video("did it start?")
    message = await it.wait_for(finished, timeout=20)
    assert "may or may not have started" in embed_text(message)
    assert harness.creates == 1


async def test_twenty_jobs_at_once(harness: Harness) -> None:
    members = [harness.discord.add_member(harness.guild, name=f"m{n}") for n in range(20)]
    interactions = [
        await harness.video(f"scene {n} [duration=2]", member=member)
        for n, member in enumerate(members)
    ]
    for it in interactions:
        message = await it.wait_for(finished, timeout=40)
        assert [a.data for a in message.videos] == [harness.videos.asset_bytes()]
        assert it.acked_at is not None
        assert it.acked_at < 3
    assert harness.creates == 20
    harness.discord.assert_spec_clean()


async def test_a_bad_key_is_explained_and_never_shown(tmp_path: Path) -> None:
    async with running_harness(
        tmp_path,
        fake_settings=FakeSettings(api_key="sk-right-key", default_duration=1),
        openai_api_key="sk-wrong-key-42",
    ) as harness:
        it = await harness.video("anything")
        message = await it.wait_for(finished, timeout=20)
        assert "rejected the bot's API key" in embed_text(message)
        every_payload = str([r.json for r in harness.discord.requests])
        assert "sk-wrong-key-42" not in every_payload


async def test_a_dead_endpoint_is_explained(tmp_path: Path, unused_tcp_port: int) -> None:
    async with running_harness(
        tmp_path, openai_base_url=f"http://127.0.0.1:{unused_tcp_port}/v1"
    ) as harness:
        it = await harness.video("anything")
        message = await it.wait_for(finished, timeout=20)
        assert "cannot be reached" in embed_text(message)


async def test_demo_mode_says_so(tmp_path: Path) -> None:
    async with running_harness(tmp_path, demo=True) as harness:
        it = await harness.video("demo please [duration=1]")
        message = await it.wait_for(finished, timeout=20)
        assert "nothing is billed" in embed(message)["footer"]["text"]


async def test_while_shutting_down_new_requests_are_told_to_wait(harness: Harness) -> None:
    await harness.bot.service.close(grace=0)  # what SIGTERM does first
    it = await harness.video("one more please")
    await it.wait_for(lambda i: i.callbacks, timeout=5)
    assert "restarting" in ephemeral_reply(it)
    assert harness.creates == 0


async def test_an_endpoint_that_does_not_serve_videos_is_explained(tmp_path: Path) -> None:
    # A web server that is not a Videos API (a base URL pointing at the wrong thing).
    app = web.Application()

    async def page(_: web.Request) -> web.Response:
        return web.Response(status=404, text="<html>Not here</html>", content_type="text/html")

    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with running_harness(tmp_path, openai_base_url=f"http://127.0.0.1:{port}/v1") as h:
            it = await h.video("anything")
            message = await it.wait_for(finished, timeout=20)
            assert "not configured correctly" in embed_text(message)
            assert "(ref " in embed_text(message)
    finally:
        await runner.cleanup()


async def test_nothing_the_bot_posts_can_ping_anyone(harness: Harness) -> None:
    mention = f"<@{harness.member.id}>"
    it = await harness.video(f"a parade for {mention} and @everyone [duration=1]")
    message = await it.wait_for(finished, timeout=20)
    assert mention not in embed_text(message)
    posted = []
    for request in harness.discord.requests:
        body = request.body
        data = body.get("data") if isinstance(body, dict) and "type" in body else body
        if isinstance(data, dict) and ("embeds" in data or "content" in data):
            posted.append(data)
    assert posted
    for data in posted:
        assert data.get("allowed_mentions") == {"parse": []}, data
