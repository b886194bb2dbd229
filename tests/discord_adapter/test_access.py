"""The allow-list rules behind the command tree's global check."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.discord_adapter.access import (
    NOT_IN_SERVER,
    OTHER_SERVER,
    AccessDenied,
    Invoker,
    guild_policy_applies,
    guild_refusal,
    operator_refusal,
)
from bot.discord_adapter.tree import VideoCommandTree, describe_error
from bot.domain import GuildPolicy, OperatorLimits

GUILD, CHANNEL, THREAD, CATEGORY, ROLE, OTHER_ROLE = 10, 20, 21, 22, 30, 31


def invoker(
    *,
    channels: tuple[int, ...] = (CHANNEL,),
    roles: tuple[int, ...] = (),
    manages: bool = False,
) -> Invoker:
    return Invoker(GUILD, frozenset(channels), frozenset(roles), manages_guild=manages)


def test_an_empty_operator_list_allows_every_guild_and_dms() -> None:
    assert operator_refusal(OperatorLimits(), GUILD) is None
    assert operator_refusal(OperatorLimits(), None) is None


def test_the_operator_list_refuses_other_guilds_and_dms() -> None:
    operator = OperatorLimits(allowed_guilds=frozenset({GUILD}))
    assert operator_refusal(operator, GUILD) is None
    assert operator_refusal(operator, GUILD + 1) == OTHER_SERVER
    assert operator_refusal(operator, None) == NOT_IN_SERVER


def test_default_settings_allow_everyone_everywhere() -> None:
    assert guild_refusal(GuildPolicy(), invoker()) is None


def test_a_disabled_bot_refuses_everyone_and_tells_managers_how_to_fix_it() -> None:
    off = GuildPolicy(enabled=False)
    member = guild_refusal(off, invoker())
    manager = guild_refusal(off, invoker(manages=True))
    assert member == "The video bot is turned off in this server."
    assert manager is not None
    assert "/video-admin enable" in manager


@pytest.mark.parametrize(
    ("listed", "here", "allowed"),
    [
        (CHANNEL, (CHANNEL,), True),
        (CHANNEL, (THREAD, CHANNEL), True),  # a thread follows its channel
        (CATEGORY, (CHANNEL, CATEGORY), True),  # a channel follows its category
        (CHANNEL, (CHANNEL + 100, CATEGORY), False),
    ],
)
def test_channels_match_the_channel_or_its_parent(
    listed: int, here: tuple[int, ...], allowed: bool
) -> None:
    refusal = guild_refusal(GuildPolicy(channels=frozenset({listed})), invoker(channels=here))
    if allowed:
        assert refusal is None
    else:
        assert refusal == f"Videos can be made only in <#{listed}>."


def test_channel_refusals_name_a_few_channels_and_count_the_rest() -> None:
    policy = GuildPolicy(channels=frozenset(range(100, 108)))
    refusal = guild_refusal(policy, invoker())
    assert refusal == (
        "Videos can be made only in <#100>, <#101>, <#102>, <#103>, <#104> and 3 more."
    )


def test_any_listed_role_passes_and_managers_always_do() -> None:
    policy = GuildPolicy(roles=frozenset({ROLE, OTHER_ROLE}))
    assert guild_refusal(policy, invoker(roles=(OTHER_ROLE, 99))) is None
    assert guild_refusal(policy, invoker(manages=True)) is None
    refusal = guild_refusal(policy, invoker(roles=(99,)))
    assert refusal == f"You need one of these roles to make videos: <@&{ROLE}>, <@&{OTHER_ROLE}>."


def test_the_channel_rule_binds_managers_too() -> None:
    policy = GuildPolicy(channels=frozenset({CHANNEL + 1}), roles=frozenset({ROLE}))
    refusal = guild_refusal(policy, invoker(manages=True))
    assert refusal is not None
    assert refusal.startswith("Videos can be made only in")


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
        # The client has no settings or database: reading either would fail.
        assert await tree.interaction_check(button) is True
