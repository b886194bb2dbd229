"""The fake Discord where an app is used through a member's own install: DMs, group DMs and
servers that never installed it, with a tiny real discord.py bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.fakes.discord.rules import (
    DEFAULT_PERMISSIONS,
    EXTERNAL_APP_PERMISSIONS,
    MAX_EXTERNAL_FOLLOWUPS,
    DiscordError,
)
from tests.fakes.discord.server import check_commands

TOKEN = "fake-token"
Behaviour = Callable[[discord.Interaction[Any]], Awaitable[None]]


class _Bot(commands.Bot):
    """`/anywhere` (both installs, every context) and `/servers` (a server's install only)."""

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.none(),
            guild_ready_timeout=0.1,
        )
        self.behaviour = behaviour
        self.seen: list[discord.Interaction[Any]] = []
        self.errors: list[Exception] = []
        self.done = asyncio.Event()

    async def setup_hook(self) -> None:
        bot = self

        @app_commands.command(name="anywhere", description="used anywhere")
        @app_commands.allowed_installs(guilds=True, users=True)
        @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
        async def anywhere(interaction: discord.Interaction[Any]) -> None:
            bot.seen.append(interaction)
            try:
                await bot.behaviour(interaction)
            except Exception as exc:
                bot.errors.append(exc)
            bot.done.set()

        @app_commands.command(name="servers", description="servers only")
        @app_commands.guild_only()
        async def servers(interaction: discord.Interaction[Any]) -> None:
            await interaction.response.send_message("hi")

        self.tree.add_command(anywhere)
        self.tree.add_command(servers)
        await self.tree.sync()


async def _defer(interaction: discord.Interaction[Any]) -> None:
    await interaction.response.defer(thinking=True)
    await interaction.edit_original_response(content="done")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=TOKEN) as server:
        yield server
    assert server.response_violations == []


async def _run(
    fake: FakeDiscord, behaviour: Behaviour, send: Callable[[], Awaitable[FakeInteraction]]
) -> tuple[_Bot, FakeInteraction]:
    bot = _Bot(behaviour)
    async with fake.running(bot, TOKEN):
        it = await send()
        await asyncio.wait_for(bot.done.wait(), 5)
    return bot, it


async def test_user_installed_interactions_say_who_authorized_them_and_where(
    fake: FakeDiscord,
) -> None:
    home = fake.add_guild(name="Home")
    fake.add_channel(home)
    alice = fake.add_member(home, name="alice")
    user = alice.user
    outside = fake.add_guild(name="Outside", with_bot=False)
    lounge = fake.add_channel(outside, name="lounge")
    fake.add_member(outside, user_id=user.id)
    group = fake.add_private_channel(user, fake.add_user("bob"), fake.add_user("carol"))
    bot = _Bot(_defer)
    async with fake.running(bot, TOKEN):
        sent = [
            await fake.send_interaction("anywhere", user=user, user_install=True),
            await fake.send_interaction("anywhere", channel=group, user=user, user_install=True),
            await fake.send_interaction("anywhere", channel=lounge, user=user, user_install=True),
            await fake.send_interaction("anywhere", guild=home, member=alice, user_install=True),
            await fake.send_interaction("anywhere", guild=home, member=alice),
        ]
        for it in sent:
            await it.wait_final()
    owners = [it.authorizing_integration_owners for it in sent]
    assert owners == [
        {"1": str(user.id)},
        {"1": str(user.id)},
        {"1": str(user.id)},
        {"0": str(home.id), "1": str(user.id)},
        {"0": str(home.id)},
    ]
    assert [it.payload["context"] for it in sent] == [1, 2, 0, 0, 0]
    assert [int(it.payload["app_permissions"]) for it in sent] == [
        DEFAULT_PERMISSIONS,
        EXTERNAL_APP_PERMISSIONS,
        EXTERNAL_APP_PERMISSIONS,
        DEFAULT_PERMISSIONS,
        DEFAULT_PERMISSIONS,
    ]
    assert [it.app_member for it in sent] == [True, False, False, True, True]
    # discord.py reads them as Discord sends them.
    assert [i.is_user_integration() for i in bot.seen] == [True] * 4 + [False]
    assert [i.is_guild_integration() for i in bot.seen] == [False] * 3 + [True] * 2
    assert bot.seen[1].context.private_channel
    assert bot.seen[0].context.dm_channel
    # A server that never installed the app is unknown to the gateway session.
    assert bot.get_guild(outside.id) is None
    assert bot.errors == []
    fake.assert_spec_clean()


