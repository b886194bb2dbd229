"""A member's own install of the bot (`VIDEO_BOT_USER_INSTALLS`), over the wire.

The fake Discord sends what Discord sends where the app is no server member: interactions from
the bot's DM, a group DM and a server that never installed it, authorized by the user's own
install (`authorizing_integration_owners` `{"1": user id}`), whose channels the bot's token
cannot reach (403 / 50001) and whose interactions take at most five follow-ups.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.config import USER_INSTALL_DAILY_COUNT, load_settings
from bot.discord_adapter.client import VideoBot
from bot.discord_adapter.reply import ReplyAddress
from bot.domain import JobState
from bot.fake_api import FakeSettings, FakeVideosServer
from tests.discord_adapter.harness import STRING, Harness, bot_settings, running_harness
from tests.discord_adapter.test_video_command import buttons, embed, embed_text, finished
from tests.fakes.discord import (
    FakeChannel,
    FakeDiscord,
    FakeInteraction,
    FakeMessage,
    FakeUser,
)

EPHEMERAL = 64


def prompt(text: str) -> list[dict[str, Any]]:
    return [{"name": "prompt", "type": STRING, "value": text}]


async def video_in(
    h: Harness, text: str, *, user: FakeUser, channel: FakeChannel | None = None
) -> FakeInteraction:
    """`/video` through the member's own install: in their DM with the bot (no channel), a
    group DM, or a channel of a server that never installed the bot."""
    guild = channel.guild if channel is not None else None
    member = guild.member(user.id) if guild is not None else None
    return await h.discord.send_interaction(
        "video",
        prompt(text),
        guild=guild,
        channel=channel,
        member=member,
        user=None if member is not None else user,
        user_install=True,
    )


def elsewhere(h: Harness, user: FakeUser, name: str = "Elsewhere") -> FakeChannel:
    """A channel of a server that never installed the bot, where `user` is a member."""
    guild = h.discord.add_guild(name=name, with_bot=False)
    channel = h.discord.add_channel(guild, name="lounge")
    h.discord.add_member(guild, user_id=user.id)
    return channel


def private_text(it: FakeInteraction) -> str | None:
    """The private answer an interaction got, whichever way it came (an ephemeral response,
    or a follow-up after a deferral); None until it came."""
    for callback in it.callbacks:
        data = callback.data or {}
        if callback.type == 4 and data.get("flags", 0) & EPHEMERAL:
            return str(data.get("content", ""))
    for message in it.followups:
        if message.ephemeral:
            return message.content
    return None


def delivered(it: FakeInteraction) -> FakeMessage | None:
    message = finished(it)
    return message if message is not None and message.videos else None


def no_bot_token_routes_refused(h: Harness) -> None:
    refused = [r for r in h.discord.requests if r.status == 403]
    assert refused == [], refused


@pytest.fixture
async def h(tmp_path: Path):
    async with running_harness(tmp_path, user_installs=True) as running:
        yield running


def test_user_installs_bring_a_daily_limit_unless_the_operator_set_one(tmp_path: Path) -> None:
    base = {"openai_base_url": "http://127.0.0.1:9", "data_dir": tmp_path}
    assert load_settings(**base).operator_limits().user_daily_count is None
    on = load_settings(**base, user_installs=True).operator_limits()
    assert on.user_daily_count == USER_INSTALL_DAILY_COUNT == 10
    counted = load_settings(**base, user_installs=True, user_daily_count=3).operator_limits()
    assert counted.user_daily_count == 3
    budgeted = load_settings(**base, user_installs=True, user_daily_budget="5").operator_limits()
    assert budgeted.user_daily_count is None
    assert budgeted.user_daily_budget is not None


def test_the_reply_handle_remembers_that_only_the_interaction_reaches_it() -> None:
    address = ReplyAddress(
        channel_id=1,
        message_id=2,
        application_id=3,
        interaction_token="token",
        token_expires_at=900.0,
        upload_limit=10,
        interaction_only=True,
    )
    assert ReplyAddress.from_handle(address.handle()).interaction_only
    plain = ReplyAddress.from_handle(replace(address, interaction_only=False).handle())
    assert not plain.interaction_only
    assert "interaction_only" not in plain.handle().public


async def test_the_sync_declares_both_installs_only_when_the_operator_allows_them(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path / "off") as off:
        commands = {c["name"]: c for c in off.discord.command_syncs[-1].commands}
        user = off.member.user
        with pytest.raises(ValueError, match="not available in this context"):
            await off.discord.send_interaction("video", prompt("a cat"), user=user)
        with pytest.raises(ValueError, match="not installable that way"):
            await off.discord.send_interaction(
                "video", prompt("a cat"), guild=off.guild, member=off.member, user_install=True
            )
        off.discord.assert_spec_clean()
    # As before user installs existed: servers that installed the bot only.
    for name in ("video", "videos"):
        assert commands[name]["contexts"] == [0]
    for name in ("video", "videos", "video-admin"):
        assert commands[name]["dm_permission"] is False
        assert commands[name].get("integration_types") is None

    async with running_harness(tmp_path / "on", user_installs=True) as on:
        commands = {c["name"]: c for c in on.discord.command_syncs[-1].commands}
        on.discord.assert_spec_clean()
    for name in ("video", "videos"):
        assert commands[name]["integration_types"] == [0, 1]
        assert commands[name]["contexts"] == [0, 1, 2]
        assert commands[name]["dm_permission"] is True
    # The server's settings stay a server command.
    assert commands["video-admin"]["dm_permission"] is False
    assert commands["video-admin"].get("contexts") in (None, [0])
    assert commands["video-admin"].get("integration_types") is None


async def test_video_is_answered_made_once_and_delivered_in_a_dm_a_group_dm_and_a_server_without_the_bot(  # noqa: E501
    h: Harness,
) -> None:
    user = h.member.user
    friends = [h.discord.add_user("bob"), h.discord.add_user("carol")]
    group = h.discord.add_private_channel(user, *friends, name="pals")
    lounge = elsewhere(h, user)
    places = {"dm": None, "group DM": group, "server without the bot": lounge}

    made = {}
    for where, channel in places.items():
        it = await video_in(
            h, f"a lighthouse in the {where} [duration=2]", user=user, channel=channel
        )
        made[where] = await it.wait_for(delivered, timeout=20)
        assert it.acked_at is not None
        assert it.acked_at < 3
        assert it.followup_posts <= 5
    assert h.creates == 3
    for where, message in made.items():
        assert embed(message)["title"] == "Your video is ready", where
        assert [a.data for a in message.videos] == [h.videos.asset_bytes()]
        assert "Retry" in buttons(message)
    owners = [i.payload["authorizing_integration_owners"] for i in h.discord.interactions]
    assert owners == [{"1": str(user.id)}] * 3
    assert [i.payload["context"] for i in h.discord.interactions] == [1, 2, 0]
    # Nothing was tried through the bot's token where it cannot reach.
    no_bot_token_routes_refused(h)
    assert not h.discord.requests_to("POST", "/users/@me/channels")
    h.discord.assert_spec_clean()
    assert h.discord.unexpected_requests == []


async def test_a_members_daily_limit_is_one_budget_across_a_dm_and_two_servers(
    tmp_path: Path,
) -> None:
    async with running_harness(tmp_path, user_installs=True, user_daily_count=3) as h:
        user = h.member.user
        first, second = elsewhere(h, user, "First"), elsewhere(h, user, "Second")
        jobs = [
            await video_in(h, "a dm video [duration=1]", user=user),
            await video_in(h, "a first server's video [duration=1]", user=user, channel=first),
        ]
        # The server that installed the bot counts too, asked there through the member's own
        # install.
        jobs.append(
            await h.discord.send_interaction(
                "video",
                prompt("a home server video [duration=1]"),
                guild=h.guild,
                channel=h.channel,
                member=h.member,
                user_install=True,
            )
        )
        for it in jobs:
            await it.wait_for(delivered, timeout=20)
        refused = await video_in(h, "one more [duration=1]", user=user, channel=second)
        text = await refused.wait_for(private_text, timeout=10)
        assert "3 of your 3 videos" in text
        assert h.creates == 3

        history = await h.discord.send_interaction("videos", user=user, user_install=True)
        answer = await history.wait_for(lambda i: i.final_message, timeout=10)
        assert "Videos: 3 of 3" in embed_text(answer)
        h.discord.assert_spec_clean()


async def test_a_server_that_installed_the_bot_keeps_its_rules_for_personal_installs(
    h: Harness,
) -> None:
    service = h.bot.service
    await service.change_policy(h.guild.id, lambda p: p.evolve(enabled=False))
    it = await h.discord.send_interaction(
        "video",
        prompt("a cat"),
        guild=h.guild,
        channel=h.channel,
        member=h.member,
        user_install=True,
    )
    assert it.payload["authorizing_integration_owners"] == {
        "0": str(h.guild.id),
        "1": str(h.member.user.id),
    }
    assert "turned off in this server" in await it.wait_for(private_text, timeout=10)

    other = h.discord.add_channel(h.guild, name="elsewhere")
    await service.change_policy(
        h.guild.id, lambda p: p.evolve(enabled=True, channels=frozenset({other.id}))
    )
    it = await h.discord.send_interaction(
        "video",
        prompt("a cat"),
        guild=h.guild,
        channel=h.channel,
        member=h.member,
        user_install=True,
    )
    assert f"<#{other.id}>" in await it.wait_for(private_text, timeout=10)
    assert h.creates == 0


def progress_shown(it: FakeInteraction) -> bool:
    return any("%" in str(e.payload.get("embeds", "")) for e in it.edits)


def handover_noted(it: FakeInteraction) -> bool:
    return any("direct message" in str(e.payload.get("embeds", "")) for e in it.edits)


def dm_card(h: Harness, user: FakeUser) -> FakeMessage | None:
    messages = h.discord.messages(h.discord.dm_channel(user))
    return next((m for m in messages if m.videos and buttons(m)), None)


async def test_a_job_outlasting_the_token_comes_by_dm_and_its_buttons_work(h: Harness) -> None:
    user = h.member.user
    lounge = elsewhere(h, user)
    with h.discord.patch_utcnow():
        it = await video_in(h, "an epic voyage [duration=1200]", user=user, channel=lounge)
        await it.wait_for(progress_shown, timeout=10)
        assert not handover_noted(it)
        # Well before the token's end the card says that the result will come by DM.
        h.discord.advance(10 * 60)
        h.videos.advance(10 * 60)
        await it.wait_for(handover_noted, timeout=10)
        h.discord.advance(6 * 60)
        h.videos.advance(16 * 60)
        message = await h.discord.wait_for(lambda: dm_card(h, user), timeout=20)
        assert it.count_50027 == 0
        late = [e for e in it.edits if e.at - it.created_at > 15 * 60]
        assert late == []
        assert len(h.discord.requests_to("POST", "/users/@me/channels")) == 1
        assert embed(message)["title"] == "Your video is ready"
        assert [a.data for a in message.videos] == [h.videos.asset_bytes()]
        assert buttons(message) == ["Retry", "Remix", "Extend", "Details", "Delete"]
        record = await h.final_record()
        assert record.state is JobState.DELIVERED

        # Retry, from the DM: a new job, its reply in the DM.
        retry = next(
            c["custom_id"]
            for row in message.components
            for c in row["components"]
            if c.get("custom_id", "").startswith("video:retry:")
        )
        again = await h.discord.send_component_interaction(message, retry, user=user)
        await again.wait_for(progress_shown, timeout=10)
        h.videos.advance(30 * 60)
        answer = await again.wait_for(delivered, timeout=20)
    assert answer.channel is h.discord.dm_channel(user)
    assert h.creates == 2
    assert it.followup_posts == 0
    no_bot_token_routes_refused(h)
    h.discord.assert_spec_clean()


async def test_with_closed_dms_the_video_stays_in_videos_with_a_link(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    base = f"http://127.0.0.1:{unused_tcp_port}"
    async with running_harness(
        tmp_path, user_installs=True, web_port=unused_tcp_port, public_url=base
    ) as h:
        user = h.member.user
        h.discord.close_dms(user)
        group = h.discord.add_private_channel(user, h.discord.add_user("bob"))
        with h.discord.patch_utcnow():
            it = await video_in(h, "a long night [duration=1200]", user=user, channel=group)
            await it.wait_for(progress_shown, timeout=10)
            h.discord.advance(16 * 60)
            h.videos.advance(26 * 60)
            record = await h.final_record(within=20)
            assert record.state is JobState.UNDELIVERABLE
            refused = h.discord.requests_to("POST", "/channels/{channel_id}/messages")
            assert [r.error_code for r in refused] == [50007]

            history = await h.discord.send_interaction(
                "videos", user=user, channel=group, user_install=True
            )
            answer = await history.wait_for(lambda i: i.final_message, timeout=10)
        listed = embed(answer)["description"]
        assert record.id in listed
        assert f"[video]({base}/" in listed
        assert it.count_50027 == 0
        h.discord.assert_spec_clean()


def custom_ids(components: list[dict[str, Any]]) -> list[str]:
    found = []
    for component in components:
        if component.get("custom_id"):
            found.append(str(component["custom_id"]))
        found += custom_ids(component.get("components") or [])
    return found


async def test_a_components_v2_card_says_so_and_comes_by_dm_too(tmp_path: Path) -> None:
    async with running_harness(tmp_path, user_installs=True, card="v2") as h:
        user = h.member.user
        group = h.discord.add_private_channel(user, h.discord.add_user("bob"), name="pals")
        dm = h.discord.dm_channel(user)
        with h.discord.patch_utcnow():
            it = await video_in(h, "a slow tide [duration=1200]", user=user, channel=group)
            await it.wait_for(lambda i: any("%" in str(e.payload) for e in i.edits), timeout=10)
            h.discord.advance(10 * 60)
            h.videos.advance(10 * 60)
            await it.wait_for(
                lambda i: any("direct message" in str(e.payload) for e in i.edits), timeout=10
            )
            h.discord.advance(6 * 60)
            h.videos.advance(16 * 60)
            message = await h.discord.wait_for(
                lambda: next((m for m in h.discord.messages(dm) if m.videos), None), timeout=20
            )
        assert message.flags & (1 << 15)  # IS_COMPONENTS_V2
        assert any(c.startswith("video:retry:") for c in custom_ids(message.components))
        assert it.count_50027 == 0
        no_bot_token_routes_refused(h)
        h.discord.assert_spec_clean()


async def test_after_a_restart_the_job_still_comes_by_dm(tmp_path: Path) -> None:
    async with (
        FakeVideosServer(FakeSettings(default_duration=2.0)) as videos,
        FakeDiscord() as fake,
    ):
        guild = fake.add_guild(name="Film Club")
        fake.add_channel(guild, name="videos")
        user = fake.add_member(guild, name="alice").user
        outside = fake.add_guild(name="Elsewhere", with_bot=False)
        lounge = fake.add_channel(outside, name="lounge")
        fake.add_member(outside, user_id=user.id)
        settings = bot_settings(videos, tmp_path, user_installs=True)
        with fake.patch_utcnow():
            first = VideoBot(settings, guild_ready_timeout=0.1)
            async with fake.running(first):
                it = await fake.send_interaction(
                    "video",
                    prompt("a long walk [duration=1200]"),
                    channel=lounge,
                    member=outside.member(user.id),
                    user_install=True,
                )
                await it.wait_for(progress_shown, timeout=10)
            # Down while the token ran out; the video was finished meanwhile.
            fake.advance(20 * 60)
            videos.advance(30 * 60)
            second = VideoBot(settings, guild_ready_timeout=0.1)
            async with fake.running(second):
                dm = fake.dm_channel(user)
                message = await fake.wait_for(
                    lambda: next((m for m in fake.messages(dm) if m.videos), None), timeout=20
                )
        assert [a.data for a in message.videos] == [videos.asset_bytes()]
        assert videos.stats.count("POST /v1/videos") == 1
        assert it.count_50027 == 0
        assert [r for r in fake.requests if r.status == 403] == []
        fake.assert_spec_clean()


async def test_the_operators_allow_list_binds_places_whatever_the_install(tmp_path: Path) -> None:
    # The allow-list names another server: neither a DM nor an unlisted server works, though
    # the member's own install reaches both.
    async with running_harness(tmp_path, user_installs=True, allowed_guilds="1") as h:
        user = h.member.user
        lounge = elsewhere(h, user)
        refusals = [
            await video_in(h, "a dm video", user=user),
            await video_in(h, "an unlisted server's video", user=user, channel=lounge),
        ]
        texts = [await it.wait_for(private_text, timeout=10) for it in refusals]
        assert "only in the servers its operator allows" in texts[0]
        assert "not available in this server" in texts[1]
        assert h.creates == 0
