"""Follow-ups on a result, through the real bot between the fakes: Retry, Remix, Extend,
Details and Delete, who may press them, and what each sends to the provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.fake_api import FakeSettings
from bot.store import JobState
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
    assert "deleted too" in str(click.followups[0].content)
    after = await harness.bot.service.store.get(record.id)
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
