"""Spoilers, age-restricted channels and the mod log, end to end between the fake Discord and
the fake Videos API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.discord_adapter.spoilers import spoiler_reason
from bot.domain import GuildPolicy
from tests.discord_adapter.harness import Harness, running_harness
from tests.discord_adapter.test_admin import manager, text
from tests.discord_adapter.test_video_command import embed, embed_text, finished
from tests.fakes.discord import FakeChannel, FakeInteraction, FakeMessage, RecordedRequest
from tests.fakes.discord.rules import allowed_mentions
from tests.fakes.moderation import FakeModeration

SUB_COMMAND, STRING, BOOLEAN, CHANNEL = 1, 3, 5, 7
OPTION_TYPES = {"mode": STRING, "only": BOOLEAN, "channel": CHANNEL}
AGE_ONLY = "In this server, videos can be made in age-restricted channels only."
VIEW_CHANNEL = 1 << 10
MODERATION_KEY = "mod-key-0123456789"


# -- driving the bot ------------------------------------------------------------------------------


async def admin(h: Harness, name: str, **options: Any) -> FakeInteraction:
    """`/video-admin <name>` by a member with Manage Server."""
    option: dict[str, Any] = {"name": name, "type": SUB_COMMAND}
    if options:
        option["options"] = [
            {"name": key, "type": OPTION_TYPES[key], "value": value}
            for key, value in options.items()
        ]
    it = await h.discord.send_interaction(
        "video-admin", [option], guild=h.guild, channel=h.channel, member=manager(h)
    )
    await it.wait_for(lambda i: i.callbacks, timeout=5)
    return it


async def answer(it: FakeInteraction) -> str:
    """The private answer, whether it came at once or after a deferral."""
    message = await it.wait_for(lambda i: i.final_message, timeout=5)
    assert message.ephemeral
    return message.content


async def video(h: Harness, prompt: str, channel: FakeChannel | None = None) -> FakeInteraction:
    return await h.discord.send_interaction(
        "video",
        [{"name": "prompt", "type": STRING, "value": prompt}],
        guild=h.guild,
        channel=channel or h.channel,
        member=h.member,
    )


async def refused_privately(it: FakeInteraction) -> str:
    await it.wait_for(lambda i: i.callbacks, timeout=5)
    first = it.callbacks[0]
    assert first.type == 4, first
    assert first.data is not None
    return str(first.data.get("content", ""))


async def made(it: FakeInteraction) -> FakeMessage:
    message = await it.wait_for(finished, timeout=20)
    assert embed(message)["title"] == "Your video is ready", embed_text(message)
    return message


async def mod_lines(h: Harness, channel: FakeChannel, count: int) -> list[FakeMessage]:
    """The mod-log channel's first `count` messages, once they are there."""
    return await h.discord.wait_for(
        lambda: channel.messages[:count] if len(channel.messages) >= count else None,
        timeout=10,
    )


async def with_mod_log(h: Harness) -> FakeChannel:
    mods = h.discord.add_channel(h.guild, name="mods")
    said = await answer(await admin(h, "mod-log", channel=str(mods.id)))
    assert said.startswith(f"Refusals and flagged videos are noted in <#{mods.id}>")
    (first,) = await mod_lines(h, mods, 1)
    assert "mod log now" in first.content
    return mods


def files_sent(it: FakeInteraction) -> Iterator[str]:
    """The name of every file uploaded to the reply, by any edit."""
    for edit in it.edits:
        for upload in edit.files:
            yield upload.filename


def embeds_sent(it: FakeInteraction) -> Iterator[dict[str, Any]]:
    for edit in it.edits:
        yield from edit.payload.get("embeds") or []


def assert_no_pings(h: Harness, channel: FakeChannel) -> None:
    for message in channel.messages:
        assert not message.pings, message.content
    posts = [
        r
        for r in h.discord.requests_to("POST", "/channels/{channel_id}/messages")
        if r.path.startswith(f"/channels/{channel.id}/")
    ]
    assert posts
    for post in posts:
        assert post.body["allowed_mentions"] == {"parse": []}


async def policy(h: Harness) -> GuildPolicy:
    return await h.bot.service.policy(h.guild.id)


@pytest.fixture
async def harness(tmp_path: Path):
    async with running_harness(tmp_path) as running:
        yield running


