"""The service's access refusals as Discord shows them, and the tree's global check."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import discord
from discord import app_commands

from bot.discord_adapter.access import AccessDenied, guild_policy_applies, refusal_text
from bot.discord_adapter.tree import VideoCommandTree, describe_error
from bot.domain import NotAllowed, Refusal


def test_a_disabled_bot_tells_managers_how_to_turn_it_on() -> None:
    assert refusal_text(NotAllowed(Refusal.TURNED_OFF)) == (
        "The video bot is turned off in this server."
    )
    assert "/video-admin enable" in refusal_text(NotAllowed(Refusal.TURNED_OFF, can_enable=True))


def test_channel_refusals_name_a_few_channels_and_count_the_rest() -> None:
    refusal = NotAllowed(Refusal.CHANNEL, channels=frozenset(range(100, 108)))
    assert refusal_text(refusal) == (
        "Videos can be made only in <#100>, <#101>, <#102>, <#103>, <#104> and 3 more."
    )
    assert refusal_text(NotAllowed(Refusal.CHANNEL, channels=frozenset({7}))) == (
        "Videos can be made only in <#7>."
    )


def test_role_refusals_mention_the_roles() -> None:
    refusal = NotAllowed(Refusal.ROLE, roles=frozenset({30, 31}))
    assert refusal_text(refusal) == "You need one of these roles to make videos: <@&30>, <@&31>."


def test_only_the_admin_group_escapes_the_guild_policy() -> None:
    assert not guild_policy_applies("video-admin")
    assert guild_policy_applies("video")
    assert guild_policy_applies("videos")


def test_the_member_sees_the_specific_reason() -> None:
    denied = AccessDenied("Videos can be made only in <#1>.")
    assert isinstance(denied, app_commands.CheckFailure)
    assert describe_error(denied, "ref") == "Videos can be made only in <#1>."
    assert describe_error(app_commands.CheckFailure(), "ref") == "You cannot use this command here."


async def test_component_interactions_pass_the_tree_without_reading_settings() -> None:
    client = discord.Client(intents=discord.Intents.none())
    tree = VideoCommandTree(client)
    for kind in (discord.InteractionType.component, discord.InteractionType.modal_submit):
        button: Any = SimpleNamespace(type=kind, data={"custom_id": "video:cancel:1"})
        # The client has no settings or service: reading either would fail.
        assert await tree.interaction_check(button) is True