async def test_a_command_is_offered_only_where_and_as_it_is_installable(
    fake: FakeDiscord,
) -> None:
    home = fake.add_guild(name="Home")
    fake.add_channel(home)
    alice = fake.add_member(home, name="alice")
    outside = fake.add_guild(name="Outside", with_bot=False)
    fake.add_channel(outside)
    fake.add_member(outside, user_id=alice.user.id)
    group = fake.add_private_channel(alice.user, fake.add_user("bob"))
    async with fake.running(_Bot(_defer), TOKEN):
        with pytest.raises(ValueError, match="not installable that way"):
            await fake.send_interaction("servers", guild=home, member=alice, user_install=True)
        with pytest.raises(ValueError, match="never installed the app"):
            await fake.send_interaction("anywhere", guild=outside, user=alice.user)
        with pytest.raises(ValueError, match="through their own install"):
            await fake.send_interaction("anywhere", channel=group, user=alice.user)
        with pytest.raises(ValueError, match="not available in this context"):
            await fake.send_interaction("servers", user=alice.user)
    synced = {c["name"]: c for c in fake.command_syncs[-1].commands}
    assert synced["anywhere"]["integration_types"] == [0, 1]
    assert synced["anywhere"]["contexts"] == [0, 1, 2]


def test_install_types_and_contexts_are_checked_on_sync() -> None:
    base = {"name": "x", "description": "d", "type": 1}
    check_commands([{**base, "integration_types": [0, 1], "contexts": [0, 1, 2]}])
    check_commands([{**base, "integration_types": None, "contexts": None}])
    for bad in (
        {"contexts": [3]},
        {"contexts": []},
        {"integration_types": [2]},
        {"integration_types": [1, 1]},
    ):
        with pytest.raises(DiscordError) as caught:
            check_commands([{**base, **bad}])
        assert caught.value.code == 50035


async def test_an_app_that_is_no_member_has_five_follow_ups(fake: FakeDiscord) -> None:
    outside = fake.add_guild(name="Outside", with_bot=False)
    lounge = fake.add_channel(outside)
    user = fake.add_member(outside).user
    codes: list[int] = []

    async def chatty(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        for index in range(MAX_EXTERNAL_FOLLOWUPS + 1):
            try:
                await interaction.followup.send(f"line {index}")
            except discord.HTTPException as exc:
                codes.append(exc.code)

    _, it = await _run(
        fake,
        chatty,
        lambda: fake.send_interaction("anywhere", channel=lounge, user=user, user_install=True),
    )
    assert codes == [40094]
    assert it.followup_posts == MAX_EXTERNAL_FOLLOWUPS


async def test_a_member_app_has_no_such_limit(fake: FakeDiscord) -> None:
    home = fake.add_guild(name="Home")
    fake.add_channel(home)
    alice = fake.add_member(home)

    async def chatty(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        for index in range(MAX_EXTERNAL_FOLLOWUPS + 2):
            await interaction.followup.send(f"line {index}")

    bot, it = await _run(
        fake, chatty, lambda: fake.send_interaction("anywhere", guild=home, member=alice)
    )
    assert bot.errors == []
    assert it.followup_posts == MAX_EXTERNAL_FOLLOWUPS + 2


async def test_the_bot_token_reaches_neither_group_dms_nor_servers_without_the_bot(
    fake: FakeDiscord,
) -> None:
    outside = fake.add_guild(name="Outside", with_bot=False)
    lounge = fake.add_channel(outside)
    user = fake.add_member(outside).user
    group = fake.add_private_channel(user, fake.add_user("bob"))
    statuses: list[tuple[int, int]] = []

    async def reach(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("hi", ephemeral=True)
        for channel_id in (group.id, lounge.id):
            try:
                await interaction.client.get_partial_messageable(channel_id).send("hello")
            except discord.Forbidden as exc:
                statuses.append((exc.status, exc.code))
        try:
            await interaction.client.fetch_guild(outside.id)
        except discord.Forbidden as exc:
            statuses.append((exc.status, exc.code))

    await _run(
        fake,
        reach,
        lambda: fake.send_interaction("anywhere", channel=group, user=user, user_install=True),
    )
    assert statuses == [(403, 50001)] * 3


async def test_the_bot_opens_a_dm_unless_the_member_closed_theirs(fake: FakeDiscord) -> None:
    home = fake.add_guild(name="Home")
    fake.add_channel(home)
    alice = fake.add_member(home)
    results: list[Any] = []

    async def write(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("hi", ephemeral=True)
        client = interaction.client
        channel = await client.create_dm(discord.Object(id=alice.user.id))
        results.append(channel.id)
        await channel.send("first")
        fake.close_dms(alice.user)
        try:
            await channel.send("second")
        except discord.Forbidden as exc:
            results.append(exc.code)
        try:
            await client.http.start_private_message(123)
        except discord.HTTPException as exc:
            results.append(exc.code)

    await _run(fake, write, lambda: fake.send_interaction("anywhere", guild=home, member=alice))
    dm = fake.dm_channel(alice.user)
    assert results == [dm.id, 50007, 50033]
    assert [m.content for m in fake.messages(dm)] == ["first"]
    assert len(fake.requests_to("POST", "/users/@me/channels")) == 2
    fake.assert_spec_clean()