@pytest.fixture
async def checked(tmp_path: Path) -> AsyncIterator[Harness]:
    """Prompts checked by the fake moderation server: `[flag=violence]` in a prompt puts its
    video behind a spoiler (the operator's spoiler-only category), `[flag=hate]` refuses it."""
    async with (
        FakeModeration(key=MODERATION_KEY) as moderation,
        running_harness(
            tmp_path,
            moderation_url=moderation.base_url,
            moderation_key=MODERATION_KEY,
            moderation_spoiler_only="violence",
        ) as h,
    ):
        yield h


@pytest.fixture
async def linked(tmp_path: Path, unused_tcp_port: int):
    base = f"http://127.0.0.1:{unused_tcp_port}"
    async with running_harness(tmp_path, web_port=unused_tcp_port, public_url=base) as h:
        yield h


# -- the four settings ----------------------------------------------------------------------------


async def test_the_four_commands_change_the_settings_and_show_them(harness: Harness) -> None:
    h = harness
    shown = await text(await admin(h, "show"))
    assert "Prompt check: As the operator set it up (the default)" in shown
    assert "Spoilers: Flagged videos (the default)" in shown
    assert "Age-restricted channels: Not required" in shown
    assert "Mod log: Off" in shown

    said = await text(await admin(h, "moderation", mode="strict"))
    assert "refused too" in said
    assert "set up no prompt check yet" in said  # this harness has no moderation server
    assert "Every video is posted behind a spoiler" in await text(
        await admin(h, "spoilers", mode="all")
    )
    said = await text(await admin(h, "age-restricted", only=True))
    assert "only in age-restricted channels" in said
    assert "This channel is not one: /video is refused here." in said
    mods = await with_mod_log(h)

    assert await policy(h) == GuildPolicy(
        moderation="strict", spoilers="all", age_restricted_only=True, mod_log_channel=mods.id
    )
    shown = await text(await admin(h, "show"))
    assert "Prompt check: Strict: spoiler-only categories are refused" in shown
    assert "Spoilers: Every video" in shown
    assert "Age-restricted channels: Required" in shown
    assert f"Mod log: <#{mods.id}>" in shown

    assert "not checked in this server" in await text(await admin(h, "moderation", mode="off"))
    assert "never posted behind a spoiler" in await text(await admin(h, "spoilers", mode="off"))
    assert "alike" in await text(await admin(h, "age-restricted", only=False))
    assert "The mod log is off" in await text(await admin(h, "mod-log"))
    assert await policy(h) == GuildPolicy(moderation="off", spoilers="off")
    h.discord.assert_spec_clean()


async def test_the_commands_are_synced_with_their_choices(harness: Harness) -> None:
    (sync,) = harness.discord.command_syncs
    group = next(c for c in sync.commands if c["name"] == "video-admin")
    options = {o["name"]: o for o in group["options"]}
    (mode,) = options["spoilers"]["options"]
    assert [c["value"] for c in mode["choices"]] == ["all", "flagged", "off"]
    (mode,) = options["moderation"]["options"]
    assert [c["value"] for c in mode["choices"]] == ["operator", "off", "strict"]
    (only,) = options["age-restricted"]["options"]
    assert (only["type"], only["required"]) == (BOOLEAN, True)
    (channel,) = options["mod-log"]["options"]
    assert channel["type"] == CHANNEL
    assert not channel.get("required")
    assert channel["channel_types"] == [0, 5]  # text and announcement channels


