"""Follow-ups on a result, through the real bot between the fakes: Retry, Remix, Extend,
Details and Delete, who may press them, and what each sends to the provider."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from bot.fake_api import FakeSettings
from bot.store import JobState
from tests.contracts.openai.validator import violations
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_video_command import (
    buttons,
    embed,
    embed_text,
    finished,
)
from tests.fakes.discord import FakeInteraction, FakeMessage


@pytest.fixture
async def harness(tmp_path: Path):
    async with running_harness(tmp_path) as running:
        yield running


async def delivered(h: Harness, prompt: str = "a red kite [duration=1]") -> FakeMessage:
    it = await h.video(prompt)
    message = await it.wait_for(lambda i: (m := finished(i)) and buttons(m) and m, timeout=30)
    assert embed(message)["title"] == "Your video is ready"
    return message


def custom_id(message: FakeMessage, label: str) -> str:
    for row in message.components:
        for component in row["components"]:
            if component.get("label") == label and "custom_id" in component:
                return str(component["custom_id"])
    raise AssertionError(f"no {label!r} button on {message.components}")


async def press(
    h: Harness, message: FakeMessage, label: str, member: Any = None
) -> FakeInteraction:
    return await h.discord.send_component_interaction(
        message, custom_id(message, label), member or h.member
    )


def private_text(it: FakeInteraction) -> str | None:
    """What the member was told privately: an ephemeral reply or follow-up message."""
    for callback in it.callbacks:
        if callback.type == 4 and callback.data and callback.data.get("flags", 0) & 64:
            return str(callback.data.get("content", ""))
    for message in it.followups:
        if message.ephemeral:
            return message.content
    return None


async def test_retry_makes_the_same_video_again_as_a_new_reply(harness: Harness) -> None:
    first = await delivered(harness)
    click = await press(harness, first, "Retry")
    again = await click.wait_for(finished, timeout=30)
    assert embed(again)["title"] == "Your video is ready"
    assert again.id != first.id
    assert [a.data for a in again.videos] == [harness.videos.asset_bytes()]
    assert harness.creates == 2
    creates = [r for r in harness.videos.stats.requests if r.route == "/v1/videos"]
    assert creates[0].form == creates[1].form  # the same request, field for field
    newest = await harness.final_record()
    oldest = await harness.final_record(1)
    assert newest.source_id == oldest.id
    assert "Retry" in buttons(again)


async def test_another_member_is_refused_privately_and_nothing_is_made(harness: Harness) -> None:
    message = await delivered(harness)
    stranger = harness.discord.add_member(harness.guild, name="mallory")
    for label in ("Retry", "Remix", "Extend", "Details", "Delete"):
        click = await press(harness, message, label, stranger)
        text = await click.wait_for(private_text, timeout=10)
        assert "Only the member who asked for this video" in text
    assert harness.creates == 1
    assert not [r for r in harness.videos.stats.requests if r.method == "DELETE"]


async def test_a_server_admin_may_follow_up_a_members_video(harness: Harness) -> None:
    message = await delivered(harness)
    admin_role = harness.discord.add_role(harness.guild, "mods", permissions=1 << 5)
    admin = harness.discord.add_member(harness.guild, name="mod", roles=[admin_role])
    click = await press(harness, message, "Details", admin)
    await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
    assert click.callbacks[0].data is not None
    assert click.callbacks[0].data["embeds"][0]["title"].startswith("Job ")


async def test_details_are_private_and_complete(harness: Harness) -> None:
    message = await delivered(harness)
    record = await harness.final_record()
    click = await press(harness, message, "Details")
    await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
    callback = click.callbacks[0]
    assert callback.type == 4
    assert callback.data is not None
    assert callback.data["flags"] & 64
    shown = str(callback.data["embeds"][0])
    for expected in (record.id, str(record.provider_video_id), "sora-2", "720x1280", "$0.40"):
        assert expected in shown
    assert "Provider keeps it until" in shown


async def test_delete_removes_the_video_here_and_at_the_provider(harness: Harness) -> None:
    message = await delivered(harness)
    record = await harness.final_record()
    click = await press(harness, message, "Delete")
    await click.wait_for(lambda i: len(i.callbacks) >= 1 and bool(i.followups), timeout=10)
    assert click.callbacks[0].type == 7  # UPDATE_MESSAGE: the reply itself changes
    current = harness.discord.messages(harness.channel)[0]
    assert current.id == message.id
    assert current.attachments == []
    assert embed(current)["title"] == "Video deleted"
    assert buttons(current) == ["Details"]
    deletes = [r for r in harness.videos.stats.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"/v1/videos/{record.provider_video_id}"]
    assert violations(deletes[0]) == []
    assert "deleted too" in str(click.followups[0].content)
    after = await harness.bot.service.engine.store.get(record.id)
    assert after is not None
    assert after.deleted_at is not None
    assert after.state is JobState.DELIVERED  # still in the history
    assert not list((harness.bot.settings.data_dir / "downloads").glob(f"{record.id}.*"))


async def test_a_failed_job_offers_retry_and_details(harness: Harness) -> None:
    it = await harness.video("doomed [fail]")
    message = await it.wait_for(lambda i: (m := finished(i)) and buttons(m) and m, timeout=30)
    assert embed(message)["title"] == "No video this time"
    assert buttons(message) == ["Retry", "Details"]


async def test_a_provider_without_remix_or_extensions_shows_no_such_buttons(
    tmp_path: Path,
) -> None:
    catalogue = tmp_path / "models.toml"
    catalogue.write_text(
        '[[models]]\nname = "plain"\nsend_model = false\nsizes = ["1280x720"]\nseconds = [4]\n'
        "remix = false\nextensions = false\ndelete = false\n",
        encoding="utf-8",
    )
    async with running_harness(
        tmp_path / "data", catalogue_file=catalogue, fake_settings=FakeSettings()
    ) as h:
        message = await delivered(h, "a plain one [duration=1]")
        assert buttons(message) == ["Retry", "Details", "Delete"]
        click = await press(h, message, "Delete")
        await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
        assert click.callbacks[0].type == 7, click.callbacks[0].data
        await click.wait_for(lambda i: bool(i.followups), timeout=10)
        assert not [r for r in h.videos.stats.requests if r.method == "DELETE"]
        assert "Deleted." in str(click.followups[0].content)


async def test_follow_ups_count_against_the_members_limits(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_daily_count=1) as h:
        message = await delivered(h)
        click = await press(h, message, "Retry")
        text = await click.wait_for(private_text, timeout=10)
        assert "You have made 1 of your 1 videos for today" in text
        assert "Traceback" not in text
        assert h.creates == 1
        assert "Traceback" not in embed_text(message)


# -- Remix and Extend: modals ---------------------------------------------------------------------


def modal_of(it: FakeInteraction) -> dict[str, Any]:
    (callback,) = it.callbacks
    assert callback.type == 9, callback  # MODAL
    assert callback.data is not None
    return callback.data


async def test_remix_asks_for_a_prompt_and_replies_with_a_link_to_its_source(
    harness: Harness,
) -> None:
    source = await delivered(harness)
    original = await harness.final_record()
    click = await press(harness, source, "Remix")
    await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
    modal = modal_of(click)
    assert modal["title"] == "Remix this video"
    assert "a red kite" in str(modal["components"])  # pre-filled with the old prompt

    submit = await harness.discord.submit_modal(click, {"prompt": "the kite in a snowstorm"})
    remixed = await submit.wait_for(finished, timeout=30)
    assert embed(remixed)["title"] == "Your video is ready"
    assert remixed.id != source.id
    assert f"Remixed from [this video](https://discord.com/channels/{harness.guild.id}/" in str(
        embed(remixed)["description"]
    )
    remixes = [r for r in harness.videos.stats.requests if r.route.endswith("/remix")]
    assert len(remixes) == 1
    assert remixes[0].path == f"/v1/videos/{original.provider_video_id}/remix"
    assert remixes[0].json_body == {"prompt": "the kite in a snowstorm"}
    assert violations(remixes[0]) == []  # exactly the vendored spec's request
    assert harness.creates == 1  # the remix is not a second create
    record = await harness.final_record()
    assert record.kind == "remix"
    assert record.source_id == original.id
    assert record.source_video_id == original.provider_video_id


async def test_videos_lists_results_with_their_lineage_and_a_link_to_each(
    harness: Harness,
) -> None:
    source = await delivered(harness)
    original = await harness.final_record()
    click = await press(harness, source, "Remix")
    await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
    submit = await harness.discord.submit_modal(click, {"prompt": "in the fog"})
    remixed = await submit.wait_for(finished, timeout=30)
    listing = await harness.discord.send_interaction(
        "videos", [], guild=harness.guild, channel=harness.channel, member=harness.member
    )
    await listing.wait_for(lambda i: bool(i.callbacks), timeout=10)
    data = listing.callbacks[0].data
    assert data is not None
    text = data["embeds"][0]["description"]
    newest, oldest = text.splitlines()[:2]
    assert f"remix of `{original.id}`" in newest
    link = f"https://discord.com/channels/{harness.guild.id}/{harness.channel.id}/{remixed.id}"
    assert f"[open]({link})" in newest
    assert f"/{source.id})" in oldest


async def test_extend_asks_for_the_seconds_and_makes_the_longer_video(harness: Harness) -> None:
    source = await delivered(harness)
    original = await harness.final_record()
    click = await press(harness, source, "Extend")
    await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
    shown = str(modal_of(click)["components"])
    for seconds in ("'4'", "'8'", "'12'"):
        assert seconds in shown
    submit = await harness.discord.submit_modal(
        click, {"prompt": "it flies over the sea", "seconds": ["8"]}
    )
    longer = await submit.wait_for(finished, timeout=30)
    assert embed(longer)["title"] == "Your video is ready"
    assert "+8 s" in embed_text(longer)
    assert "$0.80" in embed_text(longer)  # the 8 added seconds are what is billed
    (extension,) = [r for r in harness.videos.stats.requests if r.route.endswith("/extensions")]
    assert extension.json_body == {
        "video": {"id": original.provider_video_id},
        "prompt": "it flies over the sea",
        "seconds": "8",
    }
    assert violations(extension) == []
    record = await harness.final_record()
    assert (record.kind, record.seconds, record.source_id) == ("extend", 8, original.id)


async def test_once_the_providers_copy_expired_remix_offers_retry_instead(tmp_path: Path) -> None:
    fake = FakeSettings(default_duration=2.0, expire_after=60)
    async with running_harness(tmp_path, fake_settings=fake) as h:
        source = await delivered(h)
        h.videos.advance(120)
        record = await h.final_record()
        assert record.video_expires_at is not None
        # The provider said when it drops the video; the bot's clock is past that now.
        store = h.bot.service.engine.store
        await store.note(record.id, video_expires_at=record.video_expires_at - 3600)
        click = await press(h, source, "Remix")
        text = await click.wait_for(private_text, timeout=10)
        assert "no longer keeps this video" in text
        assert "Retry" in text
        (reply,) = [c for c in click.callbacks if c.type == 4]
        assert reply.data is not None
        offered = [c["label"] for row in reply.data["components"] for c in row["components"]]
        assert offered == ["Retry"]
        assert not [r for r in h.videos.stats.requests if r.route.endswith("/remix")]


async def test_a_modal_submitted_long_after_it_was_opened_still_works(harness: Harness) -> None:
    source = await delivered(harness)
    click = await press(harness, source, "Remix")
    await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
    harness.discord.advance(20 * 60)  # the button's interaction token is long dead
    submit = await harness.discord.submit_modal(click, {"prompt": "at dusk"})
    remixed = await submit.wait_for(finished, timeout=30)
    assert embed(remixed)["title"] == "Your video is ready"


async def test_an_empty_remix_prompt_is_refused_privately_and_costs_nothing(
    harness: Harness,
) -> None:
    source = await delivered(harness)
    click = await press(harness, source, "Remix")
    await click.wait_for(lambda i: bool(i.callbacks), timeout=10)
    submit = await harness.discord.submit_modal(click, {"prompt": "   "})
    text = await submit.wait_for(private_text, timeout=10)
    assert "The prompt is empty" in text
    assert not [r for r in harness.videos.stats.requests if r.route.endswith("/remix")]


# -- Animate this image ---------------------------------------------------------------------------


def png(width: int = 64, height: int = 48) -> bytes:
    image = Image.new("RGB", (width, height), (200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def animate(h: Harness, target: FakeMessage) -> FakeInteraction:
    it = await h.discord.send_message_command(
        "Animate this image", target, guild=h.guild, channel=h.channel, member=h.member
    )
    await it.wait_for(lambda i: bool(i.callbacks), timeout=10)
    return it


async def test_animate_this_image_makes_a_video_from_any_posted_image(harness: Harness) -> None:
    poster = harness.discord.add_member(harness.guild, name="painter")
    picture = harness.discord.make_attachment("sunset.png", png(), content_type="image/png")
    posted = harness.discord.post_user_message(harness.channel, poster, attachments=[picture])
    it = await animate(harness, posted)
    modal = modal_of(it)
    assert modal["title"] == "Animate this image"
    submit = await harness.discord.submit_modal(
        it,
        {
            "prompt": "the sun sets over the sea",
            "model": ["sora-2"],
            "size": ["1280x720"],
            "seconds": ["8"],
        },
    )
    video = await submit.wait_for(finished, timeout=30)
    assert embed(video)["title"] == "Your video is ready"
    assert "sora-2 · 1280x720 · 8 s" in embed_text(video)
    (create,) = [r for r in harness.videos.stats.requests if r.route == "/v1/videos"]
    reference = create.files["input_reference"]
    assert reference.content_type == "image/jpeg"
    assert (reference.width, reference.height) == (1280, 720)  # fitted to the chosen size


async def test_animate_on_a_message_without_an_image_is_refused_privately(
    harness: Harness,
) -> None:
    text_file = harness.discord.make_attachment("notes.txt", b"hello", content_type="text/plain")
    posted = harness.discord.post_user_message(
        harness.channel, harness.member, content="no picture here", attachments=[text_file]
    )
    it = await animate(harness, posted)
    text = private_text(it)
    assert text is not None
    assert "no image to animate" in text
    assert harness.creates == 0


async def test_an_attachment_link_that_expired_before_the_submit_is_explained(
    harness: Harness,
) -> None:
    picture = harness.discord.make_attachment("cat.png", png(), content_type="image/png")
    posted = harness.discord.post_user_message(
        harness.channel, harness.member, attachments=[picture]
    )
    it = await animate(harness, posted)
    harness.discord.expire_attachment(picture)  # the link the menu handed over is dead now
    submit = await harness.discord.submit_modal(it, {"prompt": "the cat yawns"})
    text = await submit.wait_for(private_text, timeout=10)
    assert "The image's link has expired" in text
    assert "Animate this image* on the message again" in text
    assert harness.creates == 0
    # Opened again, the menu hands over a freshly signed link: it works.
    again = await animate(harness, posted)
    submit = await harness.discord.submit_modal(again, {"prompt": "the cat yawns"})
    video = await submit.wait_for(finished, timeout=30)
    assert embed(video)["title"] == "Your video is ready"
    assert harness.creates == 1


# -- input_reference as a URL ---------------------------------------------------------------------

URL_MODEL = (
    '[[models]]\nname = "sora-2"\nsizes = ["1280x720"]\nseconds = [4]\nreference = "image_url"\n'
)


async def test_a_server_taking_image_urls_gets_a_link_to_the_fitted_reference(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    catalogue = tmp_path / "models.toml"
    catalogue.write_text(URL_MODEL, encoding="utf-8")
    base = f"http://127.0.0.1:{unused_tcp_port}"
    async with running_harness(
        tmp_path / "data", catalogue_file=catalogue, web_port=unused_tcp_port, public_url=base
    ) as h:
        picture = h.discord.make_attachment("dog.png", png(), content_type="image/png")
        it = await h.video("the dog runs [duration=1]", reference=picture)
        video = await it.wait_for(finished, timeout=30)
        assert embed(video)["title"] == "Your video is ready"
        (create,) = [r for r in h.videos.stats.requests if r.route == "/v1/videos"]
        assert create.content_type == "application/json"
        url = create.json_body["input_reference"]["image_url"]
        assert url.startswith(f"{base}/r/")
        assert h.videos.stats.image_urls == [url]
        assert violations(create) == []
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"] == "image/jpeg"
                image = Image.open(io.BytesIO(await resp.read()))
                assert image.size == (1280, 720)  # fitted to the request's size
            async with http.get(url.replace("sig=", "sig=0")) as resp:
                assert resp.status == 403


async def test_without_a_public_web_server_the_reference_goes_up_as_a_file(
    tmp_path: Path,
) -> None:
    catalogue = tmp_path / "models.toml"
    catalogue.write_text(URL_MODEL, encoding="utf-8")
    async with running_harness(tmp_path / "data", catalogue_file=catalogue) as h:
        picture = h.discord.make_attachment("dog.png", png(), content_type="image/png")
        it = await h.video("the dog runs [duration=1]", reference=picture)
        await it.wait_for(finished, timeout=30)
        (create,) = [r for r in h.videos.stats.requests if r.route == "/v1/videos"]
        assert create.files["input_reference"].width == 1280
        assert h.videos.stats.image_urls == []