async def test_a_mod_log_the_bot_cannot_post_in_is_saved_with_a_warning(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    caplog.set_level(logging.WARNING, logger="bot.discord_adapter.mod_log")
    hidden = h.discord.add_channel(h.guild, name="secret", bot_permissions=VIEW_CHANNEL)
    said = await answer(await admin(h, "mod-log", channel=str(hidden.id)))
    assert "could not post there yet" in said
    assert (await policy(h)).mod_log_channel == hidden.id

    # Refusals still reach the member; the failing log is logged once, not per line.
    await admin(h, "age-restricted", only=True)
    for _ in range(2):
        assert await refused_privately(await video(h, "a cat")) == AGE_ONLY

    def posts() -> list[RecordedRequest]:
        route = "/channels/{channel_id}/messages"
        found = h.discord.requests_to("POST", route)
        return [r for r in found if r.path == f"/channels/{hidden.id}/messages"]

    tried = await h.discord.wait_for(lambda: len(posts()) == 3 and posts(), timeout=5)
    assert all(r.status == 403 for r in tried)
    assert hidden.messages == []
    warnings = [r for r in caplog.records if r.name == "bot.discord_adapter.mod_log"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert h.creates == 0


# -- age-restricted channels ----------------------------------------------------------------------


async def test_age_restricted_only_refuses_other_channels_and_logs_it(harness: Harness) -> None:
    h = harness
    mods = await with_mod_log(h)
    after_dark = h.discord.add_channel(h.guild, name="after-dark", nsfw=True)
    await admin(h, "age-restricted", only=True)

    assert await refused_privately(await video(h, "a cat [duration=1]")) == AGE_ONLY
    (_, line) = await mod_lines(h, mods, 2)
    assert line.content == (
        f"Refused, not an age-restricted channel: <@{h.member.id}> in <#{h.channel.id}>"
    )
    assert "cat" not in line.content  # never the prompt
    assert h.creates == 0

    await made(await video(h, "a cat [duration=1]", after_dark))
    # A thread follows its channel.
    await made(await video(h, "a cat [duration=1]", h.discord.add_thread(after_dark)))
    in_thread = await video(h, "a cat [duration=1]", h.discord.add_thread(h.channel))
    assert await refused_privately(in_thread) == AGE_ONLY
    # Marking the channel age-restricted opens it (Discord tells the bot with CHANNEL_UPDATE).
    h.discord.set_nsfw(h.channel)
    await made(await video(h, "a cat [duration=1]"))
    assert h.creates == 3
    assert len(await mod_lines(h, mods, 3)) == 3
    assert_no_pings(h, mods)
    h.discord.assert_spec_clean()


# -- spoilers -------------------------------------------------------------------------------------


async def test_mode_all_posts_every_video_behind_a_spoiler(linked: Harness) -> None:
    h = linked
    mods = await with_mod_log(h)
    await admin(h, "spoilers", mode="all")
    it = await video(h, "a cat playing the piano [duration=1]")
    message = await made(it)

    names = sorted(a.filename for a in message.attachments)
    assert names == ["SPOILER_thumbnail.webp", "SPOILER_video.mp4"]
    assert all(a.spoiler for a in message.attachments)
    assert message.videos[0].data == h.videos.asset_bytes()
    # No still of it shows openly: never an open file, never an embed image, in any edit.
    assert all(name.startswith("SPOILER_") for name in files_sent(it))
    for sent in embeds_sent(it):
        assert "thumbnail" not in sent
        assert "image" not in sent
    assert embed(message)["description"].startswith(">>> ||a cat playing the piano")
    assert "Behind a spoiler" not in embed_text(message)  # the server's mode: no warning
    labels = [c.get("label") for row in message.components for c in row["components"]]
    assert "Open original" in labels
    # The server's own mode is not a flag: nothing for the mod log.
    assert [m.content for m in mods.messages][1:] == []
    h.discord.assert_spec_clean()


async def test_mode_off_posts_every_video_openly(checked: Harness) -> None:
    h = checked
    mods = await with_mod_log(h)
    await admin(h, "spoilers", mode="off")
    it = await video(h, "a fight [flag=violence] [duration=1]")
    message = await made(it)

    assert not any(a.spoiler for a in message.attachments)
    assert not any(name.startswith("SPOILER_") for name in files_sent(it))
    (still,) = [a for a in message.attachments if a.filename == "thumbnail.webp"]
    assert embed(message)["thumbnail"]["url"] == still.url
    # A flagged video posted openly is still news for the moderators.
    (_, line) = await mod_lines(h, mods, 2)
    record = await h.final_record()
    assert line.content.startswith(
        f"Posted openly (spoilers are off), violence: <@{h.member.id}> in <#{h.channel.id}>"
        f" · job `{record.id}` · <https://discord.com/channels/{h.guild.id}/{h.channel.id}/"
    )
    assert "fight" not in line.content
    assert_no_pings(h, mods)


async def test_mode_flagged_hides_the_flagged_videos_only(checked: Harness) -> None:
    h = checked
    mods = await with_mod_log(h)  # the default mode: flagged
    plain = await made(await video(h, "a cat [duration=1]"))
    assert not any(a.spoiler for a in plain.attachments)
    assert "thumbnail" in embed(plain)

    it = await video(h, "a fight [flag=violence] [duration=1]")
    message = await made(it)
    assert sorted(a.filename for a in message.attachments) == [
        "SPOILER_thumbnail.webp",
        "SPOILER_video.mp4",
    ]
    assert all(name.startswith("SPOILER_") for name in files_sent(it))
    assert all("thumbnail" not in sent for sent in embeds_sent(it))
    assert "Behind a spoiler: Content warning: violence" in embed_text(message)
    assert "||a fight" in embed(message)["description"]

    (_, line) = await mod_lines(h, mods, 2)
    assert line.content.startswith(
        f"Posted behind a spoiler, violence: <@{h.member.id}> in <#{h.channel.id}>"
    )
    assert len(mods.messages) == 2  # one line for the flagged video, none for the plain one
    assert_no_pings(h, mods)
    h.discord.assert_spec_clean()


def test_the_fake_pings_as_discord_does() -> None:
    """What `assert_no_pings` relies on: without `allowed_mentions` a mention notifies."""
    assert allowed_mentions("<@5> <@&6> @here", None) == ([5], [6], True)
    assert allowed_mentions("<@5> <@&6> @here", {"parse": []}) == ([], [], False)
    assert allowed_mentions("<@5> <@7>", {"parse": [], "users": ["7"]}) == ([7], [], False)


def test_the_mode_decides_and_dms_have_the_default() -> None:
    assert spoiler_reason("all", None) == "server"
    assert spoiler_reason("all", "violence") == "violence"
    assert spoiler_reason("flagged", None) is None
    assert spoiler_reason("flagged", "provider") == "provider"
    assert spoiler_reason("flagged", "server") is None  # the mode then was "all"; not now
    assert spoiler_reason("off", "violence") is None
    assert GuildPolicy().spoilers == "flagged"  # a DM's policy (no server)


# -- provider refusals ----------------------------------------------------------------------------


async def test_a_provider_refusal_is_logged_once_without_the_prompt(harness: Harness) -> None:
    h = harness
    mods = await with_mod_log(h)
    it = await video(h, "a secret scene [refuse]")
    message = await it.wait_for(finished, timeout=20)
    assert embed(message)["title"] == "The video service refused this prompt"
    record = await h.final_record()
    assert record.state.value == "refused"

    (_, line) = await mod_lines(h, mods, 2)
    assert line.content == (
        f"Refused by the video service (the video it made): <@{h.member.id}> in "
        f"<#{h.channel.id}> · job `{record.id}` · <https://discord.com/channels/{h.guild.id}/"
        f"{h.channel.id}/{it.original.id if it.original else 0}>"
    )
    assert "secret" not in line.content
    assert_no_pings(h, mods)
    await made(await video(h, "a cat [duration=1]"))
    assert len(mods.messages) == 2
    # Counted per server.
    usage = await text(await admin(h, "usage"))
    assert "Refused by the video service: 1 (prompt 0, result 1)" in usage


# -- the prompt check -----------------------------------------------------------------------------


async def test_prompt_check_refusals_are_logged_and_strict_refuses_more(checked: Harness) -> None:
    h = checked
    mods = await with_mod_log(h)
    said = await refused_privately(await video(h, "a rally [flag=hate/threatening]"))
    assert said == "This prompt was flagged for: hate."
    (_, line) = await mod_lines(h, mods, 2)
    assert line.content == (
        f"Refused by the prompt check (hate/threatening): <@{h.member.id}> in <#{h.channel.id}>"
    )

    # Strict: the operator's spoiler-only category refuses too, and is logged as a refusal.
    assert "no prompt check" not in await text(await admin(h, "moderation", mode="strict"))
    said = await refused_privately(await video(h, "a duel [flag=violence]"))
    assert said == "This prompt was flagged for: violence."
    (*_, line) = await mod_lines(h, mods, 3)
    assert line.content.startswith("Refused by the prompt check (violence): ")
    assert "duel" not in line.content
    # Off in this server: not checked at all, so not flagged either.
    await admin(h, "moderation", mode="off")
    message = await made(await video(h, "a duel [flag=violence] [duration=1]"))
    assert not any(a.spoiler for a in message.attachments)
    assert h.creates == 1
    assert len(mods.messages) == 3
    assert_no_pings(h, mods)
